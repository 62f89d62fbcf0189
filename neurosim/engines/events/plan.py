"""The simulation plan: a mapped graph cut into the phases the simulator schedules, with every phase's pieces
(cores) and routes (from the mapping), built once per run and shared by both input modes.

A **phase** is the unit of work one token block goes through as a whole:

* ``host``: the embedding read (the table sits in host DRAM);
* ``embedded``: a non-spiking op (norm, softmax, SiLU/GELU, rotary, residual, an attention matmul with its KV
  cache) on one embedded core, plus the neuro cores that hold its K or V cache;
* ``spike``: a spike source (a :class:`~neurosim.graph.SpikeEncoder`, :class:`~neurosim.graph.LIF` or
  :class:`~neurosim.graph.InputSpikes` layer, on its ``neuron`` pieces) together with the spike-driven Linear layers
  it feeds (their ``synapse`` and ``accumulator`` pieces): ``D`` algorithmic time steps of spikes from source
  cores to synapse cores (a LIF fused with the Linear before it has its neurons on that Linear's cores);
* ``graded``: a Linear whose input is not spikes (int or fp values sent as graded messages; MACs on the cores).

Places (the counters' ``place`` column): ``core:<chip>.<x>.<y>.<slot>`` for a neuro core, ``embedded:<chip>.<k>``
for embedded core ``k`` of a chip, ``host`` for the host, ``system`` for the time-step barrier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from neurosim.engines.events.network import Mesh
from neurosim.errors import NeurosimError
from neurosim.graph import LIF, Embedding, Graph, InputSpikes, Layer, Linear, SpikeEncoder
from neurosim.hardware import Hardware
from neurosim.mapping.model import EdgeRoutes, LayerMapping, Mapping
from neurosim.mapping.routing import core_index

NEURO_ROLES = ("synapse", "accumulator", "neuron", "kv")
_BIG = np.iinfo(np.int64).max // 4


@dataclass
class LayerPieces:
    """One mapped layer as the simulator uses it: the graph layer, its pieces' columns, places and core ids."""

    layer: Layer
    lm: LayerMapping
    places: np.ndarray  # str per piece
    cores: np.ndarray  # global core id per piece (-1: host)

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def p(self) -> dict[str, np.ndarray]:
        return self.lm.pieces

    def mask(self, *roles: str) -> np.ndarray:
        """Pieces with one of ``roles`` (kept: the pieces do not change during a run; read-only)."""
        masks = self.__dict__.setdefault("_masks", {})
        m = masks.get(roles)
        if m is None:
            m = masks[roles] = self.lm.mask(*roles)
            m.setflags(write=False)
        return m

    @cached_property
    def embedded_core(self) -> int:
        """The core of the layer's first embedded piece (the one that runs its arithmetic), -1 if it has none."""
        emb = self.mask("embedded")
        return int(self.cores[emb.argmax()]) if emb.any() else -1

    def routers(self, mesh: Mesh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Global router coordinates (x, y, z) of every piece (:meth:`Mesh.routers`; kept, read-only): a route's
        ends are gathered from them."""
        kept = self.__dict__.get("_routers")
        if kept is None or kept[0] is not mesh:
            xyz = mesh.routers(self.p["chip"], self.p["x"], self.p["y"])
            for a in xyz:
                a.setflags(write=False)
            kept = self._routers = (mesh, xyz)
        return kept[1]

    def width(self, col: str) -> np.ndarray:
        p = self.lm.pieces
        return p[f"{col}_hi"] - p[f"{col}_lo"]

    def share(self, action: str) -> np.ndarray:
        """Fraction of the layer's ``action`` count each of its pieces does (kept, like :meth:`mask`; read-only):
        the KV pieces by cached features for KV traffic, else the embedded, host or neuron pieces (by neurons), the
        synapse pieces by synapses for synaptic work, and the pieces holding the outputs (accumulators of a tiled
        layer, else its synapse pieces) by output width."""
        shares = self.__dict__.setdefault("_shares", {})
        w = shares.get(action)
        if w is None:
            w = shares[action] = self._share(action)
            w.setflags(write=False)
        return w

    def _share(self, action: str) -> np.ndarray:
        p, n = self.p, len(self.lm)
        if action in ("kv_read", "kv_write") and self.mask("kv").any():
            w = np.where(self.mask("kv"), p["in_hi"] - p["in_lo"], 0).astype(float)
        elif self.mask("embedded").any():
            w = self.mask("embedded").astype(float)
        elif self.mask("host").any():
            w = self.mask("host").astype(float)
        elif self.mask("neuron").any():
            w = np.where(self.mask("neuron"), p["neurons"], 0).astype(float)
        elif action in ("mac", "synapse_read", "ac"):
            w = np.where(self.mask("synapse"), p["synapses"], 0).astype(float)
        else:
            m = self.mask("accumulator") if self.mask("accumulator").any() else self.mask("synapse")
            w = np.where(m, p["out_hi"] - p["out_lo"], 0).astype(float)
        total = w.sum()
        return w / total if total > 0 else np.full(n, 1.0 / max(n, 1))


@dataclass
class Routes:
    """The routes of one mapping edge with what the simulator needs per route.

    ``lo, hi``: the interval of the *source layer's output* elements the route carries (the K/V cache feature
    interval for KV traffic); ``latency_ns``: the time of one message over its XY path (hops x hop latency).
    """

    edge: EdgeRoutes
    src: LayerPieces
    dst: LayerPieces
    src_piece: np.ndarray
    dst_piece: np.ndarray
    elements: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    latency_ns: np.ndarray
    hops_onchip: np.ndarray
    hops_ew: np.ndarray
    hops_chip: np.ndarray

    @property
    def payload(self) -> str:
        return self.edge.payload

    def __len__(self) -> int:
        return len(self.src_piece)


@dataclass
class Phase:
    """A unit of scheduled work (see the module docstring); ``layers[0]`` is its entry layer."""

    index: int
    kind: str  # host | embedded | spike | graded
    layers: list[str]
    preds: list[int] = field(default_factory=list)
    succs: list[int] = field(default_factory=list)
    out_routes: list[Routes] = field(default_factory=list)  # edges to other phases
    spike_routes: list[Routes] = field(default_factory=list)  # spike phase: source -> consumers
    partial_routes: dict[str, Routes] = field(default_factory=dict)  # tiled linear -> its partial-sum routes
    kv_routes: dict[str, Routes] = field(default_factory=dict)  # "kv_write" / "kv_read"
    cores: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    shared: list[int] = field(default_factory=list)  # indices of the shared cores it uses, ascending
    segments: np.ndarray | None = None  # spike phase: element boundaries of the source output (n_seg + 1)

    @cached_property
    def name(self) -> str:  # asked for at every synchronous step: made once (a phase's layers are set by then)
        return self.layers[0] if self.kind != "spike" else f"{self.layers[0]} -> {', '.join(self.layers[1:])}"

    # the two below are asked for once the phase's routes are all set (its segments, its geometry, its read-outs)
    @cached_property
    def spike_traffic(self) -> list[Routes]:
        """The routes that carry the phase's spikes: to its consumers, then to other phases."""
        return self.spike_routes + [r for r in self.out_routes if r.payload == "spike"]

    @cached_property
    def graded_out(self) -> list[Routes]:
        """The routes that carry the phase's graded values (layer outputs) to other phases."""
        return [r for r in self.out_routes if r.payload != "spike"]


