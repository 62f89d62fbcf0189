"""A spiking network of Loihi primitives (spike sources, Dense projections, fixed-point LIF populations), the
lowering of a neurosim graph to it, and its reference run with :mod:`neurosim.functional.neurons`.

This is the meeting point of the engines that are compared step by step: the functional run below, Lava
(:mod:`neurosim.lava.backend`) and the event-driven simulator all take a :class:`SpikingNetwork` and return a
:class:`NetworkTrace` (per population: spikes, ``u`` and ``v`` at the end of every step). Nothing here imports
Lava.

Timing follows Lava's: a source emits ``spikes[t]`` at step ``t``; a Dense projection delivers what it received at
step ``t`` to its population at step ``t + 1`` (step 0 receives nothing); a population's spikes at step ``t``
reach the next projection at step ``t``.

Lowering rules (:func:`lower_graph`):

- only spike-driven ``Linear`` layers (``Readout`` included), ``LIF`` layers and ``SpikeEncoder`` layers can be
  selected; any other selected layer is an error that names it;
- each selected Linear becomes a Dense projection with seeded random signed weights of its ``w_bits`` / ``w_format``
  (int: b-bit symmetric; ternary: -1/0/+1; binary: -1/+1, two bits) placed in Lava's 8-bit weight with the
  matching ``num_weight_bits`` and ``weight_exp``, so the synaptic input is exactly the integer weight sum;
- its output goes to the selected LIF layer after it, or else to an implicit LIF population ``<linear>.lif``;
- its input is the population of the selected layer before it (looking through spike encoders), or else a
  seeded spike source for the spike encoder before it (shared by the projections it feeds) or ``<linear>.input``:
  binary spikes (binary messages), ternary -1/0/+1 spikes (graded messages), or with ``graded=True`` signed
  spike counts of the encoder's bits as graded payloads.
"""

from __future__ import annotations

import fnmatch
import math
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurosim.errors import NeurosimError
from neurosim.functional.neurons import (
    DECAY_MAX,
    VTH_MAX,
    DenseFixedParams,
    FixedLifParams,
    LifTrace,
    dense_fixed_run,
    lava_weights_for,
    lif_fixed_run_many,
)
from neurosim.graph import LIF, Encoding, Graph, Layer, Linear, SpikeEncoder

#: layer types the Lava lowering can express
LOWERABLE = ("Linear", "Readout", "LIF", "SpikeEncoder")
#: LIF.neuron values that Loihi's CUBA LIF expresses
LIF_NEURONS = ("lif", "cuba_lif", "if")
#: names accepted by ``--lif KEY=VALUE`` for the implicit populations
LIF_KEYS = ("du", "dv", "vth", "bias_mant", "bias_exp")
#: defaults of an implicit population: the graph LIF's (u follows the input, v integrates without leak)
DEFAULT_DU, DEFAULT_DV = 4095, 0


@dataclass
class SpikeSource:
    """Precomputed input spikes, ``spikes[t, i]`` (int32: 0/1, -1/0/+1 or graded payloads)."""

    name: str
    spikes: np.ndarray
    graded: bool = False
    message_bits: int = 0

    @property
    def n(self) -> int:
        return int(self.spikes.shape[1])


@dataclass
class Population:
    """A population of ``n`` fixed-point LIF neurons."""

    name: str
    n: int
    params: FixedLifParams
    origin: str = ""  # the graph layer it stands for


@dataclass
class Projection:
    """A Dense connection ``pre -> post`` (pre: a source or a population)."""

    name: str
    pre: str
    post: str
    dense: DenseFixedParams
    origin: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        out, inp = self.dense.weights.shape
        return int(out), int(inp)


