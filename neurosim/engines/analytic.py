"""The analytic engine: closed-form expected counts from shapes and firing rates.

For a run of ``tokens = seq_len x batch`` tokens (a prefill; ``context`` says how attention sees the sequence):

* spike-driven Linear (input binary/ternary, rate r, unfold D): ``ac = in x D x r x out x tokens`` (spikes x
  fan-out; seed 002 theorems 2 and 4), one synapse read per accumulate;
* int Linear: ``mac = in x out x tokens x spike_multiplier`` (SpikeLLM's multi-step integer spikes cost 1.2x);
* fp Linear: ``mac = in x out x tokens``;
* SpikeEncoder: ``neuron_update = dim x D x tokens`` (one state read and write each) and
  ``spike = dim x D x r x tokens``; its rotation costs ``dim x log2(dim)`` adds (Hadamard) or ``dim^2`` MACs
  (random) per token when non-linear ops are counted;
* AttentionScore / AttentionValue: ``heads x head_dim x context`` per token, where context is the sequence
  length (full) or (L + 1) / 2 on average (causal); spike-driven like a Linear when the convention says so;
  K/V cache reads per context position and writes per token;
* norms, softmax, SiLU/GELU, rotary, gating products, residual adds: fp ops, counted only when
  ``convention.nonlinear`` is set.

Counts are expectations (floats). The convention in the graph's ``meta`` decides what is included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from neurosim.counters import CounterSink
from neurosim.graph import (
    LIF,
    AttentionScore,
    AttentionValue,
    Elementwise,
    Embedding,
    Encoding,
    Graph,
    Linear,
    Norm,
    Residual,
    SpikeEncoder,
)

ENGINE = "analytic"


@dataclass(frozen=True)
class RunShape:
    """How much work a run covers: tokens and the attention context they see."""

    seq_len: int = 1024
    batch: int = 1
    attention: str = "causal"  # full | causal | none

    @property
    def tokens(self) -> int:
        return self.seq_len * self.batch

    @property
    def mean_context(self) -> float:
        if self.attention == "full":
            return float(self.seq_len)
        if self.attention == "causal":
            return (self.seq_len + 1) / 2.0
        return 0.0


def run_shape_for(graph: Graph, seq_len: int | None = None, batch: int | None = None) -> RunShape:
    conv = graph.meta.get("convention", {})
    return RunShape(
        seq_len=int(seq_len or graph.meta.get("seq_len", 1024)),
        batch=int(batch or graph.meta.get("batch", 1)),
        attention=conv.get("attention", "causal"),
    )


def _a_repr(layer_input) -> str:
    return layer_input.label


def _weight_bits(layer: Linear) -> float:
    return layer.weight_bits_priced


def count_graph(graph: Graph, seq_len: int | None = None, batch: int | None = None) -> pd.DataFrame:
    """Expected counters of one run of the graph (the analytic engine's output)."""
    shape = run_shape_for(graph, seq_len, batch)
    conv = graph.meta.get("convention", {})
    nonlinear = bool(conv.get("nonlinear", True))
    mult = float(graph.meta.get("spike_multiplier", 1.0))
    tokens = shape.tokens
    ctx = shape.mean_context
    sink = CounterSink(ENGINE)

    for layer in graph:
        name, blk, role, kind = layer.name, layer.block, layer.role, layer.kind
        if isinstance(layer, Linear):
            inp = layer.input
            wb = _weight_bits(layer)
            dense = layer.in_features * layer.out_features * tokens
            if inp.encoding.is_spike:
                acs = dense * inp.unfold * inp.firing_rate * mult
                sink.add(name, blk, role, kind, "ac", acs, wb, inp.label)
                sink.add(name, blk, role, kind, "synapse_read", acs, wb)
            else:
                m = mult if inp.encoding is Encoding.INT else 1.0
                sink.add(name, blk, role, kind, "mac", dense * m, wb, inp.label)
                sink.add(name, blk, role, kind, "synapse_read", dense, wb)
            if layer.bias and nonlinear:
                sink.add(name, blk, role, kind, "add", layer.out_features * tokens, 16, "fp16")
        elif isinstance(layer, (AttentionScore, AttentionValue)):
            if ctx == 0:
                continue
            inp = layer.input
            ops = layer.heads * layer.head_dim * ctx * tokens
            kv_elems = layer.kv_heads * layer.head_dim
            if inp.encoding.is_spike:
                sink.add(name, blk, role, kind, "ac", ops * inp.unfold * inp.firing_rate, layer.kv_bits, inp.label)
            else:
                sink.add(name, blk, role, kind, "mac", ops, layer.kv_bits, inp.label)
            sink.add(name, blk, role, kind, "kv_read", kv_elems * ctx * tokens, layer.kv_bits)
            sink.add(name, blk, role, kind, "kv_write", kv_elems * tokens, layer.kv_bits)
        elif isinstance(layer, SpikeEncoder):
            spec = layer.spec
            updates = layer.dim * spec.unfold * tokens
            sink.add(name, blk, role, kind, "neuron_update", updates)
            sink.add(name, blk, role, kind, "state_read", updates)
            sink.add(name, blk, role, kind, "state_write", updates)
            sink.add(name, blk, role, kind, "spike", updates * (spec.firing_rate or 0.0))
            if nonlinear and layer.rotation == "hadamard":
                sink.add(name, blk, role, kind, "add", layer.dim * math.log2(max(layer.dim, 2)) * tokens, 16, "fp16")
            elif nonlinear and layer.rotation == "random":
                sink.add(name, blk, role, kind, "mac", layer.dim * layer.dim * tokens, 16, "fp16")
        elif isinstance(layer, LIF):
            updates = layer.n * layer.steps * tokens
            sink.add(name, blk, role, kind, "neuron_update", updates)
            sink.add(name, blk, role, kind, "state_read", updates)
            sink.add(name, blk, role, kind, "state_write", updates)
            sink.add(name, blk, role, kind, "spike", updates * layer.firing_rate)
        elif isinstance(layer, Embedding):
            sink.add(name, blk, role, kind, "embedding_read", layer.dim * tokens, layer.w_bits)
        elif not nonlinear:
            continue
        elif isinstance(layer, Norm):
            sink.add(name, blk, role, kind, "mac", 2 * layer.dim * tokens, 16, "fp16")
        elif isinstance(layer, Residual):
            sink.add(name, blk, role, kind, "add", layer.dim * tokens, 16, "fp16")
        elif isinstance(layer, Elementwise):
            if layer.op == "softmax":
                ops = 3 * layer.dim * ctx * tokens  # exp, sum, divide per score
            else:
                ops = layer.dim * layer.ops_per_element * tokens
            sink.add(name, blk, role, kind, "mac", ops, 16, "fp16")
    return sink.frame()


def dense_macs(graph: Graph, seq_len: int | None = None, batch: int | None = None) -> float:
    """The fp model's MACs over the run: every Linear and attention matmul counted densely (the papers' base)."""
    shape = run_shape_for(graph, seq_len, batch)
    total = 0.0
    for layer in graph:
        if isinstance(layer, Linear):
            total += layer.in_features * layer.out_features * shape.tokens
        elif isinstance(layer, (AttentionScore, AttentionValue)):
            total += layer.heads * layer.head_dim * shape.mean_context * shape.tokens
    return total


def layer_table(graph: Graph, counters: pd.DataFrame, seq_len: int | None = None) -> pd.DataFrame:
    """Per-layer summary: dense MACs, ACs, MACs, spikes, synaptic ops, neuron updates (one row per layer)."""
    shape = run_shape_for(graph, seq_len)
    piv = counters.pivot_table(index="layer", columns="action", values="count", aggfunc="sum", fill_value=0.0)
    rows = []
    for layer in graph:
        if isinstance(layer, Linear):
            dense = layer.in_features * layer.out_features * shape.tokens
        elif isinstance(layer, (AttentionScore, AttentionValue)):
            dense = layer.heads * layer.head_dim * shape.mean_context * shape.tokens
        else:
            dense = 0.0
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
