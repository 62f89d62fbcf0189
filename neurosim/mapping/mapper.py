"""The mapper: partition -> place -> route, producing a :class:`~neurosim.mapping.model.Mapping`.

Placement strategies:

* ``serpentine``: neuro pieces in layer order fill the usable cores of chip 0, then chip 1, ...; each chip's mesh is
  walked row by row, alternately east and west; chip ids run boustrophedon over the system grid. An embedded op runs
  on the chip of the last neuro piece before it, on the chip's embedded cores in turn.
* ``locality``: starts from serpentine (so it never uses more chips) and lowers traffic x hops: each embedded op
  moves to the chip and embedded core nearest (message-weighted) to the pieces it talks to, then the pieces of
  each chip are re-placed on that chip's cores by repeated linear assignment (scipy ``linear_sum_assignment``;
  the cost of a core is the message-weighted XY distance to every partner piece), keeping only moves that lower
  the chip's total hops. Total hops per token can only go down.
* a user file (``--mapping FILE``): either a whole mapping saved with ``--out`` or just
  ``{version: 1, placement: {layer: [[chip, x, y, slot], ...]}}`` (one address per neuro piece, in piece order;
  ``[[chip, embedded_core]]`` for an embedded op; ``{embedded: [chip, core], cores: [...]}`` for an attention op
  and its KV-cache cores), validated against the workload and the hardware.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.cost import soma_inputs
from neurosim.errors import DoesNotFit, NeurosimError
from neurosim.graph import AttentionScore, AttentionValue, Graph
from neurosim.hardware import Hardware
from neurosim.mapping.model import (
    MAPPING_FORMAT_VERSION,
    EdgeRoutes,
    LayerMapping,
    Mapping,
    _routes,
    fused_pieces,
)
from neurosim.mapping.partition import (
    NEURO_ROLES,
    PartitionOptions,
    pack,
    partition,
    spike_source,
    spikes_per_element,
)
from neurosim.mapping.routing import core_positions, global_coords

PLACEMENTS = ("serpentine", "locality")


def _cores_needed(groups: dict[str, np.ndarray]) -> int:
    return int(max((int(g.max(initial=-1)) for g in groups.values()), default=-1)) + 1


def map_graph(graph: Graph, hw: Hardware, opts: PartitionOptions | None = None, placement: str = "locality",
              user: dict[str, Any] | None = None, hardware_sets: list[str] | None = None,
              workload: str | None = None) -> Mapping:
    """Map ``graph`` onto ``hw``. Raises :class:`~neurosim.errors.DoesNotFit` when a layer fits no core or the model
    does not fit the system (saying by how much), :class:`NeurosimError` for bad options."""
    opts = opts or PartitionOptions()
    if placement not in PLACEMENTS and user is None:
        raise NeurosimError(f"--placement {placement!r}; allowed: {', '.join(PLACEMENTS)} (or --mapping FILE)")
    layers = partition(graph, hw, opts)
    groups = pack(layers, hw)
    need = _cores_needed(groups)
    if need > hw.total_cores:
        raise DoesNotFit(capacity_message(graph, hw, need, opts))
    edges = make_edges(graph, layers, hw, opts)
    notes = []
    if any(lm.placement == "host" for lm in layers.values()):
        notes.append("the embedding table stays in host DRAM; host-to-chip transfers are not counted")
    m = Mapping(hardware=hw.name, workload=workload or graph.meta.get("workload", graph.name), layers=layers,
                edges=edges, hw=hw, hardware_sets=list(hardware_sets or []),
                convention=dict(graph.meta.get("convention", {})),
                seq_len=int(graph.meta.get("seq_len", 0)), strategy=opts.strategy,
                placement="user" if user is not None else placement,
                options={"input_chunk": opts.input_chunk, "split_fan_in": opts.split_fan_in,
                         "kv_cache": opts.kv_cache, "value_bits": opts.value_bits},
                notes=notes)
    place_serpentine(m, hw, groups)
    if user is not None:
        apply_user_placement(m, user, hw)
    elif placement == "locality":
        m.build_routes(hw)
        m.options["serpentine_totals"] = m.totals()
        place_locality(m, hw, groups)
    m.build_routes(hw)
    m.check_coverage()
    m.check_limits(hw)
    return m


def capacity_message(graph: Graph, hw: Hardware, need: int, opts: PartitionOptions) -> str:
    """Why a model does not fit ``hw``, by how much, and which built-in system would hold it."""
    per_chip = hw.usable_cores_per_chip
    chips = need / per_chip
    msg = (f"{graph.meta.get('workload', graph.name)} needs {need} neuro cores ({chips:.1f} chips of {per_chip} "
           f"cores) but {hw.name} has {hw.total_cores} ({hw.n_chips} chip{'s' if hw.n_chips > 1 else ''}): short by "
           f"{need - hw.total_cores} cores ({need / hw.total_cores:.1f}x)")
    fits = []
    from neurosim.hardware import builtin_hardware, load_hardware

    for name in builtin_hardware():
        if name == hw.name:
            continue
        try:
            other = load_hardware(name)
            n = _cores_needed(pack(partition(graph, other, opts), other))
        except NeurosimError:
            continue
        if n <= other.total_cores:
            fits.append((other.total_cores, name, other.n_chips, n))
    if fits:
        total, name, nchips, n = min(fits)
        msg += (f"; {name} ({nchips} chips, {total} cores) holds it with {n} cores on "
                f"{math.ceil(n / load_hardware(name).usable_cores_per_chip)} chips: --hw {name}")
    else:
        msg += "; no built-in system holds it (describe a larger system in a hardware .yaml)"
    return msg


def make_edges(graph: Graph, layers: dict[str, LayerMapping], hw: Hardware, opts: PartitionOptions
               ) -> list[EdgeRoutes]:
    """The flows of one token: graph edges (spikes or graded values), partial sums, KV-cache reads and writes."""
    from neurosim.cost import run_shape_for

    msg_bits = hw.core.message_bits.v
    ctx = run_shape_for(graph).mean_context
    edges: list[EdgeRoutes] = []
    for src, dst in graph.edges:
        s = layers[src]
        if s.placement == "host" or src in soma_inputs(graph, dst):
            continue  # a Linear into the LIF on its own cores: nothing crosses the network between them
        if spike_source(graph[src]):
            bits = int(graph[src].bits) if getattr(graph[src], "graded", False) else 1
            per_event = float(math.ceil(bits / msg_bits))  # a graded payload wider than a message: one per chunk
            edges.append(EdgeRoutes(src, dst, "spike", spikes_per_element(graph[src]) * per_event,
                                    int(min(bits, msg_bits))))
        else:
            bits = opts.value_bits if s.placement == "neuro" else 16
            edges.append(EdgeRoutes(src, dst, "graded", float(math.ceil(bits / msg_bits)), int(min(bits, msg_bits))))
    for name, lm in layers.items():
        if lm.tiled:
            edges.append(EdgeRoutes(name, name, "partial_sum", float(math.ceil(opts.value_bits / msg_bits)),
                                    int(min(opts.value_bits, msg_bits))))
        layer = graph[name]
        if isinstance(layer, (AttentionScore, AttentionValue)) and lm.mask("kv").any():
            per = layer.kv_bits / msg_bits
            edges.append(EdgeRoutes(name, name, "kv_write", per, int(msg_bits)))
            edges.append(EdgeRoutes(name, name, "kv_read", per * ctx, int(msg_bits)))
    return edges


# --- serpentine ---------------------------------------------------------------------------------------------------


def place_serpentine(m: Mapping, hw: Hardware, groups: dict[str, np.ndarray]) -> None:
    """Layer-ordered fill of the usable cores (one core per packed group), chip after chip; an embedded op on the
    chip of the last core placed before it (or chip 0), on that chip's embedded cores in turn."""
    pos = core_positions(hw)
    per_chip = len(pos)
    last_chip = 0
    placed_any = False
    embedded_turn: dict[int, int] = {}
    pending: list[LayerMapping] = []
    n_emb = hw.chip.embedded.count.n
    attach = np.asarray(hw.chip.embedded.attach, dtype=np.int64)
    for name, lm in m.layers.items():
        p = lm.pieces
        g = groups[name]
        neuro = np.nonzero(g >= 0)[0]
        if len(neuro):
            idx = g[neuro]  # groups are numbered in order of first use: group i is the i-th core
            chip = idx // per_chip
            p["chip"][neuro] = chip
            p["x"][neuro], p["y"][neuro], p["slot"][neuro] = pos[idx % per_chip].T
            last_chip = int(chip.max())
            for q in pending:
                _put_embedded(q, int(chip.min()), embedded_turn, n_emb, attach)
            pending = []
            placed_any = True
        if lm.mask("embedded").any():
            if not placed_any:
                pending.append(lm)
            else:
                _put_embedded(lm, last_chip, embedded_turn, n_emb, attach)
        p["chip"][lm.mask("host")] = -1
    for q in pending:
        _put_embedded(q, 0, embedded_turn, n_emb, attach)