@dataclass
class SpikingNetwork:
    """Sources, populations (in execution order) and the projections between them; a feed-forward DAG."""

    name: str
    sources: dict[str, SpikeSource] = field(default_factory=dict)
    populations: dict[str, Population] = field(default_factory=dict)
    projections: list[Projection] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return min((s.spikes.shape[0] for s in self.sources.values()), default=0)

    def width(self, node: str) -> int:
        if node in self.sources:
            return self.sources[node].n
        return self.populations[node].n

    def incoming(self, pop: str) -> list[Projection]:
        return [p for p in self.projections if p.post == pop]

    def check(self) -> None:
        """Every projection joins known nodes with matching widths, and pre comes before post."""
        order = {n: i for i, n in enumerate(self.populations)}
        for p in self.projections:
            if p.pre not in self.sources and p.pre not in self.populations:
                raise NeurosimError(f"network {self.name}: projection {p.name} reads unknown node {p.pre!r}")
            if p.post not in self.populations:
                raise NeurosimError(f"network {self.name}: projection {p.name} feeds unknown population {p.post!r}")
            out, inp = p.shape
            if inp != self.width(p.pre) or out != self.populations[p.post].n:
                raise NeurosimError(
                    f"network {self.name}: projection {p.name} is {out}x{inp} but joins {p.pre} "
                    f"({self.width(p.pre)}) to {p.post} ({self.populations[p.post].n})"
                )
            if p.pre in order and order[p.pre] >= order[p.post]:
                raise NeurosimError(f"network {self.name}: projection {p.name} goes backwards; the network must be a DAG")
        if not self.populations:
            raise NeurosimError(f"network {self.name}: no LIF population to simulate")

    def levels(self) -> list[list[str]]:
        """Populations grouped by depth (1 + the deepest population feeding them), in execution order."""
        depth: dict[str, int] = {}
        for name in self.populations:
            pre = [depth[p.pre] for p in self.incoming(name) if p.pre in self.populations]
            depth[name] = 1 + max(pre, default=0)
        return [[n for n in self.populations if depth[n] == d] for d in sorted(set(depth.values()))]

    def components(self) -> list[set[str]]:
        """Connected components (sets of node names), in the order of their first population."""
        parent: dict[str, str] = {n: n for n in [*self.sources, *self.populations]}

        def find(x: str) -> str:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for p in self.projections:
            parent[find(p.pre)] = find(p.post)
        groups: dict[str, set[str]] = {}
        for n in self.populations:
            groups.setdefault(find(n), set()).add(n)
        for n in self.sources:
            groups.setdefault(find(n), set()).add(n)
        return [g for g in groups.values() if any(n in self.populations for n in g)]

    def summary(self) -> str:
        neurons = sum(p.n for p in self.populations.values())
        synapses = sum(int(np.prod(p.shape)) for p in self.projections)
        return (
            f"{len(self.sources)} source(s), {len(self.projections)} Dense projection(s), "
            f"{len(self.populations)} LIF population(s): {neurons} neurons, {synapses} synapses, {self.steps} steps"
        )


@dataclass
class NetworkTrace:
    """What one engine computed: per population, spikes and u, v at the end of every step."""

    engine: str
    populations: dict[str, LifTrace]
    wall_s: float = 0.0
    run_s: float | None = None  # time in the stepping loop only, where the engine can tell it apart


@dataclass
class Difference:
    """The first place two traces disagree."""

    population: str
    step: int
    neuron: int
    quantity: str
    a: int
    b: int

    def describe(self, engine_a: str, engine_b: str) -> str:
        return (
            f"first difference: population {self.population}, step {self.step}, neuron {self.neuron}, "
            f"{self.quantity}: {engine_a}={self.a} {engine_b}={self.b}"
        )


def first_difference(a: NetworkTrace, b: NetworkTrace) -> Difference | None:
    """The earliest step (then population, then u, v, spikes, then neuron) at which ``a`` and ``b`` differ."""
    best: Difference | None = None
    for name, ta in a.populations.items():
        tb = b.populations.get(name)
        if tb is None:
            raise NeurosimError(f"engine {b.engine} returned no trace for population {name}")
        for quantity in ("u", "v", "spikes"):
            xa = getattr(ta, quantity).astype(np.int64)
            xb = getattr(tb, quantity).astype(np.int64)
            if xa.shape != xb.shape:
                raise NeurosimError(
                    f"population {name}: {quantity} has shape {xa.shape} in {a.engine}, {xb.shape} in {b.engine}"
                )
            diff = np.argwhere(xa != xb)
            if diff.size == 0:
                continue
            step, neuron = (int(x) for x in diff[0][:2])
            if best is None or step < best.step:
                best = Difference(name, step, neuron, quantity, int(xa[step, neuron]), int(xb[step, neuron]))
    return best


# --------------------------------------------------------------------------------------------------------------
# the reference run


