# pdesurrogate: setup / demo / test / bench.  `make demo` and `make test` set up on first use.
PYTHON ?= python3
VENV   ?= .venv
# CPU build by default so pip never pulls a multi-GB CUDA build; a GPU user sets e.g. TORCH="torch==2.13.0"
# with their own index (PIP_EXTRA_INDEX_URL) or TORCH=torch.
TORCH  ?= torch==2.13.0
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: help setup demo test test-all test-slurm bench lint clean
.DEFAULT_GOAL := help

help:
	@echo "make demo        set up if needed, then the demo: an online run (solver ranks -> MPI ->"
	@echo "                 FNO training) -> generate unseen data -> predict; results in runs/demo/"
	@echo "make test        set up if needed, then run the fast tests"
	@echo "make test-all    also run the tests marked slow"
	@echo "make test-slurm  submit slurm/*.sbatch to a local Slurm it starts (root; apt-get installs it)"
	@echo "make bench       the solver benchmark against exponax (installs the bench extra); the"
	@echo "                 other benchmarks run one by one: python benchmarks/NAME.py --help"
	@echo "make lint        ruff check ."
	@echo "make setup       create $(VENV) and install the project editable (TORCH=$(TORCH))"
	@echo "make clean       remove $(VENV) and build files (your results in runs/ stay)"

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

demo: setup
	bash scripts/demo.sh

# pytest processes of `make test` (pytest-xdist; each test file runs whole in one of them): most
# of the suite's time is single-threaded start-ups of torch, Lightning and MPI jobs, which two
# processes overlap on 2 cores. TEST_WORKERS=0 runs the tests one after the other in one process.
TEST_WORKERS ?= 2

test: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-all: setup
	$(PY) -m pytest -m "slow or not slow"

# starts slurmctld + slurmd here, runs tests/slurm/, stops them (tests/slurm/run.sh)
test-slurm: setup
	bash tests/slurm/run.sh $(PY)

bench: setup
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	$(PY) benchmarks/solvers.py

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info
