# Every target sets up what it needs: a newcomer types `make demo` or `make test` and nothing else.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench lower-bounds clean serve

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[all,dev]'
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/ruff format --check src tests bench examples
	$(VENV)/bin/mypy --strict src
	$(VENV)/bin/lint-imports --no-cache

# Each extra at its lower bounds in a fresh venv, with that extra's tests (.ci/lower-bounds).
lower-bounds:
	$(PYTHON) .ci/lower-bounds

# The web inbox and the API on the default SQLite cache, with a few sample pending sessions.
serve: $(STAMP)
	$(PY) -m llm_core serve --demo $(SERVE_ARGS)

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
