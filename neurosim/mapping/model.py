"""The Mapping: which core holds which piece of which layer, and the routes between pieces.

Plain data, columnar (NumPy arrays per column, never one Python object per synapse), serialisable with
``to_dict`` / ``from_dict``. Engines read it; the mapper (:mod:`neurosim.mapping.mapper`) writes it.

A **piece** is one part of one layer on one core (or one embedded core):

=============  ==================================================================================================
role           what the piece is
=============  ==================================================================================================
synapse        a block of a Linear's weight matrix: inputs ``[in_lo, in_hi)`` x outputs ``[out_lo, out_hi)``;
               its output neurons accumulate the layer's outputs (output-split) or partial sums (input-split)
accumulator    input-split only: output neurons ``[out_lo, out_hi)`` that add the partial sums of every input chunk
neuron         neurons ``[out_lo, out_hi)`` of a SpikeEncoder or LIF layer (the spike sources); ``in == out``
kv             features ``[in_lo, in_hi)`` of an attention layer's K (score) or V (value) cache, all positions
embedded       a non-spiking op (norm, softmax, SiLU/GELU, rotary, residual, attention matmul) on embedded core
               ``slot`` of ``chip``, attached to router ``(x, y)``
host           outside the mesh (the embedding table); ``chip = -1``
=============  ==================================================================================================

An **edge** is a graph edge (or a layer-internal flow: partial sums, KV traffic) with its payload; its routes are
every (source piece, destination piece) pair that exchanges data, with ``elements`` (how many source elements the
pair shares), ``messages`` per token (``elements x messages_per_element``) and XY hop counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neurosim.errors import NeurosimError
from neurosim.hardware import Hardware
from neurosim.mapping.routing import core_index, core_positions, hops

MAPPING_FORMAT_VERSION = 1

ROLES = ("synapse", "accumulator", "neuron", "kv", "embedded", "host")
PAYLOADS = ("spike", "graded", "partial_sum", "kv_read", "kv_write")

#: integer columns of a piece table (``role`` is the one string column)
PIECE_INT_COLUMNS = ("chip", "x", "y", "slot", "in_lo", "in_hi", "out_lo", "out_hi", "synapses", "synapse_bytes",
                     "state_bytes", "axon_bytes", "kv_bytes", "memory_bytes", "neurons", "axons_in", "axons_out")
PIECE_COLUMNS = ("role",) + PIECE_INT_COLUMNS
ROUTE_COLUMNS = ("src_piece", "dst_piece", "elements", "messages", "hops_ew", "hops_ns", "hops_chip")


@dataclass(frozen=True)
class CoreAddress:
    """Where a piece sits: chip id, router (x, y) on the chip's mesh, slot in the tile (embedded: core index)."""

    chip: int
    x: int
    y: int
    slot: int = 0


@dataclass(frozen=True)
class Piece:
    """A read-only view of one row of a layer's piece table."""

    layer: str
    index: int
    role: str
    core: CoreAddress
    in_range: tuple[int, int]
    out_range: tuple[int, int]
    synapses: int
    synapse_bytes: int
    neurons: int
    memory_bytes: int
    axons_in: int
    axons_out: int


