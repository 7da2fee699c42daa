# The two set-up commands of the README: `make test` and `make demo`. Both work on a fresh machine:
# they create .venv and install the project with its test extra when it is missing or stale.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: test lint typecheck unit demo bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

test: lint typecheck $(STAMP)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(PY) -m hack.demo $(DEMO_ARGS)

# `make bench`: every benchmark of hack/bench, then the scale report (hack/bench/REPORT.md and its
# plots; REPORT_ARGS e.g. "--quick"). `make bench BENCH_EXISTING=0`: the scale report alone.
BENCH_STAMP := $(VENV)/.installed-bench
BENCH_EXISTING ?= 1
REPORT_ARGS ?=

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	@if [ "$(BENCH_EXISTING)" != 0 ]; then for b in hack/bench/*.py; do \
	  case $$b in */__init__.py|*/_*|*/report.py) continue;; esac; \
	  echo "== $$b"; $(PY) $$b || exit 1; \
	done; fi
	@echo "== hack/bench/report.py"; $(PY) hack/bench/report.py $(REPORT_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
