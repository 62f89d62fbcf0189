"""``--set key=value`` overrides of a YAML mapping (workloads, hardware models), before it is validated.

It sits in the lowest layer so that the workload and hardware loaders share one rule without importing each other:
a dotted key reaches a nested field (missing levels are created), and the value is read as YAML (``6`` is an int,
``true`` a bool, ``[1, 2]`` a list, anything unparsable stays a string).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neurosim.errors import NeurosimError


def parse_scalar(text: str) -> Any:
    """A ``--set`` value as YAML reads it; text that is not valid YAML stays as it was given."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def deepcopy_plain(d: Any) -> Any:
    """A copy of nested dicts and lists (the leaves are shared), so an override never edits the caller's data."""
    if isinstance(d, dict):
        return {k: deepcopy_plain(v) for k, v in d.items()}
    if isinstance(d, list):
        return [deepcopy_plain(v) for v in d]
    return d


def apply_overrides(data: dict[str, Any], sets: list[str] | None, where: str,
                    aliases: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Apply ``key=value`` overrides (dotted keys for nested fields) to a copy of ``data``; ``aliases`` maps short
    keys to dotted paths (a workload's ``rate`` -> ``firing_rate``). ``where`` names the file in errors."""
    data = deepcopy_plain(data)
    for item in sets or []:
        if "=" not in item:
            raise NeurosimError(f"{where}: --set {item!r}: expected key=value, e.g. --set w_bits=6")
        key, _, raw = item.partition("=")
        key = key.strip()
        key = (aliases or {}).get(key, key)
        value = parse_scalar(raw.strip())
        parts = key.split(".")
        node = data
        for i, p in enumerate(parts[:-1]):
            if node.get(p) is None:
                node[p] = {}
            elif not isinstance(node[p], dict):
                raise NeurosimError(f"{where}: --set {item!r}: field '{'.'.join(parts[:i + 1])}' holds a value "
                                    f"({node[p]!r}), not nested fields; allowed: a key without '.' there")
            node = node[p]
        node[parts[-1]] = value
    return data
