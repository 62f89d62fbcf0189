"""The functional engine: run a workload graph on a real model's weights with NumPy, measure what it does.

``run(graph, model, ids)`` reads the graph's spike encoders and projections (encodings, bits, unfold, clip
quantile, rotation, gamma-SQP, weight format and bits), runs the model's forward pass with exactly those
settings, and returns the outputs, per-layer spike statistics keyed by the graph's layer names, and a counters
table (``neurosim.counters`` schema, ``engine="functional"``) of the work done.

The counts come from the one cost model (:mod:`neurosim.cost`), fed what this run measured
(:func:`measured_activity`): the spikes entering each spike-driven projection, each encoder's neuron updates and
spikes, the real attention contexts (sum over query tokens) and the tokens each layer saw. An all-fp run prices
its projections as fp16 MACs.

``FunctionalResult.activity`` holds that activity per layer, so the analytic and event-driven engines can be fed
the same activity and must give the same counts (``tests/test_cost_model.py``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from neurosim.cost import Activity, Rules, layer_rows
from neurosim.counters import CounterSink
from neurosim.errors import NeurosimError
from neurosim.functional.encoders import EncoderConfig
from neurosim.functional.forward import (
    EncoderHook,
    ForwardPlan,
    ForwardState,
    LinearHook,
    LinearPlan,
    bert_forward,
    bert_windows,
    linear_weights,
    llama_forward,
)
from neurosim.functional.lif import LifConfig
from neurosim.functional.spike_linear import SpikeStats
from neurosim.graph import (
    LIF,
    Graph,
    Linear,
    SpikeEncoder,
)
from neurosim.machine import one_blas_thread

ENGINE = "functional"

#: real models the functional engine can run, with the dimensions a workload must have to use them
REAL_MODELS: dict[str, tuple[str, dict[str, int]]] = {
    "smollm2-135m": ("llama", {"layers": 30, "d_model": 576, "ffn": 1536, "heads": 9, "kv_heads": 3,
                               "vocab": 49152}),
    "minilm-l6": ("bert", {"layers": 6, "d_model": 384, "ffn": 1536, "heads": 12, "vocab": 30522}),
}


def model_name_for(spec) -> str:
    """The real model whose dimensions a workload spec matches, or a NeurosimError naming the difference."""
    dims = spec.model
    candidates = []
    for name, (family, want) in REAL_MODELS.items():
        if family != spec.family:
            continue
        got = {k: (dims.n_kv if k == "kv_heads" else getattr(dims, k)) for k in want}
        diff = {k: (got[k], v) for k, v in want.items() if got[k] != v}
        if not diff:
            return name
        candidates.append((len(diff), name, diff))
    if not candidates:
        raise NeurosimError(f"workload {spec.name}: family {spec.family!r} has no real model for the functional "
                            f"engine; available: {', '.join(f'{n} ({f})' for n, (f, _) in REAL_MODELS.items())}")
    _, name, diff = min(candidates)
    shown = ", ".join(f"model.{k} = {g} (the model has {w})" for k, (g, w) in diff.items())
    raise NeurosimError(f"workload {spec.name}: width mismatch with the real model {name}: {shown}; the "
                        "functional engine runs real weights, so these dimensions cannot be overridden")


def plan_from_graph(graph: Graph, fp_layers: tuple[str, ...] | set[str] = ()) -> ForwardPlan:
    """The forward plan a graph declares; ``fp_layers`` (names or roles) are kept in floating point."""
    encoders: dict[str, EncoderConfig] = {}
    for layer in graph.of_kind(SpikeEncoder):
        spec = layer.spec
        steps = round(spec.unfold)
        if abs(steps - spec.unfold) > 1e-9:
            raise NeurosimError(f"layer {layer.name}: unfold = {spec.unfold} is fractional; the functional engine "
                                "needs a whole number of time steps")
        try:
            encoders[layer.name] = EncoderConfig(
                bits=int(spec.bits), symmetric=bool(spec.symmetric), encoding=spec.encoding.value, steps=steps,
                clip_quantile=spec.clip_quantile, rotation=layer.rotation, gamma_sqp=bool(layer.gamma_sqp))
        except NeurosimError as exc:
            raise NeurosimError(f"layer {layer.name}: {exc}") from None
    encoders.update(lif_configs(graph))
    linears: dict[str, LinearPlan] = {}
    for layer in graph.of_kind(Linear):
        enc = next((p for p in graph.predecessors(layer.name) if p in encoders), None)
        spiking = layer.spiking and enc is not None and layer.name not in fp_layers and layer.role not in fp_layers
        if spiking and layer.w_format == "fp" and not isinstance(encoders[enc], LifConfig):
            raise NeurosimError(f"layer {layer.name}: a spike-driven linear needs integer weights; w_format = 'fp'; "
                                "allowed: int, binary, ternary")
        linears[layer.name] = LinearPlan(layer.name, spiking, enc if spiking else None, layer.w_format,
                                         int(layer.w_bits))
    label = graph.meta.get("workload", graph.name)
    return ForwardPlan(label=str(label), encoders=encoders, linears=linears)


def lif_configs(graph: Graph) -> dict[str, LifConfig]:
    """The graph's LIF layers as seed 003's neurons in front of its spike-driven projections (a workload's
    ``lif`` block, kept in ``graph.meta["lif"]``; see :mod:`neurosim.functional.lif`)."""
    lifs = graph.of_kind(LIF)
    if not lifs:
        return {}
    meta = graph.meta.get("lif")
    out: dict[str, LifConfig] = {}
    for layer in lifs:
        consumers = [graph[s] for s in graph.successors(layer.name) if isinstance(graph[s], Linear)]
        if meta is None or not consumers or any(not c.spiking for c in consumers):
            raise NeurosimError(f"layer {layer.name}: the functional engine runs LIF layers only as seed 003's neurons "
                                "in front of spike-driven projections (a workload with a 'lif' block)")
        if layer.du != 4095:
            raise NeurosimError(f"layer {layer.name}: du = {layer.du}; the LIF neurons here take their input as it "
                                "is (no synaptic current decay); allowed: du = 4095")
        signed = {c.input.encoding.value for c in consumers}
        if len(signed) != 1 or signed - {"ternary", "binary"}:
            raise NeurosimError(f"layer {layer.name}: its projections take {sorted(signed)} inputs; allowed: all "
                                "ternary (signed spikes) or all binary")
        try:
            out[layer.name] = LifConfig(
                steps=int(layer.steps), leak=1.0 - layer.dv / 4096, signed=signed == {"ternary"}, reset=layer.reset,
                threshold=str(meta.get("threshold", "neuron")), quantile=float(meta.get("threshold_quantile", 1.0)),
                calibration_tokens=int(meta.get("calibration_tokens", 126)))
        except NeurosimError as exc:
            raise NeurosimError(f"layer {layer.name}: {exc}") from None
    return out


def check_graph_matches(graph: Graph, model) -> None:
    """Every projection of the graph must exist in the model with the same fan-in and fan-out."""
    weights = linear_weights(model)
    blocks = {layer.block for layer in graph if layer.block is not None}
    if blocks and max(blocks) + 1 != model.layers:
        raise NeurosimError(f"graph {graph.name}: {max(blocks) + 1} blocks but the model {model.name} has "
                            f"{model.layers}")
    for layer in graph.of_kind(Linear):
        if layer.name not in weights:
            raise NeurosimError(f"graph {graph.name}: layer {layer.name} has no weight in the model {model.name}")
        w = weights[layer.name][1]
        if (layer.in_features, layer.out_features) != (w.shape[1], w.shape[0]):
            raise NeurosimError(
                f"graph {graph.name}: width mismatch at {layer.name}: the graph has {layer.in_features} -> "
                f"{layer.out_features}, the model {model.name} has {w.shape[1]} -> {w.shape[0]}")


@dataclass
class FunctionalResult:
    """Outputs, statistics and counters of one functional run."""

    graph: Graph
    plan: ForwardPlan
    tokens: int
    logits: np.ndarray | None  # causal LMs: tokens x vocab
    hidden: np.ndarray | None  # encoders: tokens x d (all windows, [CLS]/[SEP] included)
    stats: dict[str, SpikeStats]  # encoder and spike-driven linear names -> spike statistics
    counters: pd.DataFrame
    thresholds: dict[str, float]  # encoder -> frozen quantile-clip threshold
    rotations: dict[str, str]  # encoder -> rotation construction
    activity: dict[str, Activity] = dataclasses.field(default_factory=dict)  # layer -> what the run measured
    lif_thresholds: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # LIF encoder -> thresholds

    def rates(self) -> pd.DataFrame:
        """One row per spike-driven linear: its input's measured rate and mean count, and the graph's rate."""
        rows = []
        for layer in self.graph.of_kind(Linear):
            st = self.stats.get(layer.name)
            if st is None:
                continue
            rows.append({
                "layer": layer.name, "block": -1 if layer.block is None else layer.block, "role": layer.role,
                "projection": layer.name.rsplit(".", 1)[-1], "encoder": self.plan.linear(layer.name).encoder,
                "steps": st.steps, "tokens": st.tokens, "spikes": st.spikes, "rate": st.rate,
                "mean_count": st.mean_count, "zero_fraction": st.zero_fraction,
                "assumed_rate": layer.input.firing_rate, "acs": st.acs,
            })
        return pd.DataFrame(rows)


@one_blas_thread()  # floats that become spikes must not depend on the BLAS thread count (docs/reliability.md)
def run(graph: Graph, model, ids: np.ndarray, *, fp: bool = False, on_linear: LinearHook | None = None,
        thresholds: dict[str, float] | None = None, fp_layers: tuple[str, ...] | set[str] = (),
        window: int | None = None, state: ForwardState | None = None, rotation_seed: int = 0,
        on_encoder: EncoderHook | None = None) -> FunctionalResult:
    """Run ``ids`` through ``model`` as ``graph`` declares (or all in floating point with ``fp=True``).

    ``on_linear`` receives a :class:`~neurosim.functional.spike_linear.SpikeLinearRecord` per spike-driven
    linear per forward call (the exact trace API); nothing is kept otherwise. ``on_encoder`` receives each
    encoder's rotated activation (before clipping and quantization). ``thresholds`` reuses frozen
    quantile-clip thresholds. ``window`` (encoders only) is the tokens per window including [CLS]/[SEP]
    (default: the graph's seq_len, at most the model's positions). A prepared ``state`` can be passed back in to
    reuse its rotated, quantized weights. ``rotation_seed`` > 0 randomizes the Hadamard signs (QuaRot's
    randomized Hadamard; a different member of the family per seed).
    """
    check_graph_matches(graph, model)
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 1 or ids.size == 0:
        raise NeurosimError("the functional engine needs a non-empty 1-D sequence of token ids")
    if state is None:
        plan = ForwardPlan() if fp else plan_from_graph(graph, fp_layers)
        if on_linear is not None:  # the exact trace API hands over integer weights only
            bad = next((lp.name for lp in plan.linears.values() if lp.spiking and lp.w_format == "fp"), None)
            if bad is not None:
                raise NeurosimError(f"layer {bad}: w_format = 'fp'; the exact trace (exact mode) needs integer "
                                    "weights; allowed: ternary, binary, int")
        state = ForwardState(model, plan, on_linear=on_linear, thresholds=thresholds, rotation_seed=rotation_seed,
                             on_encoder=on_encoder)
    else:
        state.on_linear = on_linear
        state.on_encoder = on_encoder
        state.reset_stats()
    logits = hidden = None
    if model.family == "llama":
        logits = llama_forward(state, ids)
    else:
        w = int(window or min(int(graph.meta.get("seq_len", 128)), model.max_positions))
        outs = [bert_forward(state, win) for win in bert_windows(model, ids, w)]
        hidden = np.concatenate(outs, axis=0)
    stats = dict(state.stats)
    for name, lp in state.plan.linears.items():
        if lp.spiking and lp.encoder in state.stats:
            enc = state.stats[lp.encoder]
            stats[name] = dataclasses.replace(enc, layer=name, fan_out=state.fan_out.get(name, 0),
                                              histogram=enc.histogram.copy())
    activity = {layer.name: a for layer in graph if (a := measured_activity(layer, state, stats)) is not None}
    counters = functional_counters(graph, activity)
    return FunctionalResult(graph, state.plan, state.tokens, logits, hidden, stats, counters, state.thresholds,
                            {n: r.method for n, r in state.rotations.items()}, activity, dict(state.lif_thresholds))


def functional_counters(graph: Graph, activity: dict[str, Activity]) -> pd.DataFrame:
    """The counters table of a functional run: the cost model's rules (:mod:`neurosim.cost`) applied to what the
    run measured (spikes into each spike-driven projection, each encoder's updates and spikes, the real attention
    contexts, the tokens each layer saw); layers absent from ``activity`` did not run."""
    sink = CounterSink(ENGINE)
    rules = Rules.of(graph)
    for layer in graph:
        act = activity.get(layer.name)
        if act is None:
            continue
        for action, count, w_bits, a_repr in layer_rows(layer, rules, act):
            sink.add(layer.name, layer.block, layer.role, layer.kind, action, float(count), w_bits, a_repr)
    return sink.frame()


def measured_activity(layer, state: ForwardState, stats: dict[str, SpikeStats]) -> Activity | None:
    """What a functional run measured of one layer, as the cost model's :class:`~neurosim.cost.Activity`
    (``None``: the layer did not run, e.g. an encoder in an all-fp run). Spike-driven attention is not spiked
    by the forward passes: its spikes are the graph's expectation at its rate."""
    tokens, ctx_sum = float(state.tokens), float(state.attention_ctx)
    if isinstance(layer, Linear):
        st = stats.get(layer.name)
        if state.plan.linear(layer.name).spiking and st is not None:
            return Activity(float(st.tokens), in_spikes=float(st.spikes))
        return Activity(tokens, fp=not state.plan.spiking)
    if isinstance(layer, SpikeEncoder):
        st = stats.get(layer.name)
        if st is None:
            return None
        return Activity(float(st.tokens), updates=float(st.neuron_updates), spikes=float(st.spikes))
    if isinstance(layer, LIF):  # seed 003's neurons: one update per neuron per step, the spikes they emitted
        st = stats.get(layer.name)
        if st is None:
            return None
        return Activity(float(st.tokens), updates=float(st.neuron_updates), spikes=float(st.spikes))
    return Activity(tokens, ctx_sum)


def graph_with_measured_rates(graph: Graph, stats: dict[str, SpikeStats]) -> Graph:
    """A copy of the graph whose spike encoders and spike-driven linears carry the measured firing rates."""
    g = Graph(name=graph.name, meta=dict(graph.meta))
    for layer in graph:
        new = layer
        st = stats.get(layer.name)
        if st is not None and isinstance(layer, SpikeEncoder):
            new = dataclasses.replace(layer, spec=dataclasses.replace(layer.spec, firing_rate=min(1.0, st.rate)))
        elif st is not None and isinstance(layer, LIF):
            new = dataclasses.replace(layer, firing_rate=min(1.0, st.rate))
        elif st is not None and isinstance(layer, Linear) and layer.spiking:
            new = dataclasses.replace(layer, input=dataclasses.replace(layer.input, firing_rate=min(1.0, st.rate)))
        g.add(new)
    g.edges = list(graph.edges)
    return g