def _put_embedded(lm: LayerMapping, chip: int, turn: dict[int, int], n_emb: int, attach: np.ndarray) -> None:
    k = turn.get(chip, 0) % n_emb
    turn[chip] = k + 1
    m = lm.mask("embedded")
    lm.pieces["chip"][m] = chip
    lm.pieces["slot"][m] = k
    lm.pieces["x"][m], lm.pieces["y"][m] = attach[k]


# --- locality-aware -----------------------------------------------------------------------------------------------


class _Flat:
    """The placement problem in flat arrays: units (a neuro core's packed group, or one embedded op) with their
    positions, and the placement-independent traffic between units (messages per token, pairs merged)."""

    def __init__(self, m: Mapping, hw: Hardware, groups: dict[str, np.ndarray]):
        self.m, self.hw = m, hw
        self.names = list(m.layers)
        n_groups = int(max((int(g.max(initial=-1)) for g in groups.values()), default=-1)) + 1
        unit_of: dict[str, np.ndarray] = {}
        nxt = n_groups
        role, chip, x, y, slot = [], [], [], [], []
        first = {}
        for name in self.names:
            lm = m.layers[name]
            g = groups[name].copy()
            emb = np.nonzero(lm.mask("embedded"))[0]
            g[emb] = np.arange(nxt, nxt + len(emb))
            nxt += len(emb)
            unit_of[name] = g
            for k in np.nonzero(g >= 0)[0]:
                if int(g[k]) not in first:
                    first[int(g[k])] = (lm.pieces["role"][k], lm.pieces["chip"][k], lm.pieces["x"][k],
                                        lm.pieces["y"][k], lm.pieces["slot"][k])
        for u in range(nxt):
            r, c, xx, yy, ss = first[u]
            role.append("embedded" if r == "embedded" else "neuro")
            chip.append(c)
            x.append(xx)
            y.append(yy)
            slot.append(ss)
        self.unit_of = unit_of
        self.emb = np.asarray(role, dtype=object) == "embedded"
        self.chip, self.x, self.y, self.slot = (np.asarray(v, dtype=np.int64) for v in (chip, x, y, slot))
        self.gx, self.gy, self.gz = (np.zeros(nxt, dtype=np.int64) for _ in range(3))
        self.refresh(np.arange(nxt))
        us, vs, ms = [], [], []
        for e in m.edges:
            r = _routes(m.layers[e.src], m.layers[e.dst], e, None)
            us.append(unit_of[e.src][r["src_piece"]])
            vs.append(unit_of[e.dst][r["dst_piece"]])
            ms.append(r["messages"])
        u = np.concatenate(us) if us else np.zeros(0, dtype=np.int64)
        v = np.concatenate(vs) if vs else np.zeros(0, dtype=np.int64)
        w = np.concatenate(ms) if ms else np.zeros(0)
        live = (u >= 0) & (v >= 0) & (u != v) & (w > 0)
        u, v, w = u[live], v[live], w[live]
        a, b = np.minimum(u, v), np.maximum(u, v)
        key = a * nxt + b
        uniq, inv = np.unique(key, return_inverse=True)
        self.u, self.v = uniq // nxt, uniq % nxt
        self.w = np.bincount(inv, weights=w, minlength=len(uniq))
        self.both_emb = self.emb[self.u] & self.emb[self.v]

    def refresh(self, idx: np.ndarray) -> None:
        """Recompute global router coordinates of the given units after a move."""
        idx = np.asarray(idx)
        gx, gy, gz, _, _ = global_coords(self.hw, np.maximum(self.chip[idx], 0), self.x[idx], self.y[idx])
        self.gx[idx], self.gy[idx], self.gz[idx] = gx, gy, gz

    def cost(self, rows: np.ndarray) -> float:
        """Message-weighted hops (on-chip + chip-to-chip) of the given traffic rows."""
        u, v = self.u[rows], self.v[rows]
        d = np.abs(self.gx[u] - self.gx[v]) + np.abs(self.gy[u] - self.gy[v]) + np.abs(self.gz[u] - self.gz[v])
        local = self.both_emb[rows] & (self.chip[u] == self.chip[v])
        return float((self.w[rows] * np.where(local, 0, d)).sum())

    def rows_by_node(self) -> tuple[np.ndarray, np.ndarray]:
        """(sorted endpoint ids, row ids): rows touching unit n are rows[searchsorted range of n]."""
        ends = np.concatenate([self.u, self.v])
        rows = np.concatenate([np.arange(len(self.u)), np.arange(len(self.u))])
        order = np.argsort(ends, kind="stable")
        return ends[order], rows[order]

    def write_back(self) -> None:
        for name in self.names:
            lm = self.m.layers[name]
            g = self.unit_of[name]
            k = np.nonzero(g >= 0)[0]
            for col, arr in (("chip", self.chip), ("x", self.x), ("y", self.y), ("slot", self.slot)):
                lm.pieces[col][k] = arr[g[k]]


