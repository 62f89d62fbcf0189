"""The event-driven simulator: a SimPy model of the mapped cores, links and barriers (see docs/events.md).

* :func:`simulate` (a graph already mapped) -> :class:`SimResult` (counters, timing, energy); a simulation from
  names (workload, hardware, mapping; statistical or exact mode) is the run pipeline's
  :func:`neurosim.pipeline.run_workload`;
* :func:`simulate_snn`: a Dense + LIF network step by step, for ``neurosim lava-check``.

A simulation becomes a run record in :mod:`neurosim.report.events_record` (the report reads engines, never the
other way round).

Heavy imports happen on first use, so ``import neurosim.engines.events`` stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SimConfig", "SimResult", "simulate", "simulate_snn"]


def __getattr__(name: str) -> Any:
    if name in ("simulate", "SimResult"):
        from neurosim.engines.events import engine

        return getattr(engine, name)
    if name == "SimConfig":
        from neurosim.engines.events.sim import SimConfig

        return SimConfig
    if name == "simulate_snn":
        from neurosim.engines.events.snn import simulate_snn

        return simulate_snn
    raise AttributeError(f"module 'neurosim.engines.events' has no attribute {name!r}")
