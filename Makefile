# `make demo` and `make test` work on a fresh machine: each builds .venv when needed.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
DEPS_STAMP := $(VENV)/.deps-installed
PKG_STAMP := $(VENV)/.package-installed
SITE_PACKAGES = $(shell $(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

.PHONY: install test demo bench clean

install: $(PKG_STAMP)

$(DEPS_STAMP): requirements/constraints.txt requirements/runtime.txt requirements/test.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -c requirements/constraints.txt -r requirements/runtime.txt -r requirements/test.txt
	# MMF's own 2020 pins do not install on Python 3.11: bring the pinned stack above instead.
	$(PIP) install --no-deps mmf==1.0.0rc10
	touch $@

# Editable, so tools/, benchmarks/ and tests run the working tree. A wheel install
# (`pip install .`) ships the import hook .pth itself; an editable one does not, so copy it.
$(PKG_STAMP): $(DEPS_STAMP) setup.py mmf_domainstudy_bootstrap.pth
	$(PIP) install --no-deps --no-build-isolation -e .
	cp mmf_domainstudy_bootstrap.pth $(SITE_PACKAGES)/
	touch $@

# Two workers: most tests wait on real `mmf_run` subprocesses of one thread each.
test: install
	$(PY) -m pytest -n 2 tests

demo: install
	$(PY) tools/prepare_demo_data.py --data-dir save/demo_data
	$(PY) tools/run_study.py projects/domain_study/studies/demo.yaml --jobs 2

bench: install
	$(PY) benchmarks/trainer_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info