def place_locality(m: Mapping, hw: Hardware, groups: dict[str, np.ndarray], rounds: int = 3) -> None:
    """Lower message-weighted hops: move embedded ops next to their partners, then re-place each chip's cores by
    iterated linear assignment, keeping only improving moves."""
    f = _Flat(m, hw, groups)
    if len(f.u) == 0:
        return
    _place_embedded(f, hw)
    _refine_chips(f, hw, rounds)
    _place_embedded(f, hw)
    f.write_back()


def _place_embedded(f: _Flat, hw: Hardware) -> None:
    """Each embedded op to the (chip, embedded core) that minimises its own message-weighted hops."""
    attach = np.asarray(hw.chip.embedded.attach, dtype=np.int64)
    emb = np.nonzero(f.emb)[0]
    ends, rows_all = f.rows_by_node()
    starts = np.searchsorted(ends, emb, side="left")
    stops = np.searchsorted(ends, emb, side="right")
    for e, a, b in zip(emb, starts, stops):
        rows = rows_all[a:b]
        if len(rows) == 0:
            continue
        partners = np.where(f.u[rows] == e, f.v[rows], f.u[rows])
        cand_chips = np.union1d(np.unique(f.chip[partners][~f.emb[partners]]), [f.chip[e]])
        best = (f.cost(rows), f.chip[e], f.slot[e])
        for c in cand_chips:
            for k in range(len(attach)):
                f.chip[e], f.slot[e] = c, k
                f.x[e], f.y[e] = attach[k]
                f.refresh([e])
                cost = f.cost(rows)
                if cost < best[0] - 1e-9:
                    best = (cost, c, k)
        f.chip[e], f.slot[e] = best[1], best[2]
        f.x[e], f.y[e] = attach[best[2]]
        f.refresh([e])