@dataclass
class Plan:
    graph: Graph
    mapping: Mapping
    hw: Hardware
    mesh: Mesh
    layers: dict[str, LayerPieces]
    phases: list[Phase]
    phase_of: dict[str, int]
    n_cores: int
    n_shared: int
    cache: dict = field(default_factory=dict)  # geometry the simulator derives from the plan (sim.Simulator)

    def consumers(self, phase: Phase) -> list[LayerPieces]:
        return [self.layers[n] for n in phase.layers[1:]]

    @property
    def chips_used(self) -> int:
        return self.mapping.chips_used

    def core_place(self, core: int) -> str:
        for lp in self.layers.values():
            hit = np.nonzero(lp.cores == core)[0]
            if len(hit):
                return str(lp.places[hit[0]])
        return f"core #{core}"


def _places_and_cores(lm: LayerMapping, hw: Hardware) -> tuple[np.ndarray, np.ndarray]:
    """The place (text) and global core id (-1: host) of every piece of a layer (vectorized over pieces)."""
    p = lm.pieces
    n = len(lm)
    role = np.asarray(p["role"])
    chip, x, y, slot = (np.asarray(p[c], dtype=np.int64) for c in ("chip", "x", "y", "slot"))
    w, h, k = hw.mesh_shape
    neuro_total = hw.n_chips * w * h * k
    n_emb = hw.chip.embedded.count.n
    host, emb = role == "host", role == "embedded"
    cores = np.where(emb, neuro_total + chip * n_emb + slot, core_index(hw, chip, x, y, slot)).astype(np.int64)
    cores[host] = -1
    places = np.empty(n, dtype=object)
    places[:] = [("host" if r == "host" else f"embedded:{c}.{s}" if r == "embedded" else f"core:{c}.{a}.{b}.{s}")
                 for r, c, a, b, s in zip(role.tolist(), chip.tolist(), x.tolist(), y.tolist(), slot.tolist())]
    return places, cores


