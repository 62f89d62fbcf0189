"""The baseline engine: a roofline per layer of the dense model on a GPU or CPU.

For one pass of the model (a prefill of ``tokens`` tokens per sequence, or one decode step after ``context``
cached positions, for ``batch`` sequences) each layer of the graph does

* compute: the cost model's counts, :func:`neurosim.cost.dense_macs` (x 2 ops) for the projections and the
  attention matmuls on the precision's matmul unit, :func:`neurosim.cost.executed_ops` for norms, residual adds,
  element-wise ops and softmax on the ``vector`` unit;
* memory traffic: its weights once per pass (tiles reuse them across the batch and the tokens of a prefill), its
  input and output activations, and the KV cache as the cost model counts it (:func:`neurosim.cost.attention_rows`:
  ``kv_read`` per query token and context position, ``kv_write`` per token); a prefill's fused attention reads
  the cache once per tile of ``attention_query_tile`` queries, a decode step reads all of it;

and takes ``launch_overhead + max(ops / (peak x efficiency), bytes / (bandwidth x efficiency) + rows x
row_overhead)``: compute-bound or memory-bound, whichever is slower (``row_overhead``, where a model has it, is a
fixed cost per weight row streamed: a CPU's, measured). Energy is dynamic (ops x energy per op + bits moved x energy per bit) plus the
device's idle power over the whole pass.

The dense model is the graph without its spike machinery: spike encoders and LIF populations do not exist on
the conventional device (a workload's rotations are part of its spiking conversion, not of the dense model), and
every projection runs at the precision's widths whatever the graph's weight format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from neurosim.baseline.hardware import ConventionalHardware, Precision, precision
from neurosim.cost import (
    Rules,
    attention_rows,
    context_sum,
    dense_macs,
    executed_ops,
    token_contexts,
)
from neurosim.errors import NeurosimError
from neurosim.graph import (
    LIF,
    AttentionScore,
    AttentionValue,
    Elementwise,
    Embedding,
    Graph,
    Linear,
    Norm,
    Residual,
    SpikeEncoder,
)

ENGINE = "baseline"
PHASES = ("prefill", "decode")


@dataclass(frozen=True)
class Phase:
    """One pass of the model: a ``prefill`` of ``tokens`` tokens per sequence from an empty cache, or a ``decode``
    step of one token per sequence after ``context`` cached positions; ``batch`` sequences at once."""

    kind: str = "decode"
    tokens: int = 1
    context: int = 0
    batch: int = 1

    def __post_init__(self) -> None:
        if self.kind not in PHASES:
            raise NeurosimError(f"phase {self.kind!r}; allowed: {', '.join(PHASES)}")
        if self.tokens < 1 or self.batch < 1 or self.context < 0:
            raise NeurosimError(f"phase {self.kind}: tokens = {self.tokens}, batch = {self.batch}, context = "
                                f"{self.context}; allowed: tokens >= 1, batch >= 1, context >= 0")
        if self.kind == "decode" and self.tokens != 1:
            raise NeurosimError(f"a decode step runs one token per sequence; tokens = {self.tokens}; allowed: 1")

    @property
    def total_tokens(self) -> int:
        return self.tokens * self.batch

    def ctx_sum(self, rules: Rules) -> float:
        """The sum over the pass's tokens of the positions each attends to (the cost model's C)."""
        if self.kind == "prefill":
            return context_sum(self.tokens, self.batch, rules.attention, rules.window)
        import numpy as np

        ctx = token_contexts(np.array([self.context]), self.context + 1, rules.attention, rules.window)
        return float(ctx[0]) * self.batch

    def label(self) -> str:
        if self.kind == "prefill":
            return f"prefill of {self.tokens} tokens x batch {self.batch}"
        return f"decode step after {self.context} positions x batch {self.batch}"


@dataclass
class LayerWork:
    """What one layer asks of the device in one pass."""

    unit: str
    ops: float = 0.0
    weight_bytes: float = 0.0
    act_bytes: float = 0.0
    kv_bytes: float = 0.0
    weight_rows: float = 0.0  # rows of the weight matrix streamed (each a dot product's stream)

    @property
    def bytes(self) -> float:
        return self.weight_bytes + self.act_bytes + self.kv_bytes


def _inputs(graph: Graph, name: str) -> int:
    return max(1, len(graph.predecessors(name)))


def layer_work(layer, graph: Graph, phase: Phase, prec: Precision, rules: Rules, tile: int) -> LayerWork | None:
    """The ops and bytes of one layer of the dense model in one pass (None: not part of the dense model)."""
    T = float(phase.total_tokens)
    C = phase.ctx_sum(rules)
    eb = prec.elementwise_bits / 8.0
    if isinstance(layer, (SpikeEncoder, LIF)) or type(layer).__name__ == "SpikeInput":
        return None
    if isinstance(layer, Linear):  # projections and the lm_head
        ab = prec.act_bits / 8.0
        return LayerWork(prec.matmul_unit, ops=2.0 * dense_macs(layer, T, C),
                         weight_bytes=layer.in_features * layer.out_features * prec.weight_bits / 8.0,
                         act_bytes=(layer.in_features + layer.out_features) * T * ab,
                         weight_rows=float(layer.out_features))
    if isinstance(layer, (AttentionScore, AttentionValue)):
        if rules.attention == "none":
            return LayerWork(prec.matmul_unit)
        rows = {action: float(count) for action, count, _, _ in attention_rows(layer, rules, T, C)}
        kvb = prec.kv_bits / 8.0
        reads = rows.get("kv_read", 0.0)
        if phase.kind == "prefill":  # fused attention: the cache is read once per query tile
            reads = max(reads / tile, layer.kv_heads * layer.head_dim * T)
        kv = (reads + rows.get("kv_write", 0.0)) * kvb
        q = layer.heads * layer.head_dim * T * eb  # the query (score) or the output (value) of each token
        return LayerWork(prec.matmul_unit, ops=2.0 * dense_macs(layer, T, C), act_bytes=q, kv_bytes=kv)
    if isinstance(layer, Embedding):
        return LayerWork("vector", act_bytes=layer.dim * T * eb * 2)  # a table row read, the activation written
    if isinstance(layer, (Norm, Residual, Elementwise)):
        dim = layer.dim
        if isinstance(layer, Elementwise) and layer.op == "softmax":  # scores stay on chip in a fused attention
            return LayerWork("vector", ops=executed_ops(layer, T, C))
        return LayerWork("vector", ops=executed_ops(layer, T, C),
                         act_bytes=dim * T * eb * (_inputs(graph, layer.name) + 1))
    raise NeurosimError(f"layer {layer.name}: kind {layer.kind!r} has no roofline rule; allowed: linear, readout, "
                        "attention, embedding, norm, residual, elementwise (spike encoders and LIF are skipped)")


@dataclass
class RooflineResult:
    """One pass of the dense model on a conventional device: per-layer table and totals."""

    hardware: str
    precision: str
    phase: Phase
    layers: pd.DataFrame
    time_s: float
    dynamic_J: float
    idle_J: float
    weight_bytes: float
    kv_cache_bytes: float
    fits: bool
    notes: list[str] = field(default_factory=list)

    @property
    def energy_J(self) -> float:
        return self.dynamic_J + self.idle_J

    @property
    def tokens(self) -> int:
        """Tokens the pass produces (a prefill: every prompt token; a decode step: one per sequence)."""
        return self.phase.total_tokens

    @property
    def energy_per_token_J(self) -> float:
        return self.energy_J / self.tokens

    @property
    def dynamic_per_token_J(self) -> float:
        return self.dynamic_J / self.tokens

    @property
    def latency_per_token_s(self) -> float:
        """A decode step's time (each sequence waits for it); a prefill's time per prompt token."""
        return self.time_s if self.phase.kind == "decode" else self.time_s / self.phase.tokens

    @property
    def throughput_tokens_per_s(self) -> float:
        return self.tokens / self.time_s

    @property
    def edp_Js(self) -> float:
        """Energy-delay product per token: energy per token x latency per token."""
        return self.energy_per_token_J * self.latency_per_token_s

    @property
    def bound(self) -> str:
        """The regime that takes most of the pass's time: compute or memory (or overhead)."""
        by = self.layers.groupby("bound")["time_s"].sum()
        return str(by.idxmax()) if len(by) else "none"

    def summary(self) -> dict[str, Any]:
        share = self.layers.groupby("bound")["time_s"].sum() / self.time_s
        return {
            "hardware": self.hardware, "precision": self.precision, "phase": self.phase.kind,
            "tokens": self.tokens, "context": self.phase.context, "batch": self.phase.batch,
            "time_s": self.time_s, "energy_J": self.energy_J, "dynamic_J": self.dynamic_J, "idle_J": self.idle_J,
            "energy_per_token_J": self.energy_per_token_J, "latency_per_token_s": self.latency_per_token_s,
            "throughput_tokens_per_s": self.throughput_tokens_per_s, "edp_Js": self.edp_Js, "bound": self.bound,
            "memory_bound_share": float(share.get("memory", 0.0)),
            "compute_bound_share": float(share.get("compute", 0.0)),
            "weights_GB": self.weight_bytes / 1e9, "kv_cache_GB": self.kv_cache_bytes / 1e9, "fits": self.fits,
        }


