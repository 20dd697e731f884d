# robustpose-bench: `make demo` and `make test` do everything on a fresh machine.
PYTHON_BOOT ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch: the CPU wheel by default; override e.g. TORCH_SPEC="torch==2.13.0 --index-url ..." for CUDA.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed-stamp
JOBS ?= 2

.PHONY: venv install demo test test-fast bench lint clean chromium

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PIP) install -q --upgrade pip wheel
	# torch first, so that the dependency `torch>=2.1` is already satisfied (no CUDA download).
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q $(TORCH_SPEC)
	# xtcocotools 1.14.3 wheels are built against NumPy 1 and fail to import under NumPy 2:
	# build it from source against the installed NumPy.
	$(PIP) install -q "numpy>=1.24" "cython>=3" "setuptools<81"
	$(PY) -c "import xtcocotools.coco" 2>/dev/null || $(PIP) install -q --no-binary xtcocotools --no-build-isolation xtcocotools==1.14.3
	$(PIP) install -q -e ".[dev,fast,onnx,dask,hf]"
	# rtmlib (reference for the SimCC / RTMO adapter tests) without its opencv-python and
	# opencv-contrib-python requirements: its other ones (numpy, onnxruntime, tqdm) are here.
	$(PIP) install -q --no-deps "rtmlib==0.0.16"
	# imagecorruptions 1.1.2 imports pkg_resources, removed from setuptools >= 82 (torch may pull
	# a newer one): keep a setuptools that still has it.
	$(PIP) install -q "setuptools<81"
	touch $(STAMP)

install: venv

demo: venv
	$(VENV)/bin/robustpose demo --out runs/demo

test: venv
	$(PY) -m pytest -q -n $(JOBS) --durations=15 --timeout=900

test-fast: venv
	$(PY) -m pytest -q -n $(JOBS) -m "not slow"

bench: venv
	$(PY) benchmarks/corruptions.py
	$(PY) benchmarks/metrics.py
	$(PY) benchmarks/inference.py

lint: venv
	$(VENV)/bin/ruff check robustpose_bench tests benchmarks
	$(VENV)/bin/lint-imports --no-cache

chromium:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null) || echo "chromium not installed: the browser test will be skipped"

clean:
	rm -rf $(VENV) runs build *.egg-info
