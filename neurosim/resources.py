"""Built-in workload, hardware and energy files, found the same way from a checkout or an installed package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from neurosim.errors import NeurosimError

_KINDS = {
    "workload": ("neurosim._workloads", ""),
    "hardware": ("neurosim._hwmodels", ""),
    "energy": ("neurosim._hwmodels", "energy"),
    "conventional": ("neurosim._hwmodels", "conventional"),  # GPUs and CPUs for the baseline engine
}


def _folder(kind: str):
    package, sub = _KINDS[kind]
    root = resources.files(package)
    return root / sub if sub else root


def builtin_names(kind: str) -> list[str]:
    folder = _folder(kind)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def resolve(kind: str, name_or_path: str) -> Path:
    """A built-in name (``loihi2``) or a path to a YAML file -> a readable path."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.exists():
            raise NeurosimError(f"{kind} file not found: {name_or_path}")
        return p
    candidate = _folder(kind) / f"{name_or_path}.yaml"
    if not candidate.is_file():
        names = ", ".join(builtin_names(kind))
        raise NeurosimError(f"unknown {kind} '{name_or_path}'; built-ins: {names} (or give a path to a .yaml file)")
    return Path(str(candidate))


def data_file(name: str) -> Path:
    return Path(str(resources.files("neurosim._data") / name))