def _refine_chips(f: _Flat, hw: Hardware, rounds: int) -> None:
    """Per chip: cost of putting member i on core l = sum of message-weighted XY distances to its partners
    (separable in x and y, so built from W + H columns); solve the assignment, keep it if the chip's hops drop."""
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import csr_matrix

    pos = core_positions(hw)
    w_mesh, h_mesh, _ = hw.mesh_shape
    neuro = ~f.emb
    chips = np.unique(f.chip[neuro])
    xs, ys = np.arange(w_mesh), np.arange(h_mesh)
    # chips do not change here: the traffic rows touching each chip, and the chips each chip talks to, once
    cu, cv = f.chip[f.u], f.chip[f.v]
    ends = np.concatenate([cu, cv])
    rows_cat = np.concatenate([np.arange(len(f.u)), np.arange(len(f.u))])
    order = np.argsort(ends, kind="stable")
    ends, rows_cat = ends[order], rows_cat[order]
    chip_rows, chip_partners = {}, {}
    for c in chips:
        a, b = np.searchsorted(ends, c, side="left"), np.searchsorted(ends, c, side="right")
        rows = np.unique(rows_cat[a:b])
        chip_rows[int(c)] = rows
        chip_partners[int(c)] = np.union1d(np.unique(cu[rows]), np.unique(cv[rows]))
    changed = {int(c): True for c in chips}
    for _ in range(rounds):
        gained = 0.0
        moved_chips = set()
        for c in chips:
            members = np.nonzero(neuro & (f.chip == c))[0]
            rows = chip_rows[int(c)]
            if len(rows) == 0 or len(members) == 0:
                continue
            if not any(changed.get(int(pc), False) for pc in chip_partners[int(c)]):
                continue
            before = f.cost(rows)
            local = -np.ones(len(f.emb), dtype=np.int64)
            local[members] = np.arange(len(members))
            eu, ev = f.u[rows], f.v[rows]
            i = np.concatenate([local[eu], local[ev]])
            partner = np.concatenate([ev, eu])
            wt = np.concatenate([f.w[rows], f.w[rows]])
            keep = i >= 0
            i, partner, wt = i[keep], partner[keep], wt[keep]
            ox, oy = f.gx[members[0]] - f.x[members[0]], f.gy[members[0]] - f.y[members[0]]
            px, py = f.gx[partner] - ox, f.gy[partner] - oy
            a_mat = csr_matrix((wt, (i, np.arange(len(i)))), shape=(len(members), len(i)))
            cx = np.asarray(a_mat @ np.abs(px[:, None] - xs[None, :]))
            cy = np.asarray(a_mat @ np.abs(py[:, None] - ys[None, :]))
            cost = cx[:, pos[:, 0]] + cy[:, pos[:, 1]]
            r, col = linear_sum_assignment(cost)
            old = (f.x[members].copy(), f.y[members].copy(), f.slot[members].copy())
            f.x[members[r]], f.y[members[r]], f.slot[members[r]] = pos[col, 0], pos[col, 1], pos[col, 2]
            f.refresh(members)
            after = f.cost(rows)
            if after < before - 1e-9:
                gained += before - after
                moved_chips.add(int(c))
            else:
                f.x[members], f.y[members], f.slot[members] = old
                f.refresh(members)
        changed = {int(c): (int(c) in moved_chips) for c in chips}
        if gained <= 0:
            break


