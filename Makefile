# Everything installs into .venv from the package registry; nothing needs to be installed by hand.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# One pytest worker per core, each taking whole test files; `make test PYTEST_WORKERS=` runs in one process.
PYTEST_WORKERS ?= -n auto --dist loadfile

.PHONY: install test demo dev lint format validate bench mutation mutation-sample clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(BIN)/.installed

lint: install
	$(BIN)/ruff check catalog_pipeline catalog_pipeline_tests benchmarks
	$(BIN)/ruff format --check catalog_pipeline catalog_pipeline_tests benchmarks

format: install
	$(BIN)/ruff format catalog_pipeline catalog_pipeline_tests benchmarks
	$(BIN)/ruff check --fix catalog_pipeline catalog_pipeline_tests benchmarks

# The code location loads as the webserver and daemon load it (every asset, check, job, schedule, sensor).
validate: install
	env -u DAGSTER_HOME $(BIN)/dagster definitions validate -w workspace.yaml

test: install
	scripts/ensure-postgres.sh
	$(MAKE) lint
	$(MAKE) validate
	$(BIN)/python -m pytest $(PYTEST_WORKERS) --durations=25 $(PYTEST_ARGS)

demo: install
	VENV=$(VENV) scripts/demo.sh

dev: install
	VENV=$(VENV) scripts/dev.sh

# BENCH_ARGS=--quick for a short development run; the full one takes about a quarter of an hour.
bench: install
	scripts/ensure-postgres.sh
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python -m benchmarks.bench $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.api_benchmark
	$(BIN)/python -m benchmarks.readme

# Mutation testing (mutmut, fast test subset): score per module and surviving mutants; see README "Contributing".
mutation: install
	scripts/ensure-postgres.sh
	$(BIN)/python scripts/mutation.py $(MUTATION_ARGS)

# The small fixed sample CI runs (about 3 minutes), with the same 85 % limit as the full run.
mutation-sample: install
	scripts/ensure-postgres.sh
	$(BIN)/python scripts/mutation.py --sample --no-diff --fail-under 85

clean:
	rm -rf .catalog .pytest_cache .ruff_cache mutants