def _ranges(lp: LayerPieces, idx: np.ndarray, side: str, payload: str) -> tuple[np.ndarray, np.ndarray]:
    """Element interval each piece sends (side='src') or takes (side='dst'); embedded pieces hold everything."""
    p = lp.p
    emb = lp.mask("embedded")[idx]
    if side == "src":
        col = "in" if payload == "kv_read" else "out"
    else:
        col = "in"
    lo = np.where(emb, 0, p[f"{col}_lo"][idx])
    hi = np.where(emb, _BIG, p[f"{col}_hi"][idx])
    return lo, hi


def make_routes(e: EdgeRoutes, src: LayerPieces, dst: LayerPieces, hw: Hardware,
                lat: dict[str, float] | None = None) -> Routes:
    """The routes of ``e`` with their element intervals and path latencies (``lat``: ``hw.action_latency_ns()``,
    when the caller has it)."""
    r = e.routes
    si, di = r["src_piece"], r["dst_piece"]
    s_lo, s_hi = _ranges(src, si, "src", e.payload)
    d_lo, d_hi = _ranges(dst, di, "dst", e.payload)
    lo = np.maximum(s_lo, d_lo)
    hi = np.minimum(s_hi, d_hi)
    both = hi >= _BIG  # embedded to embedded on another chip: the whole vector
    lo = np.where(both, 0, lo)
    hi = np.where(both, r["elements"], hi)
    bad = (hi - lo) != r["elements"]
    if bad.any():
        j = int(np.nonzero(bad)[0][0])
        raise NeurosimError(f"mapping edge {e.src} -> {e.dst} ({e.payload}): route {j} carries {int(r['elements'][j])} "
                            f"elements but its pieces overlap on {int(hi[j] - lo[j])}; remap with `neurosim map`")
    lat = hw.action_latency_ns() if lat is None else lat
    latency = r["hops_ew"] * lat["hop_ew"] + r["hops_ns"] * lat["hop_ns"] + r["hops_chip"] * lat["hop_chip"]
    return Routes(e, src, dst, si, di, r["elements"], lo.astype(np.int64), hi.astype(np.int64),
                  latency.astype(float), (r["hops_ew"] + r["hops_ns"]).astype(float), r["hops_ew"].astype(float),
                  r["hops_chip"].astype(float))


def _is_source(layer: Layer) -> bool:
    return isinstance(layer, (SpikeEncoder, LIF, InputSpikes))


def source_encoding_is_spike(layer: Layer) -> bool:
    if isinstance(layer, SpikeEncoder):
        return layer.spec.encoding.is_spike
    return isinstance(layer, (LIF, InputSpikes))


