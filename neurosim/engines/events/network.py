"""The interconnect as the simulator sees it: every directed router-to-router link of the system, the XY-then-Z path
of a message over them, and the links' state (when each is next free, how long it has been busy).

The chips of one z-plane form one global mesh (as in :mod:`neurosim.mapping.routing`); a message goes along x,
then y, then z. Links are directed (a full-duplex link is two links). A link that crosses a chip boundary (and
every z link) is a chip-to-chip link. A link serves one message at a time: an on-chip link in
``1 / tile_spike_bandwidth`` (the router's published spike rate), a chip-to-chip link in
``packet_bits / link bandwidth``. Paths are expanded once per edge into a sparse link x route incidence matrix, so
the load of every link in a step is one sparse product with the messages per route (never a loop over messages).
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass
class LinkIncidence:
    """Which links the routes of one edge bundle cross: ``matrix[l, r] = 1`` when route r crosses link
    ``links[l]``; ``service_ns[l]`` is that link's time per message."""

    links: np.ndarray
    matrix: object  # scipy.sparse.csr_matrix (n_links x n_routes)
    service_ns: np.ndarray

    def loads(self, messages: np.ndarray) -> np.ndarray:
        """Messages on every crossed link for messages per route (routes, or routes x steps)."""
        if len(self.links) == 0:
            shape = (0,) if messages.ndim == 1 else (0, messages.shape[1])
            return np.zeros(shape)
        return np.asarray(self.matrix @ messages)


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
        sx, sy, sz, _, _ = global_coords(self.hw, *src)
        dx, dy, dz, _, _ = global_coords(self.hw, *dst)
        sx, sy, sz, dx, dy, dz = (np.asarray(v, dtype=np.int64) for v in (sx, sy, sz, dx, dy, dz))
        owners, ids = [], []
        # x along the source row and plane
        lo, n, back = np.minimum(sx, dx), np.abs(dx - sx), (dx < sx).astype(np.int64)
        r, k = ragged_arange(lo, n)
        if len(r):
            owners.append(r)
            ids.append(((sz[r] * self.gy + sy[r]) * (self.gx - 1) + k) * 2 + back[r])
        # y along the destination column, still in the source plane
        lo, n, back = np.minimum(sy, dy), np.abs(dy - sy), (dy < sy).astype(np.int64)
        r, k = ragged_arange(lo, n)
        if len(r):
            owners.append(r)
            ids.append(self.n_x + ((sz[r] * self.gx + dx[r]) * (self.gy - 1) + k) * 2 + back[r])
        # z at the destination router position
        lo, n, back = np.minimum(sz, dz), np.abs(dz - sz), (dz < sz).astype(np.int64)
        r, k = ragged_arange(lo, n)
        if len(r):
            owners.append(r)
            ids.append(self.n_x + self.n_y + ((dy[r] * self.gx + dx[r]) * (self.gz - 1) + k) * 2 + back[r])
        if not owners:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(owners), np.concatenate(ids)

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

    def incidence(self, src: tuple[np.ndarray, np.ndarray, np.ndarray], dst: tuple[np.ndarray, np.ndarray, np.ndarray]
                  ) -> LinkIncidence:
        from scipy.sparse import csr_matrix

        n_routes = len(np.asarray(src[0]))
        route, link = self.paths(src, dst)
        links, local = np.unique(link, return_inverse=True)
        m = csr_matrix((np.ones(len(route)), (local, route)), shape=(len(links), n_routes))
        service = np.where(self.is_chip_link(links), self.chip_service_ns, self.onchip_service_ns)
        return LinkIncidence(links, m, service)

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

    def drain(self, inc: LinkIncidence, loads: np.ndarray, now: float) -> tuple[float, int]:
        """Send ``loads`` (messages per link of ``inc``) at ``now``; (ns until the last link is done, that link)."""
        if len(inc.links) == 0:
            return 0.0, -1
        service = loads * inc.service_ns
        self.busy_ns[inc.links] += service
        self.messages[inc.links] += loads
        if self.carry:
            start = np.maximum(self.free_at[inc.links], now)
            end = start + service
            self.free_at[inc.links] = np.where(loads > 0, end, self.free_at[inc.links])
            i = int(np.argmax(end))
            return float(max(end[i] - now, 0.0)), int(inc.links[i])
        i = int(np.argmax(service))
        return float(service[i]), int(inc.links[i])