@dataclass
class LayerMapping:
    """How one layer is mapped: its pieces as columns (``pieces[col]`` is an array, one entry per piece)."""

    layer: str
    kind: str  # the graph layer kind (linear, readout, encoder, lif, attention, norm, ...)
    placement: str  # neuro | embedded | host
    strategy: str  # output | input | neurons | embedded | host
    pieces: dict[str, np.ndarray]
    in_dim: int = 0
    out_dim: int = 0
    w_bits: int = 0
    params: int = 0
    note: str = ""
    #: a LIF layer whose neurons sit on the output cores of this Linear (Loihi's synapse -> dendrite -> soma core;
    #: see :func:`neurosim.cost.fused_soma`): its piece ``j`` shares the core of the Linear's ``j``-th output piece
    fused_with: str = ""

    def __post_init__(self) -> None:
        n = len(self.pieces.get("role", []))
        cols = {"role": np.asarray(self.pieces.get("role", []), dtype=object)}
        for c in PIECE_INT_COLUMNS:
            v = self.pieces.get(c)
            cols[c] = np.zeros(n, dtype=np.int64) if v is None else np.asarray(v, dtype=np.int64)
            if len(cols[c]) != n:
                raise NeurosimError(f"mapping: layer {self.layer!r} column {c!r} has {len(cols[c])} entries, "
                                    f"expected {n}")
        bad = set(cols["role"]) - set(ROLES)
        if bad:
            raise NeurosimError(f"mapping: layer {self.layer!r} has piece role(s) {sorted(bad)}; allowed: "
                                f"{', '.join(ROLES)}")
        self.pieces = cols

    def __len__(self) -> int:
        return len(self.pieces["role"])

    def mask(self, *roles: str) -> np.ndarray:
        """Pieces with one of ``roles`` (kept while the role column is the same array; read-only)."""
        role = self.pieces["role"]
        kept = self.__dict__.setdefault("_masks", {})
        hit = kept.get(roles)
        if hit is None or hit[0] is not role:
            m = np.isin(role, roles)
            m.setflags(write=False)
            hit = kept[roles] = (role, m)
        return hit[1]

    @property
    def tiled(self) -> bool:
        """Input-split: partial sums flow from synapse pieces to accumulator pieces."""
        return bool(self.mask("accumulator").any())

    def output_mask(self) -> np.ndarray:
        """Pieces whose outputs leave the layer (accumulators when tiled, else synapse/neuron/embedded pieces)."""
        if self.tiled:
            return self.mask("accumulator")
        return self.mask("synapse", "neuron", "embedded", "host")

    def input_mask(self) -> np.ndarray:
        """Pieces that receive the layer's input."""
        return self.mask("synapse", "neuron", "embedded", "host")

    def piece(self, i: int) -> Piece:
        p = self.pieces
        return Piece(self.layer, i, str(p["role"][i]),
                     CoreAddress(int(p["chip"][i]), int(p["x"][i]), int(p["y"][i]), int(p["slot"][i])),
                     (int(p["in_lo"][i]), int(p["in_hi"][i])), (int(p["out_lo"][i]), int(p["out_hi"][i])),
                     int(p["synapses"][i]), int(p["synapse_bytes"][i]), int(p["neurons"][i]),
                     int(p["memory_bytes"][i]), int(p["axons_in"][i]), int(p["axons_out"][i]))

    def iter_pieces(self):
        for i in range(len(self)):
            yield self.piece(i)

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame({c: self.pieces[c] for c in PIECE_COLUMNS})
        df.insert(0, "piece", np.arange(len(self)))
        df.insert(0, "layer", self.layer)
        return df

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer, "kind": self.kind, "placement": self.placement, "strategy": self.strategy,
            "in_dim": self.in_dim, "out_dim": self.out_dim, "w_bits": self.w_bits, "params": self.params,
            "note": self.note,
            **({"fused_with": self.fused_with} if self.fused_with else {}),
            "pieces": {c: [str(v) for v in self.pieces[c]] if c == "role" else self.pieces[c].tolist()
                       for c in PIECE_COLUMNS},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "mapping") -> LayerMapping:
        try:
            return cls(layer=d["layer"], kind=d.get("kind", ""), placement=d["placement"], strategy=d["strategy"],
                       pieces=dict(d["pieces"]), in_dim=int(d.get("in_dim", 0)), out_dim=int(d.get("out_dim", 0)),
                       w_bits=int(d.get("w_bits", 0)), params=int(d.get("params", 0)), note=d.get("note", ""),
                       fused_with=str(d.get("fused_with", "") or ""))
        except KeyError as exc:
            raise NeurosimError(f"{where}: layer entry {d.get('layer', '?')!r} lacks field {exc.args[0]!r}") from None
        except NeurosimError as exc:  # a piece table that does not read: name the file it is in
            from neurosim.errors import in_file

            raise in_file(where, exc) from None


