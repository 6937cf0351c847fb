# Transformers from Scratch: every target bootstraps .venv and the pinned assets itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
DEPS := $(VENV)/.deps-installed
ASSETS := _vendor/.assets-installed
JB_FLAGS := -W -n --keep-going
LAB ?= 01
# pytest processes of make test (pytest-xdist): one per core; TEST_JOBS=0 runs one process
TEST_JOBS ?= auto
LABS ?= $(wildcard labs/lab*.ipynb)

.PHONY: help venv assets book pdf test lint labs lab grade grades gradescope release bench bench-gpu clean

help:
	@echo "make book            build the HTML book into _build/html"
	@echo "make pdf             print the built book to _build/pdf/book.pdf (headless Chromium)"
	@echo "make test            run the whole test suite (builds the book first)"
	@echo "make lab             open JupyterLab on the labs"
	@echo "make labs            regenerate labs/ from solutions/ (FORCE=1: edited ones too)"
	@echo "make grade LAB=NN    grade labs/labNN_*.ipynb (LAB=1 works too)"
	@echo "make grades          grade every lab, reports into grades/"
	@echo "make grades SUBMISSIONS=DIR [JOBS=N]  grade a class: DIR/STUDENT/labNN_*.ipynb"
	@echo "make gradescope LAB=NN  write gradescope/labNN/autograder.zip"
	@echo "make release DEST=D  write the student edition (no solutions, no hidden tests) to D"
	@echo "make bench           run the benchmarks, figures into benchmarks/results/"
	@echo "make bench-gpu       chapter 11's figures on this machine's GPU (or a toy run on CPU)"

venv: $(DEPS)

$(DEPS): requirements.txt constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

assets: $(ASSETS)

$(ASSETS): package.json package-lock.json course/assets.py | $(DEPS)
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	$(PY) -m course.assets
	rm -rf _build/html
	touch $@

book: $(DEPS) $(ASSETS)
	$(BIN)/jupyter-book build . $(JB_FLAGS)

pdf: book
	$(PY) -m course.book_pdf

test: book
	$(BIN)/ruff check .
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadgroup
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadscope --nbval solutions/ \
	  --nbval-sanitize-with tests/nbval_sanitize.cfg

lint: $(DEPS)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check course tests benchmarks

labs: $(DEPS)
	$(PY) -m course.grading.generate $(if $(FORCE),--force)
	$(PY) -m course.launch

lab: $(DEPS)
	$(BIN)/jupyter lab labs/

grade: $(DEPS)
	$(PY) -m course.grade --lab $(LAB) --json results.json

grades: $(DEPS)
ifdef SUBMISSIONS
	$(PY) -m course.grading.classroom "$(SUBMISSIONS)" --out grades $(if $(JOBS),-j $(JOBS))
else
	$(PY) -m course.grading.grade_labs $(LABS) --out grades
endif

gradescope: $(DEPS)
	$(PY) -m course.grading.gradescope "$(LAB)" --out gradescope/lab$(LAB)

release: $(DEPS)
	@test -n "$(DEST)" || { echo "usage: make release DEST=../course-student" >&2; exit 2; }
	$(PY) -m course.grading.release "$(DEST)"

bench: $(DEPS) $(ASSETS)
	$(PY) -m benchmarks

bench-gpu: $(DEPS)
	$(PY) -m benchmarks gpu

clean:
	rm -rf _build _vendor node_modules
