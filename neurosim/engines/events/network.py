"""The interconnect as the simulator sees it: every directed router-to-router link of the system, the XY-then-Z path
of a message over them, and the links' state (when each is next free, how long it has been busy).

The chips of one z-plane form one global mesh (as in :mod:`neurosim.mapping.routing`); a message goes along x,
then y, then z. Links are directed (a full-duplex link is two links). A link that crosses a chip boundary (and
every z link) is a chip-to-chip link. A link serves one message at a time: an on-chip link in
``1 / tile_spike_bandwidth`` (the router's published spike rate), a chip-to-chip link in
``packet_bits / link bandwidth``. An XY-then-Z path is at most three runs of consecutive links (one per leg), so an
edge bundle's incidence is kept as runs, and the load of every link in a step is what each run adds where it starts
and removes after it ends, summed by bincounts, then a running sum: never a loop over messages, and no path expanded
link by link (fractional per-token loads, which a running sum would not add exactly, go through the link x route
matrix, expanded once for that bundle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from neurosim.hardware import Hardware
from neurosim.mapping.routing import global_coords


def ragged_arange(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner index, value) of the concatenated ranges ``starts[i] + arange(lengths[i])``."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    owner = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    if total == 0:
        return owner, np.zeros(0, dtype=np.int64)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return owner, np.repeat(np.asarray(starts, dtype=np.int64), lengths) + offsets


def index_unique(idx: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(idx, return_inverse=True)`` of indices in ``[0, n)`` (a layer's piece numbers): the distinct
    ones ascending and where each entry falls, from a table of the ones present rather than a sort."""
    idx = np.asarray(idx, dtype=np.int64)
    seen = np.zeros(n, dtype=bool)
    seen[idx] = True
    return np.flatnonzero(seen), (np.cumsum(seen) - 1)[idx]