@dataclass
class EdgeRoutes:
    """Data flowing from ``src`` pieces to ``dst`` pieces each token, and the XY routes it takes.

    ``messages_per_element``: messages one source element sends to one destination piece per token (spikes:
    unfold x firing rate; graded values: packets per value; KV reads: context x kv_bits / message_bits).
    ``routes[col]``: arrays over (source piece, destination piece) pairs: ``elements`` shared, ``messages`` per
    token, on-chip hops east-west / north-south and chip-to-chip hops of one message.
    """

    src: str
    dst: str
    payload: str
    messages_per_element: float
    bits: int
    routes: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.routes.get("src_piece", []))

    @property
    def messages(self) -> float:
        return float(self.routes["messages"].sum()) if len(self) else 0.0

    @property
    def hops_onchip(self) -> float:
        r = self.routes
        return float((r["messages"] * (r["hops_ew"] + r["hops_ns"])).sum()) if len(self) else 0.0

    @property
    def hops_chip(self) -> float:
        r = self.routes
        return float((r["messages"] * r["hops_chip"]).sum()) if len(self) else 0.0

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame({c: self.routes[c] for c in ROUTE_COLUMNS})
        df.insert(0, "payload", self.payload)
        df.insert(0, "dst", self.dst)
        df.insert(0, "src", self.src)
        return df

    def meta(self) -> dict[str, Any]:
        return {"src": self.src, "dst": self.dst, "payload": self.payload,
                "messages_per_element": self.messages_per_element, "bits": self.bits}


