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
# prompt-reading speed of a portable AVX2 build on these machines; benchmarks/README.md), 5-10 min the first
# time; scripts/install_llama.py keeps the wheel in ~/.cache/embedtune/wheels, keyed by version, flags, Python
# and CPU (pip's own wheel cache ignores CMAKE_ARGS), so later venvs on this machine install it in seconds.
# For an image that runs on other CPUs: LLAMA_CMAKE_ARGS=-DGGML_NATIVE=OFF; CUDA: -DGGML_CUDA=on.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=ON
LLAMA_SPEC := llama-cpp-python==0.3.36
EXTRAS ?= dev,local-llm,openai,mlflow

.PHONY: help install run test test-fast dashboard clean

# Services and tools the tests need (Argilla server venv, MLflow, headless Chromium) add their own
# targets and append them to TEST_SERVICES in mk/*.mk.
TEST_SERVICES :=
include $(wildcard mk/*.mk)

# A bare `make` prints the targets and does nothing else (without this, the first target of the first
# included mk/*.mk file would be the default and a bare `make` would install the Argilla server).
.DEFAULT_GOAL := help

help:
	@echo "embedtune: make TARGET. Nothing is installed until a target needs it."
	@echo ""
	@echo "  make run            install into .venv if needed, then the whole pipeline on the embedded default"
	@echo "                      (ARGS='--corpus DIR' etc. adds run.py flags; .venv/bin/embedtune --help lists them)"
	@echo "  make test           install, then the whole test suite (what CI runs)"
	@echo "  make test-fast      install, then the tests not marked slow"
	@echo "  make install        create .venv and install embedtune with the extras $(EXTRAS)"
	@echo "  make dashboard      the local ZenML server and dashboard (zenml login --local)"
	@echo "  make stack          a local stack with the MLflow experiment tracker (TRACKING_URI=... for a server)"
	@echo "  make stack-show     the active stack and its MLflow tracking URI"
	@echo "  make mlflow-ui      the MLflow UI on the local store, port 5000"
	@echo "  make models         all-mpnet-base-v2 for \`run.py compare\`"
	@echo "  make argilla-up     start a local Argilla server for curation (argilla-down stops it)"
	@echo "  make argilla-down   stop it"
	@echo "  make argilla-install  the Argilla server's own venv (argilla-redis: redis-server if missing)"
	@echo "  make argilla-redis  install redis-server with apt-get when run as root (else fakeredis is used)"
	@echo "  make browser        headless Chromium and its driver for the browser tests (apt-get, as root)"
	@echo "  make clean          remove outputs/ and .pytest_cache"
	@echo "  make help           this list (also what a bare make prints)"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U pip
	$(PIP) install -q $(TORCH_SPEC)
	$(PY) scripts/install_llama.py "$(LLAMA_SPEC)" "$(LLAMA_CMAKE_ARGS)"
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
