# `make run`: set up and start the embedded playground at http://127.0.0.1:8000 (no services needed).
# `make test`: the whole suite (integration tests need Redis and PostgreSQL; .ci/run starts them).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run setup dev-setup migrate test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Complete locks installed with --no-deps: pip's resolver cannot solve the TF + tensorflowjs
# stack by itself (see ../shared/DESIGN.md and the README).
$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --no-deps -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --no-deps -r requirements-dev.txt
	touch $@

setup: $(VENV)/.runtime
dev-setup: $(VENV)/.dev

migrate: setup
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput

run: migrate
	@$(BIN)/python manage.py ensure_demo_user --username demo --password demo > var/demo-token.txt
	@$(BIN)/python manage.py ensure_demo_user --username admin --password admin --staff > /dev/null
	@echo "Playground: http://$(HOST):$(PORT)/  (log in as demo/demo; admin/admin for /admin/)"
	@echo "API token for demo: $$(cat var/demo-token.txt)  (also in var/demo-token.txt)"
	$(BIN)/uvicorn playground.asgi:application --host $(HOST) --port $(PORT) --lifespan on

test: dev-setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: dev-setup
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/event_latency.py

clean:
	rm -rf var .pytest_cache test-artifacts
