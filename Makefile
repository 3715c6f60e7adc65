# `make run`: set up and start the embedded playground at http://127.0.0.1:8000 (no services needed).
# `make test`: the whole suite (integration tests need Redis and PostgreSQL; .ci/run starts them).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Client WebSocket frames are tiny (ping, resume); uvicorn closes a bigger one with 1009.
WS_MAX_SIZE ?= 65536

.PHONY: run setup dev-setup vendor migrate test bench clean

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

# Front-end packages from npm (pinned in package-lock.json), served by the app, never a CDN.
VENDOR := static/vendor
$(VENDOR)/.stamp: package.json package-lock.json Makefile
	npm ci --no-audit --no-fund --ignore-scripts
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)
	cp node_modules/@tensorflow/tfjs/dist/tf.es2017.min.js node_modules/@tensorflow/tfjs/dist/tf.es2017.min.js.map $(VENDOR)/
	cp node_modules/chart.js/dist/chart.umd.min.js node_modules/chart.js/dist/chart.umd.min.js.map $(VENDOR)/
	cp node_modules/@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.es2017.min.js node_modules/@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.es2017.min.js.map \
	   node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm \
	   node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm $(VENDOR)/
	touch $@

vendor: $(VENDOR)/.stamp
setup: $(VENV)/.runtime vendor
dev-setup: $(VENV)/.dev vendor

migrate: setup
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput

run: migrate
	@$(BIN)/python manage.py ensure_demo_user --username demo --password demo > var/demo-token.txt
	@$(BIN)/python manage.py ensure_demo_user --username admin --password admin --staff > /dev/null
	@echo "Playground: http://$(HOST):$(PORT)/  (log in as demo/demo; admin/admin for /admin/)"
	@echo "API token for demo: $$(cat var/demo-token.txt)  (also in var/demo-token.txt)"
	$(BIN)/uvicorn playground.asgi:application --host $(HOST) --port $(PORT) --lifespan on --ws-max-size $(WS_MAX_SIZE) --ws-per-message-deflate false

test: dev-setup
	node --test tests/js/
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: dev-setup
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/event_latency.py
	$(BIN)/python benchmarks/ws_fanout.py
	$(BIN)/python benchmarks/submit_rate.py

clean:
	rm -rf var .pytest_cache test-artifacts
