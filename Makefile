# rolefit: `make run` serves it on a laptop, `make test` checks everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export ROLEFIT_DATABASE_URL ?= sqlite:///$(CURDIR)/var/rolefit.db

NODE_STAMP := node_modules/.package-lock.json
REDOCLY_ENV := REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true

.PHONY: run test lint lint-openapi format openapi migrate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## Run the service on SQLite with demo data, print a key and a curl line, serve on :8000, and
## one webhook worker beside it (stopped with the server). The webhook secrets' key is kept in
## var/secret_key (made on first run); the demo allows http and private receiver URLs.
run: $(STAMP)
	@mkdir -p var
	@[ -s var/secret_key ] || (umask 077 && $(BIN)/python -c "import secrets; print(secrets.token_urlsafe(32))" > var/secret_key)
	$(BIN)/rolefit db upgrade
	$(BIN)/rolefit demo --candidates 200
	@KEY=$$($(BIN)/rolefit keys create --name "demo admin $$(date +%s)" --preset admin | tail -n 1); \
	echo; echo "Demo admin key: $$KEY"; \
	echo "Try:  curl -s -H 'Authorization: Bearer $$KEY' http://127.0.0.1:8000/v1/roles"; \
	echo "Jobs: curl -s -H 'Authorization: Bearer $$KEY' http://127.0.0.1:8000/v1/jobs"; \
	echo "Docs: http://127.0.0.1:8000/docs"; \
	echo "Dashboard: http://127.0.0.1:8000/ui/ (sign in with the key above)"; echo
	@export ROLEFIT_SECRET_KEY="$$(cat var/secret_key)" ROLEFIT_WEBHOOKS_ALLOW_HTTP=1 \
		ROLEFIT_WEBHOOKS_ALLOW_PRIVATE=1; \
	$(BIN)/rolefit worker & WORKER=$$!; \
	trap 'kill -TERM $$WORKER 2>/dev/null; wait $$WORKER' EXIT INT TERM; \
	$(BIN)/rolefit serve --bind 127.0.0.1:8000

## Lint, then the whole suite on SQLite, then again on PostgreSQL if ROLEFIT_TEST_DATABASE_URL is set.
test: $(STAMP) lint lint-openapi
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

$(NODE_STAMP): package.json package-lock.json
	npm ci --engine-strict --ignore-scripts --no-audit --no-fund
	@touch $@

## Lint openapi.yaml with Redocly (recommended) and Spectral (spectral:oas), pinned by package-lock.json.
lint-openapi: $(NODE_STAMP)
	$(REDOCLY_ENV) npx --no-install redocly lint openapi.yaml
	npx --no-install spectral lint -r .spectral.yaml --fail-severity=warn openapi.yaml

format: $(STAMP)
	$(BIN)/ruff format service tests bench
	$(BIN)/ruff check --fix service tests bench

## Regenerate openapi.yaml from the code (a test fails when it is stale).
openapi: $(STAMP)
	$(BIN)/python -c "from service import create_app; print(create_app().extensions['rolefit.api'].spec.to_yaml(), end='')" > openapi.yaml

migrate: $(STAMP)
	$(BIN)/rolefit db upgrade

clean:
	rm -rf $(VENV) node_modules var .pytest_cache .ruff_cache .mypy_cache .hypothesis
