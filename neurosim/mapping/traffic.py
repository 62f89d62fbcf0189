"""Network traffic of a mapping: the analytic expectation as counters, and the load on every link.

``expected_traffic`` prices nothing; it turns a mapping's routes into counter rows of the shared schema so the
analytic engine can add traffic to its compute counts: per sending layer, ``message`` (one per packet per
destination core), ``hop_onchip`` and ``hop_chip`` (messages x hops along the XY route), and one ``barrier`` row
per algorithmic time step.

``link_loads`` spreads every route's messages over the links of its XY path (difference arrays over each z-plane's
global mesh, vectorized over routes) and returns the load of every on-chip link and chip-to-chip link per token.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from neurosim.counters import CounterSink
from neurosim.graph import LIF, Graph, SpikeEncoder
from neurosim.mapping.model import Mapping
from neurosim.mapping.routing import chip_coords, global_coords


def steps_per_token(graph: Graph) -> float:
    """Algorithmic time steps per token in synchronous mode: the longest unfold of any spike source."""
    steps = [float(layer.spec.unfold) for layer in graph if isinstance(layer, SpikeEncoder)]
    steps += [float(layer.steps) for layer in graph if isinstance(layer, LIF)]
    return max(steps, default=1.0)


def expected_traffic(graph: Graph, mapping: Mapping, tokens: float | None = None,
                     barriers: bool = True) -> pd.DataFrame:
    """Expected network counts of ``tokens`` tokens (default: the graph's seq_len x batch) on ``mapping``."""
    from neurosim.cost import run_shape_for

    mapping.check_graph(graph)
    tokens = float(run_shape_for(graph).tokens if tokens is None else tokens)
    per_layer = mapping.traffic_by_source()
    sink = CounterSink("analytic")
    for name in graph.layers:
        if name not in per_layer:
            continue
        layer = graph[name]
        msgs, on, chip = per_layer[name]
        for action, count in (("message", msgs), ("hop_onchip", on), ("hop_chip", chip)):
            sink.add(name, layer.block, layer.role, layer.kind, action, count * tokens)
    if barriers:
        sink.add("", None, "", "", "barrier", steps_per_token(graph) * tokens)
    return sink.frame()


def route_endpoints(mapping: Mapping) -> dict[str, np.ndarray]:
    """Flat arrays over every route of every edge: source / destination global router coordinates and messages."""
    hw = mapping.hw
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("sx", "sy", "sz", "dx", "dy", "dz", "messages")}
    for e in mapping.edges:
        if not len(e):
            continue
        sp, dp = mapping.layers[e.src].pieces, mapping.layers[e.dst].pieces
        s, d = e.routes["src_piece"], e.routes["dst_piece"]
        sx, sy, sz, _, _ = global_coords(hw, sp["chip"][s], sp["x"][s], sp["y"][s])
        dx, dy, dz, _, _ = global_coords(hw, dp["chip"][d], dp["x"][d], dp["y"][d])
        for k, v in (("sx", sx), ("sy", sy), ("sz", sz), ("dx", dx), ("dy", dy), ("dz", dz),
                     ("messages", e.routes["messages"])):
            cols[k].append(np.asarray(v))
    return {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in cols.items()}


