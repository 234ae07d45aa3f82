# Two commands do everything on a fresh machine with Python 3.11 and pip:
#   make study   set up .venv, run every notebook (quick CPU profile) into runs/<timestamp>/
#   make test    set up .venv, run the unit tests and validate every notebook with nbval
#   make lab     set up .venv and open JupyterLab on notebooks/ (the explorer, every study)
# and one on a CUDA machine:
#   make paper-gpu  set up .venv-gpu with a CUDA torch (TORCH_INDEX, default the cu128 wheels),
#                   run the paper profile into runs/paper-gpu/, the benchmark on CUDA into
#                   runs/paper-gpu/bench.json, then write the claims ledger for that run
#
# torch: TORCH_SPEC picks the build. The default (torch==2.13.0) resolves to the CPU wheel on
# CPU machines that carry it locally; elsewhere point pip at the build you want, e.g.
#   make test TORCH_INDEX=https://download.pytorch.org/whl/cpu       (CPU only, no CUDA wheels)
#   make test TORCH_SPEC="torch==2.13.0" TORCH_INDEX=https://download.pytorch.org/whl/cu128

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
PROFILE ?= quick
STUDY_ARGS ?=
BENCH_ARGS ?= --quick
PYTEST_ARGS ?=
LAB_ARGS ?=
GPU_VENV ?= .venv-gpu
GPU_TORCH_INDEX := $(or $(TORCH_INDEX),https://download.pytorch.org/whl/cu128)
PAPER_RUN ?= runs/paper-gpu

BIN := $(VENV)/bin
STAMP := $(VENV)/.inrlab-installed
TORCH_INDEX_ARG := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)

.PHONY: setup study test lab bench paper-gpu browser-deps clean distclean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_INDEX_ARG) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[notebooks,test,ray]"
	$(BIN)/python -c "import torch; print('inrlab setup: torch', torch.__version__, '| cuda available:', torch.cuda.is_available())"
	@touch $(STAMP)

study: setup browser-deps
	$(BIN)/python -m inrlab study --profile $(PROFILE) $(STUDY_ARGS)

test: setup browser-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The browser test and the PNG export of study figures use Debian's chromium (neither Playwright
# nor kaleido can download a browser here). Installed when we are root with apt-get; otherwise
# the browser test skips and says why, and the study keeps its figures as HTML only.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null 2>&1 \
	  && echo "inrlab: installed chromium for the browser test"; } \
	  || echo "inrlab: chromium not available; the browser test will be skipped"

# The notebooks name the kernel 'python3'; a JupyterLab started from .venv resolves that to
# .venv's own Python (the setup installs its kernelspec there), so imports see this checkout's
# inrlab. As root (a container) it adds --allow-root. LAB_ARGS passes options on, e.g. LAB_ARGS="--no-browser --port 8890".
lab: setup
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (inrlab)" >/dev/null
	$(BIN)/python -m jupyter lab --ServerApp.root_dir=notebooks \
	  --MappingKernelManager.default_kernel_name=python3 $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

bench: setup
	$(BIN)/python -m inrlab.bench $(BENCH_ARGS)

# A separate venv, so the CPU one in .venv is left as it is. Refuses to start the paper
# profile (hours on a CPU) where that torch sees no CUDA device.
paper-gpu: browser-deps
	$(MAKE) setup VENV=$(GPU_VENV) TORCH_INDEX=$(GPU_TORCH_INDEX)
	$(GPU_VENV)/bin/python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'paper-gpu: torch sees no CUDA device')"
	$(GPU_VENV)/bin/python -m inrlab study --profile paper --out $(PAPER_RUN)
	$(GPU_VENV)/bin/python -m inrlab.bench --device cuda --json $(PAPER_RUN)/bench.json
	$(GPU_VENV)/bin/python -m inrlab claims --run $(PAPER_RUN)

clean:
	rm -rf runs .pytest_cache data/cache

distclean: clean
	rm -rf $(VENV)
