# The two commands: `make run` (whole pipeline on the embedded default) and `make test`.
# Both create .venv and install everything themselves; nothing is needed beforehand but python3.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export HF_HUB_OFFLINE ?= 1
export HF_HUB_DISABLE_TELEMETRY := 1
export ZENML_ANALYTICS_OPT_IN := false
export TOKENIZERS_PARALLELISM := false
export OMP_WAIT_POLICY := PASSIVE
# torch first, pinned: the CPU wheel. GPU users: TORCH_SPEC="torch==2.13.0 --index-url <your CUDA index>".
TORCH_SPEC ?= torch==2.13.0
# llama-cpp-python builds from source for this machine's CPU (AVX-512/VNNI where it has them: 1.8x the
# prompt-reading speed of a portable AVX2 build on these machines; benchmarks/README.md), 5-10 min per new
# venv. --no-cache-dir: pip's wheel cache ignores CMAKE_ARGS and would hand back a wheel built with other
# flags. For an image that runs on other CPUs: LLAMA_CMAKE_ARGS=-DGGML_NATIVE=OFF; CUDA: -DGGML_CUDA=on.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=ON
LLAMA_SPEC := llama-cpp-python==0.3.36
EXTRAS ?= dev,local-llm,openai,mlflow

.PHONY: install run test test-fast dashboard clean

# Services and tools the tests need (Argilla server venv, MLflow, headless Chromium) add their own
# targets and append them to TEST_SERVICES in mk/*.mk.
TEST_SERVICES :=
include $(wildcard mk/*.mk)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U pip
	$(PIP) install -q $(TORCH_SPEC)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) install -q --no-cache-dir $(LLAMA_SPEC)
	$(PIP) install -q -e ".[$(EXTRAS)]"
	@test -d .zen || $(VENV)/bin/zenml init >/dev/null
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) run.py run --export-dir outputs/tuned-model $(ARGS)

test: install $(TEST_SERVICES)
	$(PY) -m pytest $(ARGS)

test-fast: install
	$(PY) -m pytest -m "not slow" $(ARGS)

dashboard: install
	$(VENV)/bin/zenml login --local

clean:
	rm -rf outputs .pytest_cache
