# SkipLab. `make run` sets up and starts the dashboard; `make test` sets up and runs the tests.
# Everything installs into .venv (Python 3.11+); nothing is downloaded at run time.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501

.PHONY: run test setup setup-dev browser lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(PY)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt requirements-extras.txt $(VENV)/.runtime
	$(PY) -m pip install -q -r requirements-dev.txt -r requirements-extras.txt
	touch $@

setup: $(VENV)/.runtime
setup-dev: $(VENV)/.dev

run: setup
	$(PY) -m streamlit run dashboard/app.py --server.port $(PORT)

# The browser suite drives Debian's Chromium (never `playwright install`); without it, those tests skip.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
	  echo "note: chromium not installed; browser tests will be skipped (apt-get install chromium)"; }

test: setup-dev browser
	$(PY) -m ruff check .
	$(PY) tools/layers.py
	$(PY) -m pytest

lint: setup-dev
	$(PY) -m ruff check .
	$(PY) tools/layers.py

# Each bench prints JSON; the first one that fails stops the run with its exit status.
bench: setup-dev
	@set -e; for b in bench/[!_]*.py; do echo "== $$b"; $(PY) $$b; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache artifacts
