# Set-up is two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

.PHONY: demo test test-all lint bench clean

# torch first, pinned to the CPU build on disk; then the project with its dev extras.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/thinktwice demo --out out

test: $(STAMP)
	$(PY) -m pytest -q

test-all: $(STAMP)
	RUN_SLOW=1 $(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/bench_explain.py
	$(PY) benchmarks/bench_eval.py

clean:
	rm -rf $(VENV) out build *.egg-info src/*.egg-info
