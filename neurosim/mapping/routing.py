"""Geometry and dimension-order (XY) routing over a system of meshes, vectorized over arrays of endpoints.

Coordinates: a core is ``(chip, x, y, slot)``: the chip id, the router position on that chip's ``W x H`` mesh and
the core's slot in its tile (``cores_per_tile`` cores share a router). Chip ids are laid out boustrophedon
(serpentine) over the system grid (x fastest, then y, then z), so consecutive chip ids are neighbours.

Routing: the chips of one z-plane form one global mesh (chip ``(cx, cy)``'s router ``(x, y)`` is global router
``(cx*W + x, cy*H + y)``); a message goes along x, then along y, then along z. A step that crosses a chip boundary
in x or y is a chip-to-chip hop, every other x/y step is an on-chip hop; a z step joins the same router position on
stacked chips (an idealisation: one link per position) and is a chip-to-chip hop. Cores that share a router (same
tile) are 0 hops apart. These rules make hop counts symmetric and additive along the XY path.
"""

from __future__ import annotations

import numpy as np

from neurosim.hardware import Hardware


def chip_coords(hw: Hardware, chips: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid position ``(cx, cy, cz)`` of each chip id (boustrophedon order over the system grid)."""
    gx, gy, _ = hw.grid_shape
    chips = np.asarray(chips, dtype=np.int64)
    cz = chips // (gx * gy)
    r = chips % (gx * gy)
    row = r // gx
    cy = np.where(cz % 2 == 0, row, gy - 1 - row)
    line = cz * gy + row  # how many x-lines came before this one
    col = r % gx
    cx = np.where(line % 2 == 0, col, gx - 1 - col)
    return cx, cy, cz


def global_coords(hw: Hardware, chip: np.ndarray, x: np.ndarray, y: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(global x, global y, z, cx, cy) of routers: the chips of one z-plane tile one global mesh."""
    w, h, _ = hw.mesh_shape
    cx, cy, cz = chip_coords(hw, chip)
    return cx * w + np.asarray(x), cy * h + np.asarray(y), cz, cx, cy


def hops(hw: Hardware, a: tuple[np.ndarray, np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray, np.ndarray]
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """XY hop counts between routers ``a = (chip, x, y)`` and ``b``: (on-chip east-west, on-chip north-south,
    chip-to-chip). Arrays broadcast."""
    ax, ay, az, acx, acy = global_coords(hw, *a)
    bx, by, bz, bcx, bcy = global_coords(hw, *b)
    chip_x = np.abs(acx - bcx)
    chip_y = np.abs(acy - bcy)
    ew = np.abs(ax - bx) - chip_x
    ns = np.abs(ay - by) - chip_y
    return ew, ns, chip_x + chip_y + np.abs(az - bz)


def core_positions(hw: Hardware) -> np.ndarray:
    """The usable core positions of one chip, ``(x, y, slot)`` rows in serpentine order (rows of the mesh walked
    alternately east and west); the last positions are the ones a system leaves unused."""
    w, h, k = hw.mesh_shape
    rows = []
    for y in range(h):
        xs = range(w) if y % 2 == 0 else range(w - 1, -1, -1)
        for x in xs:
            for s in range(k):
                rows.append((x, y, s))
    return np.asarray(rows[: hw.usable_cores_per_chip], dtype=np.int64).reshape(-1, 3)


def core_index(hw: Hardware, chip: np.ndarray, x: np.ndarray, y: np.ndarray, slot: np.ndarray) -> np.ndarray:
    """A unique integer per core: ``((chip * H + y) * W + x) * cores_per_tile + slot``."""
    w, h, k = hw.mesh_shape
    return ((np.asarray(chip) * h + np.asarray(y)) * w + np.asarray(x)) * k + np.asarray(slot)