def build_plan(graph: Graph, mapping: Mapping, hw: Hardware) -> Plan:
    """Cut ``graph`` (as mapped by ``mapping`` onto ``hw``) into phases; raise if the mapping does not match."""
    mapping.check_graph(graph)
    mesh = Mesh(hw)
    layers: dict[str, LayerPieces] = {}
    for layer in graph:
        lm = mapping.layers[layer.name]
        places, cores = _places_and_cores(lm, hw)
        layers[layer.name] = LayerPieces(layer, lm, places, cores)
    preds: dict[str, list[str]] = {n: [] for n in graph.layers}
    succs: dict[str, list[str]] = {n: [] for n in graph.layers}
    for a, b in graph.edges:
        succs[a].append(b)
        preds[b].append(a)
    edge_map: dict[tuple[str, str, str], EdgeRoutes] = {(e.src, e.dst, e.payload): e for e in mapping.edges}
    action_ns = hw.action_latency_ns()

    def routes_for(a: str, b: str, payloads: tuple[str, ...]) -> Routes | None:
        for pl in payloads:
            e = edge_map.get((a, b, pl))
            if e is not None:
                return make_routes(e, layers[a], layers[b], hw, action_ns)
        return None

    phases: list[Phase] = []
    phase_of: dict[str, int] = {}
    for layer in graph:
        name = layer.name
        if name in phase_of:
            continue
        idx = len(phases)
        if isinstance(layer, Embedding):
            ph = Phase(idx, "host", [name])
        elif _is_source(layer) and source_encoding_is_spike(layer):
            consumers = [s for s in succs[name] if isinstance(graph[s], Linear) and graph[s].spiking]
            for c in consumers:
                others = [p for p in preds[c] if p != name]
                if others:
                    raise NeurosimError(f"layer {c}: a spike-driven Linear fed by {name} and {others[0]}; the event "
                                        "simulator needs one spike source per spike-driven Linear")
            ph = Phase(idx, "spike", [name, *consumers])
        elif isinstance(layer, Linear):
            if layer.spiking:
                raise NeurosimError(f"layer {name}: a spike-driven Linear with no spike encoder or LIF layer before "
                                    "it; the event simulator needs the spike source in the graph")
            ph = Phase(idx, "graded", [name])
        else:
            ph = Phase(idx, "embedded", [name])
        for n in ph.layers:
            phase_of[n] = idx
        phases.append(ph)

    for ph in phases:
        owned = set(ph.layers)
        pre = {phase_of[p] for n in ph.layers for p in preds[n] if p not in owned}
        ph.preds = sorted(pre)
        for n in ph.layers:
            for s in succs[n]:
                if s in owned:
                    continue
                r = routes_for(n, s, ("spike", "graded"))
                if r is not None and len(r):
                    ph.out_routes.append(r)
        if ph.kind == "spike":
            src = ph.layers[0]
            for c in ph.layers[1:]:
                r = routes_for(src, c, ("spike",))
                if r is None:
                    where = f"{mapping.source}: " if mapping.source else ""
                    raise NeurosimError(f"{where}mapping has no spike edge {src} -> {c}; remap with `neurosim map`")
                ph.spike_routes.append(r)
                pr = routes_for(c, c, ("partial_sum",))
                if pr is not None:
                    ph.partial_routes[c] = pr
            bounds = [np.array([0, graph[src].out_dim], dtype=np.int64)]
            sp = layers[src].p
            nm = layers[src].mask("neuron")
            bounds += [sp["out_lo"][nm], sp["out_hi"][nm]]
            for r in ph.spike_traffic:
                bounds += [r.lo, r.hi]
            ph.segments = np.unique(np.concatenate(bounds))
        if ph.kind == "graded":
            pr = routes_for(ph.layers[0], ph.layers[0], ("partial_sum",))
            if pr is not None:
                ph.partial_routes[ph.layers[0]] = pr
        if ph.kind == "embedded":
            n = ph.layers[0]
            for pl in ("kv_write", "kv_read"):
                r = routes_for(n, n, (pl,))
                if r is not None:
                    ph.kv_routes[pl] = r
        cores = np.concatenate([layers[n].cores for n in ph.layers])
        ph.cores = np.unique(cores[cores >= 0])
    for ph in phases:
        for q in ph.preds:
            phases[q].succs.append(ph.index)

    # a core that more than one phase uses (an embedded core running several ops, a user mapping that packs
    # layers together) is a shared resource; every other core belongs to one phase only
    users: dict[int, int] = {}
    for ph in phases:
        for c in ph.cores.tolist():
            users[c] = users.get(c, 0) + 1
    shared = sorted(c for c, n in users.items() if n > 1)
    index = {c: i for i, c in enumerate(shared)}
    for ph in phases:
        ph.shared = [index[c] for c in ph.cores.tolist() if c in index]
    w, h, k = hw.mesh_shape
    n_cores = hw.n_chips * (w * h * k + hw.chip.embedded.count.n)
    return Plan(graph, mapping, hw, mesh, layers, phases, phase_of, n_cores, len(shared))



_last_plan: list = []  # [(mapping, graph, hardware, signature, plan)]: the plan of the last run, see plan_for


def plan_for(graph: Graph, mapping: Mapping, hw: Hardware) -> Plan:
    """:func:`build_plan`, kept for the last (graph, mapping, hardware) it was built for (the same objects): the runs
    of one mapping in a process (sync and async, several token counts or seeds) share the plan and the geometry the
    simulator derives from it (``Plan.cache``). One plan is kept (it holds its graph and mapping); a graph or
    mapping whose layers or edges were added or removed in place since gets a new one."""
    sig = (len(graph.layers), len(graph.edges), len(mapping.layers), len(mapping.edges))
    if _last_plan:
        m, g, h, k, plan = _last_plan[0]
        if m is mapping and g is graph and h is hw and k == sig:
            return plan
    plan = build_plan(graph, mapping, hw)
    _last_plan[:] = [(mapping, graph, hw, sig, plan)]
    return plan
