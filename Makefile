# Two commands do all the set-up on a fresh machine:
#   make lab    sets up .venv (first time only) and opens the companion at the reading guide
#   make test   sets up .venv (first time only) and runs the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# make lab options: PORT=8890 listens on that port (default 8888 or the next free one);
# NO_BROWSER=1 opens no browser and only prints the address with its token (no display: automatic);
# LAB_ARGS='--ip=0.0.0.0' passes further options to jupyter lab
PORT ?=
NO_BROWSER ?=
LAB_ARGS ?=

.PHONY: setup lab test lint book bench clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

lab: setup
	$(PY) -m utils.presentation.lab $(if $(PORT),--port=$(PORT)) $(if $(filter-out 0 no false,$(NO_BROWSER)),--no-browser) $(LAB_ARGS)

test: setup
	sh tests/setup_browser.sh
	$(PY) -m pytest

book: setup
	$(PY) -m utils.presentation.book --execute

bench: setup
	$(PY) -m benchmarks

lint: setup
	$(VENV)/bin/ruff check utils benchmarks tests

clean:
	rm -rf $(VENV)