# --- user placement -----------------------------------------------------------------------------------------------


def read_user_file(path: str | Path) -> dict[str, Any]:

    from neurosim.io import load_yaml

    path = Path(path)
    if not path.is_file():
        raise NeurosimError(f"mapping file not found: {path}")
    if path.suffix == ".json":
        from neurosim.io import load_json

        d = load_json(path)
    else:
        d = load_yaml(path)
    if not isinstance(d, dict):
        raise NeurosimError(f"{path}: expected a mapping with 'placement' (or a saved mapping with 'layers')")
    d["_where"] = str(path)
    return d


def apply_user_placement(m: Mapping, d: dict[str, Any], hw: Hardware) -> None:
    """Set piece addresses from a user file; every neuro piece of every layer must be given a core. A file of the
    wrong shape (a hand edit, a damaged file) is one error naming it, never a traceback."""
    try:
        _apply_user_placement(m, d, hw)
    except (TypeError, AttributeError, KeyError, ValueError, IndexError, OverflowError) as exc:
        where = d.get("_where", "mapping file")
        field = "layers" if "layers" in d else "placement"
        why = f"lacks {exc}" if isinstance(exc, KeyError) else (str(exc).splitlines() or [""])[0][:120]
        raise NeurosimError(f"{where}: field '{field}': not a valid placement ({type(exc).__name__}: {why}); "
                            "allowed: {layer: [[chip, x, y, slot], ...]} or a mapping saved with --out") from None


