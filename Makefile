# Two entry points: `make demo` (the main job) and `make test` (the suite).
# Each creates .venv by itself on first use.
PYTHON ?= python3.11
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip install -q -c constraints.txt
STAMP   = $(VENV)/.installed

.PHONY: demo test install bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=23.2"
	$(PIP) torch==2.13.0
	$(PIP) -e ".[all,test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/spikefa demo --out runs/demo

test: $(STAMP)
	$(PY) -m pytest -q -n auto

clean:
	rm -rf $(VENV) runs build dist *.egg-info
