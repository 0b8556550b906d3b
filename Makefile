# One entry point for every workflow. `make help` lists them.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
BIN   := $(VENV)/bin
NB    ?=
PRESET ?=
ARGS  ?=
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.py))
export SMLIB_DATA ?= $(abspath ../shared/data)
export PYTHONHASHSEED := 0

.PHONY: help venv browser book test lint unit nbval book-strict book-check notebooks run bench gpu-carry lab clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

$(VENV)/.installed: requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
	$(BIN)/pip install -q -e . --no-deps
	$(PY) -m ipykernel install --sys-prefix > /dev/null
	$(PY) -c "import smlib, torch, jupyter_book; print('environment ready: torch', torch.__version__)"
	touch $@

venv: $(VENV)/.installed  ## create .venv and install everything (pinned)

# Debian's Chromium and its driver, for the browser check of the built book (no browser is downloaded by a tool)
CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver

browser: $(CHROMIUM) $(CHROMEDRIVER)  ## install Debian's chromium and chromium-driver (apt-get) when missing

$(CHROMIUM) $(CHROMEDRIVER):
	@command -v apt-get > /dev/null || { echo "install chromium and chromium-driver with your package manager"; exit 2; }
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq chromium chromium-driver

book: venv  ## build the HTML book into _build/html from the committed notebooks
	$(BIN)/jupyter-book build . --all --keep-going
	@echo "open _build/html/index.html"

book-strict: venv  ## build the book with warnings as errors (used by make test)
	rm -rf _build/html _build/.doctrees
	$(BIN)/jupyter-book build . -W --keep-going --all

book-check: venv browser  ## open every page of _build/html in headless Chromium: console errors, images, raw TeX, widths
	$(PY) tools/check_book.py _build/html

lint: venv  ## ruff (pinned) over the library, tests, benchmarks, tools and the notebook sources
	$(BIN)/ruff check smlib tests benchmarks tools notebooks/*.py

unit: venv  ## unit tests of smlib and of the notebook pairing
	$(BIN)/pytest -q --durations=8 tests

nbval: venv  ## re-execute every committed notebook and compare its check cells
	$(BIN)/pytest -q --durations=12 --nbval-lax --nbval-current-env -p no:cacheprovider --ignore-glob='*.tmp.ipynb' notebooks

test: lint browser unit nbval book-strict book-check  ## everything CI runs: lint, unit tests, notebooks, strict book build, browser check

notebooks: venv  ## regenerate every committed .ipynb from its .py at default (CI) parameters, then the scorecard
	$(PY) tools/refresh_notebooks.py $(NOTEBOOKS)
	$(PY) tools/scorecard.py

run: venv  ## run one notebook into runs/ (default preset: the notebook's, ci): make run NB=01_spectral_bias [PRESET=small] [ARGS="-p device cuda"]
	@test -n "$(NB)" || { echo "usage: make run NB=01_spectral_bias [PRESET=small] [ARGS=\"-p seed 1\"]"; exit 2; }
	$(PY) tools/run_notebook.py notebooks/$(NB).py $(if $(PRESET),--preset $(PRESET)) $(ARGS)

bench: venv  ## install the peers (benchmarks/requirements.txt), run every benchmark, write results/benchmarks/
	$(BIN)/pip install -q -r benchmarks/requirements.txt
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b $(ARGS) || exit 1; done

gpu-carry: venv  ## what a GPU machine without an index needs (peer wheels, CIFAR-10): gpu_carry/ (ignored; carry it)
	$(PY) benchmarks/gather_wheels.py $(ARGS)

lab: venv  ## open the notebooks interactively (the .py files open as notebooks with their outputs)
	$(BIN)/jupyter lab --allow-root notebooks

clean:  ## remove build outputs (keeps .venv, runs/ and results/)
	rm -rf _build
