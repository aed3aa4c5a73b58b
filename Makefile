# DAS Explorer: `make run` sets everything up and starts the app; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
STAMP := $(VENV)/.installed

.PHONY: install run test test-all e2e speed bench bench-report checkpoints clean

# requirements.txt pins torch==2.14.1 / torchvision==0.29.1 (pip takes them from this machine's disk).
$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/streamlit run app.py --server.address 127.0.0.1 --server.port $(PORT) --server.headless true

test: install
	$(PY) -m pytest

test-all: install
	$(PY) -m pytest -m ""

e2e: install
	$(PY) -m pytest -m e2e tests/e2e

speed: install
	$(PY) -m das_core speed --threads 1

bench: install
	$(PY) -m das_core bench

bench-report: install
	$(PY) -m das_core bench --report-only

checkpoints: install
	$(PY) -m das_core checkpoints

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
