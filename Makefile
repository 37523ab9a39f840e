# Two entry points (see README): `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SPARK  := $(VENV)/.spark-stamp

.PHONY: demo test lint bench clean azurite

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

# The main job on sample_data/ with the embedded DuckDB (./reconcile.duckdb):
# ingest every source, estimate, and show each model's status.
DEMO_CONFIG := sample_data/reconcile.toml
demo: $(STAMP)
	$(BIN)/reconcile --config $(DEMO_CONFIG) ingest sample_data/ || [ $$? -eq 3 ]
	$(BIN)/reconcile --config $(DEMO_CONFIG) estimate
	$(BIN)/reconcile status
	@echo "next: $(BIN)/reconcile report --out report/   (then open report/report.html)"

# The [spark] extra (pyspark, pinned sqlglot) for the engine tests; Spark itself needs
# Java 17+ on PATH. `make demo` does not need it.
$(SPARK): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[spark]'
	touch $(SPARK)

# Azurite (the Azure Blob emulator) into the ignored .ci/node, when npm exists (3.35 is
# the last release that runs on Node 20); without npm the Azure tests skip, saying why.
AZURITE_VERSION := 3.35.0
AZURITE_PKG := .ci/node/node_modules/azurite/package.json
azurite:
	@if [ -x .ci/node/node_modules/.bin/azurite-blob ] \
	    && grep -q '"version": "$(AZURITE_VERSION)"' $(AZURITE_PKG); then :; \
	elif command -v npm >/dev/null 2>&1; then \
	    npm install --prefix .ci/node --no-audit --no-fund --no-save --silent \
	        "azurite@$(AZURITE_VERSION)" >/dev/null; \
	else echo "make: npm not found: Azure Blob tests will be skipped" >&2; fi

# The whole test suite, object-store servers and a local Spark included (started by
# the tests; Azurite installed first when npm exists).
test: $(STAMP) $(SPARK) azurite
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check reconcile connectors tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/noop_reingest.py

clean:
	rm -rf $(VENV) reconcile.duckdb reconcile.duckdb.wal *.egg-info
