"""Partition: cut every layer into core-sized pieces that respect each core limit.

Which layer goes where:

* Linear / Readout -> neuro cores (``synapse`` pieces; ``accumulator`` pieces when the fan-in is split). A spike
  input arrives as spikes; an int input as graded spikes (payload up to the core's message bits); an fp input as a
  16-bit graded payload (noted: fp activations have no native representation on the core);
* SpikeEncoder / LIF -> neuro cores (``neuron`` pieces): the spike sources, whose fan-out is the number of
  destination cores each neuron reaches;
* a LIF fed by one Linear only (and its only consumer, :func:`neurosim.cost.fused_soma`) -> the Linear's output
  cores, as Loihi builds a core (synapse -> dendrite -> soma): one ``neuron`` piece per output piece of the
  Linear, on its core, holding the compartments (state) and the output axons; the Linear's pieces then hold
  synapses only, and no value crosses the network between them;
* InputSpikes (a network's input spikes) -> ``neuron`` pieces on neuro cores, as spike generators with axons and
  no compartment state (SANA-FE maps its input neurons the same way); injected, they cost only their messages;
* AttentionScore / AttentionValue -> an embedded core, with its K or V cache on ``kv`` pieces (neuro-core SRAM);
* Norm, Elementwise (softmax, SiLU/GELU, rotary, gating), Residual -> embedded cores;
* Embedding -> the host (its table is far larger than a core and is read once per token).

Per-core budgets (see :class:`~neurosim.hardware.CoreSpec`): a piece with ``I`` inputs and ``n`` output neurons
needs ``n x I x w_bits / 8`` bytes of synapses, ``n x neuron_state_bits / 8`` of state, ``I x input_axon_bits / 8 +
n x d x output_axon_bits / 8`` of axon tables (``d`` destination cores per output), ``I x axons_per_input <=
max_fan_in``, ``n <= max_neurons`` and ``n x d <= max_fan_out``; with ``memory_partition: unified`` all bytes share
``synapse_memory``. A ternary input on binary-only hardware needs two axons (a +/- pair) per input.

Layers are cut in reverse graph order so a spike source knows how many cores each of its neurons must reach.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from neurosim.cost import fused_linear, fused_soma, soma_inputs
from neurosim.errors import DoesNotFit, NeurosimError
from neurosim.graph import (
    LIF,
    AttentionScore,
    AttentionValue,
    Embedding,
    Encoding,
    Graph,
    InputSpikes,
    Layer,
    Linear,
    SpikeEncoder,
)
from neurosim.hardware import Hardware
from neurosim.mapping.model import PIECE_INT_COLUMNS, LayerMapping, fused_pieces

STRATEGIES = ("output", "input")
NEURO_ROLES = ("synapse", "accumulator", "neuron", "kv")


@dataclass(frozen=True)
class PartitionOptions:
    """How to cut layers.

    ``strategy``: output (each core owns output neurons and all their synapses; input spikes are multicast) or
    input (fan-in split into ``input_chunk``-wide chunks; partial sums go to accumulator cores).
    ``split_fan_in``: let output-split fall back to fan-in chunks when a layer's fan-in exceeds the core's limit
    (off: such a layer is an error). ``kv_cache``: cores (K/V caches in neuro-core SRAM) or none (not mapped).
    ``value_bits``: width of a graded value (an accumulated output or partial sum).
    """

    strategy: str = "output"
    input_chunk: int = 1024
    split_fan_in: bool = True
    kv_cache: str = "cores"
    value_bits: int = 24

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise NeurosimError(f"--strategy {self.strategy!r}; allowed: {', '.join(STRATEGIES)}")
        if self.input_chunk <= 0:
            raise NeurosimError(f"--input-chunk {self.input_chunk}; allowed: an integer > 0")
        if self.kv_cache not in ("cores", "none"):
            raise NeurosimError(f"--kv-cache {self.kv_cache!r}; allowed: cores, none")
        if not 1 <= self.value_bits <= 32:
            raise NeurosimError(f"value_bits {self.value_bits}; allowed: 1..32")


def layer_target(layer: Layer) -> str:
    """neuro | embedded | host: where a layer's work runs."""
    if isinstance(layer, (Linear, SpikeEncoder, LIF, InputSpikes)):
        return "neuro"
    if isinstance(layer, Embedding):
        return "host"
    return "embedded"


