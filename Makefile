# Two commands on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
VENDOR := server/spacecoop/web/pages/static/vendor
YASGUI_VERSION := 4.6.2
SWAGGER_UI_VERSION := 5.35.0
REDOC_VERSION := 2.5.4

.PHONY: serve test lint typecheck assets bench bench-load bytecode clean

$(STAMP): pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $(STAMP)

# YASGUI comes from the npm registry at build time and is served by us: no CDN at page load.
$(VENDOR)/yasgui/yasgui.min.js:
	mkdir -p build/npm $(VENDOR)/yasgui
	cd build/npm && npm init -y >/dev/null && npm install --no-audit --no-fund --silent --ignore-scripts @zazuko/yasgui@$(YASGUI_VERSION)
	cp build/npm/node_modules/@zazuko/yasgui/build/yasgui.min.js build/npm/node_modules/@zazuko/yasgui/build/yasgui.min.css $(VENDOR)/yasgui/

# The API documentation pages (/docs, /redoc) likewise: Swagger UI and ReDoc from npm.
$(VENDOR)/swagger-ui/swagger-ui-bundle.js:
	mkdir -p build/npm $(VENDOR)/swagger-ui
	cd build/npm && npm init -y >/dev/null && npm install --no-audit --no-fund --silent --ignore-scripts swagger-ui-dist@$(SWAGGER_UI_VERSION)
	cp build/npm/node_modules/swagger-ui-dist/swagger-ui-bundle.js build/npm/node_modules/swagger-ui-dist/swagger-ui.css build/npm/node_modules/swagger-ui-dist/favicon-32x32.png $(VENDOR)/swagger-ui/

$(VENDOR)/redoc/redoc.standalone.js:
	mkdir -p build/npm $(VENDOR)/redoc
	cd build/npm && npm init -y >/dev/null && npm install --no-audit --no-fund --silent --ignore-scripts redoc@$(REDOC_VERSION)
	cp build/npm/node_modules/redoc/bundles/redoc.standalone.js $(VENDOR)/redoc/

assets: $(VENDOR)/yasgui/yasgui.min.js $(VENDOR)/swagger-ui/swagger-ui-bundle.js $(VENDOR)/redoc/redoc.standalone.js

# Byte-compiled up front (changed files only): an editable install is never compiled by pip,
# and where PYTHONDONTWRITEBYTECODE is set every start would compile the package again.
bytecode: $(STAMP)
	$(PY) -m compileall -q server/spacecoop

serve: $(STAMP) assets bytecode
	$(VENV)/bin/spacecoop serve --host 127.0.0.1 --port 8000

# The test files on TEST_JOBS processes (a file's servers and fixtures stay in one): much
# of the suite waits on real servers, loads and browsers, so three keep two cores busy.
TEST_JOBS ?= 3
test: $(STAMP) assets bytecode
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadfile

lint: $(STAMP)
	$(VENV)/bin/ruff check server tests bench
	$(VENV)/bin/mypy

bench: $(STAMP) bytecode
	$(PY) bench/run.py

# Real public load: new questions (latency, throughput at 8 clients) against Oxigraph's
# server in the same run, then 8 and 32 greedy clients beside a polite one.
bench-load: $(STAMP) bytecode
	$(PY) bench/newqueries.py
	$(PY) bench/fairness.py

clean:
	rm -rf build dist $(VENV) $(VENDOR)
