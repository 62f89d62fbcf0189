"""Produce the run record a report draws: pick the engine for the mode, the energy tables for the hardware.

The report uses whatever engines this build has. The analytic engine is always there; the event-driven simulator
(statistical and exact modes), the mapper and the functional engine add their sections when they are installed.
What is missing is said in the record's notes, never filled in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurosim.energy import EnergyTable, load_energy_table
from neurosim.errors import NeurosimError
from neurosim.report.build import HARDWARE_AWARE, PAPER_STYLE, record_from_counters
from neurosim.report.record import MODES, Assumption, RunRecord

PAPER_TABLE = "paper-45nm"
FALLBACK_TABLE = "horowitz-45nm"


@dataclass
class HardwareChoice:
    """What ``--hw NAME`` resolved to: a hardware model (spec + its energy table) or a bare energy table."""

    name: str
    kind: str  # "hardware" or "energy-table"
    table: EnergyTable
    spec: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    assumptions: list[Assumption] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _is_energy_table(name: str) -> bool:
    from neurosim.resources import builtin_names

    if name in builtin_names("energy"):
        return True
    p = Path(name)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        from neurosim.io import load_yaml

        data = load_yaml(p)
        return isinstance(data, dict) and "prices" in data
    return False


def resolve_hardware(name: str) -> HardwareChoice:
    """A hardware model name (``hala-point``) or an energy table name (``horowitz-45nm``)."""
    from neurosim.resources import builtin_names

    if _is_energy_table(name):
        table = load_energy_table(name)
        return HardwareChoice(name=table.name, kind="energy-table", table=table,
                              info={"name": table.name, "kind": "energy-table",
                                    "description": " ".join(table.description.split())},
                              notes=[(f"--hw {name} is an energy table, not a hardware model: no mapping, no "
                                     "network or static energy, no timing")])
    hw_names = builtin_names("hardware")
    known = name in hw_names or (Path(name).suffix in (".yaml", ".yml") and Path(name).is_file())
    if not known:
        tables = ", ".join(builtin_names("energy"))
        raise NeurosimError(f"unknown hardware '{name}'; built-in hardware models: {', '.join(hw_names) or '(none)'}; "
                            f"energy tables: {tables} (or give a path to a .yaml file)")
    return _hardware_model(name)


def _hardware_model(name: str) -> HardwareChoice:
    """Load a hardware model (``neurosim.hardware``) and the energy table derived from it."""
    try:
        from neurosim.hardware import load_hardware
    except ImportError:  # a build without the hardware package: say so, price with the digital baseline
        table = load_energy_table(FALLBACK_TABLE)
        return HardwareChoice(
            name=name, kind="hardware", table=table, info={"name": name, "kind": "hardware", "table": table.name},
            notes=[f"this build cannot read hardware model '{name}'; hardware-aware energy uses {FALLBACK_TABLE}"])
    hw = load_hardware(name)
    table = hw.energy_table()
    info = {"name": hw.name, "kind": "hardware", "table": table.name,
            "description": " ".join(hw.description.split()),
            "summary": {"chips": hw.n_chips, "cores per chip": hw.usable_cores_per_chip,
                        "mesh": "x".join(str(v) for v in hw.mesh_shape[:2]),
                        "core memory (KiB)": hw.core.memory_bytes / 1024,
                        "static power (W)": hw.static_power_mw() * 1e-3}}
    where = f"hardware {hw.name}"
    assumptions = [Assumption(item=f"hardware: {r['field']}", value=r.get("value", ""), source=r.get("source", ""),
                              assumption=r.get("assumption", ""), where=where) for r in hw.figures()]
    return HardwareChoice(name=hw.name, kind="hardware", table=table, spec=hw, info=info, assumptions=assumptions)


def make_run(workload: str, hw: str, mode: str = "analytic", text: str | None = None,
             sets: list[str] | None = None, seq_len: int | None = None, batch: int | None = None,
             convention: str = "workload", progress=None) -> RunRecord:
    """Run the workload on the hardware in the given mode and return its run record."""
    from neurosim.engines.analytic import count_graph
    from neurosim.workloads import build_graph, load_workload

    if mode not in MODES:
        raise NeurosimError(f"--mode {mode!r}; allowed: {', '.join(MODES)}")
    if text is not None and mode == "analytic":
        raise NeurosimError("--text feeds real tokens to the exact mode; analytic mode counts the workload's "
                            "seq_len (use --seq to change it, or --mode exact)")
    step = progress or (lambda _msg: None)
    choice = resolve_hardware(hw)
    spec = load_workload(workload, sets)
    if seq_len is not None or batch is not None:
        spec = spec.model_copy(update={k: v for k, v in (("seq_len", seq_len), ("batch", batch)) if v is not None})
    graph = build_graph(spec, convention)
    tables = [(PAPER_STYLE, load_energy_table(PAPER_TABLE)), (HARDWARE_AWARE, choice.table)]
    if mode != "analytic":
        raise NeurosimError(f"--mode {mode} needs the event-driven simulator, which this build does not have yet; "
                            "use --mode analytic")
    step("counting (analytic engine)")
    counters = count_graph(graph)
    notes = list(choice.notes)
    notes.append("analytic engine: counts are expectations from shapes and the workload's assumed firing rates")
    step("pricing")
    return record_from_counters(counters, spec=spec, graph=graph, energy_tables=tables, mode=mode,
                                engine="analytic", hardware=choice.info, assumptions=choice.assumptions,
                                notes=notes)
