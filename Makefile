# rolefit: `make run` serves it on a laptop, `make test` checks everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export ROLEFIT_DATABASE_URL ?= sqlite:///$(CURDIR)/var/rolefit.db

.PHONY: run test lint format openapi migrate demo key clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## Run the service on SQLite with demo data, print a key and a curl line, serve on :8000.
run: $(STAMP)
	$(BIN)/rolefit db upgrade
	$(BIN)/rolefit demo --candidates 200
	@KEY=$$($(BIN)/rolefit keys create --name "demo admin $$(date +%s)" --preset admin | tail -n 1); \
	echo; echo "Demo admin key: $$KEY"; \
	echo "Try:  curl -s -H 'Authorization: Bearer $$KEY' http://127.0.0.1:8000/v1/roles"; \
	echo "Docs: http://127.0.0.1:8000/docs"; echo
	$(BIN)/rolefit serve --bind 127.0.0.1:8000

## Lint, then the whole suite on SQLite, then again on PostgreSQL if ROLEFIT_TEST_DATABASE_URL is set.
test: $(STAMP) lint
	env -u ROLEFIT_TEST_DATABASE_URL $(BIN)/python -m pytest
	@if [ -n "$$ROLEFIT_TEST_DATABASE_URL" ]; then \
		echo "== again on PostgreSQL: $$ROLEFIT_TEST_DATABASE_URL"; \
		$(BIN)/python -m pytest; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check service tests bench migrations/env.py
	$(BIN)/ruff format --check service tests bench
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

format: $(STAMP)
	$(BIN)/ruff format service tests bench
	$(BIN)/ruff check --fix service tests bench

## Regenerate openapi.yaml from the code (a test fails when it is stale).
openapi: $(STAMP)
	$(BIN)/python -c "from service import create_app; print(create_app().extensions['rolefit.api'].spec.to_yaml(), end='')" > openapi.yaml

migrate: $(STAMP)
	$(BIN)/rolefit db upgrade

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache .hypothesis
