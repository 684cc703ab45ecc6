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
AIRFLOW_ENV := AIRFLOW_HOME=$(AIRFLOW_HOME) AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags AIRFLOW__CORE__LOAD_EXAMPLES=False \
	AIRFLOW__LOGGING__LOGGING_LEVEL=WARNING CJM_CONFIG=$(CURDIR)/configs/cjm.yaml PYTHONPATH=$(CURDIR) PATH=$(CURDIR)/$(BIN):$$PATH

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

# Airflow's UI with the project's DAGs (Ctrl-C to stop).
airflow: install
	$(AIRFLOW_ENV) $(BIN)/airflow db migrate > /dev/null
	@echo "Airflow UI: http://localhost:8080 (user admin; the password is in $(AIRFLOW_HOME)/simple_auth_manager_passwords.json.generated)"
	$(AIRFLOW_ENV) AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=admin:admin $(BIN)/airflow standalone

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
