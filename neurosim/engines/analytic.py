"""The analytic engine: closed-form expected counts from shapes and firing rates.

The counting rules are :mod:`neurosim.cost`'s (written once for every engine); this engine supplies the activity
the graph's firing rates predict (:func:`neurosim.cost.expected_activity`) for a prefill of
``tokens = seq_len x batch`` tokens whose attention contexts follow the convention (full, causal, or none; a local
window caps them), or a measured activity per layer (``activity``: e.g. what the functional engine measured).

Counts are expectations (floats).
"""

from __future__ import annotations

import pandas as pd

from neurosim.cost import (
    Activity,
    Rules,
    RunShape,
    expected_activity,
    layer_rows,
    run_shape_for,
)
from neurosim.cost import (
    dense_macs as layer_dense_macs,
)
from neurosim.counters import CounterSink
from neurosim.graph import AttentionScore, AttentionValue, Graph, Linear, SpikeEncoder

ENGINE = "analytic"

__all__ = ["ENGINE", "RunShape", "count_graph", "dense_macs", "layer_table", "run_shape_for"]


def count_graph(graph: Graph, seq_len: int | None = None, batch: int | None = None,
                activity: dict[str, Activity] | None = None) -> pd.DataFrame:
    """Expected counters of one run of the graph (the analytic engine's output).

    ``activity``: per-layer activity to use instead of the rates' expectation (layers not named keep theirs).
    """
    shape = run_shape_for(graph, seq_len, batch)
    rules = Rules.of(graph)
    sink = CounterSink(ENGINE)
    activity = activity or {}
    for layer in graph:
        act = activity.get(layer.name) or expected_activity(layer, shape.tokens, shape.ctx_sum)
        for action, count, w_bits, a_repr in layer_rows(layer, rules, act):
            sink.add(layer.name, layer.block, layer.role, layer.kind, action, float(count), w_bits, a_repr)
    return sink.frame()


def dense_macs(graph: Graph, seq_len: int | None = None, batch: int | None = None) -> float:
    """The fp model's MACs over the run: every Linear and attention matmul counted densely (the papers' base)."""
    shape = run_shape_for(graph, seq_len, batch)
    return sum(layer_dense_macs(layer, shape.tokens, shape.ctx_sum) for layer in graph)


def layer_table(graph: Graph, counters: pd.DataFrame, seq_len: int | None = None) -> pd.DataFrame:
    """Per-layer summary: dense MACs, ACs, MACs, spikes, synaptic ops, neuron updates (one row per layer)."""
    shape = run_shape_for(graph, seq_len)
    piv = counters.pivot_table(index="layer", columns="action", values="count", aggfunc="sum", fill_value=0.0)
    rows = []
    for layer in graph:
        dense = layer_dense_macs(layer, shape.tokens, shape.ctx_sum)
        get = (lambda a, n=layer.name: float(piv.at[n, a]) if (n in piv.index and a in piv.columns) else 0.0)
        rate = getattr(getattr(layer, "input", None), "firing_rate", None)
        if isinstance(layer, SpikeEncoder):
            rate = layer.spec.firing_rate
        if layer.name not in piv.index and dense == 0:
            continue
        rows.append(
            {
                "layer": layer.name,
                "block": -1 if layer.block is None else layer.block,
                "role": layer.role,
                "kind": layer.kind,
                "firing_rate": rate,
                "dense_macs": dense,
                "acs": get("ac"),
                "macs": get("mac"),
                "adds": get("add"),
                "spikes": get("spike"),
                "synaptic_ops": get("ac") + (get("mac") if isinstance(layer, (Linear, AttentionScore, AttentionValue)) else 0.0),
                "neuron_updates": get("neuron_update"),
            }
        )
    return pd.DataFrame(rows)