def run_functional(net: SpikingNetwork, steps: int | None = None) -> NetworkTrace:
    """Run the network with neurosim's neuron models, a layer of populations at a time over all steps.

    A feed-forward network lets every projection be computed for all steps at once (one matrix product) once its
    presynaptic spikes are known; populations at the same depth run side by side in one unrolled LIF loop.
    """
    t0 = time.perf_counter()
    net.check()
    steps = net.steps if steps is None else steps
    spikes: dict[str, np.ndarray] = {n: s.spikes[:steps] for n, s in net.sources.items()}
    traces: dict[str, LifTrace] = {}
    for level in net.levels():
        a_ins = []
        for name in level:
            a_in = np.zeros((steps, net.populations[name].n), dtype=np.int64)
            for proj in net.incoming(name):
                a_in += dense_fixed_run(proj.dense, spikes[proj.pre])
            a_ins.append(a_in)
        for name, tr in zip(level, lif_fixed_run_many(a_ins, [net.populations[n].params for n in level])):
            traces[name] = tr
            spikes[name] = tr.spikes
    wall = time.perf_counter() - t0
    return NetworkTrace("functional", {n: traces[n] for n in net.populations}, wall, wall)


def run_engine(engine: str, net: SpikingNetwork, steps: int | None = None) -> NetworkTrace:
    """Run ``net`` on a named engine: ``functional``, ``lava`` or ``events``.

    ``events`` is the event-driven simulator; it must provide ``neurosim.engines.events.simulate_snn(net, steps)``
    returning a :class:`NetworkTrace` (or a mapping population -> LifTrace).
    """
    steps = net.steps if steps is None else steps
    if engine == "functional":
        return run_functional(net, steps)
    if engine == "lava":
        from neurosim.lava.backend import run_lava

        return run_lava(net, steps)
    if engine == "events":
        try:
            from neurosim.engines import events as events_engine  # type: ignore[attr-defined]
        except ImportError:
            events_engine = None
        simulate = getattr(events_engine, "simulate_snn", None)
        if simulate is None:
            raise NeurosimError(
                "engine 'events': the event-driven simulator does not provide simulate_snn(network, steps) yet; "
                "run with --engines lava,functional"
            )
        t0 = time.perf_counter()
        out = simulate(net, steps)
        if not isinstance(out, NetworkTrace):
            out = NetworkTrace("events", dict(out))
        out.engine = "events"
        out.wall_s = out.wall_s or time.perf_counter() - t0
        return out
    raise NeurosimError(f"engine {engine!r} is not allowed; allowed: functional, lava, events")


# --------------------------------------------------------------------------------------------------------------
# lowering a graph


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def select_layers(graph: Graph, patterns: list[str] | None) -> list[Layer]:
    """The layers named by ``patterns`` (names or shell globs), in graph order; by default the spike-driven
    Linear and LIF layers of the first block (every such layer when the graph has no blocks), lm_head excluded."""
    if patterns:
        chosen: list[str] = []
        for pat in patterns:
            hits = [n for n in graph.layers if fnmatch.fnmatchcase(n, pat)]
            if not hits:
                raise NeurosimError(f"--layers {pat!r} matches no layer of graph {graph.name}")
            chosen += [h for h in hits if h not in chosen]
        layers = [graph[n] for n in graph.layers if n in chosen]
    else:
        candidates = [
            layer for layer in graph
            if (isinstance(layer, Linear) and layer.spiking and type(layer).__name__ == "Linear")
            or isinstance(layer, LIF)
        ]
        blocks = sorted({layer.block for layer in candidates if layer.block is not None})
        layers = [layer for layer in candidates if not blocks or layer.block == blocks[0]]
    for layer in layers:
        kind = type(layer).__name__
        if kind not in LOWERABLE:
            raise NeurosimError(
                f"layer {layer.name} ({kind}) cannot be expressed in Lava (Dense + LIF); allowed: "
                f"spike-driven Linear, LIF, SpikeEncoder; select e.g. --layers 'blk0.*_proj'"
            )
        if isinstance(layer, Linear) and not layer.spiking:
            raise NeurosimError(
                f"layer {layer.name} ({kind}) takes {layer.input.label} input, not spikes; Lava's Dense here is "
                f"spike-driven: allowed inputs: binary, ternary"
            )
        if isinstance(layer, LIF) and layer.neuron not in LIF_NEURONS:
            raise NeurosimError(
                f"layer {layer.name} (LIF) has neuron = {layer.neuron!r}, which Loihi's CUBA LIF cannot express; "
                f"allowed: {', '.join(LIF_NEURONS)}"
            )
    if not any(isinstance(layer, Linear) for layer in layers):
        raise NeurosimError(f"graph {graph.name}: the selection has no spike-driven Linear layer to lower")
    return layers


