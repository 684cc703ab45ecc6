# The README's two commands: `make demo` and `make test`. Both install what is missing first
# (uv via pip when absent, then the locked venv with compiled bytecode).
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
VENV := .venv
BIN := $(VENV)/bin
DEMO_DATA := build/sample-data
DEMO_QUARTERS ?= 4
DEMO_START ?= 2025Q1

.PHONY: demo demo-cli airflow test install uv java clean bench

uv:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv

# What is installed is checked, not a stamp: a venv that lost its extras (a plain `uv sync`
# removes Airflow) is repaired. The check takes a fraction of a second when nothing changed.
install: uv
	@$(UV) sync --frozen --all-extras --check --quiet >/dev/null 2>&1 || \
		{ echo "installing the locked environment into $(VENV) (uv sync --all-extras)"; \
		  $(UV) sync --frozen --all-extras --compile-bytecode --quiet; }

# Airflow runs from a project-local home with a SQLite metadata DB; the DAGs read configs/cjm.yaml.
AIRFLOW_HOME ?= $(CURDIR)/build/airflow-home
# Task logs at INFO (rows read, gate, maps, versions, pages, the summary); at WARNING the libraries'
# chatter and Airflow's own routine lines (a line per task state change, per DAG parse, per HTTP
# request): Airflow's [logging] namespace_levels. cjm_tasks.logs.quiet_libraries also quiets the
# libraries inside each task, wherever Airflow runs.
AIRFLOW_QUIET := great_expectations=WARNING,botocore=WARNING,boto3=WARNING,urllib3=WARNING,s3transfer=WARNING,py4j=WARNING,alembic=WARNING,sqlalchemy=WARNING,pymorphy3=WARNING,airflow.api_fastapi=WARNING,airflow.dag_processing=WARNING,airflow.models.dag=WARNING,airflow.serialization=WARNING,uvicorn=WARNING
AIRFLOW_ENV := AIRFLOW_HOME=$(AIRFLOW_HOME) AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags AIRFLOW__CORE__LOAD_EXAMPLES=False \
	AIRFLOW__LOGGING__LOGGING_LEVEL=INFO AIRFLOW__LOGGING__NAMESPACE_LEVELS=$(AIRFLOW_QUIET) \
	CJM_CONFIG=$(CURDIR)/configs/cjm.yaml PYTHONPATH=$(CURDIR) PATH=$(CURDIR)/$(BIN):$$PATH

demo: install
	$(BIN)/cjm sample-data --out $(DEMO_DATA) --quarters $(DEMO_QUARTERS) --start $(DEMO_START)
	@echo "Airflow (SQLite metadata DB in $(AIRFLOW_HOME)): migrating, then one run per quarter"
	@$(AIRFLOW_ENV) $(BIN)/airflow db migrate > /dev/null
	@$(AIRFLOW_ENV) $(BIN)/python scripts/airflow_demo.py --start $(DEMO_START) --quarters $(DEMO_QUARTERS)
	@echo "Validation reports: $(CURDIR)/build/work/validation/<period>/validation.html"
	@echo "Map versions:       $(CURDIR)/build/store/maps/<persona>/<period>/r<N>/"

# The same refresh without Airflow, straight from the CLI.
demo-cli: install
	$(BIN)/cjm sample-data --out $(DEMO_DATA) --quarters $(DEMO_QUARTERS) --start $(DEMO_START)
	@set -e; for p in $$($(BIN)/python -c "from cjm_tasks.periods import Period; print(' '.join(map(str, Period.parse('$(DEMO_START)').range($(DEMO_QUARTERS)))))"); do \
		$(BIN)/cjm refresh --period $$p; \
	done
	@echo "Published reports:  $(CURDIR)/build/site/index.html"

# Airflow's UI with the project's DAGs (Ctrl-C to stop), on this machine only (127.0.0.1), with as
# many task slots (LocalExecutor workers) as cores and one API worker. The passwords are generated
# into a file (mode 0600) before Airflow starts, so Airflow prints none; `cjm_notes` is the user
# resolve_period writes each run's note with (its connection is handed in the environment).
AIRFLOW_PORT ?= 8080
AIRFLOW_PASSWORDS := $(AIRFLOW_HOME)/simple_auth_manager_passwords.json.generated
AIRFLOW_USERS := admin:admin,cjm_notes:user
AIRFLOW_SERVE_ENV := AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT=$(AIRFLOW_PORT) AIRFLOW__API__WORKERS=1 \
	AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$(AIRFLOW_PORT)/execution/ \
	AIRFLOW__CORE__PARALLELISM=$$(nproc 2>/dev/null || echo 2) AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=$(AIRFLOW_USERS) \
	AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=$(AIRFLOW_PASSWORDS) CJM_AIRFLOW_API_CONN_ID=cjm_airflow_api
airflow: install
	@$(AIRFLOW_ENV) $(BIN)/airflow db migrate > /dev/null
	@$(BIN)/python scripts/airflow_local.py users --file $(AIRFLOW_PASSWORDS) --users $(AIRFLOW_USERS)
	@echo "Airflow UI: http://127.0.0.1:$(AIRFLOW_PORT) (user admin; its password is in $(AIRFLOW_PASSWORDS)); $$(nproc 2>/dev/null || echo 2) task slots"
	@conn=$$($(BIN)/python scripts/airflow_local.py connection --file $(AIRFLOW_PASSWORDS) --user cjm_notes --port $(AIRFLOW_PORT)) && \
		$(AIRFLOW_ENV) $(AIRFLOW_SERVE_ENV) AIRFLOW_CONN_CJM_AIRFLOW_API="$$conn" $(BIN)/airflow standalone

# `make airflow` schedules the sample quarters `make demo` writes (DEMO_START, DEMO_QUARTERS) and
# no other: the first run (06:00 on the first day of the next quarter) refreshes the first sample
# quarter, the schedule ends with the run for the last one, and catch-up is on, so unpausing the
# DAG runs those quarters (skipped as unchanged after `make demo`) and none without data. Without
# CJM_END_DATE (in production) the run of a quarter waits for its data (`wait:` in cjm.yaml).
SAMPLE_QUARTER_END = $(shell $(PYTHON) -c "y, q = map(int, '$(DEMO_START)'.split('Q')); n = 4 * y + q - 1 + $(1); print(f'{n // 4}-{3 * (n % 4) + 1:02d}-01')")
airflow: export CJM_START_DATE = $(call SAMPLE_QUARTER_END,1)
airflow: export CJM_END_DATE = $(call SAMPLE_QUARTER_END,$(DEMO_QUARTERS))T06:00:00
airflow: export CJM_CATCHUP = true

# The Spark engine (PySpark, an extra) needs Java 17+; the tests run it in local mode.
java:
	@java -version >/dev/null 2>&1 || { echo "installing Java 17 for Spark (apt-get install openjdk-17-jre-headless)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }; }

# Two xdist workers (the machine has 2 cores; much of the suite waits on subprocesses, Airflow and
# browsers), each taking whole files, the slowest first (tests/conftest.py). `make test PYTEST_XDIST=`
# runs everything in one process.
PYTEST_XDIST ?= -n 2 --dist loadfile --no-loadscope-reorder
test: install java
	$(BIN)/pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

bench: install
	$(BIN)/python benchmarks/bench_sample_data.py
	$(BIN)/python benchmarks/dag_parse.py
	$(BIN)/python benchmarks/bench_refresh.py --scales 20 --personas 4 32 --root build/bench

clean:
	rm -rf build .pytest_cache
