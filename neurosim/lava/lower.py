"""Lowering a neurosim graph to a :class:`~neurosim.snn.SpikingNetwork` of Loihi primitives (spike sources, Dense
projections, fixed-point LIF populations) that Lava can run; nothing here imports Lava.

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
  spike counts of the encoder's bits as graded payloads;
- a LIF layer with no selected Linear before it (seed 003's neurons in front of a projection, fed by a norm, the
  attention or the GELU) is a spike source like an encoder;
- ``weights`` / ``sources`` replace the seeded random weights and spikes with given ones (a real model's integer
  weights and a functional run's spike trains, :mod:`neurosim.functional.realdata`): same lowering, real data.
"""

from __future__ import annotations

import fnmatch
import math
import zlib
from typing import Any

import numpy as np

from neurosim.errors import NeurosimError
from neurosim.graph import LIF, Encoding, Graph, Layer, Linear, SpikeEncoder
from neurosim.neurons import DECAY_MAX, VTH_MAX, DenseFixedParams, FixedLifParams, lava_weights_for
from neurosim.snn import Population, Projection, SpikeSource, SpikingNetwork

#: layer types the Lava lowering can express
LOWERABLE = ("Linear", "Readout", "LIF", "SpikeEncoder")
#: LIF.neuron values that Loihi's CUBA LIF expresses
LIF_NEURONS = ("lif", "cuba_lif", "if")
#: names accepted by ``--lif KEY=VALUE`` for the implicit populations
LIF_KEYS = ("du", "dv", "vth", "bias_mant", "bias_exp")
#: defaults of an implicit population: the graph LIF's (u follows the input, v integrates without leak)
DEFAULT_DU, DEFAULT_DV = 4095, 0


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


def _weights(layer: Linear, rng: np.random.Generator, given: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Signed integer weights (out, in) of the layer's format, seeded random or ``given`` (checked against the
    format's range), and the bits Lava stores them in."""
    shape = (layer.out_features, layer.in_features)
    if given is not None:
        return _given_weights(layer, np.asarray(given)), _weight_bits(layer)
    if layer.w_format == "ternary":
        return rng.integers(-1, 2, shape), 2
    if layer.w_format == "binary":
        return rng.choice(np.array([-1, 1]), shape), 2
    b = _weight_bits(layer)
    top = (1 << (b - 1)) - 1
    return rng.integers(-top, top + 1, shape), b


def _weight_bits(layer: Linear) -> int:
    """The bits Lava's Dense stores the layer's weights in (2 for ternary and binary)."""
    if layer.w_format in ("ternary", "binary"):
        return 2
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
    return b


def _given_weights(layer: Linear, w: np.ndarray) -> np.ndarray:
    """A given integer weight matrix, checked: its shape, integer values within the layer's format."""
    where = f"layer {layer.name}: given weights"
    if w.shape != (layer.out_features, layer.in_features):
        raise NeurosimError(f"{where} have shape {w.shape}; the layer is {layer.out_features} x {layer.in_features}")
    if w.dtype.kind not in "iu":
        raise NeurosimError(f"{where} must be integers (dtype {w.dtype})")
    top = 1 if layer.w_format in ("ternary", "binary") else (1 << (_weight_bits(layer) - 1)) - 1
    if w.size and int(np.abs(w).max()) > top:
        raise NeurosimError(f"{where} reach {int(np.abs(w).max())}; allowed for w_format {layer.w_format}: "
                            f"-{top}..{top}")
    return w.astype(np.int64)


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


def _is_source_lif(graph: Graph, layer: Layer, chosen: set[str]) -> bool:
    """A LIF layer no selected Linear feeds: its spikes enter the network as a source."""
    return isinstance(layer, LIF) and not any(
        p in chosen and isinstance(graph[p], Linear) for p in graph.predecessors(layer.name))


def lower_graph(graph: Graph, layers: list[str] | None = None, steps: int = 100, seed: int = 0,
                lif: dict[str, int] | None = None, graded: bool = False,
                weights: dict[str, np.ndarray] | None = None,
                sources: dict[str, np.ndarray] | None = None) -> SpikingNetwork:
    """Lower the selected spike-driven layers of ``graph`` to a :class:`SpikingNetwork` (see the module doc);
    ``weights`` (linear -> integer out x in) and ``sources`` (source node -> spikes, steps x width) replace the
    seeded random ones."""
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
        while isinstance(node, SpikeEncoder) or (node is not None and _is_source_lif(graph, node, chosen)):
            encoder = node
            up = graph.predecessors(node.name)
            node = graph[up[0]] if len(up) == 1 else None
        if node is not None and node.name in chosen:
            if node.name not in out_pop:
                raise NeurosimError(f"layer {linear.name}: its input {node.name} is not lowered before it")
            return out_pop[node.name], None
        return (encoder.name if encoder is not None else f"{linear.name}.input"), encoder

    given_w = dict(weights or {})
    given_s = dict(sources or {})
    for layer in selected:
        if isinstance(layer, LIF):
            if _is_source_lif(graph, layer, chosen) and not any(
                    isinstance(graph[s], Linear) and graph[s].spiking for s in graph.successors(layer.name)):
                raise NeurosimError(
                    f"layer {layer.name} (LIF) has no selected spike-driven Linear before or after it; select one"
                )
            continue  # a LIF after a selected Linear is its population; one before it is a source
        if not isinstance(layer, Linear):
            continue  # a selected SpikeEncoder is looked through or becomes a source
        pre, encoder = find_input(layer)
        if pre not in net.sources and pre not in net.populations:
            spec = encoder.spec if isinstance(encoder, SpikeEncoder) else layer.input
            if pre in given_s:
                net.sources[pre] = _given_source(pre, np.asarray(given_s.pop(pre)), spec, layer.in_features, steps,
                                                 graded)
            else:
                spikes, is_graded, msg_bits = _source_spikes(
                    float(spec.firing_rate or 0.0), spec.encoding, int(spec.bits), spec.symmetric,
                    layer.in_features, steps, graded, _rng(seed, pre),
                )
                net.sources[pre] = SpikeSource(pre, spikes, is_graded, msg_bits)
        mantissas, nbits = _weights(layer, _rng(seed, layer.name), given_w.pop(layer.name, None))
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
    net.meta["real"] = bool(weights or sources)
    net.check()
    return net


def _given_source(name: str, spikes: np.ndarray, spec, width: int, steps: int, graded: bool) -> SpikeSource:
    """A source of given spikes (steps x width): -1/0/+1 ternary or 0/1 binary spikes, or signed counts (graded)."""
    if spikes.ndim != 2 or spikes.shape[1] != width:
        raise NeurosimError(f"source {name}: given spikes have shape {spikes.shape}; expected steps x {width}")
    if spikes.shape[0] < steps:
        raise NeurosimError(f"source {name}: given spikes cover {spikes.shape[0]} steps; --steps {steps}")
    if spikes.dtype.kind not in "iu":
        raise NeurosimError(f"source {name}: given spikes must be integers (dtype {spikes.dtype})")
    s = spikes[:steps].astype(np.int32)
    top = int(np.abs(s).max()) if s.size else 0
    if graded or top > 1:
        bits = max(2, int(np.ceil(np.log2(top + 1))) + 1)
        return SpikeSource(name, s, True, bits)
    signed = bool((s < 0).any()) or spec.encoding is Encoding.TERNARY
    return SpikeSource(name, s, signed, 2 if signed else 0)