def _apply_user_placement(m: Mapping, d: dict[str, Any], hw: Hardware) -> None:
    where = d.get("_where", "mapping file")
    if d.get("version", MAPPING_FORMAT_VERSION) != MAPPING_FORMAT_VERSION:
        raise NeurosimError(f"{where}: field 'version' = {d.get('version')!r}; allowed: {MAPPING_FORMAT_VERSION}")
    if "layers" in d:  # a whole saved mapping: take its addresses, after checking it cuts layers the same way
        if d.get("hardware") not in (None, hw.name):
            raise NeurosimError(f"{where}: made for hardware {d.get('hardware')!r}, not {hw.name!r}")
        if d.get("workload") not in (None, m.workload):
            raise NeurosimError(f"{where}: made for workload {d.get('workload')!r}, not {m.workload!r}")
        placement = {}
        for ld in d["layers"]:
            p = ld.get("pieces", {})
            name = ld.get("layer")
            if name not in m.layers:
                raise NeurosimError(f"{where}: layer {name!r} is not in workload {m.workload!r}")
            lm = m.layers[name]
            for c in ("in_lo", "in_hi", "out_lo", "out_hi"):
                if list(p.get(c, [])) != lm.pieces[c].tolist():
                    raise NeurosimError(f"{where}: layer {name} is cut differently from this partition (field "
                                        f"{c}); remap, or give only 'placement'")
            placement[name] = [list(t) for t in zip(p["chip"], p["x"], p["y"], p["slot"])]
    else:
        placement = d.get("placement")
        if not isinstance(placement, dict):
            raise NeurosimError(f"{where}: missing field 'placement' (layer -> list of [chip, x, y, slot])")
    unknown = [n for n in placement if n not in m.layers]
    if unknown:
        raise NeurosimError(f"{where}: placement names layer {unknown[0]!r}, which workload {m.workload!r} lacks")
    attach = hw.chip.embedded.attach
    for name, lm in m.layers.items():
        neuro = np.nonzero(lm.mask(*NEURO_ROLES))[0]
        emb = np.nonzero(lm.mask("embedded"))[0]
        if not len(neuro) and not len(emb):
            continue
        given = placement.get(name)
        if given is None and lm.fused_with:  # a fused LIF sits on its Linear's output cores
            src = m.layers[lm.fused_with]
            idx = fused_pieces(src, lm)
            for col in ("chip", "x", "y", "slot"):
                lm.pieces[col][:] = src.pieces[col][idx]
            continue
        if given is None:
            raise NeurosimError(f"{where}: placement lacks layer {name!r} ({len(neuro) or 1} piece(s))")
        if "layers" in d:
            arr = _addresses(given, 4, where, name)
            for col, v in zip(("chip", "x", "y", "slot"), arr.T):
                lm.pieces[col][:] = v
            continue
        # short form: a list of [chip, x, y, slot] (neuro pieces) or [[chip, core]] (an embedded op); a layer with
        # both (attention + its KV cache) takes {embedded: [chip, core], cores: [[chip, x, y, slot], ...]}
        if isinstance(given, dict):
            cores, embedded = given.get("cores", []), given.get("embedded")
            embedded = [embedded] if embedded is not None else None
        elif len(emb):
            cores, embedded = [], given
        else:
            cores, embedded = given, None
        if len(neuro):
            if len(cores) != len(neuro):
                raise NeurosimError(f"{where}: layer {name} has {len(neuro)} pieces on this hardware; the file gives "
                                    f"{len(cores)} cores" + (" (give {embedded: [chip, core], cores: [...]})"
                                                             if len(emb) else ""))
            arr = _addresses(cores, 4, where, name)
            for col, v in zip(("chip", "x", "y", "slot"), arr.T):
                lm.pieces[col][neuro] = v
        if len(emb):
            arr = _addresses(embedded, 2, where, name) if embedded is not None else np.zeros((0, 2))
            if len(arr) != 1:
                raise NeurosimError(f"{where}: layer {name} runs on one embedded core: give [[chip, core]]")
            chip, k = int(arr[0, 0]), int(arr[0, 1])
            if not 0 <= k < len(attach):
                raise NeurosimError(f"{where}: layer {name}: embedded core {k}; allowed: 0..{len(attach) - 1}")
            lm.pieces["chip"][emb], lm.pieces["slot"][emb] = chip, k
            lm.pieces["x"][emb], lm.pieces["y"][emb] = attach[k]


def _addresses(given: Any, width: int, where: str, name: str) -> np.ndarray:
    try:
        arr = np.asarray(given, dtype=np.int64)
    except (TypeError, ValueError):
        arr = np.zeros((0,))
    if arr.ndim != 2 or arr.shape[1] != width:
        shape = "[chip, x, y, slot]" if width == 4 else "[chip, embedded_core]"
        raise NeurosimError(f"{where}: layer {name}: expected a list of {shape}")
    return arr
