# Two commands: `make up` (quick start) and `make test` (the whole suite). See README.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: up test check install install-test browser-deps postgresql clean

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

# Debian's Chromium (no browser download) and an emoji font for the editor screenshots.
BROWSER_PACKAGES := chromium fonts-noto-color-emoji
browser-deps:
	@dpkg -s $(BROWSER_PACKAGES) >/dev/null 2>&1 || { \
		echo "Installing $(BROWSER_PACKAGES) with apt-get (needs root)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(BROWSER_PACKAGES); }

# Debian's PostgreSQL server programs, for `annotate studio start --database postgresql` (a team's studio).
# Only the programs: annotate runs its own private cluster in the studio home, not the system's.
postgresql:
	@dpkg -s postgresql >/dev/null 2>&1 || { \
		echo "Installing postgresql with apt-get (needs root)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; }

# Installs what the tests need and runs every test, including those against a real Label Studio
# and the one in Label Studio's web editor. Two workers; tests go out in groups (tests/conftest.py:
# a module on one worker, the PostgreSQL studio's tests on one), heaviest first: 233–289 s on 2 cores.
test: install-test browser-deps postgresql
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup --no-loadscope-reorder --durations=15

# The quick loop while editing: the offline tests (no Label Studio, no browser, no PostgreSQL) but the
# slow ones (a model trained, fresh interpreters, benchmark runs), which `make test` runs with the rest.
check: install-test
	$(BIN)/python -m pytest -q -n 2 -m "not studio and not browser and not slow"

clean:
	-$(BIN)/annotate studio stop
	rm -rf $(VENV) .annotate build *.egg-info
