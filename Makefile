# The two commands a new user needs: `make run` and `make test`. Both set everything up first and are quick the
# second time (each step leaves a stamp and is redone only when its inputs change).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SYSTEM_PACKAGES := tesseract-ocr tesseract-ocr-vie tesseract-ocr-eng fonts-ocr-b fonts-noto-core \
	fonts-dejavu-core ghostscript chromium sane-utils
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export OMP_THREAD_LIMIT := 1

.PHONY: run test lint system venv samples bench clean

# The counter application with its demo unit and officer: the credentials and the address are printed.
run: venv
	$(BIN)/motcua demo
	$(BIN)/motcua serve

test: venv lint
	$(BIN)/pytest -q -n 2

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# System packages: installed only when one is missing, so the second run costs one dpkg query.
system: $(VENV)/.system
$(VENV)/.system: Makefile
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
		| grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:" $$missing; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@mkdir -p $(VENV) && touch $@

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml $(VENV)/.system
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

samples: venv
	$(BIN)/motcua samples samples/scans --count 30 --seed 2026 --committed

bench: venv
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/accuracy.py
	$(BIN)/python bench/accuracy.py --no-qr

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
