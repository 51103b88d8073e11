# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INPUT ?= seeds
WAREHOUSE ?= warehouse

export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: run test install clean serve server-stop bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/news-etl run --input $(INPUT) --warehouse $(WAREHOUSE)

# Start a local Prefect server in the background (unless one answers on PREFECT_PORT), then serve
# the etl flow as a cron deployment against it. Ctrl-C stops both (the server shares the process group).
PREFECT_PORT ?= 4299
CRON ?= 0 * * * *
serve: install
	@curl -sf http://127.0.0.1:$(PREFECT_PORT)/api/health >/dev/null || { \
	  $(BIN)/prefect server stop >/dev/null 2>&1; \
	  $(BIN)/prefect server start --background --analytics-off --no-ui --host 127.0.0.1 --port $(PREFECT_PORT) >/dev/null; }
	@for i in $$(seq 120); do curl -sf http://127.0.0.1:$(PREFECT_PORT)/api/health >/dev/null && break; sleep 0.5; done; \
	  curl -sf http://127.0.0.1:$(PREFECT_PORT)/api/health >/dev/null || { echo "prefect server did not start" >&2; exit 1; }
	PREFECT_API_URL=http://127.0.0.1:$(PREFECT_PORT)/api $(BIN)/news-etl serve --cron "$(CRON)" --input $(INPUT) --warehouse $(WAREHOUSE)

server-stop:
	$(BIN)/prefect server stop

# End-to-end benchmark on generated corpora (see bench/run.py); e.g. make bench SIZES="100000 1000000"
SIZES ?= 10000 100000
BENCH_ARGS ?=
bench: install
	$(BIN)/python -m bench.run --sizes $(SIZES) $(BENCH_ARGS)

test: install
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .prefect .pytest_cache
