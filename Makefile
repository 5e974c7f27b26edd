# The two commands of the README: `make run` and `make test`. Everything lands in .venv.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: run test install tools lint

run: install  ## install, then run the hub on the embedded default (SQLite, in-process dispatcher) with a simulated national axis
	$(BIN)/lienthong dev demo

PYTEST_JOBS ?= 2

test: install tools  ## install, then run the whole test suite (SQLite and PostgreSQL), one process per core
	$(BIN)/pytest -n $(PYTEST_JOBS) --dist worksteal $(PYTEST_ARGS)

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# System tools the suite uses: xmlsec1 is the independent XMLDSig implementation the seals are
# checked with. Installed with apt when running as root; otherwise those tests say what is missing.
tools:
	@command -v xmlsec1 >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq xmlsec1 >/dev/null; } || echo "note: install the Debian package xmlsec1 for the interoperability tests"
	@# The console's browser tests: Debian's Chromium (driven by Playwright) and axe-core (injected
	@# into every page) in the git-ignored .tools/.
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || echo "note: install the Debian package chromium for the console's browser tests"
	@[ -f .tools/node_modules/axe-core/axe.min.js ] || npm install --prefix .tools --no-save --silent axe-core@4 >/dev/null || echo "note: npm install --prefix .tools axe-core@4 for the console's accessibility checks"

lint: install
	$(BIN)/ruff check app connectors tests bench
	$(BIN)/mypy app connectors
