"""NeuroBench-compatible metrics, computed from any engine's counters or from a functional trace.

Each metric is a tiny class in :mod:`neurosim.metrics.definitions` with its definition written down and the
difference from neurosim's own counts stated. ``from_counters`` works on the shared counter table (every
engine emits it), ``from_trace`` on recorded per-layer inputs/outputs (:class:`~neurosim.metrics.trace.Trace`).
"""

from neurosim.metrics.definitions import (
    METRICS,
    ActivationSparsity,
    ConnectionSparsity,
    Footprint,
    MembraneUpdates,
    SynapticOperations,
    metrics_from_counters,
    metrics_from_trace,
)
from neurosim.metrics.trace import LayerTrace, Trace, trace_from_nirsim

__all__ = [
    "METRICS",
    "ActivationSparsity",
    "ConnectionSparsity",
    "Footprint",
    "LayerTrace",
    "MembraneUpdates",
    "SynapticOperations",
    "Trace",
    "metrics_from_counters",
    "metrics_from_trace",
    "trace_from_nirsim",
]
