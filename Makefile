# Set-up is two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

CHROMIUM := /usr/bin/chromium

.PHONY: demo test test-all lint bench browser clean

# torch first, pinned to the CPU build on disk; then the project with its dev extras.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/thinktwice demo --out out

# The report's browser tests drive Debian's chromium; install it when apt-get can, else those
# tests skip and say why.
browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing chromium with apt-get (for the report's browser tests)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends chromium >/dev/null) \
		|| echo "apt-get could not install chromium: the browser tests will skip"; \
	else \
		echo "no chromium and no apt-get as root: the browser tests will skip"; \
	fi

test: $(STAMP) browser
	$(PY) -m pytest -q

test-all: $(STAMP) browser
	RUN_SLOW=1 $(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/bench_explain.py
	$(PY) benchmarks/bench_eval.py
	$(PY) benchmarks/bench_report.py

clean:
	rm -rf $(VENV) out build *.egg-info src/*.egg-info
