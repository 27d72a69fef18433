# Two commands matter: `make demo` and `make test`. Both install from uv.lock first.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
# uv: the one on PATH if there is one, else a copy installed into .tools/ (fresh machines have only Python + make).
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := .venv
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
VENV_STAMP := .venv/.installed-$(shell cat uv.lock pyproject.toml 2>/dev/null | cksum | cut -d' ' -f1)
BIN := .venv/bin
# allotropy (test oracle + fallback reader) lives in its own locked env: it pins jsonschema<4.18, prefect needs >=4.18.
ORACLE_STAMP := .venv-oracle/.installed-$(shell cat oracle/uv.lock oracle/pyproject.toml 2>/dev/null | cksum | cut -d' ' -f1)

.PHONY: install oracle demo test lint typecheck pytest clean up down

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV_STAMP): uv.lock pyproject.toml | $(if $(filter .tools/bin/uv,$(UV)),.tools/bin/uv)
	$(UV) sync --frozen --python $(PYTHON) --quiet
	rm -f .venv/.installed-*
	touch $@

# The allotropy fallback reader is part of the product (readers/allotropy_fallback.py): install sets up its env too.
install: $(VENV_STAMP) $(ORACLE_STAMP)

$(ORACLE_STAMP): oracle/uv.lock oracle/pyproject.toml | $(if $(filter .tools/bin/uv,$(UV)),.tools/bin/uv)
	UV_PROJECT_ENVIRONMENT=$(CURDIR)/.venv-oracle $(UV) sync --frozen --project oracle --python $(PYTHON) --quiet
	rm -f .venv-oracle/.installed-*
	touch $@

oracle: $(ORACLE_STAMP)

demo: install
	$(BIN)/biomarkers demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest -n 2 --no-loadscope-reorder --durations=25

test: lint typecheck pytest

# Local Prefect server + work pool + writer limit + deployments (prefect.yaml) + worker; README "Operations".
up: install
	$(BIN)/biomarkers up

down: install
	$(BIN)/biomarkers down

clean:
	rm -rf .venv .venv-oracle .tools data .mypy_cache .ruff_cache .pytest_cache