def spike_source(layer: Layer) -> bool:
    return isinstance(layer, (SpikeEncoder, LIF, InputSpikes))


def spikes_per_element(layer: Layer) -> float:
    """Expected spikes one neuron of a spike source emits per token."""
    if isinstance(layer, SpikeEncoder):
        return float(layer.spec.unfold) * float(layer.spec.firing_rate or 0.0)
    if isinstance(layer, LIF):
        return float(layer.steps) * float(layer.firing_rate)
    if isinstance(layer, InputSpikes):
        return float(layer.firing_rate)
    return 0.0


def balanced(total: int, parts: int) -> np.ndarray:
    """Boundaries of ``parts`` near-equal consecutive ranges of ``total`` (length parts + 1)."""
    return (np.arange(parts + 1, dtype=np.int64) * total) // parts


def _cols(n: int) -> dict[str, np.ndarray]:
    cols: dict[str, np.ndarray] = {c: np.zeros(n, dtype=np.int64) for c in PIECE_INT_COLUMNS}
    cols["chip"][:] = -1
    return cols


class _Budget:
    """The per-core limits of one hardware model, in bytes and counts."""

    def __init__(self, hw: Hardware):
        c = hw.core
        self.hw = hw
        self.neurons = int(c.max_neurons.v)
        self.mem = c.synapse_memory.v
        self.state_mem = c.state_memory.v
        self.unified = c.memory_partition == "unified"
        self.state_b = c.neuron_state_bits.v / 8
        self.in_axon_b = c.input_axon_bits.v / 8
        self.out_axon_b = c.output_axon_bits.v / 8
        self.fan_in = int(c.max_fan_in.v)
        self.fan_out = int(c.max_fan_out.v)
        self.w_max = c.max_weight_bits.v
        self.msg_bits = c.message_bits.v

    def max_outputs(self, fan_in: int, axons_per_input: int, w_bits: int, dests: int) -> tuple[int, str]:
        """Most output neurons one core holds for a synapse block with ``fan_in`` inputs (and what binds)."""
        syn_per = fan_in * w_bits / 8
        limits = {"neurons (max_neurons)": self.neurons,
                  "fan-out axons (max_fan_out)": self.fan_out // max(dests, 1)}
        if self.unified:
            fixed = fan_in * axons_per_input * self.in_axon_b
            per = syn_per + self.state_b + dests * self.out_axon_b
            limits["memory (synapse_memory)"] = int((self.mem - fixed) // per) if per > 0 else self.neurons
        else:
            limits["synapse memory (synapse_memory)"] = int(self.mem // syn_per) if syn_per > 0 else self.neurons
            limits["state memory (state_memory)"] = int(self.state_mem // self.state_b) if self.state_b else \
                self.neurons
        what = min(limits, key=limits.get)
        return limits[what], what

    def piece_bytes(self, fan_in: int, api: int, n: np.ndarray, w_bits: float, dests: np.ndarray
                    ) -> dict[str, np.ndarray]:
        syn = np.ceil(n * fan_in * w_bits / 8).astype(np.int64)
        state = np.ceil(n * self.state_b).astype(np.int64)
        axon = np.ceil(fan_in * api * self.in_axon_b + n * dests * self.out_axon_b).astype(np.int64)
        return {"synapse_bytes": syn, "state_bytes": state, "axon_bytes": axon}


def _axons_per_input(layer: Linear, b: _Budget) -> tuple[int, str]:
    """Axons one input element needs, and a note on how the input travels."""
    enc = layer.input.encoding
    if enc is Encoding.TERNARY:
        return (1, "") if b.msg_bits > 1 else (2, "ternary spikes on binary-only cores: a +/- axon pair per input")
    if enc is Encoding.BINARY:
        return 1, ""
    bits = int(layer.input.bits)
    if enc is Encoding.INT:
        if bits <= b.msg_bits:
            return 1, f"int{bits} activations travel as graded spikes (the synapse multiplies the payload)"
        per = math.ceil(bits / b.msg_bits)
        return per, f"int{bits} activations sent bit-serially: {per} axons per input on {b.msg_bits:g}-bit messages"
    per = math.ceil(16 / b.msg_bits)
    return per, ("fp activations have no native form on the neuro cores: sent as 16-bit fixed-point graded "
                 "payloads" + (f" ({per} axons per input)" if per > 1 else ""))


def partition(graph: Graph, hw: Hardware, opts: PartitionOptions) -> dict[str, LayerMapping]:
    """Cut every layer of ``graph`` into pieces for ``hw`` (unplaced: chip = -1). Raises on a layer that cannot
    fit any core, naming the layer, the need and the limit."""
    b = _Budget(hw)
    out: dict[str, LayerMapping] = {}
    # a LIF fed by several Linears (several projections, recurrent ones included) that all end in it: one core
    # group holds every projection's synapses for an output block and that block's neurons
    groups = {layer.name: soma_inputs(graph, layer.name) for layer in graph if isinstance(layer, LIF)}
    groups = {k: v for k, v in groups.items() if len(v) > 1}
    members = {n for ins in groups.values() for n in ins}
    for layer in reversed(list(graph)):
        target = layer_target(layer)
        if layer.name in members:
            continue  # partitioned with the LIF it feeds
        if layer.name in groups:
            out.update(_fused_group(layer, [graph[n] for n in groups[layer.name]], graph, out, b))
            continue
        if isinstance(layer, LIF) and fused_linear(graph, layer.name):
            continue  # placed with its Linear, on the Linear's output cores
        if isinstance(layer, Linear):
            soma = fused_soma(graph, layer.name)
            out[layer.name] = _linear(layer, graph, out, b, opts, soma)
            if soma is not None:
                out[soma] = _fuse(out[layer.name], graph[soma], graph, out, b)
        elif spike_source(layer):
            out[layer.name] = _neurons(layer, graph, out, b)
        elif target == "host":
            cols = _cols(1)
            cols["in_hi"][:] = layer.in_dim
            cols["out_hi"][:] = layer.out_dim
            cols["role"] = np.array(["host"], dtype=object)
            out[layer.name] = LayerMapping(layer.name, layer.kind, "host", "host", cols, layer.in_dim,
                                           layer.out_dim, int(getattr(layer, "w_bits", 0)), layer.params,
                                           "embedding table in host DRAM; the row is injected at chip 0")
        else:
            out[layer.name] = _embedded(layer, graph, b, opts)
    return {name: out[name] for name in graph.layers}


def _dests_per_element(layer: Layer, graph: Graph, done: dict[str, LayerMapping]) -> np.ndarray:
    """For each output element of ``layer``: how many destination cores (pieces) take it."""
    width = layer.out_dim
    diff = np.zeros(width + 1, dtype=np.int64)
    for succ in graph.successors(layer.name):
        lm = done[succ]
        m = lm.input_mask()
        if lm.placement != "neuro":
            diff[0] += 1
            diff[width] -= 1
            continue
        lo = np.clip(lm.pieces["in_lo"][m], 0, width)
        hi = np.clip(lm.pieces["in_hi"][m], 0, width)
        np.add.at(diff, lo, 1)
        np.add.at(diff, hi, -1)
    d = np.cumsum(diff)[:width]
    return np.maximum(d, 1) if not graph.successors(layer.name) else d


def _linear(layer: Linear, graph: Graph, done: dict[str, LayerMapping], b: _Budget,
            opts: PartitionOptions, soma: str | None = None) -> LayerMapping:
    """Cut a Linear into synapse (and accumulator) pieces; with a fused ``soma`` (a LIF on its output cores) the
    output axons per neuron are the LIF's destination cores."""
    name, fan_in, outs, wb = layer.name, layer.in_features, layer.out_features, int(layer.w_bits)
    if wb > b.w_max:
        raise DoesNotFit(f"layer {name}: needs {wb}-bit weights; the core's limit is {b.w_max:g} bits "
                         f"(core.max_weight_bits)")
    api, note = _axons_per_input(layer, b)
    if api > b.fan_in:
        raise DoesNotFit(f"layer {name}: one input needs {api} axons; the core's fan-in limit is {b.fan_in} axons")
    out_layer = graph[soma] if soma is not None else layer
    dests_out = int(_dests_per_element(out_layer, graph, done).max(initial=1))
    if opts.strategy == "input":
        chunk = min(opts.input_chunk, b.fan_in // api)
        chunks = math.ceil(fan_in / chunk)
    else:
        chunks = math.ceil(fan_in * api / b.fan_in)
        if chunks > 1 and not opts.split_fan_in:
            raise DoesNotFit(f"layer {name}: needs fan-in {fan_in * api} axons; the core's limit is "
                             f"{b.fan_in} axons (output-split with fan-in splitting off; allow --split-fan-in)")
    in_bounds = balanced(fan_in, chunks)
    widest = int(np.diff(in_bounds).max())
    # the synapse pieces' outputs go to the consumers (untiled) or to one accumulator each (tiled)
    n_max, binding = b.max_outputs(widest, api, wb, dests_out if chunks == 1 else 1)
    if n_max < 1:
        need = widest * wb / 8 + b.state_b + (dests_out if chunks == 1 else 1) * b.out_axon_b
        raise DoesNotFit(f"layer {name}: one output neuron with fan-in {widest} needs {need:.0f} bytes at {wb}-bit "
                         f"weights; the core's limit is {b.mem:.0f} bytes ({binding})")
    blocks = math.ceil(outs / n_max)
    out_bounds = balanced(outs, blocks)
    # output-block-major order keeps the chunks of one output block (and their accumulator) together
    ob = np.repeat(np.arange(blocks), chunks)
    ib = np.tile(np.arange(chunks), blocks)
    n = len(ob)
    cols = _cols(n)
    cols["role"] = np.array(["synapse"] * n, dtype=object)
    cols["in_lo"], cols["in_hi"] = in_bounds[ib], in_bounds[ib + 1]
    cols["out_lo"], cols["out_hi"] = out_bounds[ob], out_bounds[ob + 1]
    width_in = cols["in_hi"] - cols["in_lo"]
    width_out = cols["out_hi"] - cols["out_lo"]
    cols["synapses"] = width_in * width_out
    cols["neurons"] = width_out
    cols["axons_in"] = width_in * api
    cols["axons_out"] = width_out * (dests_out if chunks == 1 else 1)
    bytes_ = {k: np.zeros(n, dtype=np.int64) for k in ("synapse_bytes", "state_bytes", "axon_bytes")}
    for w in np.unique(width_in):
        m = width_in == w
        got = b.piece_bytes(int(w), api, width_out[m], wb, np.full(m.sum(), dests_out if chunks == 1 else 1))
        for k, v in got.items():
            bytes_[k][m] = v
    cols.update(bytes_)
    strategy = "output" if chunks == 1 else "input"
    notes = [note] if note else []
    if chunks > 1:
        acc = _accumulators(name, outs, chunks, dests_out, b)
        for k in cols:
            cols[k] = np.concatenate([cols[k], acc[k]])
        why = (f"fan-in {fan_in} split into {chunks} chunks" +
               (f" (above the core's {b.fan_in}-axon limit)" if opts.strategy == "output" else "") +
               f"; partial sums to {int((acc['role'] == 'accumulator').sum())} accumulator cores")
        notes.append(why)
    cols["memory_bytes"] = cols["synapse_bytes"] + cols["state_bytes"] + cols["axon_bytes"] + cols["kv_bytes"]
    if not layer.spiking:
        notes.append("non-spiking input mapped as graded messages")
    return LayerMapping(name, layer.kind, "neuro", strategy, cols, layer.in_dim, layer.out_dim, wb, layer.params,
                        "; ".join(notes))


def _fuse(lin: LayerMapping, lif: LIF, graph: Graph, done: dict[str, LayerMapping], b: _Budget) -> LayerMapping:
    """The LIF's neurons on the Linear's output cores (synapse -> dendrite -> soma in one core): one ``neuron``
    piece per output piece, same core, same outputs, holding the compartments' state and the output axons; the
    Linear's output pieces keep their synapses (and, tiled, the partial-sum inputs) but no neurons of their own."""
    d = _dests_per_element(lif, graph, done)
    bad = np.nonzero(d > b.fan_out)[0]
    if len(bad):
        raise DoesNotFit(f"layer {lif.name}: neuron {bad[0]} must reach {int(d[bad[0]])} cores; the core's fan-out "
                         f"limit is {b.fan_out} axons (core.max_fan_out)")
    cum_d = np.concatenate([[0], np.cumsum(d)])
    p = lin.pieces
    idx = np.nonzero(lin.output_mask())[0]
    lo, hi = p["out_lo"][idx], p["out_hi"][idx]
    w = hi - lo
    dests = cum_d[hi] - cum_d[lo]
    cols = _cols(len(idx))
    cols["role"] = np.array(["neuron"] * len(idx), dtype=object)
    cols["in_lo"], cols["in_hi"], cols["out_lo"], cols["out_hi"] = lo, hi, lo, hi
    cols["neurons"] = w
    cols["axons_out"] = dests
    cols["state_bytes"] = np.ceil(w * b.state_b).astype(np.int64)
    cols["axon_bytes"] = np.ceil(dests * b.out_axon_b).astype(np.int64)
    cols["memory_bytes"] = cols["state_bytes"] + cols["axon_bytes"]
    # the Linear's output pieces: their neurons, state and output axons are the LIF's now
    p["axon_bytes"][idx] = np.maximum(p["axon_bytes"][idx] - np.ceil(p["axons_out"][idx] * b.out_axon_b).astype(
        np.int64), 0)
    p["neurons"][idx] = 0
    p["state_bytes"][idx] = 0
    p["axons_out"][idx] = 0
    p["memory_bytes"][:] = p["synapse_bytes"] + p["state_bytes"] + p["axon_bytes"] + p["kv_bytes"]
    lin.note = "; ".join(x for x in (lin.note, f"its outputs are the dendrites of {lif.name} on the same cores") if x)
    note = (f"fused with {lin.layer}: its neurons sit on {lin.layer}'s {len(idx)} output core(s) (synapse -> "
            f"dendrite -> soma); each neuron reaches up to {int(d.max(initial=0))} cores")
    return LayerMapping(lif.name, lif.kind, "neuro", "fused", cols, lif.in_dim, lif.out_dim, 0, lif.params, note,
                        fused_with=lin.layer)


def _fused_group(lif: LIF, linears: list[Linear], graph: Graph, done: dict[str, LayerMapping], b: _Budget
                 ) -> dict[str, LayerMapping]:
    """Several projections into one LIF (recurrent ones included), as Loihi builds the core: every core holds, for
    its block of the LIF's neurons, the synapses of every projection into them and the neurons themselves. Each
    Linear gets one synapse piece per block (all its inputs), the LIF one neuron piece per block; the first Linear's
    pieces place the block, the others and the LIF share its cores (``fused_with``)."""
    name, n = lif.name, lif.n
    api, notes = [], []
    for lin in linears:
        if int(lin.w_bits) > b.w_max:
            raise DoesNotFit(f"layer {lin.name}: needs {int(lin.w_bits)}-bit weights; the core's limit is "
                             f"{b.w_max:g} bits (core.max_weight_bits)")
        a, note = _axons_per_input(lin, b)
        api.append(a)
        if note:
            notes.append(note)
    fan_in = sum(lin.in_features * a for lin, a in zip(linears, api))
    if fan_in > b.fan_in:
        raise DoesNotFit(f"layer {name}: its {len(linears)} projections ({', '.join(x.name for x in linears)}) need "
                         f"{fan_in} fan-in axons on the cores that hold its neurons; the core's limit is {b.fan_in} "
                         f"axons (core.max_fan_in)")
    member = {x.name for x in linears}
    # destination cores of each neuron: the consumers outside the group, plus every block of a member it feeds
    diff = np.zeros(n + 1, dtype=np.int64)
    own = 0
    for succ in graph.successors(name):
        if succ in member:
            own += 1
            continue
        lm = done[succ]
        if lm.placement != "neuro":
            diff[0] += 1
            diff[n] -= 1
            continue
        m = lm.input_mask()
        np.add.at(diff, np.clip(lm.pieces["in_lo"][m], 0, n), 1)
        np.add.at(diff, np.clip(lm.pieces["in_hi"][m], 0, n), -1)
    ext = np.cumsum(diff)[:n]
    syn_per = sum(lin.in_features * int(lin.w_bits) / 8 for lin in linears)
    blocks = 1
    for _ in range(16):
        dmax = int(ext.max(initial=0)) + own * blocks
        limits = [b.neurons, b.fan_out // max(dmax, 1)]
        if b.unified:
            fixed = fan_in * b.in_axon_b
            limits.append(int((b.mem - fixed) // (syn_per + b.state_b + dmax * b.out_axon_b)))
        else:
            limits.append(int(b.mem // syn_per) if syn_per > 0 else b.neurons)
            limits.append(int(b.state_mem // b.state_b) if b.state_b else b.neurons)
        n_max = min(limits)
        if n_max < 1:
            raise DoesNotFit(f"layer {name}: one neuron with its {len(linears)} projections' synapses "
                             f"({syn_per:.0f} bytes) does not fit a core (core.synapse_memory {b.mem:.0f} bytes)")
        new = math.ceil(n / n_max)
        if new == blocks:
            break
        blocks = new
    bounds = balanced(n, blocks)
    lo, hi = bounds[:-1], bounds[1:]
    w = hi - lo
    dests = ext + own * blocks
    cum_d = np.concatenate([[0], np.cumsum(dests)])
    out: dict[str, LayerMapping] = {}
    first = linears[0].name
    for lin, a in zip(linears, api):
        cols = _cols(blocks)
        cols["role"] = np.array(["synapse"] * blocks, dtype=object)
        cols["in_lo"][:], cols["in_hi"][:] = 0, lin.in_features
        cols["out_lo"], cols["out_hi"] = lo, hi
        cols["synapses"] = w * lin.in_features
        cols["axons_in"][:] = lin.in_features * a
        cols["synapse_bytes"] = np.ceil(w * lin.in_features * int(lin.w_bits) / 8).astype(np.int64)
        cols["axon_bytes"][:] = math.ceil(lin.in_features * a * b.in_axon_b)
        cols["memory_bytes"] = cols["synapse_bytes"] + cols["axon_bytes"]
        note = f"its outputs are the dendrites of {name} on the same cores ({blocks} core(s), with " + \
            ", ".join(x.name for x in linears if x is not lin) + ")"
        out[lin.name] = LayerMapping(lin.name, lin.kind, "neuro", "output", cols, lin.in_dim, lin.out_dim,
                                     int(lin.w_bits), lin.params, "; ".join([*notes, note]),
                                     fused_with="" if lin.name == first else first)
    cols = _cols(blocks)
    cols["role"] = np.array(["neuron"] * blocks, dtype=object)
    cols["in_lo"], cols["in_hi"], cols["out_lo"], cols["out_hi"] = lo, hi, lo, hi
    cols["neurons"] = w
    cols["axons_out"] = cum_d[hi] - cum_d[lo]
    cols["state_bytes"] = np.ceil(w * b.state_b).astype(np.int64)
    cols["axon_bytes"] = np.ceil(cols["axons_out"] * b.out_axon_b).astype(np.int64)
    cols["memory_bytes"] = cols["state_bytes"] + cols["axon_bytes"]
    note = (f"fused with {', '.join(x.name for x in linears)}: its neurons and their synapses share {blocks} "
            f"core(s) (synapse -> dendrite -> soma); each neuron reaches up to {int(dests.max(initial=0))} cores")
    out[name] = LayerMapping(name, lif.kind, "neuro", "fused", cols, lif.in_dim, lif.out_dim, 0, lif.params, note,
                             fused_with=first)
    return out


def _accumulators(name: str, outs: int, chunks: int, dests: int, b: _Budget) -> dict[str, np.ndarray]:
    """Accumulator pieces: each output neuron takes one graded partial sum per input chunk."""
    per = b.state_b + chunks / 8 + dests * b.out_axon_b + chunks * b.in_axon_b  # 1-bit identity synapses
    limits = [b.neurons, b.fan_in // chunks, b.fan_out // max(dests, 1)]
    limits.append(int(b.mem // per) if b.unified else int(min(b.mem // (chunks / 8), b.state_mem // b.state_b)))
    r = min(limits)
    if r < 1:
        raise DoesNotFit(f"layer {name}: an accumulator neuron needs {chunks} fan-in axons; the core's limit is "
                         f"{b.fan_in} axons")
    parts = math.ceil(outs / r)
    bounds = balanced(outs, parts)
    cols = _cols(parts)
    cols["role"] = np.array(["accumulator"] * parts, dtype=object)
    w = np.diff(bounds)
    cols["out_lo"], cols["out_hi"] = bounds[:-1], bounds[1:]
    cols["in_lo"], cols["in_hi"] = bounds[:-1], bounds[1:]
    cols["neurons"] = w
    cols["axons_in"] = w * chunks
    cols["axons_out"] = w * dests
    cols["synapse_bytes"] = np.ceil(w * chunks / 8).astype(np.int64)
    cols["state_bytes"] = np.ceil(w * b.state_b).astype(np.int64)
    cols["axon_bytes"] = np.ceil(w * (dests * b.out_axon_b + chunks * b.in_axon_b)).astype(np.int64)
    return cols


def _neurons(layer: Layer, graph: Graph, done: dict[str, LayerMapping], b: _Budget) -> LayerMapping:
    """Spike-source neurons cut greedily so each core's neurons, fan-out and memory stay within limits."""
    name, width = layer.name, layer.out_dim
    d = _dests_per_element(layer, graph, done)
    injected = isinstance(layer, InputSpikes)  # spike generators: axons, no compartment state, no input axon
    state_b = 0.0 if injected else b.state_b
    in_axon_b = 0.0 if injected else b.in_axon_b
    per_mem = state_b + in_axon_b + d * b.out_axon_b
    bad = np.nonzero(d > b.fan_out)[0]
    if len(bad):
        raise DoesNotFit(f"layer {name}: neuron {bad[0]} must reach {int(d[bad[0]])} cores; the core's fan-out "
                         f"limit is {b.fan_out} axons (core.max_fan_out)")
    mem_limit = b.mem if b.unified else b.state_mem
    mem_need = per_mem if b.unified else np.full(width, state_b)
    if (mem_need > mem_limit).any():
        j = int(np.argmax(mem_need))
        raise DoesNotFit(f"layer {name}: neuron {j} needs {mem_need[j]:.0f} bytes; the core's limit is "
                         f"{mem_limit:.0f} bytes")
    cum_d = np.concatenate([[0], np.cumsum(d)])
    cum_m = np.concatenate([[0.0], np.cumsum(mem_need)])
    bounds = [0]
    while bounds[-1] < width:
        s = bounds[-1]
        e = min(width, s + b.neurons, s + b.fan_in)
        e = min(e, int(np.searchsorted(cum_d, cum_d[s] + b.fan_out, side="right")) - 1)
        e = min(e, int(np.searchsorted(cum_m, cum_m[s] + mem_limit, side="right")) - 1)
        bounds.append(max(e, s + 1))
    parts = len(bounds) - 1
    even = balanced(width, parts)
    ok = all(
        even[i + 1] - even[i] <= min(b.neurons, b.fan_in)
        and cum_d[even[i + 1]] - cum_d[even[i]] <= b.fan_out
        and cum_m[even[i + 1]] - cum_m[even[i]] <= mem_limit
        for i in range(parts)
    )
    bnd = even if ok else np.asarray(bounds, dtype=np.int64)
    cols = _cols(parts)
    cols["role"] = np.array(["neuron"] * parts, dtype=object)
    lo, hi = bnd[:-1], bnd[1:]
    w = hi - lo
    cols["in_lo"], cols["in_hi"], cols["out_lo"], cols["out_hi"] = lo, hi, lo, hi
    cols["neurons"] = w
    cols["axons_in"] = np.zeros_like(w) if injected else w
    cols["axons_out"] = cum_d[hi] - cum_d[lo]
    cols["state_bytes"] = np.ceil(w * state_b).astype(np.int64)
    cols["axon_bytes"] = np.ceil(w * in_axon_b + (cum_d[hi] - cum_d[lo]) * b.out_axon_b).astype(np.int64)
    cols["memory_bytes"] = cols["state_bytes"] + cols["axon_bytes"]
    note = f"spike source: each neuron reaches up to {int(d.max(initial=0))} cores"
    if injected:
        note = (f"input spikes, injected: spike generators with no compartment state (as SANA-FE maps input "
                f"neurons); each channel reaches up to {int(d.max(initial=0))} cores")
    return LayerMapping(name, layer.kind, "neuro", "neurons", cols, layer.in_dim, layer.out_dim, 0, layer.params,
                        note)


def _embedded(layer: Layer, graph: Graph, b: _Budget, opts: PartitionOptions) -> LayerMapping:
    """One embedded-core piece; attention layers also get their K or V cache on kv pieces."""
    cols = _cols(1)
    cols["role"] = np.array(["embedded"], dtype=object)
    cols["in_hi"][:] = layer.in_dim
    cols["out_hi"][:] = layer.out_dim
    note = "runs on an embedded core"
    if isinstance(layer, (AttentionScore, AttentionValue)) and opts.kv_cache == "cores":
        seq = int(graph.meta.get("seq_len", 1024)) * int(graph.meta.get("batch", 1))
        feats = layer.kv_heads * layer.head_dim
        per_feat = seq * layer.kv_bits / 8
        f = int(b.mem // per_feat)
        if f < 1:
            raise DoesNotFit(f"layer {layer.name}: one KV-cache feature over {seq} positions needs "
                             f"{per_feat:.0f} bytes; the core's limit is {b.mem:.0f} bytes")
        parts = math.ceil(feats / f)
        bounds = balanced(feats, parts)
        kv = _cols(parts)
        kv["role"] = np.array(["kv"] * parts, dtype=object)
        kv["in_lo"], kv["in_hi"] = bounds[:-1], bounds[1:]
        kv["out_lo"], kv["out_hi"] = bounds[:-1], bounds[1:]
        kv["kv_bytes"] = np.ceil(np.diff(bounds) * per_feat).astype(np.int64)
        for k in cols:
            cols[k] = np.concatenate([cols[k], kv[k]])
        which = "K" if isinstance(layer, AttentionScore) else "V"
        note += (f"; {which} cache ({feats} features x {seq} positions x {layer.kv_bits} bits) on {parts} "
                 f"neuro cores' SRAM")
    elif isinstance(layer, (AttentionScore, AttentionValue)):
        note += "; KV cache not mapped (--kv-cache none)"
    cols["memory_bytes"] = cols["kv_bytes"]
    return LayerMapping(layer.name, layer.kind, "embedded", "embedded", cols, layer.in_dim, layer.out_dim, 0,
                        layer.params, note)


def min_cores_for_weights(graph: Graph, hw: Hardware) -> float:
    """Cores the weights of the mapped Linear layers need at their weight bits and the core's memory: the floor
    any partition must meet."""
    total = sum(layer.in_features * layer.out_features * int(layer.w_bits) / 8
                for layer in graph if isinstance(layer, Linear))
    return total / hw.core.synapse_memory.v



def pack(layers: dict[str, LayerMapping], hw: Hardware, window: int = 32) -> dict[str, np.ndarray]:
    """Group neuro pieces into cores: first fit, in layer order, among the last ``window`` open cores, so small
    pieces (encoder neurons, accumulators, narrow projections, KV slices) share a core while every core's summed
    neurons, fan-in, fan-out and memory stay within the limits. A fused LIF's pieces go with the Linear output
    pieces they sit on (their needs are added when those are placed). Returns layer -> core group per piece (-1:
    not on a neuro core). Groups are numbered in order of first use."""
    b = _Budget(hw)
    cap = np.array([b.neurons, b.fan_in, b.fan_out, b.mem, b.state_mem if not b.unified else np.inf], dtype=float)
    total = sum(int(lm.mask(*NEURO_ROLES).sum()) for lm in layers.values())
    used = np.zeros((max(total, 1), 5))
    n_groups = 0
    out: dict[str, np.ndarray] = {}
    attached: dict[str, list[LayerMapping]] = {}  # a placing Linear -> the layers that share its output cores
    for lm in layers.values():
        if lm.fused_with:
            attached.setdefault(lm.fused_with, []).append(lm)

    def needs(lm: LayerMapping, idx: np.ndarray) -> np.ndarray:
        p = lm.pieces
        mem = (p["memory_bytes"] if b.unified else p["synapse_bytes"] + p["kv_bytes"])[idx]
        state = np.zeros(len(idx)) if b.unified else p["state_bytes"][idx].astype(float)
        return np.stack([p["neurons"][idx], p["axons_in"][idx], p["axons_out"][idx], mem, state],
                        axis=1).astype(float)

    for name, lm in layers.items():
        groups = -np.ones(len(lm), dtype=np.int64)
        if lm.fused_with:  # on the cores of its Linear's output pieces, already counted there
            groups[:] = out[lm.fused_with][fused_pieces(layers[lm.fused_with], lm)]
            out[name] = groups
            continue
        neuro = np.nonzero(lm.mask(*NEURO_ROLES))[0]
        if len(neuro):
            need = needs(lm, neuro)
            for other in attached.get(name, []):
                pos = {int(k): j for j, k in enumerate(fused_pieces(lm, other))}
                extra = needs(other, np.arange(len(other)))
                for i, k in enumerate(neuro):
                    if int(k) in pos:
                        need[i] += extra[pos[int(k)]]
            for k, row in zip(neuro, need):
                lo = max(0, n_groups - window)
                fits = np.all(used[lo:n_groups] + row <= cap, axis=1)
                if fits.any():
                    g = lo + int(np.argmax(fits))
                else:
                    g = n_groups
                    n_groups += 1
                used[g] += row
                groups[k] = g
        out[name] = groups
    return out
