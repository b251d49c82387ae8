# The two commands: `make serve` and `make test`. Everything else they need is set up here.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: serve test bench lint clean-db

$(BIN)/lms: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

## make serve — embedded PostgreSQL (unless DATABASE_URL is set), migrate, demo data, serve :8080
serve: $(BIN)/lms
	$(BIN)/lms serve --demo

## make test — every test: pytest (HTTP, concurrency, migrations) + pgTAP + plpgsql_check + squawk + ruff
test: $(BIN)/lms
	scripts/ensure-test-deps
	$(BIN)/pytest -q

## make bench — RPC throughput, latency, CPU per call vs pgbench; batches; 1/2 processes, PgBouncer; the realistic mix (prints figures); then the `timing` tests (wall-clock ratios kept out of make test)
bench: $(BIN)/lms
	scripts/ensure-test-deps --bench
	$(BIN)/python -m bench.rpc_bench --deployments
	$(BIN)/python -m bench.mix --workers 1,2 --pgbouncer
	$(BIN)/python -m bench.course_design
	$(BIN)/python -m bench.assessment
	$(BIN)/python -m bench.gradebook
	$(BIN)/pytest -q -m timing

lint: $(BIN)/lms
	$(BIN)/ruff check rpc tests bench
	$(BIN)/squawk migrations/*.sql

clean-db:
	-$(BIN)/lms db down
	rm -rf .lms/pg

.PHONY: docs
## make docs — the documentation site in ./site (MkDocs Material; reference pages generated from the database catalog)
docs: $(BIN)/lms
	$(BIN)/lms docs build --out site

.PHONY: examples
## make examples — re-record the OpenRPC examples (rpc/openrpc_examples.json) on the demo data set; tests/test_examples.py checks them
examples: $(BIN)/lms
	$(BIN)/python -m tests.helpers.examples
