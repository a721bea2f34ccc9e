# Two entry points for a fresh machine: `make check` and `make test`.
# Each makes .venv first (Python 3.11+) and installs perfgate with the example app.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: check test lint baseline clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[example,test]'
	touch $(STAMP)

check: $(STAMP)
	$(VENV)/bin/perfgate check

baseline: $(STAMP)
	$(VENV)/bin/perfgate baseline

test: $(STAMP)
	$(VENV)/bin/python -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests examples bench
	$(VENV)/bin/ruff format --check src tests examples bench
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .perfgate