def _weights(layer: Linear, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Seeded random signed integer weights (out, in) of the layer's format, and the bits Lava stores them in."""
    shape = (layer.out_features, layer.in_features)
    if layer.w_format == "ternary":
        return rng.integers(-1, 2, shape), 2
    if layer.w_format == "binary":
        return rng.choice(np.array([-1, 1]), shape), 2
    if layer.w_format == "fp":
        raise NeurosimError(
            f"layer {layer.name}: w_format = 'fp' cannot be expressed in Lava's fixed-point Dense; "
            f"allowed: int (2..8 bits), ternary, binary"
        )
    b = int(layer.w_bits)
    if not 2 <= b <= 8:
        raise NeurosimError(
            f"layer {layer.name}: w_bits = {b}; Lava's Dense stores at most 8-bit weights; allowed: 2..8 (int), "
            f"or w_format ternary / binary"
        )
    top = (1 << (b - 1)) - 1
    return rng.integers(-top, top + 1, shape), b


def _source_spikes(spec_rate: float, encoding: Encoding, bits: int, symmetric: bool, n: int, steps: int,
                   graded: bool, rng: np.random.Generator) -> tuple[np.ndarray, bool, int]:
    active = rng.random((steps, n)) < spec_rate
    signed = encoding is Encoding.TERNARY or (graded and symmetric)
    if graded:
        top = max(1, (1 << (bits - 1)) - 1 if symmetric else (1 << bits) - 1)
        mag = rng.integers(1, top + 1, (steps, n))
        msg_bits = bits
    else:
        mag = np.ones((steps, n), dtype=np.int64)
        msg_bits = 2 if signed else 0
    sign = np.where(rng.random((steps, n)) < 0.5, -1, 1) if signed else 1
    spikes = (active * mag * sign).astype(np.int32)
    return spikes, bool(graded or signed), msg_bits


def _implicit_lif(name: str, weights: np.ndarray, rate: float, overrides: dict[str, int]) -> FixedLifParams:
    """Default LIF after a Linear: u follows the input, v integrates without leak, and the threshold is about one
    standard deviation of the per-step input (rms weight x sqrt(fan-in x input rate)), so neurons do fire."""
    fan_in = weights.shape[1]
    rms = float(np.sqrt(np.mean(weights.astype(float) ** 2))) if weights.size else 0.0
    vth = int(min(VTH_MAX, max(1, round(rms * math.sqrt(fan_in * max(rate, 1e-3))))))
    values: dict[str, Any] = {"du": DEFAULT_DU, "dv": DEFAULT_DV, "vth": vth, "bias_mant": 0, "bias_exp": 0}
    values.update(overrides)
    return FixedLifParams(**values, where=f"population {name}")


def _explicit_lif(layer: LIF) -> FixedLifParams:
    where = f"layer {layer.name} (LIF)"
    if layer.reset != "zero":
        raise NeurosimError(f"{where}: reset = {layer.reset!r}; Loihi's LIF resets v to zero; allowed: zero")
    for key in ("du", "dv"):
        value = getattr(layer, key)
        if not 0 <= value <= DECAY_MAX:
            raise NeurosimError(f"{where}: {key} = {value} out of range for Loihi's 12-bit decay; allowed: 0..4095")
    if float(layer.threshold) != round(layer.threshold):
        raise NeurosimError(
            f"{where}: threshold = {layer.threshold} must be an integer (Loihi's vth, in units of the integer "
            f"synaptic input); allowed: 0..{VTH_MAX}"
        )
    du = layer.du
    dv = 0 if layer.neuron == "if" else layer.dv
    return FixedLifParams(du=du, dv=dv, vth=int(layer.threshold), where=where)


def parse_lif_overrides(items: list[str] | None) -> dict[str, int]:
    """``["du=0", "vth=500"]`` -> ``{"du": 0, "vth": 500}`` for the implicit populations."""
    out: dict[str, int] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or key not in LIF_KEYS:
            raise NeurosimError(f"--lif {item!r}: expected KEY=INTEGER with KEY one of {', '.join(LIF_KEYS)}")
        try:
            out[key] = int(raw.strip(), 0)
        except ValueError:
            raise NeurosimError(f"--lif {item!r}: {raw!r} is not an integer") from None
    return out


def lower_graph(graph: Graph, layers: list[str] | None = None, steps: int = 100, seed: int = 0,
                lif: dict[str, int] | None = None, graded: bool = False) -> SpikingNetwork:
    """Lower the selected spike-driven layers of ``graph`` to a :class:`SpikingNetwork` (see the module doc)."""
    if steps < 1:
        raise NeurosimError(f"--steps = {steps}; allowed: >= 1")
    selected = select_layers(graph, layers)
    chosen = {layer.name for layer in selected}
    net = SpikingNetwork(name=graph.name, meta={"layers": [layer.name for layer in selected], "seed": seed})
    out_pop: dict[str, str] = {}  # selected Linear / LIF name -> the population holding its spikes

    def find_input(linear: Linear) -> tuple[str, Layer | None]:
        """(name of the node feeding the linear, the encoder standing for it if it is a source)."""
        preds = graph.predecessors(linear.name)
        if len(preds) > 1:
            raise NeurosimError(f"layer {linear.name} has {len(preds)} inputs; a Dense projection takes one")
        node = graph[preds[0]] if preds else None
        encoder: Layer | None = None
        while isinstance(node, SpikeEncoder):
            encoder = node
            up = graph.predecessors(node.name)
            node = graph[up[0]] if len(up) == 1 else None
        if node is not None and node.name in chosen:
            if node.name not in out_pop:
                raise NeurosimError(f"layer {linear.name}: its input {node.name} is not lowered before it")
            return out_pop[node.name], None
        return (encoder.name if encoder is not None else f"{linear.name}.input"), encoder

    for layer in selected:
        if isinstance(layer, LIF):
            preds = [p for p in graph.predecessors(layer.name) if p in chosen and isinstance(graph[p], Linear)]
            if not preds:
                raise NeurosimError(
                    f"layer {layer.name} (LIF) has no selected spike-driven Linear before it; select its Linear too"
                )
            continue
        if not isinstance(layer, Linear):
            continue  # a selected SpikeEncoder is looked through or becomes a source
        pre, encoder = find_input(layer)
        if pre not in net.sources and pre not in net.populations:
            spec = encoder.spec if isinstance(encoder, SpikeEncoder) else layer.input
            spikes, is_graded, msg_bits = _source_spikes(
                float(spec.firing_rate or 0.0), spec.encoding, int(spec.bits), spec.symmetric,
                layer.in_features, steps, graded, _rng(seed, pre),
            )
            net.sources[pre] = SpikeSource(pre, spikes, is_graded, msg_bits)
        mantissas, nbits = _weights(layer, _rng(seed, layer.name))
        w8, wexp = lava_weights_for(mantissas, nbits, "mixed")
        src = net.sources.get(pre)
        dense = DenseFixedParams(
            w8, num_weight_bits=nbits, weight_exp=wexp, sign_mode="mixed",
            num_message_bits=src.message_bits if src is not None and src.graded else 0,
            where=f"layer {layer.name} (Dense)",
        )
        succ_lif = [s for s in graph.successors(layer.name) if s in chosen and isinstance(graph[s], LIF)]
        if len(succ_lif) > 1:
            raise NeurosimError(f"layer {layer.name} feeds {len(succ_lif)} selected LIF layers; allowed: one")
        if succ_lif:
            lif_layer = graph[succ_lif[0]]
            assert isinstance(lif_layer, LIF)
            if lif_layer.n != layer.out_features:
                raise NeurosimError(f"layer {lif_layer.name}: n = {lif_layer.n} != {layer.name} out_features")
            post = lif_layer.name
            if post not in net.populations:
                net.populations[post] = Population(post, lif_layer.n, _explicit_lif(lif_layer), lif_layer.name)
        else:
            post = f"{layer.name}.lif"
            rate = float(layer.input.firing_rate or 0.1)
            net.populations[post] = Population(
                post, layer.out_features, _implicit_lif(post, mantissas, rate, lif or {}), layer.name
            )
        net.projections.append(Projection(layer.name, pre, post, dense, layer.name))
        out_pop[layer.name] = post
        for s in succ_lif:
            out_pop[s] = post
    net.check()
    return net
