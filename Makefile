# Two commands on a fresh machine: `make demo` and `make test`. Both depend on `install`,
# which is idempotent (a stamp file records the inputs; a second run takes seconds).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
STAMP := $(VENV)/.installed
export FORCE_QWENVL_VIDEO_READER := decord
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test test-fast wheel clean
# The library's docstring examples run as tests too; slow tests (marked `slow`: end-to-end runs, the
# wheel in a clean venv) run in `make test` and CI, and are skipped by `make test-fast`.
PYTEST_ARGS := tests verl_videorft --doctest-modules

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile .ci/install_system.sh
	bash .ci/install_system.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -c constraints.txt "torch==2.13.0"
	# verl first, alone: resolving it together with the rest sends pip backtracking for many minutes.
	$(PIP) install -c constraints.txt "verl==0.9.1"
	# compat mode puts the checkout on sys.path, so Hydra's scan of the `hydra_plugins` namespace
	# finds the search-path plugin (setuptools' default editable finder hides namespace packages).
	$(PIP) install -c constraints.txt -e ".[test]" --config-settings editable_mode=compat
	# torchvision: only a CUDA build exists on the index; install it without deps and neutralise
	# its CUDA-only meta registrations (its _C.so links CUDA libraries, so importing
	# torchvision._meta_registrations raises and breaks transformers' PreTrainedModel import),
	# so pure-Python transforms work on CPU.
	$(PIP) install -c constraints.txt --no-deps "torchvision==0.28.0"
	$(PY) -m verl_videorft.cpu.torchvision_shim --install
	touch $(STAMP)

demo: install
	$(PY) -m verl_videorft.demo

test: install
	$(PY) -m ruff check .
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-fast: install
	$(PY) -m ruff check .
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

wheel:
	$(PY) -m pip wheel --no-deps --no-build-isolation -w dist .

clean:
	rm -rf $(VENV) dist build *.egg-info
