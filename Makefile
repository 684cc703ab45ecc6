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

.PHONY: demo test install uv clean bench

uv:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv

# The stamp makes repeated runs instant while the lock is unchanged.
$(VENV)/.installed: pyproject.toml uv.lock | uv
	$(UV) sync --frozen --all-extras --compile-bytecode --quiet
	@touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/cjm sample-data --out $(DEMO_DATA) --quarters $(DEMO_QUARTERS) --start $(DEMO_START)
	@set -e; for p in $$($(BIN)/python -c "from cjm_tasks.periods import Period; print(' '.join(map(str, Period.parse('$(DEMO_START)').range($(DEMO_QUARTERS)))))"); do \
		$(BIN)/cjm validate --period $$p; \
		$(BIN)/cjm build --period $$p --out build/maps/$$p; \
	done
	@echo "Validation reports: $(CURDIR)/build/work/validation/<period>/validation.html"
	@echo "Journey maps:       $(CURDIR)/build/maps/<period>/<persona>.json"

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python benchmarks/bench_sample_data.py

clean:
	rm -rf build .pytest_cache