def sum_rows(idx: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """``np.add.at(zeros((n, k)), idx, values)``: the rows of ``values`` summed by index, each sum in row order (as
    ``np.add.at`` adds them): a column at a time, or, for a small array of many columns (a batch of blocks' steps),
    all columns in one bincount over (index, column) cells, which adds each cell's values in the same row order."""
    k = values.shape[1]
    if k > 8 and values.size <= 1 << 18:
        cells = (np.asarray(idx, dtype=np.int64)[:, None] * k + np.arange(k)).reshape(-1)
        return np.bincount(cells, weights=np.asarray(values, dtype=float).reshape(-1), minlength=n * k).reshape(n, k)
    out = np.empty((n, k))
    for j in range(k):
        out[:, j] = np.bincount(idx, weights=values[:, j], minlength=n)
    return out


@dataclass
class LinkIncidence:
    """Which links the routes of one edge bundle cross, as runs: on an XY-then-Z path a route's links on one leg are
    consecutive links of one mesh row (or column, or z stack) in one direction, so its path is at most three runs.
    ``links`` (ascending ids) are the links some route crosses; ``service_ns[l]`` is link ``links[l]``'s time per
    message. The runs are kept in "run order", where every run is a range of consecutive positions
    (``run_route``, ``run_first``, ``run_len``) and ``run_pos[i]`` is the place in ``links`` of the i-th link in
    run order."""

    links: np.ndarray
    service_ns: np.ndarray
    n_routes: int
    run_route: np.ndarray
    run_first: np.ndarray
    run_len: np.ndarray
    run_pos: np.ndarray
    _matrix: object = None

    @property
    def matrix(self) -> object:
        """``matrix[l, r] = 1`` when route r crosses link ``links[l]`` (scipy.sparse, n_links x n_routes; built when
        first asked)."""
        if self._matrix is None:
            from scipy.sparse import csc_matrix

            own, local = ragged_arange(self.run_first, self.run_len)
            self._matrix = csc_matrix((np.ones(len(local)), (self.run_pos[local], self.run_route[own])),
                                      shape=(len(self.links), self.n_routes))
        return self._matrix

    def loads(self, messages: np.ndarray) -> np.ndarray:
        """Messages on every crossed link for messages per route (routes, or routes x steps): any values (whole
        numbers go by :meth:`count_loads`, the same sums; others through the link x route matrix)."""
        messages = np.asarray(messages, dtype=float)
        if np.array_equal(messages, np.floor(messages)) and 2.0 * np.abs(messages).sum() < 2.0 ** 53:
            return self.count_loads(messages)
        return np.asarray(self.matrix @ messages)

    def count_loads(self, messages: np.ndarray) -> np.ndarray:
        """:meth:`loads` for whole numbers of messages (spike counts), from the runs alone: each run adds its
        route's messages where it starts and takes them away just after it ends, and a running sum in run order
        gives every link's load: two bincounts over the runs (at most three a route, where the link x route matrix
        has an entry per link of the path) and no path expanded. Integer-valued sums are exact in floating point
        (below 2**53), so this equals the matrix's product exactly."""
        if len(self.links) == 0:
            shape = (0,) if messages.ndim == 1 else (0, messages.shape[1])
            return np.zeros(shape)
        n = len(self.links) + 1
        w = messages[self.run_route]
        starts, ends = self.run_first, self.run_first + self.run_len
        if messages.ndim == 1:  # one bincount for the starts and one for the ends, each an exact sum
            return self.loads_from_ends(np.bincount(starts, w, n) - np.bincount(ends, w, n))
        return self.loads_from_ends(sum_rows(starts, w, n) - sum_rows(ends, w, n))

    def loads_from_ends(self, ends: np.ndarray) -> np.ndarray:
        """Link loads from the messages added at each run-order position ((links + 1) x steps, the last row the
        ends past the last link): their running sum, put in ``links`` order."""
        out = np.empty((len(self.links),) + ends.shape[1:])
        out[self.run_pos] = np.cumsum(ends[:-1], axis=0)
        return out


class Mesh:
    """Directed links of a system's global mesh and the paths messages take over them."""

    def __init__(self, hw: Hardware):
        w, h, _ = hw.mesh_shape
        gx, gy, gz = hw.grid_shape
        self.hw = hw
        self.w, self.h = w, h
        self.gx, self.gy, self.gz = gx * w, gy * h, gz
        self.n_x = self.gz * self.gy * max(self.gx - 1, 0) * 2
        self.n_y = self.gz * self.gx * max(self.gy - 1, 0) * 2
        self.n_z = self.gx * self.gy * max(self.gz - 1, 0) * 2
        self.n_links = self.n_x + self.n_y + self.n_z
        self.onchip_service_ns = 1e9 / hw.chip.tile_spike_bandwidth.v
        self.chip_service_ns = hw.packet_bits / (8.0 * hw.system.chip_link.bandwidth.v) * 1e9

    # --- paths ------------------------------------------------------------------------------------------------------
    def paths(self, src: tuple[np.ndarray, np.ndarray, np.ndarray], dst: tuple[np.ndarray, np.ndarray, np.ndarray]
              ) -> tuple[np.ndarray, np.ndarray]:
        """(route index, link id) pairs of the XY-then-Z paths from routers ``src = (chip, x, y)`` to ``dst``."""
        owners, ids, _, _ = self._legs(src, dst)
        if not owners:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(owners), np.concatenate(ids)

    def routers(self, chip: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Global router coordinates (x, y, z) of routers ``(chip, x, y)``, as int64."""
        gx, gy, gz, _, _ = global_coords(self.hw, chip, x, y)
        return tuple(np.asarray(v, dtype=np.int64) for v in (gx, gy, gz))

    def _runs(self, src: tuple[np.ndarray, np.ndarray, np.ndarray], dst: tuple[np.ndarray, np.ndarray, np.ndarray],
              routers: bool = False) -> tuple[list[tuple[np.ndarray, ...]], np.ndarray]:
        """Every route's path as runs of links, leg by leg (x, then y, then z): per leg (the routes that have one,
        the id of the run's lowest link, its number of links, where the run starts in its route's path; the links
        of a run are 2 ids apart), and every route's number of links. ``routers``: the ends are already global
        router coordinates (:meth:`routers`), not ``(chip, x, y)``."""
        sx, sy, sz = src if routers else self.routers(*src)
        dx, dy, dz = dst if routers else self.routers(*dst)
        runs = []
        before = np.zeros(len(sx), dtype=np.int64)  # links of the earlier legs of each route
        for leg in ("x", "y", "z"):
            a, b = {"x": (sx, dx), "y": (sy, dy), "z": (sz, dz)}[leg]
            lo, n, back = np.minimum(a, b), np.abs(b - a), (b < a).astype(np.int64)
            r = np.flatnonzero(n)
            if len(r):
                if leg == "x":  # along the source row and plane
                    first = ((sz[r] * self.gy + sy[r]) * (self.gx - 1) + lo[r]) * 2 + back[r]
                elif leg == "y":  # along the destination column, still in the source plane
                    first = self.n_x + ((sz[r] * self.gx + dx[r]) * (self.gy - 1) + lo[r]) * 2 + back[r]
                else:  # at the destination router position
                    first = self.n_x + self.n_y + ((dy[r] * self.gx + dx[r]) * (self.gz - 1) + lo[r]) * 2 + back[r]
                runs.append((r, first, n[r], before[r]))
            before = before + n
        return runs, before

    def _legs(self, src: tuple[np.ndarray, np.ndarray, np.ndarray], dst: tuple[np.ndarray, np.ndarray, np.ndarray]
              ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], np.ndarray]:
        """The runs of :meth:`_runs` expanded link by link: per leg (route index, link id, position of the link
        within its route's path), and every route's number of links."""
        runs, per_route = self._runs(src, dst)
        owners, ids, steps = [], [], []
        for r, first, n, before in runs:
            own, k = ragged_arange(np.zeros(len(r), dtype=np.int64), n)
            owners.append(r[own])
            ids.append(first[own] + 2 * k)
            steps.append(before[own] + k)
        return owners, ids, steps, per_route

    def is_chip_link(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        out = ids >= self.n_x + self.n_y  # every z link joins two chips
        xm = ids < self.n_x
        if self.gx > 1:
            pos = (ids[xm] // 2) % (self.gx - 1)
            out[xm] = (pos + 1) % self.w == 0
        ym = (ids >= self.n_x) & (ids < self.n_x + self.n_y)
        if self.gy > 1:
            pos = ((ids[ym] - self.n_x) // 2) % (self.gy - 1)
            out[ym] = (pos + 1) % self.h == 0
        return out

    def incidence(self, src: tuple[np.ndarray, np.ndarray, np.ndarray], dst: tuple[np.ndarray, np.ndarray, np.ndarray],
                  routers: bool = False) -> LinkIncidence:
        """The links routes from routers ``src = (chip, x, y)`` to ``dst`` cross, as runs (no path is expanded);
        ``routers``: the ends are given as global router coordinates (:meth:`routers`).

        A link's "key" is its direction times half the links plus half its id: the links of a run have consecutive
        keys. The union of the runs' key ranges, merged where they overlap or touch, puts every crossed link at a
        position ("run order") where each run is a range of consecutive positions."""
        n_routes = len(np.asarray(src[0]))
        runs, _ = self._runs(src, dst, routers)
        if not runs:
            e = np.zeros(0, dtype=np.int64)
            return LinkIncidence(e, np.zeros(0), n_routes, e, e, e, e)
        half = self.n_links // 2
        route = np.concatenate([r for r, _, _, _ in runs])
        first = np.concatenate([f for _, f, _, _ in runs])
        length = np.concatenate([n for _, _, n, _ in runs])
        key = (first % 2) * half + first // 2
        order = np.argsort(key)  # keys that tie give the same merged ranges in any order
        lo, hi = key[order], (key + length)[order]
        reach = np.maximum.accumulate(hi)
        starts = np.flatnonzero(np.concatenate([[True], lo[1:] > reach[:-1]]))  # a new range of keys begins
        k_lo = lo[starts]
        k_len = reach[np.append(starts[1:], len(lo)) - 1] - k_lo
        offset = np.cumsum(k_len) - k_len
        which = np.searchsorted(k_lo, key, side="right") - 1
        run_first = offset[which] + key - k_lo[which]
        _, keys = ragged_arange(k_lo, k_len)
        ids = (keys % half) * 2 + keys // half
        by_id = np.argsort(ids, kind="stable")  # two ascending runs (one a direction): merged in one pass
        links = ids[by_id]
        run_pos = np.empty(len(ids), dtype=np.int64)
        run_pos[by_id] = np.arange(len(ids), dtype=np.int64)
        return LinkIncidence(links, self.service_ns[links], n_routes, route, run_first, length, run_pos)

    @cached_property
    def service_ns(self) -> np.ndarray:
        """Every link's time per message (chip-to-chip or on-chip), worked out once for the system."""
        chip = self.is_chip_link(np.arange(self.n_links, dtype=np.int64))
        return np.where(chip, self.chip_service_ns, self.onchip_service_ns)

    def endpoints(self, ids: np.ndarray) -> tuple[np.ndarray, ...]:
        """Global router coordinates (ax, ay, az, bx, by, bz) of each link's two ends (a = lower coordinate)."""
        ids = np.asarray(ids, dtype=np.int64)
        ax, ay, az = (np.zeros(len(ids), dtype=np.int64) for _ in range(3))
        bx, by, bz = ax.copy(), ay.copy(), az.copy()
        m = ids < self.n_x
        if m.any():
            pos = ids[m] // 2
            x = pos % (self.gx - 1)
            z, y = np.divmod(pos // (self.gx - 1), self.gy)
            ax[m], ay[m], az[m], bx[m], by[m], bz[m] = x, y, z, x + 1, y, z
        m = (ids >= self.n_x) & (ids < self.n_x + self.n_y)
        if m.any():
            pos = (ids[m] - self.n_x) // 2
            y = pos % (self.gy - 1)
            z, x = np.divmod(pos // (self.gy - 1), self.gx)
            ax[m], ay[m], az[m], bx[m], by[m], bz[m] = x, y, z, x, y + 1, z
        m = ids >= self.n_x + self.n_y
        if m.any():
            pos = (ids[m] - self.n_x - self.n_y) // 2
            z = pos % (self.gz - 1)
            y, x = np.divmod(pos // (self.gz - 1), self.gx)
            ax[m], ay[m], az[m], bx[m], by[m], bz[m] = x, y, z, x, y, z + 1
        return ax, ay, az, bx, by, bz

    def describe(self, link: int) -> str:
        """A link id in words: ``x(z=0,y=3,7->8)``."""
        link = int(link)
        d = link % 2
        if link < self.n_x:
            pos = link // 2
            x = pos % (self.gx - 1)
            zy = pos // (self.gx - 1)
            z, y = divmod(zy, self.gy)
            a, b = (x, x + 1) if d == 0 else (x + 1, x)
            return f"link x(z={z},y={y},{a}->{b})"
        if link < self.n_x + self.n_y:
            pos = (link - self.n_x) // 2
            y = pos % (self.gy - 1)
            zx = pos // (self.gy - 1)
            z, x = divmod(zx, self.gx)
            a, b = (y, y + 1) if d == 0 else (y + 1, y)
            return f"link y(z={z},x={x},{a}->{b})"
        pos = (link - self.n_x - self.n_y) // 2
        z = pos % (self.gz - 1)
        yx = pos // (self.gz - 1)
        y, x = divmod(yx, self.gx)
        a, b = (z, z + 1) if d == 0 else (z + 1, z)
        return f"link z(x={x},y={y},{a}->{b})"


class LinkState:
    """Every link as a FIFO server: when it is next free and how long it has been busy (vectorized over links).

    A bundle of messages that enters the network at time ``t`` keeps each link it loads busy from
    ``max(t, free_at)`` for ``load x service`` ns; the bundle has drained when its busiest link has. With
    ``carry=False`` (synchronous mode, where each time step ends with the network drained) links start free.
    """

    def __init__(self, mesh: Mesh, carry: bool):
        self.mesh = mesh
        self.carry = carry
        self.free_at = np.zeros(mesh.n_links) if carry else None
        self.busy_ns = np.zeros(mesh.n_links)
        self.messages = np.zeros(mesh.n_links)

    def drain(self, inc: LinkIncidence, loads: np.ndarray, now: float, service: np.ndarray | None = None,
              count: bool = True, loaded: np.ndarray | None = None) -> tuple[float, int]:
        """Send ``loads`` (messages per link of ``inc``) at ``now``; (ns until the last link is done, that link).
        ``service``: ``loads x inc.service_ns`` and ``loaded``: ``loads > 0`` as 1.0 / 0.0, when the caller has
        them; ``count=False``: the caller counts the messages (:meth:`count`)."""
        links = inc.links
        if len(links) == 0:
            return 0.0, -1
        if service is None:
            service = loads * inc.service_ns
        self.busy_ns[links] += service
        if count:
            self.messages[links] += loads
        if self.carry:
            # a loaded link is busy from max(free, now); an unloaded one keeps its time (free >= 0, service 0):
            # max(free, now x loaded) + service is both. The largest end past ``now`` (what is returned when the
            # network is late) is the same as with every link's end taken from max(free, now)
            if loaded is None:
                loaded = (loads > 0).astype(float)
            end = np.maximum(self.free_at[links], now * loaded)
            end += service
            self.free_at[links] = end
            i = int(end.argmax())
            return float(max(end[i] - now, 0.0)), int(links[i])
        i = int(service.argmax())
        return float(service[i]), int(links[i])

    def count(self, inc: LinkIncidence, loads: np.ndarray) -> None:
        """Count ``loads`` messages on the links of ``inc`` (what :meth:`drain` counts, for many drains at once)."""
        if len(inc.links):
            self.messages[inc.links] += loads


# --- back-pressure: finite link buffers ------------------------------------------------------------------------------
class Grouping:
    """Rows of an index array grouped by value, for an unbuffered ``np.maximum.at(a, idx, values)`` done as one
    sort (built once) and one ``np.maximum.reduceat`` per call; the maximum is exact, so the result is the same."""

    def __init__(self, idx: np.ndarray):
        idx = np.asarray(idx, dtype=np.int64)
        self.n = len(idx)
        self.perm = np.argsort(idx, kind="stable")
        si = idx[self.perm]
        self.starts = np.flatnonzero(np.concatenate([[True], si[1:] != si[:-1]])) if len(si) else \
            np.zeros(0, dtype=np.int64)
        self.rows = si[self.starts]

    def maximum_into(self, a: np.ndarray, values: np.ndarray) -> None:
        """``np.maximum.at(a, idx, values)`` (``values``: one row per index)."""
        if not self.n:
            return
        red = np.maximum.reduceat(values[self.perm], self.starts, axis=0)
        a[self.rows] = np.maximum(a[self.rows], red)

    def maxima(self, values: np.ndarray, n: int) -> np.ndarray:
        """The largest row of ``values`` per index, as ``n`` rows (0 where an index has none; ``values`` >= 0)."""
        out = np.zeros((n,) + values.shape[1:])
        if self.n:
            out[self.rows] = np.maximum.reduceat(values[self.perm], self.starts, axis=0)
        return out


@dataclass
class SenderOrder:
    """The order in which a step's messages leave their sending cores, for the back-pressure term.

    A core processes its neurons in order (its pieces one after the other, each in element order) and a neuron that
    fires sends one message per destination core, so a sender's messages leave in that order: each piece's element
    range cut at every boundary of its routes' intervals gives **blocks**; within a block every route that covers it
    takes one message per spike (interleaved), while consecutive blocks follow one another. ``senders``: the
    sending cores; ``piece_sender`` / ``route_sender``: each source piece's / route's sender; ``block_*`` the
    blocks (piece, segment bounds, element width); ``pair_*`` every (route, block) the route covers;
    ``blocks_at[k]`` / ``pairs_at[k]`` the blocks and pairs at position ``k`` of their sender's order."""

    senders: np.ndarray
    piece_sender: np.ndarray
    route_sender: np.ndarray
    block_piece: np.ndarray
    block_lo: np.ndarray
    block_hi: np.ndarray
    block_width: np.ndarray
    pair_route: np.ndarray
    pair_block: np.ndarray
    blocks_at: list[np.ndarray]
    pairs_at: list[np.ndarray]
    _groupings: dict = field(default_factory=dict)

    def grouping(self, key: int, idx: np.ndarray) -> Grouping:
        """The :class:`Grouping` of ``idx``, kept under ``key`` (the same index array on every call with that
        key: the senders of the pairs at one position of the order, or -1 for every route's sender)."""
        g = self._groupings.get(key)
        if g is None:
            g = self._groupings[key] = Grouping(idx)
        return g

    @property
    def block_sender(self) -> np.ndarray:
        return self.piece_sender[self.block_piece]

    @classmethod
    def of(cls, piece_core: np.ndarray, src_lo: np.ndarray, src_hi: np.ndarray, r_src: np.ndarray,
           r_lo: np.ndarray, r_hi: np.ndarray, seg: np.ndarray) -> SenderOrder:
        """Blocks of every source piece ``s`` (on core ``piece_core[s]``, segment interval ``[src_lo[s],
        src_hi[s])``) from its routes' segment intervals ``[r_lo, r_hi)`` inside it (``r_src``: each route's
        piece); ``seg``: element position of each segment boundary (for the widths). Vectorized (no loop over
        pieces or routes)."""
        i64 = (lambda a: np.asarray(a, dtype=np.int64))
        src_lo, src_hi, r_src, r_lo, r_hi = i64(src_lo), i64(src_hi), i64(r_src), i64(r_lo), i64(r_hi)
        senders, piece_sender = np.unique(i64(piece_core), return_inverse=True)
        n_p = len(src_lo)
        big = int(max(src_hi.max(initial=0), r_hi.max(initial=0))) + 2
        cuts = np.unique(np.concatenate([np.arange(n_p) * big + src_lo, np.arange(n_p) * big + src_hi,
                                         r_src * big + r_lo, r_src * big + r_hi]))
        cp, cv = np.divmod(cuts, big)
        inner = cp[1:] == cp[:-1]  # consecutive cuts of one piece bound a block
        block_piece, block_lo, block_hi = cp[:-1][inner], cv[:-1][inner], cv[1:][inner]
        key = block_piece * big + block_lo  # sorted: blocks by piece, then element order
        first = np.searchsorted(key, r_src * big + r_lo)
        last = np.searchsorted(key, r_src * big + r_hi)
        pair_route, pair_block = ragged_arange(first, last - first)
        # position of each block in its sending core's order: the core's pieces by element range, then blocks
        sender = piece_sender[block_piece]
        rank = np.lexsort((block_lo, src_lo[block_piece], sender))
        pos = np.empty(len(rank), dtype=np.int64)
        group_start = np.searchsorted(sender[rank], sender[rank], side="left")
        pos[rank] = np.arange(len(rank)) - group_start
        seg = np.asarray(seg, dtype=float)
        width = seg[block_hi] - seg[block_lo] if len(seg) else np.zeros(len(block_lo))
        route_sender = piece_sender[r_src] if len(r_src) else np.zeros(0, dtype=np.int64)
        k_max = int(pos.max()) + 1 if len(pos) else 0
        return cls(senders, piece_sender, route_sender, block_piece, block_lo, block_hi, width, pair_route,
                   pair_block, _groups(pos, k_max), _groups(pos[pair_block], k_max))


def _groups(pos: np.ndarray, n: int) -> list[np.ndarray]:
    """Indices of ``pos`` grouped by value 0, 1, ..., n - 1 (each group in index order; empty ones too)."""
    order = np.argsort(pos, kind="stable")
    return np.split(order, np.cumsum(np.bincount(pos, minlength=n))[:-1]) if n else []


def route_capacity(hops: np.ndarray, link_buffer: float) -> np.ndarray:
    """Messages a route can hold before its sender must wait: a route of ``h`` hops crosses ``h`` router-to-router
    links and the receiving core's input port, each with a buffer of ``link_buffer`` messages."""
    return (np.asarray(hops, dtype=float) + 1.0) * float(link_buffer)


def one_block_never_waits(order: SenderOrder, capacity: np.ndarray) -> bool:
    """True when back-pressure cannot lengthen any sender's step: every sender sends one block and every route holds
    at least two messages. Proof, with the closed form of :func:`_one_block`: every route r of a sender carries the
    block's ``m`` messages (it covers the whole block), so ``w_r = m q_r`` and ``x_r = q_r (m - C_r)``. If
    ``S1 = g``, S and S_u are the same expression. Otherwise ``S1 = x_j`` for a route j (so ``m > C_j``), and with k
    the route of the largest q, ``S1 + q_k <= q_k (m - C_j + 1) = w_k - q_k (C_j - 1)``, while ``w_k = max_r w_r``;
    so ``S = max_r w_r <= S_u`` and the delay ``max(S - S_u, 0)`` is 0. The margin ``q_k (C_j - 1)`` is at least
    ``1 / m`` of ``w_k``, far above the few ulps the floating-point arithmetic adds (with ``C = 1`` there is no
    margin, and rounding can leave a delay of an ulp). Checked against the closed form on random draws
    (``tests/test_events_backpressure.py``)."""
    return len(order.blocks_at) == 1 and bool((np.asarray(capacity) >= 2.0).all())


def _one_block(order: SenderOrder, block_spikes: np.ndarray, sender_time: np.ndarray, g: np.ndarray,
               receiver_time: np.ndarray, q: np.ndarray, slack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`blocked_send` when every sender sends one block (it interleaves its messages over all its routes): the
    recurrence's single step in closed form. It starts from S = F = 0, so with the block's own time ``g`` and, per
    route, ``w = messages x q`` and ``x = w - capacity x q``:

        S1 = max(g, max_r x_r);  S = max(S1, max_r max(w_r, S1 + q_r)) = max(S1, max_r w_r, S1 + max_r q_r)

    and the same with S1 = g for unbounded buffers (adding is monotonic in floating point too, so ``max_r (S1 + q_r)``
    is ``S1 + max_r q_r`` exactly). The three maxima per sender are one grouped reduction."""
    n_src, d = sender_time.shape
    r_src, b_src = order.route_sender, order.block_sender
    bk, pk = order.blocks_at[0], order.pairs_at[0]
    rk = order.pair_route[pk]
    g0 = np.zeros((n_src, d))
    g0[b_src[bk]] = g[bk]
    qk = q[rk]
    w = block_spikes[order.pair_block[pk]] * qk
    m = order.grouping(0, r_src[rk]).maxima(np.concatenate([w - slack[rk], w, qk], axis=1), n_src)
    x_max, w_max, q_max = m[:, :d], m[:, d:2 * d], m[:, 2 * d:]
    s1 = np.maximum(g0, x_max)
    S = np.maximum(np.maximum(s1, w_max), s1 + q_max)
    S_u = np.maximum(np.maximum(g0, w_max), g0 + q_max)
    delay = np.maximum(S - S_u, 0.0)
    base = sender_time.copy()
    order.grouping(-1, r_src).maximum_into(base, receiver_time)
    return delay, base


def blocked_send(order: SenderOrder, block_spikes: np.ndarray, sender_time: np.ndarray, block_weight: np.ndarray,
                 receiver_time: np.ndarray, route_messages: np.ndarray, capacity: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """How much finite link buffers lengthen each sender's part of a step (back-pressure), vectorized over steps.

    A fluid model of a mesh with credit flow control: a sender emits its blocks in order (block ``j`` takes
    ``sender_time x block_weight[j]`` of its own time); route ``r``'s receiver takes its messages at one per
    ``q_r = receiver_time[r] / route_messages[r]`` (its time in the step shared over everything it receives, in
    arrival order); a route holds at most ``capacity[r]`` messages that its receiver has not yet taken, so the
    sender cannot finish block ``j`` before each route it feeds there has a backlog of at most that many. A
    blocked message holds back every message behind it in the sender's order (head-of-line blocking).

        S_j   = max(S_{j-1} + g_j, max_r (max(F_r, S_{j-1}) + w_rj - capacity_r q_r))     sender done with block j
        F_r  <- max(max(F_r, S_{j-1}) + w_rj, S_j + q_r)                                  receiver done with it

    with ``w_rj = messages_rj q_r``. The same recurrence with unbounded buffers gives the step without
    back-pressure; the difference is the delay. It is zero when no route ever holds more than its capacity (a
    route's backlog cannot exceed its messages), and, when a sender interleaves its messages over its receivers
    (one block) and a route holds at least two messages, zero (:func:`one_block_never_waits`): receivers that drain
    side by side stay busy while the sender waits.
    It grows when consecutive blocks feed different receivers that drain slower than the sender emits: the
    sender waits on one receiver while the next sits idle.

    ``block_spikes`` (blocks x D): spikes (= messages per covering route) per block; ``sender_time`` (senders x D,
    the sending cores of ``order``); ``block_weight`` (blocks x D, summing to 1 per sender); ``receiver_time``,
    ``route_messages`` (routes x D); ``capacity`` (routes). Returns (delay per sender x D, the sender's step without
    back-pressure: the later of its own time and its receivers', per sender x D).
    """
    b_src = order.block_sender
    m = np.asarray(route_messages, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(m > 0, receiver_time / np.where(m > 0, m, 1.0), 0.0)
    slack = capacity[:, None] * q
    g = sender_time[b_src] * block_weight
    if len(order.blocks_at) == 1 and len(q):
        return _one_block(order, block_spikes, sender_time, g, receiver_time, q, slack)
    return _recurrence(order, block_spikes, sender_time, g, receiver_time, q, slack)


def _recurrence(order: SenderOrder, block_spikes: np.ndarray, sender_time: np.ndarray, g: np.ndarray,
                receiver_time: np.ndarray, q: np.ndarray, slack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`blocked_send`'s recurrence, position by position of the senders' orders (any number of blocks)."""
    n_src, d = sender_time.shape
    r_src, b_src = order.route_sender, order.block_sender
    # the two cases one after the other: finite buffers (S, F) and unbounded ones (S_u, F_u, where the capacity
    # term is max(., -inf): no term)
    S, S_u = np.zeros((n_src, d)), np.zeros((n_src, d))
    F, F_u = np.zeros((len(q), d)), np.zeros((len(q), d))
    for k, (bk, pk) in enumerate(zip(order.blocks_at, order.pairs_at)):
        sb = b_src[bk]  # one block per sender at a position: no sender twice
        if len(pk):
            rk = order.pair_route[pk]
            rs = r_src[rk]
            start, start_u = np.maximum(F[rk], S[rs]), np.maximum(F_u[rk], S_u[rs])  # S_{j-1}
        S[sb] += g[bk]
        S_u[sb] += g[bk]
        if len(pk):
            w = block_spikes[order.pair_block[pk]] * q[rk]
            sent = start + w
            order.grouping(k, rs).maximum_into(S, sent - slack[rk])
            F[rk] = np.maximum(sent, S[rs] + q[rk])
            F_u[rk] = np.maximum(start_u + w, S_u[rs] + q[rk])
    if len(F):
        order.grouping(-1, r_src).maximum_into(S, F)
        order.grouping(-1, r_src).maximum_into(S_u, F_u)
    delay = np.maximum(S - S_u, 0.0)
    base = sender_time.copy()
    if len(receiver_time):
        order.grouping(-1, r_src).maximum_into(base, receiver_time)
    return delay, base
