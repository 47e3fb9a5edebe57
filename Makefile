# crowdhub: the two commands of the README.
#   make demo   set up the environment and run the hub on the bundled demo (no services needed)
#   make test   set up everything the tests need, then lint, type-check and run the whole suite
# CI runs `make test` through .ci/run.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint typecheck unit env mosquitto browser bench clean

$(BIN)/hub: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

env: $(BIN)/hub

demo: env
	$(BIN)/hub demo

# The MQTT tests start their own Mosquitto on a free port: install Debian's package if missing.
mosquitto:
	@if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then \
		echo "installing mosquitto (Debian package) for the MQTT tests"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq mosquitto >/dev/null; \
	fi

# The dashboard's browser tests drive Debian's chromium through chromedriver (selenium, dev extra).
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
		echo "installing chromium and chromium-driver (Debian packages) for the browser tests"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

lint: env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: env
	$(BIN)/mypy

unit: env mosquitto browser
	$(BIN)/pytest

test: lint typecheck unit

bench: env mosquitto
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	$(BIN)/python bench/mqtt_bench.py
	$(BIN)/python bench/client_bench.py

clean:
	rm -rf $(VENV) demo-data test-artifacts .pytest_cache .mypy_cache .ruff_cache
