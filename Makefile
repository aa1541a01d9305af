# Two entry points: `make demo` and `make test`. Both create .venv and install everything.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# torch 2.13.0 is the CPU build found on this kind of machine; elsewhere, the CPU wheel index
# keeps pip from pulling several GB of CUDA wheels.
TORCH_SPEC  ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: demo test lint bench clean venv

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH_SPEC)" || $(PIP) install -q "$(TORCH_SPEC)" --index-url $(TORCH_INDEX)
	$(PIP) install -q -e ".[compile,openvino,dev]"
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(PY) -m examples.digits.data --out build
	$(VENV)/bin/edgekit compile examples.digits.model:create \
		--weights examples/digits/weights.safetensors \
		--input image:1x1x8x8 --dynamic image:0 \
		--eval build/digits_test.npz \
		--target cpu --out build/digits.edgekit --force
	$(VENV)/bin/edgekit check build/digits.edgekit

test: venv
	$(VENV)/bin/ruff check edgekit tests benchmarks examples
	$(PY) -m pytest -q

bench: venv
	$(PY) benchmarks/cpu_latency.py

clean:
	rm -rf build $(VENV)
