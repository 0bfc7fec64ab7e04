# Two commands do all the set-up on a fresh machine:
#   make lab    sets up .venv (first time only) and opens the companion at the reading guide
#   make test   sets up .venv (first time only) and runs the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup lab test lint book bench clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

lab: setup
	$(VENV)/bin/jupyter lab notebooks/00_reading_guide.ipynb

test: setup
	sh tests/setup_browser.sh
	$(PY) -m pytest

book: setup
	$(PY) -m utils.book --execute

bench: setup
	$(PY) -m benchmarks

lint: setup
	$(VENV)/bin/ruff check utils benchmarks tests

clean:
	rm -rf $(VENV)