@dataclass
class Mapping:
    """A workload graph mapped onto a hardware model: per-layer pieces and per-edge routes.

    ``hw`` is the loaded :class:`Hardware` (not serialised: ``hardware`` names it, ``hardware_sets`` are its
    overrides). Routes are derived from the pieces, so ``from_dict`` rebuilds them.
    """

    hardware: str
    workload: str
    layers: dict[str, LayerMapping]
    edges: list[EdgeRoutes]
    hw: Hardware | None = None
    hardware_sets: list[str] = field(default_factory=list)
    convention: dict[str, Any] = field(default_factory=dict)
    seq_len: int = 0
    strategy: str = "output"
    placement: str = "serpentine"
    options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    source: str = field(default="", compare=False)  # the file it was read from ("" when made now); not saved

    # --- access ---------------------------------------------------------------------------------------------------
    def __getitem__(self, layer: str) -> LayerMapping:
        return self.layers[layer]

    def edge(self, src: str, dst: str, payload: str | None = None) -> EdgeRoutes:
        for e in self.edges:
            if e.src == src and e.dst == dst and (payload is None or e.payload == payload):
                return e
        raise KeyError(f"no edge {src} -> {dst}" + (f" ({payload})" if payload else ""))

    def edges_into(self, layer: str) -> list[EdgeRoutes]:
        return [e for e in self.edges if e.dst == layer]

    def traffic_by_source(self) -> dict[str, tuple[float, float, float]]:
        """Per source layer: (messages, on-chip hops, chip-to-chip hops) it sends per token, over all its edges."""
        out: dict[str, list[float]] = {}
        for e in self.edges:
            acc = out.setdefault(e.src, [0.0, 0.0, 0.0])
            acc[0] += e.messages
            acc[1] += e.hops_onchip
            acc[2] += e.hops_chip
        return {k: (v[0], v[1], v[2]) for k, v in out.items()}

    def edges_from(self, layer: str) -> list[EdgeRoutes]:
        return [e for e in self.edges if e.src == layer]

    def pieces_frame(self) -> pd.DataFrame:
        """Every piece of every layer, one row each (columns ``layer, piece`` + PIECE_COLUMNS)."""
        lms = [lm for lm in self.layers.values() if len(lm)]
        if not lms:
            return pd.DataFrame(columns=["layer", "piece", *PIECE_COLUMNS])
        cols: dict[str, Any] = {
            "layer": np.repeat(np.array([lm.layer for lm in lms], dtype=object), [len(lm) for lm in lms]),
            "piece": np.concatenate([np.arange(len(lm)) for lm in lms]),
        }
        for c in PIECE_COLUMNS:
            cols[c] = np.concatenate([lm.pieces[c] for lm in lms])
        return pd.DataFrame(cols)

    def routes_frame(self) -> pd.DataFrame:
        """Every route of every edge, one row each (columns ``src, dst, payload`` + ROUTE_COLUMNS)."""
        es = [e for e in self.edges if len(e)]
        if not es:
            return pd.DataFrame(columns=["src", "dst", "payload", *ROUTE_COLUMNS])
        n = [len(e) for e in es]
        cols: dict[str, Any] = {k: np.repeat(np.array([getattr(e, k) for e in es], dtype=object), n)
                                for k in ("src", "dst", "payload")}
        for c in ROUTE_COLUMNS:
            cols[c] = np.concatenate([e.routes[c] for e in es])
        return pd.DataFrame(cols)

    def neuro_pieces(self) -> pd.DataFrame:
        df = self.pieces_frame()
        return df[~df["role"].isin(["embedded", "host"])]

    def core_table(self) -> pd.DataFrame:
        """Per neuro core: what its pieces use together (neurons, memory, axons) and which layers it holds."""
        df = self.neuro_pieces()
        if df.empty:
            return pd.DataFrame()
        sums = ["neurons", "synapses", "synapse_bytes", "state_bytes", "axon_bytes", "kv_bytes", "memory_bytes",
                "axons_in", "axons_out"]
        g = df.groupby(["chip", "x", "y", "slot"], sort=True)
        out = g[sums].sum()
        out["pieces"] = g.size()
        out["layers"] = g["layer"].first()
        multi = out.index[out["pieces"] > 1]
        if len(multi):
            joined = df.set_index(["chip", "x", "y", "slot"]).loc[multi].groupby(level=[0, 1, 2, 3])["layer"]
            out.loc[multi, "layers"] = joined.agg(lambda s: ",".join(dict.fromkeys(s)))
        return out.reset_index()

    @property
    def chips_used(self) -> int:
        """Chips holding at least one neuro piece or embedded op."""
        chips = [lm.pieces["chip"][lm.pieces["role"] != "host"] for lm in self.layers.values()]
        return len(np.unique(np.concatenate(chips))) if chips else 0

    @property
    def cores_used(self) -> int:
        """Neuro cores holding at least one piece."""
        if self.hw is None:
            return len(self.core_table())
        idx = [global_core_index(self.hw, lm)[lm.mask("synapse", "accumulator", "neuron", "kv")]
               for lm in self.layers.values()]
        return len(np.unique(np.concatenate(idx))) if idx else 0

    # --- checks ---------------------------------------------------------------------------------------------------
    def check_graph(self, graph) -> None:
        """Raise unless this mapping maps exactly ``graph``'s layers with the same shapes."""
        names = list(graph.layers)
        missing = [n for n in names if n not in self.layers]
        extra = [n for n in self.layers if n not in graph.layers]
        if missing or extra:
            what = f"lacks layer {missing[0]!r}" if missing else f"has layer {extra[0]!r} that the graph lacks"
            raise NeurosimError(f"mapping of {self.workload!r} does not match graph {graph.name!r}: it {what} "
                                f"({len(missing)} missing, {len(extra)} extra); remap with `neurosim map`")
        for layer in graph:
            lm = self.layers[layer.name]
            if (lm.in_dim, lm.out_dim, lm.params) != (layer.in_dim, layer.out_dim, layer.params):
                raise NeurosimError(
                    f"mapping does not match graph {graph.name!r}: layer {layer.name} is {layer.in_dim} -> "
                    f"{layer.out_dim} ({layer.params} synapses) in the graph but {lm.in_dim} -> {lm.out_dim} "
                    f"({lm.params}) in the mapping")

    def check_coverage(self) -> None:
        """Raise unless every synapse of every mapped layer is placed exactly once (pieces tile in x out)."""
        for lm in self.layers.values():
            m = lm.mask("synapse")
            if not m.any():
                continue
            p = lm.pieces
            ilo, ihi, olo, ohi = p["in_lo"][m], p["in_hi"][m], p["out_lo"][m], p["out_hi"][m]
            syn = lm.params - (lm.out_dim if lm.params != lm.in_dim * lm.out_dim else 0)
            if (ilo < 0).any() or (ihi > lm.in_dim).any() or (olo < 0).any() or (ohi > lm.out_dim).any() \
                    or (ihi <= ilo).any() or (ohi <= olo).any():
                raise NeurosimError(f"mapping: layer {lm.layer}: a synapse piece's ranges lie outside "
                                    f"{lm.in_dim} x {lm.out_dim} or are empty")
            xs = np.unique(np.concatenate([ilo, ihi]))
            ys = np.unique(np.concatenate([olo, ohi]))
            cover = np.zeros((len(xs), len(ys)), dtype=np.int64)
            i0, i1 = np.searchsorted(xs, ilo), np.searchsorted(xs, ihi)
            j0, j1 = np.searchsorted(ys, olo), np.searchsorted(ys, ohi)
            np.add.at(cover, (i0, j0), 1)
            np.add.at(cover, (i1, j0), -1)
            np.add.at(cover, (i0, j1), -1)
            np.add.at(cover, (i1, j1), 1)
            cover = cover.cumsum(0).cumsum(1)[:-1, :-1]
            if xs[0] != 0 or xs[-1] != lm.in_dim or ys[0] != 0 or ys[-1] != lm.out_dim or (cover != 1).any():
                bad = "twice" if (cover > 1).any() else "not at all"
                raise NeurosimError(f"mapping: layer {lm.layer}: some synapses are placed {bad} (pieces must tile "
                                    f"{lm.in_dim} inputs x {lm.out_dim} outputs exactly once)")
            if int(((ihi - ilo) * (ohi - olo)).sum()) != syn or int(p["synapses"][m].sum()) != syn:
                raise NeurosimError(f"mapping: layer {lm.layer}: pieces hold {int(p['synapses'][m].sum())} "
                                    f"synapses, the layer has {syn}")

    def check_limits(self, hw: Hardware | None = None) -> None:
        """Raise unless every core address exists and no core exceeds any limit of the hardware."""
        hw = hw or self.hw
        if hw is None:
            raise NeurosimError("mapping: no hardware to check against")
        core = hw.core
        w, h, k = hw.mesh_shape
        usable = core_index(hw, 0, *core_positions(hw).T)
        n_emb = hw.chip.embedded.count.n
        for lm in self.layers.values():
            p = lm.pieces
            live = lm.pieces["role"] != "host"
            chip = p["chip"][live]
            if ((chip < 0) | (chip >= hw.n_chips)).any():
                i = int(np.nonzero(live)[0][np.argmax((chip < 0) | (chip >= hw.n_chips))])
                raise NeurosimError(f"mapping: layer {lm.layer} piece {i}: chip {int(p['chip'][i])} outside "
                                    f"0..{hw.n_chips - 1} of {hw.name}")
            emb = lm.mask("embedded")
            if ((p["slot"][emb] < 0) | (p["slot"][emb] >= n_emb)).any():
                raise NeurosimError(f"mapping: layer {lm.layer}: embedded core {int(p['slot'][emb][0])} outside "
                                    f"0..{n_emb - 1} of {hw.name}")
            neuro = live & ~emb
            x, y, slot = p["x"][neuro], p["y"][neuro], p["slot"][neuro]
            inside = (x >= 0) & (x < w) & (y >= 0) & (y < h) & (slot >= 0) & (slot < k)
            ok = inside & np.isin(core_index(hw, 0, np.where(inside, x, 0), np.where(inside, y, 0),
                                             np.where(inside, slot, 0)), usable)
            if not ok.all():
                i = int(np.nonzero(neuro)[0][np.argmin(ok)])
                raise NeurosimError(f"mapping: layer {lm.layer} piece {i}: core (chip {int(p['chip'][i])}, x "
                                    f"{int(p['x'][i])}, y {int(p['y'][i])}, slot {int(p['slot'][i])}) is not a "
                                    f"usable core of {hw.name} ({w} x {h} mesh, {k} a tile, "
                                    f"{hw.usable_cores_per_chip} usable)")
        self.check_fused()
        ct = self.core_table()
        if ct.empty:
            return
        mem_field = "synapse_memory"
        checks = [("neurons", core.max_neurons.v, "neurons", "max_neurons"),
                  ("axons_in", core.max_fan_in.v, "fan-in axons", "max_fan_in"),
                  ("axons_out", core.max_fan_out.v, "fan-out axons", "max_fan_out")]
        if core.memory_partition == "unified":
            checks.append(("memory_bytes", core.synapse_memory.v, "bytes of memory", mem_field))
        else:
            ct = ct.assign(syn_kv=ct["synapse_bytes"] + ct["kv_bytes"])
            checks += [("syn_kv", core.synapse_memory.v, "bytes of synapse memory", mem_field),
                       ("state_bytes", core.state_memory.v, "bytes of state memory", "state_memory")]
        for col, limit, what, fld in checks:
            over = ct[ct[col] > limit]
            if len(over):
                r = over.iloc[0]
                raise NeurosimError(f"mapping: core (chip {r['chip']}, x {r['x']}, y {r['y']}, slot {r['slot']}) "
                                    f"holding {r['layers']} needs {int(r[col])} {what}; the limit is {limit:g} "
                                    f"(core.{fld})")

    def check_fused(self) -> None:
        """Raise unless every fused LIF piece sits on the core of its Linear's output piece, with its outputs."""
        for lm in self.layers.values():
            if not lm.fused_with:
                continue
            lin = self.layers.get(lm.fused_with)
            if lin is None:
                raise NeurosimError(f"mapping: LIF layer {lm.layer} is fused with {lm.fused_with!r}, which the "
                                    "mapping lacks")
            idx = fused_pieces(lin, lm)
            a, b = lm.pieces, lin.pieces
            for c in ("chip", "x", "y", "slot", "out_lo", "out_hi"):
                bad = np.nonzero(a[c] != b[c][idx])[0]
                if len(bad):
                    j = int(bad[0])
                    raise NeurosimError(
                        f"mapping: LIF layer {lm.layer} piece {j} must share core and outputs with {lin.layer} piece "
                        f"{int(idx[j])} (one core: synapse -> dendrite -> soma) but differs in {c!r} "
                        f"({int(a[c][j])} vs {int(b[c][idx[j]])})")

    # --- routes ---------------------------------------------------------------------------------------------------
    def build_routes(self, hw: Hardware | None = None) -> None:
        """(Re)compute every edge's routes from the pieces: pairs, elements, messages and XY hops."""
        hw = hw or self.hw
        for e in self.edges:
            e.routes = _routes(self.layers[e.src], self.layers[e.dst], e, hw)

    def totals(self) -> dict[str, float]:
        """Messages and hops per token summed over every edge."""
        msgs = sum(e.messages for e in self.edges)
        on = sum(e.hops_onchip for e in self.edges)
        chip = sum(e.hops_chip for e in self.edges)
        return {"messages": msgs, "hops_onchip": on, "hops_chip": chip, "hops": on + chip}

    # --- serialisation --------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "version": MAPPING_FORMAT_VERSION,
            "format": "neurosim-mapping",
            "hardware": self.hardware,
            "hardware_sets": list(self.hardware_sets),
            "workload": self.workload,
            "convention": self.convention,
            "seq_len": self.seq_len,
            "strategy": self.strategy,
            "placement": self.placement,
            "options": self.options,
            "notes": self.notes,
            "layers": [lm.to_dict() for lm in self.layers.values()],
            "edges": [e.meta() for e in self.edges],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], hw: Hardware | None = None, where: str = "mapping") -> Mapping:
        """Rebuild a mapping (routes included); loads the named hardware unless ``hw`` is given."""
        if not isinstance(d, dict) or "layers" not in d:
            raise NeurosimError(f"{where}: not a neurosim mapping (expected fields version, hardware, layers, edges)")
        if d.get("version") != MAPPING_FORMAT_VERSION:
            raise NeurosimError(f"{where}: field 'version' = {d.get('version')!r}; allowed: {MAPPING_FORMAT_VERSION}")
        section = "hardware"
        try:
            if hw is None:
                from neurosim.hardware import load_hardware

                try:
                    hw = load_hardware(d["hardware"], d.get("hardware_sets") or None)
                except NeurosimError as exc:
                    from neurosim.errors import in_file

                    raise in_file(f"{where}: field 'hardware'", exc) from None
            layers = {}
            for i, ld in enumerate(d["layers"]):
                section = f"layers[{i}]"
                lm = LayerMapping.from_dict(ld, where)
                layers[lm.layer] = lm
            edges = []
            for i, ed in enumerate(d.get("edges", [])):
                section = f"edges[{i}]"
                if ed.get("payload") not in PAYLOADS:
                    raise NeurosimError(f"{where}: edge {ed.get('src')} -> {ed.get('dst')}: payload "
                                        f"{ed.get('payload')!r}; allowed: {', '.join(PAYLOADS)}")
                for n in (ed["src"], ed["dst"]):
                    if n not in layers:
                        raise NeurosimError(f"{where}: edge names unknown layer {n!r}")
                edges.append(EdgeRoutes(ed["src"], ed["dst"], ed["payload"], float(ed["messages_per_element"]),
                                        int(ed["bits"])))
            section = "(top level)"
            options = d.get("options") or {}
            if not isinstance(options, dict):
                raise NeurosimError(f"{where}: field 'options' = {options!r:.60}; allowed: a mapping")
            vb = options.get("value_bits", 24)
            if isinstance(vb, bool) or not isinstance(vb, int) or not 1 <= vb <= 64:
                raise NeurosimError(f"{where}: field 'options.value_bits' = {vb!r:.60}; allowed: an integer 1..64")
            base = options.get("serpentine_totals")
            if base is not None and not (isinstance(base, dict) and isinstance(base.get("hops", 0), (int, float))):
                raise NeurosimError(f"{where}: field 'options.serpentine_totals' = {base!r:.60}; allowed: a mapping "
                                    "of totals (as neurosim map writes it)")
            m = cls(hardware=d["hardware"], workload=d.get("workload", ""), layers=layers, edges=edges, hw=hw,
                    hardware_sets=list(d.get("hardware_sets") or []), convention=dict(d.get("convention") or {}),
                    seq_len=int(d.get("seq_len", 0)), strategy=d.get("strategy", "output"),
                    placement=d.get("placement", "serpentine"), options=dict(d.get("options") or {}),
                    notes=list(d.get("notes") or []), source=where if where != "mapping" else "")
            section = "layers (the pieces' places and ranges)"
            m.build_routes(hw)
        except (TypeError, KeyError, ValueError, AttributeError, IndexError, OverflowError) as exc:
            # a hand-edited or damaged file: one line naming the part that does not read
            what = f"lacks {exc}" if isinstance(exc, KeyError) else (str(exc).splitlines() or [""])[0][:120]
            raise NeurosimError(f"{where}: field {section}: not a valid saved mapping ({type(exc).__name__}: "
                                f"{what})") from None
        return m

    def save(self, path: str | Path) -> Path:
        """Write JSON (``.json``) or YAML (``.yaml``/``.yml``) atomically."""
        from neurosim.io import write_json_atomic, write_text_atomic

        path = Path(path)
        if path.suffix in (".yaml", ".yml"):
            import yaml

            return write_text_atomic(path, yaml.safe_dump(self.to_dict(), sort_keys=False))
        return write_json_atomic(path, self.to_dict())