def link_loads(mapping: Mapping) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(on-chip links, chip-to-chip links) with their load in messages per token (both directions together).

    On-chip rows: ``chip, x0, y0, x1, y1, load``; chip-link rows: ``chip_a, chip_b, load``. Only loaded links.
    """
    hw = mapping.hw
    w, h, _ = hw.mesh_shape
    gxn, gyn, gzn = hw.grid_shape
    r = route_endpoints(mapping)
    big_x, big_y = gxn * w, gyn * h
    hx = np.zeros((gzn, big_y, big_x + 1))
    vy = np.zeros((gzn, big_y + 1, big_x))
    zz = np.zeros((gzn + 1, big_y, big_x))
    if len(r["messages"]):
        m = r["messages"]
        sx, sy, sz, dx, dy, dz = (r[k].astype(np.int64) for k in ("sx", "sy", "sz", "dx", "dy", "dz"))
        lo, hi = np.minimum(sx, dx), np.maximum(sx, dx)
        np.add.at(hx, (sz, sy, lo), m)
        np.add.at(hx, (sz, sy, hi), -m)
        lo, hi = np.minimum(sy, dy), np.maximum(sy, dy)
        np.add.at(vy, (sz, lo, dx), m)
        np.add.at(vy, (sz, hi, dx), -m)
        lo, hi = np.minimum(sz, dz), np.maximum(sz, dz)
        np.add.at(zz, (lo, dy, dx), m)
        np.add.at(zz, (hi, dy, dx), -m)
    hx = np.cumsum(hx, axis=2)[:, :, :-1]  # link gx -> gx + 1
    vy = np.cumsum(vy, axis=1)[:, :-1, :]  # link gy -> gy + 1
    zz = np.cumsum(zz, axis=0)[: gzn - 1]  # link z -> z + 1
    eps = 1e-9 * max(float(r["messages"].sum()), 1.0)  # cumulative sums leave rounding residue
    chip_of = _chip_lookup(hw)
    onchip, chiplinks = [], []
    z, gy, gx = np.nonzero(hx[:, :, : big_x - 1] > eps)
    load = hx[z, gy, gx]
    cross = (gx + 1) % w == 0
    onchip.append(_onchip_rows(chip_of, w, h, z[~cross], gy[~cross], gx[~cross], gy[~cross], gx[~cross] + 1,
                               load[~cross]))
    chiplinks.append(_chip_rows(chip_of, w, h, z[cross], gy[cross], gx[cross], z[cross], gy[cross], gx[cross] + 1,
                                load[cross]))
    z, gy, gx = np.nonzero(vy[:, : big_y - 1, :] > eps)
    load = vy[z, gy, gx]
    cross = (gy + 1) % h == 0
    onchip.append(_onchip_rows(chip_of, w, h, z[~cross], gy[~cross], gx[~cross], gy[~cross] + 1, gx[~cross],
                               load[~cross]))
    chiplinks.append(_chip_rows(chip_of, w, h, z[cross], gy[cross], gx[cross], z[cross], gy[cross] + 1, gx[cross],
                                load[cross]))
    z, gy, gx = np.nonzero(zz > eps)
    chiplinks.append(_chip_rows(chip_of, w, h, z, gy, gx, z + 1, gy, gx, zz[z, gy, gx]))
    on = pd.concat(onchip, ignore_index=True)
    ch = pd.concat(chiplinks, ignore_index=True)
    if len(ch):
        ch = ch.groupby(["chip_a", "chip_b"], as_index=False)["load"].sum()
    return on, ch


def _chip_lookup(hw) -> np.ndarray:
    gxn, gyn, gzn = hw.grid_shape
    ids = np.arange(hw.n_chips)
    cx, cy, cz = chip_coords(hw, ids)
    table = np.zeros((gzn, gyn, gxn), dtype=np.int64)
    table[cz, cy, cx] = ids
    return table


def _onchip_rows(chip_of, w, h, z, gy0, gx0, gy1, gx1, load) -> pd.DataFrame:
    chip = chip_of[z, gy0 // h, gx0 // w]
    return pd.DataFrame({"chip": chip, "x0": gx0 % w, "y0": gy0 % h, "x1": gx1 % w, "y1": gy1 % h, "load": load})


def _chip_rows(chip_of, w, h, za, gya, gxa, zb, gyb, gxb, load) -> pd.DataFrame:
    a = chip_of[za, gya // h, gxa // w]
    b = chip_of[zb, gyb // h, gxb // w]
    return pd.DataFrame({"chip_a": np.minimum(a, b), "chip_b": np.maximum(a, b), "load": load})
