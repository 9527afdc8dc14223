# Two commands: `make up` (quick start) and `make test` (the whole suite). See README.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: up test install install-test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install -q -e .

install-test: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'

# Installs, starts the embedded Label Studio, pushes seeds/, prints the URL and login.
up: install
	$(BIN)/annotate up

# Installs what the tests need and runs every test, including those against a real Label Studio.
test: install-test
	$(BIN)/python -m pytest -q

clean:
	-$(BIN)/annotate studio stop
	rm -rf $(VENV) .annotate build *.egg-info
