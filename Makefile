# Two commands for a fresh machine (Python 3.11, pip, gcc): `make quickstart` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
# torch goes in first, pinned, so nothing pulls a multi-GB CUDA build; override for GPUs:
#   make install TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126"
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: install quickstart test lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -qq $(TORCH_SPEC)
	$(PY) -m pip install -qq -e '.[dev]'
	touch $@

quickstart: install
	$(VENV)/bin/gptkit quickstart

lint: install
	$(VENV)/bin/ruff check gptkit tests benchmarks

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache runs
