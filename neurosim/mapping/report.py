"""The mapping report: what was used, how full each core is, where each layer went, and what a token costs the
network (spikes, messages, hops, link loads), plus a mesh heatmap.

Figures per token come from the routes: ``messages`` = sum over routes of elements x messages per element; hops =
messages x XY hops. Spikes per token = sum over spike sources of neurons x unfold x firing rate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neurosim.graph import Graph
from neurosim.mapping.mapper import NEURO_ROLES
from neurosim.mapping.model import Mapping, global_core_index
from neurosim.mapping.partition import min_cores_for_weights, spike_source, spikes_per_element
from neurosim.mapping.traffic import link_loads


def _stats(v: np.ndarray) -> dict[str, float]:
    if len(v) == 0:
        return {"min": 0.0, "median": 0.0, "max": 0.0}
    return {"min": float(np.min(v)), "median": float(np.median(v)), "max": float(np.max(v))}


def mapping_report(graph: Graph, m: Mapping) -> dict[str, Any]:
    """Summary numbers and tables of a mapping (everything the CLI prints, JSON-able after ``to_jsonable``)."""
    hw = m.hw
    core = hw.core
    ct = m.core_table()
    cap = core.synapse_memory.v
    mem_used = (ct["memory_bytes"] if core.memory_partition == "unified"
                else ct["synapse_bytes"] + ct["kv_bytes"]).to_numpy(dtype=float)
    min_cores = min_cores_for_weights(graph, hw)
    totals = m.totals()
    spikes = sum(graph[n].out_dim * spikes_per_element(graph[n]) for n in graph.layers if spike_source(graph[n]))
    pieces = m.pieces_frame()
    by_role = pieces[pieces["role"].isin(NEURO_ROLES)].groupby("role").size().to_dict()
    on, chl = link_loads(m)
    bw_tile = hw.chip.tile_spike_bandwidth.v
    bw_chip = hw.system.chip_link.bandwidth.v
    packet_bytes = hw.packet_bits / 8
    max_link = float(on["load"].max()) if len(on) else 0.0
    max_chip_link = float(chl["load"].max()) if len(chl) else 0.0
    bound = []
    if max_link > 0:
        bound.append(bw_tile / max_link)
    if max_chip_link > 0:
        bound.append(bw_chip / (max_chip_link * packet_bytes))
    ew = sum(float((e.routes["messages"] * e.routes["hops_ew"]).sum()) for e in m.edges if len(e))
    ns = sum(float((e.routes["messages"] * e.routes["hops_ns"]).sum()) for e in m.edges if len(e))
    summary: dict[str, Any] = {
        "workload": m.workload,
        "hardware": hw.name,
        "strategy": m.strategy,
        "placement": m.placement,
        "chips": m.chips_used,
        "chips_in_system": hw.n_chips,
        "cores": m.cores_used,
        "cores_in_system": hw.total_cores,
        "cores_min_for_weights": int(np.ceil(min_cores)),
        "cores_over_min": m.cores_used / min_cores if min_cores else float("nan"),
        "pieces_by_role": {k: int(v) for k, v in by_role.items()},
        "memory_utilization": _stats(mem_used / cap),
        "neuron_utilization": _stats(ct["neurons"].to_numpy(dtype=float) / core.max_neurons.v),
        "fan_in_utilization": _stats(ct["axons_in"].to_numpy(dtype=float) / core.max_fan_in.v),
        "fan_out_utilization": _stats(ct["axons_out"].to_numpy(dtype=float) / core.max_fan_out.v),
        "spikes_per_token": float(spikes),
        "messages_per_token": totals["messages"],
        "hops_onchip_per_token": totals["hops_onchip"],
        "hops_chip_per_token": totals["hops_chip"],
        "hops_per_token": totals["hops"],
        "onchip_hops_east_west_fraction": ew / (ew + ns) if ew + ns else 0.5,
        "max_link_load_per_token": max_link,
        "mean_link_load_per_token": float(on["load"].mean()) if len(on) else 0.0,
        "max_chip_link_load_per_token": max_chip_link,
        "network_bound_tokens_per_s": min(bound) if bound else float("inf"),
    }
    base = m.options.get("serpentine_totals")
    if base:
        summary["serpentine_hops_per_token"] = base["hops"]
        summary["locality_hops_per_token"] = totals["hops"]
        summary["hops_saved_vs_serpentine"] = 1 - totals["hops"] / base["hops"] if base["hops"] else 0.0
    return {
        "summary": summary,
        "layers": layer_table(graph, m),
        "payloads": payload_table(m),
        "cores": core_frame(m),
        "links": on,
        "chip_links": chl,
        "chips": chip_frame(m),
        "notes": list(m.notes),
    }


def layer_table(graph: Graph, m: Mapping) -> pd.DataFrame:
    """Per layer: where it went and the traffic it sends per token."""
    sent = m.traffic_by_source()
    rows = []
    for name, lm in m.layers.items():
        p = lm.pieces
        neuro = lm.mask(*NEURO_ROLES)
        live = p["role"] != "host"
        chips = p["chip"][live]
        layer = graph[name] if name in graph.layers else None
        spikes = layer.out_dim * spikes_per_element(layer) if layer is not None and spike_source(layer) else 0.0
        msgs, on, chip = sent.get(name, [0.0, 0.0, 0.0])
        rows.append({
            "layer": name,
            "kind": lm.kind,
            "placement": lm.placement,
            "strategy": lm.strategy,
            "pieces": int(neuro.sum()),
            "cores": len(np.unique(global_core_index(m.hw, lm)[neuro])) if neuro.any() else 0,
            "chips": f"{chips.min()}-{chips.max()}" if len(chips) and chips.min() != chips.max()
            else (str(int(chips[0])) if len(chips) else "host"),
            "synapse_MiB": float(p["synapse_bytes"][neuro].sum()) / 2**20,
            "kv_MiB": float(p["kv_bytes"].sum()) / 2**20,
            "neurons": int(p["neurons"][neuro].sum()),
            "spikes_per_token": float(spikes),
            "messages_per_token": msgs,
            "hops_onchip_per_token": on,
            "hops_chip_per_token": chip,
            "note": lm.note,
        })
    return pd.DataFrame(rows)


def payload_table(m: Mapping) -> pd.DataFrame:
    rows: dict[str, list[float]] = {}
    for e in m.edges:
        acc = rows.setdefault(e.payload, [0.0, 0.0, 0.0])
        acc[0] += e.messages
        acc[1] += e.hops_onchip
        acc[2] += e.hops_chip
    return pd.DataFrame([{"payload": k, "messages_per_token": v[0], "hops_onchip_per_token": v[1],
                          "hops_chip_per_token": v[2]} for k, v in rows.items()])


def core_frame(m: Mapping) -> pd.DataFrame:
    """One row per used neuro core: its place, memory used and capacity, neurons, layers."""
    ct = m.core_table()
    if ct.empty:
        return ct
    core = m.hw.core
    used = ct["memory_bytes"] if core.memory_partition == "unified" else ct["synapse_bytes"] + ct["kv_bytes"]
    out = ct[["chip", "x", "y", "slot", "neurons", "axons_in", "axons_out", "layers"]].copy()
    out["memory_bytes"] = used
    out["memory_capacity_bytes"] = core.synapse_memory.v
    return out


def chip_frame(m: Mapping) -> pd.DataFrame:
    from neurosim.mapping.routing import chip_coords

    ct = m.core_table()
    if ct.empty:
        return pd.DataFrame(columns=["chip", "cx", "cy", "cz", "cores", "memory_bytes"])
    g = ct.groupby("chip").agg(cores=("x", "size"), memory_bytes=("memory_bytes", "sum")).reset_index()
    cx, cy, cz = chip_coords(m.hw, g["chip"].to_numpy())
    g.insert(1, "cx", cx)
    g.insert(2, "cy", cy)
    g.insert(3, "cz", cz)
    return g


def heatmap_png(report: dict[str, Any], m: Mapping, path: str | Path) -> Path:
    """:func:`heatmap_figure` written as a PNG."""
    from neurosim.io import pyplot

    plt = pyplot()

    from neurosim.io import atomic_path

    fig = heatmap_figure(report, m)
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def heatmap_figure(report: dict[str, Any], m: Mapping):
    """Two mosaics of the used chips (each chip its W x H mesh): memory utilization per core and traffic through
    each router (messages per token over the links touching it); a matplotlib figure."""
    import matplotlib.pyplot as plt

    hw = m.hw
    w, h, _ = hw.mesh_shape
    cores = report["cores"]
    links = report["links"]
    chips = sorted(set(cores["chip"].tolist()) | set(links["chip"].tolist() if len(links) else []))
    if not chips:
        chips = [0]
    cols = int(np.ceil(np.sqrt(len(chips) * h / w)))
    rows_ = int(np.ceil(len(chips) / cols))
    slot_of = {c: i for i, c in enumerate(chips)}
    mem = np.full((rows_ * h, cols * w), np.nan)
    load = np.full((rows_ * h, cols * w), np.nan)
    for c in chips:
        i = slot_of[c]
        oy, ox = (i // cols) * h, (i % cols) * w
        mem[oy:oy + h, ox:ox + w] = 0.0
        load[oy:oy + h, ox:ox + w] = 0.0
    if len(cores):
        i = cores["chip"].map(slot_of).to_numpy()
        yy = (i // cols) * h + cores["y"].to_numpy()
        xx = (i % cols) * w + cores["x"].to_numpy()
        frac = (cores["memory_bytes"] / cores["memory_capacity_bytes"]).to_numpy(dtype=float)
        np.maximum.at(mem, (yy, xx), frac)
    if len(links):
        i = links["chip"].map(slot_of).to_numpy()
        for xc, yc in (("x0", "y0"), ("x1", "y1")):
            yy = (i // cols) * h + links[yc].to_numpy()
            xx = (i % cols) * w + links[xc].to_numpy()
            np.add.at(load, (yy, xx), links["load"].to_numpy() / 2)
    fig, axes = plt.subplots(1, 2, figsize=(12, 6 * max(rows_ * h / (cols * w), 0.4)))
    for ax, data, title, cmap in ((axes[0], mem, "memory utilization per core", "viridis"),
                                  (axes[1], load, "router traffic (messages / token)", "magma")):
        im = ax.imshow(data, origin="lower", cmap=cmap, interpolation="nearest")
        ax.set_title(title)
        for k in range(1, cols):
            ax.axvline(k * w - 0.5, color="white", lw=0.5)
        for k in range(1, rows_):
            ax.axhline(k * h - 0.5, color="white", lw=0.5)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(f"{m.workload} on {hw.name}: {len(chips)} chip(s) ({cols} per row, each {w} x {h} cores), "
                 f"{m.placement} placement")
    return fig


def to_jsonable(report: dict[str, Any], tables: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": report["summary"], "notes": report["notes"]}
    out["layers"] = report["layers"].to_dict(orient="records")
    out["payloads"] = report["payloads"].to_dict(orient="records")
    if tables:
        out["chips"] = report["chips"].to_dict(orient="records")
        out["chip_links"] = report["chip_links"].to_dict(orient="records")
    return out
