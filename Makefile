# `make demo` and `make test` work on a fresh machine: each builds .venv when needed.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
DEPS_STAMP := $(VENV)/.deps-installed
PKG_STAMP := $(VENV)/.package-installed
PACKAGE_SOURCES := $(shell find mmf_domainstudy -name '*.py' -o -name '*.yaml') setup.py mmf_domainstudy_bootstrap.py mmf_domainstudy_bootstrap.pth

.PHONY: install test demo bench clean

install: $(PKG_STAMP)

$(DEPS_STAMP): requirements/constraints.txt requirements/runtime.txt requirements/test.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -c requirements/constraints.txt -r requirements/runtime.txt -r requirements/test.txt
	# MMF's own 2020 pins do not install on Python 3.11: bring the pinned stack above instead.
	$(PIP) install --no-deps mmf==1.0.0rc10
	touch $@

# A regular (not editable) install, so the .pth import hook lands in site-packages.
$(PKG_STAMP): $(DEPS_STAMP) $(PACKAGE_SOURCES)
	$(PIP) install --no-deps --no-build-isolation .
	rm -rf build
	touch $@

test: install
	$(PY) -m pytest tests

demo: install
	$(PY) tools/run_study.py projects/domain_study/studies/demo.yaml

bench: install
	$(PY) benchmarks/trainer_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info
