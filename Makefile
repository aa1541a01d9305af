# Two entry points: `make demo` and `make test`. Both create .venv and install everything.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# torch: a CPU build. First a wheel already on this machine (pip's find-links), then, on a
# machine without an NVIDIA GPU, PyTorch's CPU-only index, so that no multi-GB CUDA build
# is downloaded; a machine with a GPU takes the registry's default build.
TORCH_SPEC  ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: demo test lint bench clean venv

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --no-index --no-deps "$(TORCH_SPEC)" 2>/dev/null \
	  || command -v nvidia-smi >/dev/null \
	  || $(PIP) install -q --no-deps "$(TORCH_SPEC)" --index-url $(TORCH_INDEX)
	$(PIP) install -q "$(TORCH_SPEC)" -e ".[compile,openvino,signing,dev]"
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
	$(PY) benchmarks/precisions.py
	$(PY) benchmarks/openvino_latency.py
	$(PY) benchmarks/run.py

clean:
	rm -rf build $(VENV)
