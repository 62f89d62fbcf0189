"""`estimate`: a workload -> graph -> analytic counters -> priced by an energy table -> per-layer table + totals.

The work is the run pipeline's (:mod:`neurosim.pipeline`); this module keeps the names the first release exported.
"""

from __future__ import annotations

from neurosim.pipeline import Estimate, aggregate_layers, estimate, load_graph_for

__all__ = ["Estimate", "aggregate_layers", "estimate", "load_graph_for"]
