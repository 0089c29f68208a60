# gridbench: one Makefile for set-up, build, tests, demo and benchmarks.
# Every target installs what is missing first and is idempotent: a second run
# installs nothing (stamp files under .stamps/ record what was installed from what).

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := .stamps
TOOLS := .tools
FORGE := $(TOOLS)/node_modules/@foundry-rs/forge-linux-amd64/bin/forge
DEB_PACKAGES := g++ gcc-avr avr-libc arduino-core-avr libsimavr-dev simavr avrdude \
	libegl1 libgl1 libfontconfig1 libxkbcommon0 libdbus-1-3 \
	xvfb libxcb-icccm4 libxcb-cursor0 libxkbcommon-x11-0 libxcb-keysyms1 libxcb-image0 \
	libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 \
	mosquitto
PYTEST_ARGS ?=

.PHONY: setup demo test test-deep bench lint types imports pytest forge-test firmware-test \
	build build-contracts build-firmware wheel clean help lab-tests

help:
	@echo "make demo   - install what is missing, then run the demo scenario"
	@echo "make test   - install what is missing, then run every test suite"
	@echo "make bench  - run the benchmarks"
	@echo "make test-deep - the long profiles: 10,000-run forge fuzz/invariants, pytest -m slow"
	@echo "make setup  - only install (Debian packages, .venv, chain tools)"
	@echo "make wheel  - dist/gridbench-*.whl with the contracts and firmware builds as package data"

setup: $(STAMPS)/deb $(STAMPS)/venv $(STAMPS)/npm

# Debian packages: installed when root, otherwise the exact command is printed.
$(STAMPS)/deb: Makefile
	@mkdir -p $(STAMPS)
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	  else \
	    echo "Missing Debian packages. Run as root, then re-run make:"; \
	    echo "  apt-get update && apt-get install -y --no-install-recommends$$missing"; \
	    exit 1; \
	  fi; \
	fi
	@touch $@

$(STAMPS)/venv: pyproject.toml
	@mkdir -p $(STAMPS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

$(STAMPS)/npm: $(TOOLS)/package.json $(TOOLS)/package-lock.json
	@mkdir -p $(STAMPS)
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 20+ with npm (Debian: apt-get install nodejs npm), then re-run make"; exit 1; }
	cd $(TOOLS) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

build: build-contracts build-firmware

build-contracts: setup
	$(MAKE) -C contracts build

build-firmware: setup
	$(MAKE) -C firmware build

demo: setup build
	$(VENV)/bin/gridbench demo $(DEMO_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

types: setup
	$(VENV)/bin/mypy

imports: setup
	$(VENV)/bin/lint-imports

forge-test: build-contracts
	$(MAKE) -C contracts test

firmware-test: build-firmware
	$(MAKE) -C firmware test

pytest: setup build
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# The lab's example tests, run from their own folder (outside the package's tests/) with
# the installed plugin, as a lab would run them in its own repository.
lab-tests: setup build
	cd examples/lab-tests && QT_QPA_PLATFORM=offscreen $(abspath $(PY)) -m pytest -p no:cacheprovider -q

test: lint types imports forge-test firmware-test pytest lab-tests

# Long profiles: 10,000 forge fuzz and invariant runs, the 1,000,000-byte parser fuzz,
# thousands of hypothesis books against the LP oracle, the largest settlement batch.
test-deep: setup build
	$(MAKE) -C contracts deep
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m slow $(PYTEST_ARGS)

bench: setup build
	$(VENV)/bin/gridbench price bench
	$(VENV)/bin/gridbench chain bench
	$(VENV)/bin/gridbench emulate bench
	$(VENV)/bin/gridbench firmware bench

# A wheel that runs outside the checkout: the contracts' artifacts and the firmware ELF
# are staged into bench/builds/ as package data for the build only (never committed,
# so a checkout always uses its own fresh builds).
STAGE := bench/builds
wheel: build
	@rm -rf $(STAGE)/contracts $(STAGE)/firmware
	@for c in GridMarket LabCredit; do mkdir -p $(STAGE)/contracts/$$c.sol && \
	  cp contracts/out/$$c.sol/$$c.json $(STAGE)/contracts/$$c.sol/; done
	@mkdir -p $(STAGE)/firmware && cp firmware/build/uno/gridmeter.elf $(STAGE)/firmware/
	$(PY) -m pip wheel -q --no-deps -w dist . ; status=$$?; \
	  rm -rf $(STAGE)/contracts $(STAGE)/firmware build; exit $$status

clean:
	rm -rf $(STAMPS) contracts/out contracts/cache contracts/broadcast firmware/build dist
