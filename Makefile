# One command each for people and CI. `make demo` and `make test` set everything
# up on a fresh machine: a virtualenv with conveyor, and (on first use) Apache
# Kafka and the schema registry resolved from Maven Central into ~/.cache/conveyor.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test pytest lint format typecheck install chromium clean

$(BIN)/conveyor: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/conveyor chromium

# The dashboard's browser tests drive the system's Chromium (Playwright's own browser
# download cannot reach its servers here): Debian's package, installed once if missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the dashboard's browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends chromium fonts-dejavu-core >/dev/null; \
	  else \
	    echo "no chromium: install it (Debian: apt-get install chromium) for the browser tests" >&2; \
	  fi; }

# The demo needs no browser: only the virtualenv.
demo: $(BIN)/conveyor
	$(BIN)/conveyor demo

# The whole suite: lint, types, then every test (integration tests against a real
# broker). The long chaos runs are left out; select them with PYTEST_ARGS='-m long'.
test: lint typecheck pytest

pytest: install
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The repository root is the `conveyor` package; mypy finds it by that name through
# a link, so module names match the installed package. Tests are checked as the
# top-level modules pytest imports them as.
typecheck: install
	@mkdir -p .typecheck && ln -sfn .. .typecheck/conveyor
	MYPYPATH=.typecheck $(BIN)/mypy -p conveyor --exclude '/tests/'
	MYPYPATH=.typecheck/conveyor/tests:.typecheck $(BIN)/mypy --explicit-package-bases .typecheck/conveyor/tests

clean:
	rm -rf $(VENV) .typecheck .mypy_cache .ruff_cache .pytest_cache
