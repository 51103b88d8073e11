# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INPUT ?= seeds
WAREHOUSE ?= warehouse

export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

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

# Serve the etl flow as a cron deployment. news-etl starts its Prefect server in the background
# (with the UI; state in PREFECT_HOME) unless one runs or PREFECT_API_URL names another; Ctrl-C
# stops serving, `make server-stop` stops the server.
CRON ?= 0 * * * *
serve: install
	$(BIN)/news-etl serve --cron "$(CRON)" --input $(INPUT) --warehouse $(WAREHOUSE)

server-stop:
	$(BIN)/news-etl server stop

# End-to-end benchmark on generated corpora (see bench/run.py); e.g. make bench SIZES="100000 1000000"
SIZES ?= 10000 100000
BENCH_ARGS ?=
bench: install
	$(BIN)/python -m bench.run --sizes $(SIZES) $(BENCH_ARGS)

test: install
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .prefect .pytest_cache