def load_mapping(path: str | Path, hw: Hardware | None = None) -> Mapping:
    """Read a mapping saved with ``--out`` (JSON or YAML)."""
    path = Path(path)
    if not path.is_file():
        raise NeurosimError(f"mapping file not found: {path}")
    if path.suffix in (".yaml", ".yml"):
        from neurosim.io import load_yaml

        d = load_yaml(path)
    else:
        from neurosim.io import load_json

        d = load_json(path)
    return Mapping.from_dict(d, hw, where=str(path))


# --- route construction ------------------------------------------------------------------------------------------

_SRC_ROLES = {"partial_sum": ("synapse",), "kv_write": ("embedded",), "kv_read": ("kv",)}
_DST_ROLES = {"partial_sum": ("accumulator",), "kv_write": ("kv",), "kv_read": ("embedded",)}


def _routes(src: LayerMapping, dst: LayerMapping, e: EdgeRoutes, hw: Hardware | None) -> dict[str, np.ndarray]:
    """Every (source piece, destination piece) pair of an edge that shares elements, with its messages and hops."""
    if e.payload in _SRC_ROLES:
        sm, dm = src.mask(*_SRC_ROLES[e.payload]), dst.mask(*_DST_ROLES[e.payload])
    else:
        sm, dm = src.output_mask(), dst.input_mask()
    si, di = np.nonzero(sm)[0], np.nonzero(dm)[0]
    sp, dp = src.pieces, dst.pieces
    big = np.iinfo(np.int64).max // 4
    s_emb = sp["role"][si] == "embedded"
    d_emb = dp["role"][di] == "embedded"
    # an embedded op holds the whole vector: it sends any element and takes any element
    if e.payload == "kv_read":
        s_lo, s_hi = sp["in_lo"][si], sp["in_hi"][si]
    else:
        s_lo = np.where(s_emb, 0, sp["out_lo"][si])
        s_hi = np.where(s_emb, big, sp["out_hi"][si])
    d_lo = np.where(d_emb, 0, dp["in_lo"][di])
    d_hi = np.where(d_emb, big, dp["in_hi"][di])
    elements = np.minimum(s_hi[:, None], d_hi[None, :]) - np.maximum(s_lo[:, None], d_lo[None, :])
    both = s_emb[:, None] & d_emb[None, :]
    if both.any():
        width = (sp["out_hi"][si] - sp["out_lo"][si])[:, None] * np.ones(len(di), dtype=np.int64)[None, :]
        elements = np.where(both, width, elements)
    a, b = np.nonzero(elements > 0)
    src_piece, dst_piece = si[a], di[b]
    el = elements[a, b]
    if hw is None:
        z = np.zeros(len(el), dtype=np.int64)
        ew = ns = ch = z
    else:
        ew, ns, ch = hops(hw, (sp["chip"][src_piece], sp["x"][src_piece], sp["y"][src_piece]),
                          (dp["chip"][dst_piece], dp["x"][dst_piece], dp["y"][dst_piece]))
        # two embedded ops on the same chip talk through shared memory, not the mesh
        local = (sp["role"][src_piece] == "embedded") & (dp["role"][dst_piece] == "embedded") & \
                (sp["chip"][src_piece] == dp["chip"][dst_piece])
        el = np.where(local, 0, el)
        keep = el > 0
        src_piece, dst_piece, el, ew, ns, ch = (v[keep] for v in (src_piece, dst_piece, el, ew, ns, ch))
    return {
        "src_piece": src_piece.astype(np.int64),
        "dst_piece": dst_piece.astype(np.int64),
        "elements": el.astype(np.int64),
        "messages": el * float(e.messages_per_element),
        "hops_ew": np.asarray(ew, dtype=np.int64),
        "hops_ns": np.asarray(ns, dtype=np.int64),
        "hops_chip": np.asarray(ch, dtype=np.int64),
    }


def fused_pieces(linear: LayerMapping, lif: LayerMapping) -> np.ndarray:
    """For each piece of a fused LIF layer, the index of the Linear's output piece whose core it shares."""
    out = np.nonzero(linear.output_mask())[0]
    if len(out) != len(lif):
        raise NeurosimError(f"mapping: LIF layer {lif.layer} is fused with {linear.layer} but has {len(lif)} pieces "
                            f"for its {len(out)} output pieces; remap with `neurosim map`")
    return out


def global_core_index(hw: Hardware, lm: LayerMapping) -> np.ndarray:
    p = lm.pieces
    return core_index(hw, p["chip"], p["x"], p["y"], p["slot"])
