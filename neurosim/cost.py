"""The cost model: for each layer kind, the one rule that turns shapes, encoding and activity into counts.

Every engine calls these rules and differs only in where the activity comes from:

* the analytic engine passes the *expected* activity of a run (:func:`expected_activity`: rates x shapes);
* the event-driven engine passes the spikes it drew (statistical mode) or the real spikes (exact mode), per core
  piece and per block of tokens, and the real per-token attention contexts of the block;
* the functional engine passes the spikes it measured on real weights.

A rule returns rows ``(action, count, w_bits, a_repr)`` (see :mod:`neurosim.counters` for the actions); counts
may be NumPy arrays (one entry per core piece) where an engine counts piece by piece. The rules are linear in
the activity, so counting per piece and summing equals counting the whole layer.

The rules, per layer kind (``T`` tokens, ``C`` the sum over those tokens of the positions each attends to):

* spike-driven Linear: ``ac = spikes_in x fan_out x m`` (seed 002 theorems 2 and 4: one accumulate per spike per
  output), one synapse read per accumulate; ``m`` is the workload's spike multiplier (SpikeLLM's multi-step
  integer spikes cost 1.2x; 1 elsewhere);
* int/fp Linear: ``mac = in x out x T x m`` (``m`` only for int operands), one synapse read per MAC;
* a bias: ``out x T`` adds; an asymmetric (zero-point) spike encoding: ``out x T`` int32 MACs to correct the
  accumulator (both counted with the non-linear ops);
* AttentionScore / AttentionValue: ``heads x head_dim x C`` MACs, or accumulates of the spike-encoded operand
  (``sum_i spikes_i x ctx_i``) when the attention is spike-driven, times ``m`` for int operands; K/V reads
  ``kv_heads x head_dim x C``, writes ``kv_heads x head_dim x T``;
* spike sources (SpikeEncoder over ``D`` unfold steps, LIF over its steps): one neuron update, state read and
  state write per neuron per step, and the spikes they emit;
* a network's input spikes (InputSpikes): nothing on the neuro cores; they are injected, not computed (no
  compartment, no update, no soma spike); the messages that carry them are traffic, counted by the mapping;
* a Linear's output neurons: where a LIF follows it as its only consumer (and the LIF has no other input), the
  two are one Loihi core pipeline, synapse -> dendrite -> soma (:func:`fused_soma`): the Linear's outputs are that
  LIF's dendritic inputs and each neuron is updated once per step, by the LIF's rule; otherwise the mapped cores
  that hold a Linear's outputs (its synapse or accumulator cores) update one output neuron per output per step
  (:func:`output_neuron_rows`; the analytic count leaves these mapping-level updates out);
* a SpikeEncoder's rotation: a Hadamard rotation of width ``n = m x 2^k`` costs ``n (m - 1 + k)`` adds per token
  (a dense order-m factor and k butterfly stages), a random orthogonal one ``n^2`` MACs (the construction is
  chosen from ``n`` exactly as :mod:`neurosim.functional.hadamard` builds it); quantile clipping one add per
  element;
* norms (2 x dim MACs), residual adds (dim adds), element-wise ops (dim x ops-per-element; softmax 3 per score):
  fp ops, counted when the convention counts non-linear ops; embedding reads ``dim x T``.

Attention context: causal (position ``p`` sees ``p + 1`` positions), full (every position) or none; a local
window ``W`` (SymbolicLight) caps each token's context at ``W``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurosim.errors import NeurosimError
from neurosim.graph import (
    LIF,
    AttentionScore,
    AttentionValue,
    Elementwise,
    Embedding,
    Encoding,
    Graph,
    InputSpikes,
    Layer,
    Linear,
    Norm,
    Residual,
    SpikeEncoder,
)

Row = tuple[str, Any, float, str]  # (action, count (float or array), w_bits, a_repr)

#: the largest Paley order the rotations build (a dense m x m matrix; 5504 covers LLaMA2's 11008 = 5504 x 2)
MAX_PALEY_ORDER = 8192


# --- what the graph's convention says is counted --------------------------------------------------------------------
@dataclass(frozen=True)
class Rules:
    """The counting options a graph carries in ``meta`` (its convention and the workload's spike multiplier)."""

    attention: str = "causal"  # full | causal | none
    nonlinear: bool = True
    spike_multiplier: float = 1.0
    window: int | None = None  # a local attention window (positions), None = unbounded

    @classmethod
    def of(cls, graph: Graph) -> Rules:
        conv = graph.meta.get("convention", {}) or {}
        window = graph.meta.get("local_window")
        return cls(attention=str(conv.get("attention", "causal")), nonlinear=bool(conv.get("nonlinear", True)),
                   spike_multiplier=float(graph.meta.get("spike_multiplier", 1.0) or 1.0),
                   window=int(window) if window else None)

    def multiplier(self, encoding: Encoding) -> float:
        """SpikeLLM's multi-step factor applies to every matmul whose operand is int or spike-encoded."""
        return self.spike_multiplier if encoding is not Encoding.FP else 1.0


# --- attention contexts -------------------------------------------------------------------------------------------
def token_contexts(positions: np.ndarray, total: int, attention: str, window: int | None = None) -> np.ndarray:
    """How many positions each token at ``positions`` (0-based) attends to in a sequence of ``total``."""
    positions = np.asarray(positions)
    if attention == "full":
        ctx = np.full(positions.shape, float(total))
    elif attention == "causal":
        ctx = (positions + 1).astype(float)
    elif attention == "none":
        ctx = np.zeros(positions.shape)
    else:
        raise NeurosimError(f"attention = {attention!r}; allowed: full, causal, none")
    return np.minimum(ctx, float(window)) if window else ctx


def context_sum(seq_len: int, batch: int, attention: str, window: int | None = None) -> float:
    """The sum over a prefill's tokens of their attention contexts (closed form of :func:`token_contexts`)."""
    L, W = int(seq_len), int(window) if window else None
    if attention == "full":
        per = float(min(L, W) if W else L) * L
    elif attention == "causal":
        if W is None or L <= W:
            per = L * (L + 1) / 2.0
        else:
            per = W * (W + 1) / 2.0 + float(L - W) * W
    elif attention == "none":
        per = 0.0
    else:
        raise NeurosimError(f"attention = {attention!r}; allowed: full, causal, none")
    return per * int(batch)


@dataclass(frozen=True)
class RunShape:
    """How much work a run covers: tokens and the attention context they see."""

    seq_len: int = 1024
    batch: int = 1
    attention: str = "causal"  # full | causal | none
    window: int | None = None

    @property
    def tokens(self) -> int:
        return self.seq_len * self.batch

    @property
    def ctx_sum(self) -> float:
        return context_sum(self.seq_len, self.batch, self.attention, self.window)

    @property
    def mean_context(self) -> float:
        return self.ctx_sum / self.tokens if self.tokens else 0.0


def run_shape_for(graph: Graph, seq_len: int | None = None, batch: int | None = None) -> RunShape:
    """The run a graph describes (its ``seq_len`` and ``batch``, or the ones given) under its convention."""
    rules = Rules.of(graph)
    return RunShape(seq_len=int(seq_len or graph.meta.get("seq_len", 1024)),
                    batch=int(batch or graph.meta.get("batch", 1)), attention=rules.attention, window=rules.window)


# --- rotations ----------------------------------------------------------------------------------------------------
def _is_prime(q: int) -> bool:
    if q < 2:
        return False
    if q % 2 == 0:
        return q == 2
    return all(q % d for d in range(3, math.isqrt(q) + 1, 2))


def hadamard_construction(m: int) -> str | None:
    """The name of the construction that gives a Hadamard matrix of order m here, or None (nothing is built)."""
    if m >= 1 and m & (m - 1) == 0:
        return f"sylvester({m})"
    if m % 4 or m > MAX_PALEY_ORDER:
        return None
    if _is_prime(m - 1) and (m - 1) % 4 == 3:
        return f"paley1(q={m - 1})"
    if m % 2 == 0 and _is_prime(m // 2 - 1) and (m // 2 - 1) % 4 == 1:
        return f"paley2(q={m // 2 - 1})"
    return None


def hadamard_factorisation(n: int) -> tuple[int, int] | None:
    """(m, p) with n = m x p, p = 2^k as large as possible and H_m known; None if there is none."""
    if n < 1:
        return None
    p = n & -n  # the largest power of two dividing n
    while p >= 1:
        m = n // p
        if hadamard_construction(m) is not None:
            return m, p
        p //= 2
    return None


def rotation_work(kind: str, n: int) -> tuple[str, float]:
    """(action, count per token) of rotating a width-``n`` activation with a ``kind`` rotation as constructed."""
    if kind == "none" or n <= 1:
        return "add", 0.0
    if kind == "hadamard":
        fac = hadamard_factorisation(n)
        if fac is not None:
            m, p = fac
            return "add", float(n * ((m - 1) + math.log2(p)))
    if kind not in ("hadamard", "random"):
        raise NeurosimError(f"rotation = {kind!r}; allowed: hadamard, random, none")
    return "mac", float(n * n)  # a random orthogonal matrix (also the fallback of a width with no Hadamard)


# --- activity -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Activity:
    """What one layer did over a run (or a block of tokens). ``None`` fields are taken from the graph's rates.

    ``in_spikes``: spikes that entered a spike-driven Linear (elements x steps x tokens, -1 and +1 alike);
    ``spike_ctx``: for spike-driven attention, ``sum_i spikes_i x ctx_i`` over its tokens;
    ``updates`` / ``spikes``: a spike source's neuron updates and emitted spikes;
    ``fp``: the layer ran as the floating-point model (a functional FP run), whatever the graph's encoding.
    """

    tokens: float
    ctx_sum: float = 0.0
    in_spikes: Any = None
    spike_ctx: Any = None
    updates: Any = None
    spikes: Any = None
    fp: bool = False


def spikes_per_token(spec) -> float:
    """Expected spikes per element per token of an activation: unfold x rate."""
    return float(spec.unfold) * float(spec.firing_rate or 0.0)


def expected_activity(layer: Layer, tokens: float, ctx_sum: float = 0.0) -> Activity:
    """The analytic engine's activity: what the graph's shapes and firing rates predict."""
    if isinstance(layer, Linear) and layer.spiking:
        return Activity(tokens, ctx_sum, in_spikes=layer.in_features * spikes_per_token(layer.input) * tokens)
    if isinstance(layer, (AttentionScore, AttentionValue)) and layer.input.encoding.is_spike:
        return Activity(tokens, ctx_sum,
                        spike_ctx=layer.heads * layer.head_dim * spikes_per_token(layer.input) * ctx_sum)
    if isinstance(layer, SpikeEncoder):
        updates = layer.dim * float(layer.spec.unfold) * tokens
        return Activity(tokens, ctx_sum, updates=updates, spikes=updates * float(layer.spec.firing_rate or 0.0))
    if isinstance(layer, LIF):
        updates = float(layer.n) * layer.steps * tokens
        return Activity(tokens, ctx_sum, updates=updates, spikes=updates * float(layer.firing_rate))
    if isinstance(layer, InputSpikes):
        return Activity(tokens, ctx_sum, updates=0.0, spikes=float(layer.n) * float(layer.firing_rate) * tokens)
    return Activity(tokens, ctx_sum)


# --- the rules ------------------------------------------------------------------------------------------------------
def linear_synaptic_rows(layer: Linear, rules: Rules, *, spike_fanout: Any = None, dense: Any = None,
                         fp: bool = False) -> list[Row]:
    """The synaptic work of a Linear: ``spike_fanout`` = sum of spikes x fan-out (a spike-driven layer), or
    ``dense`` = inputs x outputs x tokens (int/fp operands; ``fp`` prices the run as the fp16 model)."""
    wb = layer.weight_bits_priced
    if spike_fanout is not None:
        acs = spike_fanout * rules.multiplier(layer.input.encoding)
        return [("ac", acs, wb, layer.input.label), ("synapse_read", acs, wb, "")]
    if fp:
        return [("mac", dense, 16.0, "fp16"), ("synapse_read", dense, 16.0, "")]
    macs = dense * rules.multiplier(layer.input.encoding)
    return [("mac", macs, wb, layer.input.label), ("synapse_read", macs, wb, "")]


def linear_output_rows(layer: Linear, rules: Rules, tokens: float) -> list[Row]:
    """Per-output work after the matmul: the bias add and the zero-point correction of an asymmetric encoding."""
    rows: list[Row] = []
    if not rules.nonlinear:
        return rows
    if layer.bias:
        rows.append(("add", float(layer.out_features * tokens), 16.0, "fp16"))
    if layer.spiking and not layer.input.symmetric:
        rows.append(("mac", float(layer.out_features * tokens), 32.0, "int32"))
    return rows


def attention_rows(layer: AttentionScore | AttentionValue, rules: Rules, tokens: float, ctx_sum: float,
                   spike_ctx: Any = None) -> list[Row]:
    """QK^T or PV against the KV cache over ``ctx_sum`` positions, with its cache reads and writes."""
    if rules.attention == "none" or ctx_sum == 0:
        return []
    inp = layer.input
    kv_elems = layer.kv_heads * layer.head_dim
    if inp.encoding.is_spike:
        if spike_ctx is None:
            spike_ctx = layer.heads * layer.head_dim * spikes_per_token(inp) * ctx_sum
        rows: list[Row] = [("ac", spike_ctx * rules.multiplier(inp.encoding), float(layer.kv_bits), inp.label)]
    else:
        ops = layer.heads * layer.head_dim * ctx_sum * rules.multiplier(inp.encoding)
        rows = [("mac", ops, float(layer.kv_bits), inp.label)]
    rows += [("kv_read", kv_elems * ctx_sum, float(layer.kv_bits), ""),
             ("kv_write", float(kv_elems * tokens), float(layer.kv_bits), "")]
    return rows


def source_rows(updates: Any, spikes: Any) -> list[Row]:
    """A spike source's neurons: an update with a state read and write each step, and the spikes emitted."""
    return [("neuron_update", updates, 0.0, ""), ("state_read", updates, 0.0, ""), ("state_write", updates, 0.0, ""),
            ("spike", spikes, 0.0, "")]


def spike_source_rows(layer: Layer, updates: Any, spikes: Any) -> list[Row]:
    """The neurons of a spike source for the given updates and emitted spikes (:func:`source_rows`); nothing for
    a network's injected input spikes (:class:`~neurosim.graph.InputSpikes`), which are not neurons on the chip."""
    return [] if isinstance(layer, InputSpikes) else source_rows(updates, spikes)


def output_neuron_rows(updates: Any, fused: bool) -> list[Row]:
    """The output neurons of a Linear on the cores that hold its outputs: an update with a state read and write
    per output per step; none when a LIF soma follows on the same cores (``fused``: :func:`fused_soma`), whose
    rule counts each neuron's one update."""
    if fused:
        return []
    return [("neuron_update", updates, 0.0, ""), ("state_read", updates, 0.0, ""), ("state_write", updates, 0.0, "")]


def recurrent_edges(graph: Graph) -> list[tuple[str, str]]:
    """Edges that close a cycle (one step late), kept out of the graph's DAG: ``meta.nir.recurrent_edges`` (what
    import-nir and :func:`neurosim.snn.save_network_files` write)."""
    return [(str(a), str(b)) for a, b in (graph.meta.get("nir") or {}).get("recurrent_edges") or []]


def soma_inputs(graph: Graph, lif: str) -> list[str]:
    """The Linear layers whose synapses sit on a LIF layer's cores (Loihi's core: synapse -> dendrite -> soma), in
    graph order, or [] when the LIF is not built that way.

    A LIF whose every input (its graph predecessors and the recurrent edges into it) is a Linear with that LIF as
    its only consumer is one such core: the Linears' synapses and the LIF's neurons share cores, output block by
    output block, no value crosses the network between them, and each neuron is updated once per step."""
    layer = graph.layers.get(lif)
    if not isinstance(layer, LIF):
        return []
    rec = recurrent_edges(graph)
    ins = graph.predecessors(lif) + [a for a, b in rec if b == lif and a not in graph.predecessors(lif)]
    if not ins:
        return []
    for name in ins:
        lin = graph.layers.get(name)
        outs = graph.successors(name) + [b for a, b in rec if a == name]
        if not isinstance(lin, Linear) or outs != [lif] or lin.out_features != layer.n:
            return []
    order = {n: i for i, n in enumerate(graph.layers)}
    return sorted(ins, key=order.__getitem__)


def fused_soma(graph: Graph, linear: str) -> str | None:
    """The LIF layer whose neurons hold a Linear's outputs on the Linear's own cores (:func:`soma_inputs`), or
    None."""
    layer = graph.layers.get(linear)
    if not isinstance(layer, Linear):
        return None
    outs = graph.successors(linear) + [b for a, b in recurrent_edges(graph) if a == linear]
    if len(outs) != 1 or linear not in soma_inputs(graph, outs[0]):
        return None
    return outs[0]


def fused_linear(graph: Graph, lif: str) -> str | None:
    """The first Linear (in graph order) whose cores hold a LIF layer's neurons, or None."""
    ins = soma_inputs(graph, lif)
    return ins[0] if ins else None


def encoder_rows(layer: SpikeEncoder, rules: Rules, tokens: float) -> list[Row]:
    """The rotation before an encoder's neurons and its quantile clipping (fp ops)."""
    if not rules.nonlinear:
        return []
    action, per_token = rotation_work(layer.rotation, layer.dim)
    rows: list[Row] = [(action, per_token * tokens, 16.0, "fp16")] if per_token else []
    if layer.spec.clip_quantile is not None:
        rows.append(("add", float(layer.dim * tokens), 16.0, "fp16"))
    return rows


def uses_context(layer: Layer) -> bool:
    """Whether a layer's rows and executed ops depend on the attended positions (``ctx_sum``), not only on the
    tokens: attention against the KV cache and its softmax (see :func:`executed_ops`, :func:`attention_rows`)."""
    return isinstance(layer, (AttentionScore, AttentionValue)) or (
        isinstance(layer, Elementwise) and layer.op == "softmax")


def executed_ops(layer: Layer, tokens: float, ctx_sum: float) -> float:
    """Arithmetic a layer's (embedded or host) processor executes, counted or not under the convention; the
    event engine times it."""
    if isinstance(layer, SpikeEncoder):
        return rotation_work(layer.rotation, layer.dim)[1] * tokens
    if isinstance(layer, (AttentionScore, AttentionValue)):
        return layer.heads * layer.head_dim * ctx_sum
    if isinstance(layer, Norm):
        return 2.0 * layer.dim * tokens
    if isinstance(layer, Residual):
        return float(layer.dim * tokens)
    if isinstance(layer, Elementwise):
        return 3.0 * layer.dim * ctx_sum if layer.op == "softmax" else float(layer.dim * layer.ops_per_element * tokens)
    return 0.0


def op_rows(layer: Layer, rules: Rules, tokens: float, ctx_sum: float) -> list[Row]:
    """Embedding reads and the fp non-linear ops (norms, residual adds, element-wise ops, softmax)."""
    if isinstance(layer, Embedding):
        return [("embedding_read", float(layer.dim * tokens), float(layer.w_bits), "")]
    if not rules.nonlinear:
        return []
    if isinstance(layer, Norm):
        return [("mac", executed_ops(layer, tokens, ctx_sum), 16.0, "fp16")]
    if isinstance(layer, Residual):
        return [("add", executed_ops(layer, tokens, ctx_sum), 16.0, "fp16")]
    if isinstance(layer, Elementwise):
        if layer.op == "softmax" and rules.attention == "none":
            return []
        return [("mac", executed_ops(layer, tokens, ctx_sum), 16.0, "fp16")]
    return []


def layer_rows(layer: Layer, rules: Rules, act: Activity) -> list[Row]:
    """Every counted action of one layer for the given activity (the whole rule set of a layer kind)."""
    T, C = act.tokens, act.ctx_sum
    if isinstance(layer, Linear):
        if act.fp or not layer.spiking:
            rows = linear_synaptic_rows(layer, rules, dense=float(layer.in_features * layer.out_features * T),
                                        fp=act.fp)
        else:
            spikes = act.in_spikes if act.in_spikes is not None else expected_activity(layer, T).in_spikes
            rows = linear_synaptic_rows(layer, rules, spike_fanout=spikes * layer.out_features)
        return rows + linear_output_rows(layer, rules, T)
    if isinstance(layer, (AttentionScore, AttentionValue)):
        return attention_rows(layer, rules, T, C, act.spike_ctx)
    if isinstance(layer, (SpikeEncoder, LIF)):
        exp = expected_activity(layer, T, C)
        updates = act.updates if act.updates is not None else exp.updates
        spikes = act.spikes if act.spikes is not None else exp.spikes
        rows = source_rows(updates, spikes)
        return rows + encoder_rows(layer, rules, T) if isinstance(layer, SpikeEncoder) else rows
    if isinstance(layer, InputSpikes):
        return []  # injected spikes: no neuron on the chip; their messages are the mapping's traffic
    return op_rows(layer, rules, T, C)


def dense_macs(layer: Layer, tokens: float, ctx_sum: float) -> float:
    """The fp model's MACs of a layer (the papers' dense base): every Linear and attention matmul."""
    if isinstance(layer, Linear):
        return float(layer.in_features * layer.out_features * tokens)
    if isinstance(layer, (AttentionScore, AttentionValue)):
        return float(layer.heads * layer.head_dim * ctx_sum)
    return 0.0
