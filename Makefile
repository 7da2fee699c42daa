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

bench: $(STAMP)
	@for b in hack/bench/*.py; do \
	  case $$b in */__init__.py|*/_*) continue;; esac; \
	  echo "== $$b"; $(PY) $$b || exit 1; \
	done

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