def kv_cache_bytes(graph: Graph, positions: int, batch: int, prec: Precision) -> float:
    """The K and V caches of ``positions`` positions for ``batch`` sequences at the precision's KV width."""
    per = sum(layer.kv_heads * layer.head_dim for layer in graph if isinstance(layer, (AttentionScore, AttentionValue)))
    return per * positions * batch * prec.kv_bits / 8.0


def roofline(graph: Graph, hw: ConventionalHardware, prec: str | Precision = "fp16",
             phase: Phase | None = None) -> RooflineResult:
    """Time and energy of one pass of ``graph``'s dense model on ``hw`` at ``prec``."""
    prec = precision(prec) if isinstance(prec, str) else prec
    phase = phase or Phase()
    hw.unit(prec.matmul_unit)  # a one-line error when the device lacks it
    rules = Rules.of(graph)
    tile = hw.attention_query_tile.n
    overhead_s = hw.launch_overhead.v * 1e-9
    bw = hw.memory.bytes_per_s
    row_s = hw.memory.row_overhead_s
    e_bit = hw.memory.energy_per_bit.v
    rows = []
    skipped = 0
    for layer in graph:
        work = layer_work(layer, graph, phase, prec, rules, tile)
        if work is None:
            skipped += 1
            continue
        unit = hw.unit(work.unit)
        t_compute = work.ops / unit.ops_per_s
        t_memory = work.bytes / bw + work.weight_rows * row_s
        t = overhead_s + max(t_compute, t_memory)
        bound = "compute" if t_compute >= t_memory else "memory"
        if overhead_s > max(t_compute, t_memory):
            bound = "overhead"
        dyn_pj = work.ops * unit.energy_per_op.v + work.bytes * 8.0 * e_bit
        rows.append({"layer": layer.name, "block": -1 if layer.block is None else layer.block, "role": layer.role,
                     "kind": layer.kind, "unit": work.unit, "ops": work.ops, "weight_bytes": work.weight_bytes,
                     "act_bytes": work.act_bytes, "kv_bytes": work.kv_bytes, "compute_s": t_compute,
                     "memory_s": t_memory, "time_s": t, "bound": bound, "dynamic_J": dyn_pj * 1e-12})
    layers = pd.DataFrame(rows)
    time_s = float(layers["time_s"].sum()) if len(layers) else 0.0
    weights = float(layers["weight_bytes"].sum()) if len(layers) else 0.0
    positions = phase.tokens if phase.kind == "prefill" else phase.context + 1
    kv = kv_cache_bytes(graph, positions, phase.batch, prec)
    fits = weights + kv <= hw.memory.capacity.v
    notes = [f"{phase.label()} at {prec.name} ({prec.note})"]
    if skipped:
        notes.append(f"{skipped} spike-encoder/LIF layers are not part of the dense model (skipped)")
    if not fits:
        notes.append(f"does not fit: {weights / 1e9:.3g} GB of weights + {kv / 1e9:.3g} GB of KV cache > "
                     f"{hw.memory.capacity.v / 1e9:.3g} GB of memory (the figures assume it did)")
    return RooflineResult(hw.name, prec.name, phase, layers, time_s,
                          float(layers["dynamic_J"].sum()) if len(layers) else 0.0,
                          hw.power.idle.v * 1e-3 * time_s, weights, kv, fits, notes)
