"""The report's figures, drawn with matplotlib's Agg backend from a :class:`RunRecord` alone.

Each figure function returns a matplotlib Figure, or ``None`` when the run has no data for it (the HTML then says
why). Energies are drawn per token (the run's energy divided by its tokens) in the largest SI unit that keeps the
numbers above 1. Every axis says its unit; every multi-series plot has a legend. How each figure is computed is
written in :data:`CAPTIONS` (shown under the figure) and in ``docs/reports.md``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from neurosim.report.record import COMPONENTS, RunRecord, energy_unit, time_unit

os.environ.setdefault("MPLBACKEND", "Agg")

COMPONENT_COLORS = {"compute": "#4C72B0", "memory": "#DD8452", "network": "#55A868", "neuron": "#C44E52",
                    "static": "#8172B3"}
SERIES_COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C",
                 "#CCB974", "#64B5CD"]
#: more layers than this are drawn per decoder block instead of per layer
MAX_LAYER_BARS = 48
WIDTH_IN = 10.0


def _plt():
    from neurosim.io import pyplot

    plt = pyplot()  # Agg unless a notebook's inline backend (figures show in it); user text as written
    plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 9,
                         "xtick.labelsize": 9, "ytick.labelsize": 9, "svg.fonttype": "path",
                         "axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 100})
    return plt


def _eng():
    """Colorbar numbers with SI prefixes (80 k, 2 M) instead of an offset exponent."""
    from matplotlib.ticker import EngFormatter

    return EngFormatter(sep=" ")


def ratio_text(r: float) -> str:
    """3.2x, 488x, 3,690x: no exponents in a ratio a reader compares."""
    return f"{r:,.0f}x" if r >= 100 else f"{r:.3g}x"


def tick_labels(labels) -> list[str]:
    """Block numbers as they are; named groups (embed, head, system) one line lower so they never collide."""
    return [str(x) if str(x).isdigit() else f"\n{x}" for x in labels]


def group_labels(blocks: Sequence[int], layers: Sequence[str]) -> list[str]:
    """Per-block group of each layer row: the block index, ``embed`` before the first block, ``head`` after."""
    seen_block = False
    out = []
    for b, name in zip(blocks, layers):
        if name == "(static)":
            out.append("static")
        elif name == "":
            out.append("system")
        elif b is not None and int(b) >= 0:
            seen_block = True
            out.append(str(int(b)))
        else:
            out.append("head" if seen_block else "embed")
    return out


def per_group(frame: pd.DataFrame, value_cols: Sequence[str]) -> tuple[pd.DataFrame, str]:
    """Rows per layer when there are few, else summed per decoder block; returns (frame indexed by label, level)."""
    df = frame.copy()
    nonzero = df[list(value_cols)].abs().sum(axis=1) > 0
    df = df[nonzero]
    if len(df) <= MAX_LAYER_BARS:
        return df.set_index("layer")[list(value_cols)], "layer"
    df["group"] = group_labels(df["block"].tolist(), df["layer"].tolist())
    out = df.groupby("group", sort=False)[list(value_cols)].sum()
    return out, "decoder block"


def _stacked_bars(ax, frame: pd.DataFrame, factor: float, horizontal: bool = False) -> None:
    base = np.zeros(len(frame))
    pos = np.arange(len(frame))
    for comp in COMPONENTS:
        if comp not in frame.columns or not frame[comp].any():
            continue
        vals = frame[comp].to_numpy(dtype=float) * factor
        if horizontal:
            ax.barh(pos, vals, left=base, color=COMPONENT_COLORS[comp], label=comp, height=0.7)
        else:
            ax.bar(pos, vals, bottom=base, color=COMPONENT_COLORS[comp], label=comp, width=0.8)
        base += vals


def _without_system_static(layers: pd.DataFrame, tokens: int) -> tuple[pd.DataFrame, str]:
    """Drop the whole-system static row (static power x time, not any layer's) and say so in the title."""
    rows = layers["layer"] == "(static)"
    static = float(layers.loc[rows, "static"].sum()) if "static" in layers.columns else 0.0
    if not rows.any() or static <= 0:
        return layers[~rows], ""
    f, u = energy_unit(static / tokens)
    return layers[~rows], f"\nstatic energy ({static / tokens * f:.3g} {u}/token) is the whole system's: see the totals"


# --- single-run figures --------------------------------------------------------------------------------------
def fig_energy_by_layer(rec: RunRecord):
    """Hardware-aware energy per token of every layer (or block), stacked by component."""
    b = rec.hardware_aware or (rec.energy[0] if rec.energy else None)
    if b is None:
        return None
    plt = _plt()
    layers, static_note = _without_system_static(b.by_layer.frame(), rec.tokens)
    frame, level = per_group(layers, COMPONENTS)
    per_token = frame / rec.tokens
    factor, unit = energy_unit(float(per_token.sum(axis=1).max() or 0))
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 4.6 if level != "layer" else 5.2), layout="constrained")
    _stacked_bars(ax, per_token, factor)
    ax.set_xticks(np.arange(len(per_token)))
    labels = list(per_token.index)
    if level == "layer":
        ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=8)
    else:  # named groups (embed, head, system) drop a line so they never run into the block numbers
        ax.set_xticklabels(tick_labels(labels), rotation=90 if len(labels) > 40 else 0, fontsize=8)
    ax.set_xlabel(level if level == "layer" else "decoder block (embed = before block 0, head = after the last; "
                  "system = barriers)")
    ax.set_ylabel(f"energy per token ({unit})")
    ax.set_title(f"Energy by {level}, stacked by component — {b.label} ({b.table}){static_note}")
    ax.legend(title="component", loc="upper right", ncols=5)
    ax.margins(x=0.01)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.12)
    return fig


def fig_energy_by_role(rec: RunRecord):
    """Hardware-aware energy per token of each layer role (projection type), stacked by component."""
    b = rec.hardware_aware or (rec.energy[0] if rec.energy else None)
    if b is None:
        return None
    plt = _plt()
    df, static_note = _without_system_static(b.by_layer.frame(), rec.tokens)
    df.loc[df["layer"] == "", "role"] = "system (barriers)"
    df["role"] = df["role"].replace("", "other")
    frame = df.groupby("role", sort=False)[list(COMPONENTS)].sum() / rec.tokens
    frame = frame[frame.sum(axis=1) > 0]
    frame = frame.loc[frame.sum(axis=1).sort_values().index]
    factor, unit = energy_unit(float(frame.sum(axis=1).max() or 0))
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 0.9 + 0.32 * max(len(frame), 3)), layout="constrained")
    _stacked_bars(ax, frame, factor, horizontal=True)
    ax.set_yticks(np.arange(len(frame)))
    ax.set_yticklabels(frame.index)
    total = frame.sum(axis=1).to_numpy() * factor
    grand = total.sum() or 1.0
    for i, v in enumerate(total):
        ax.text(v, i, f"  {v:.3g} {unit} ({100 * v / grand:.1f} %)", va="center", fontsize=8)
    ax.set_xlim(0, total.max() * 1.3 if len(total) else 1)
    ax.set_xlabel(f"energy per token ({unit})")
    ax.set_ylabel("layer role")
    ax.set_title(f"Energy by layer role, stacked by component — {b.label} ({b.table}){static_note}")
    ax.legend(title="component", loc="lower right")
    return fig


def fig_energy_totals(rec: RunRecord):
    """Paper-style vs hardware-aware energy per token (stacked by component), and where the hardware-aware energy
    goes by counted action."""
    if not rec.energy:
        return None
    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(WIDTH_IN, 4.4), layout="constrained",
                                  gridspec_kw={"width_ratios": [1, 1.25]})
    frame = pd.DataFrame([{c: b.total_pj.get(c, 0.0) / rec.tokens for c in COMPONENTS} for b in rec.energy],
                         index=[f"{b.label}\n{b.table}" for b in rec.energy])
    factor, unit = energy_unit(float(frame.sum(axis=1).max() or 0))
    _stacked_bars(ax, frame, factor)
    ax.set_xticks(np.arange(len(frame)))
    ax.set_xticklabels(frame.index)
    totals = frame.sum(axis=1).to_numpy() * factor
    for i, v in enumerate(totals):
        f_own, u_own = energy_unit(v / factor)  # each bar's total in its own unit
        small = "\n(too small to see\nat this scale)" if v < 0.02 * totals.max() else ""
        ax.text(i, v, f"{v / factor * f_own:.3g} {u_own}{small}", ha="center", va="bottom", fontsize=9,
                fontweight="bold")
    ax.set_ylim(0, totals.max() * 1.18 if totals.max() > 0 else 1)
    ax.set_ylabel(f"energy per token ({unit})")
    paper, hw = rec.paper_style, rec.hardware_aware
    ratio = f": {ratio_text(hw.energy_pj / paper.energy_pj)}" if (paper and hw and paper.energy_pj > 0) else ""
    ax.set_title(f"Paper-style vs hardware-aware{ratio}")
    ax.legend(title="component", loc="upper left", fontsize=8)

    b = hw or rec.energy[-1]
    acts = b.by_action.frame() if b.by_action is not None else pd.DataFrame(columns=["action", "energy_pj"])
    acts = acts.groupby(["action", "component"], as_index=False)["energy_pj"].sum()
    acts = acts[acts["energy_pj"] > 0].sort_values("energy_pj")
    if b.total_pj.get("static"):
        acts = pd.concat([acts, pd.DataFrame([{"action": "static", "component": "static",
                                               "energy_pj": b.total_pj["static"]}])]).sort_values("energy_pj")
    vals = acts["energy_pj"].to_numpy(dtype=float) / rec.tokens
    f2, u2 = energy_unit(float(vals.max()) if len(vals) else 0.0)
    from neurosim.report.record import COUNTER_TO_REPORT_COMPONENT

    colors = [COMPONENT_COLORS[COUNTER_TO_REPORT_COMPONENT.get(c, c)] for c in acts["component"]]
    ax2.barh(np.arange(len(acts)), vals * f2, color=colors, height=0.7)
    ax2.set_yticks(np.arange(len(acts)))
    ax2.set_yticklabels(acts["action"])
    tot = vals.sum() or 1.0
    for i, v in enumerate(vals):
        ax2.text(v * f2, i, f" {100 * v / tot:.1f} %", va="center", fontsize=8)
    ax2.set_xlim(0, (vals.max() * f2 * 1.25) if len(vals) else 1)
    ax2.set_xlabel(f"energy per token ({u2})")
    ax2.set_ylabel("counted action")
    ax2.set_title(f"{b.label} energy by action ({b.table})")
    return fig


def fig_firing_rates(rec: RunRecord):
    """Firing rate of every spike source, by block and projection: assumed (workload) vs measured."""
    if rec.rates is None or not len(rec.rates):
        return None
    plt = _plt()
    df = rec.rates.frame()
    df["group"] = group_labels(df["block"].tolist(), df["layer"].tolist())
    groups = list(dict.fromkeys(df["group"]))
    xpos = {g: i for i, g in enumerate(groups)}
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 4.2), layout="constrained")
    has_measured = df["measured"].notna().any()
    sources = " ".join(str(x) for x in df.get("source", pd.Series(dtype=str)).dropna().unique())
    word = "as drawn" if "drawn" in sources and "functional" not in sources else "measured"
    n_roles = df["role"].nunique()
    dodge = min(0.1, 0.6 / max(n_roles, 1))  # equal assumed rates would hide each other: shift each role a little
    for i, (role, part) in enumerate(df.groupby("role", sort=False)):
        color = SERIES_COLORS[i % len(SERIES_COLORS)]
        x = part["group"].map(xpos).to_numpy() + (i - (n_roles - 1) / 2) * dodge
        ax.plot(x, part["assumed"].astype(float), ls="--", marker="o", mfc="none", color=color, lw=1.2,
                label=f"{role} assumed")
        if has_measured and part["measured"].notna().any():
            m = part["measured"].astype(float)
            ax.plot(x, m, ls="-", marker="o", color=color, lw=1.6, label=f"{role} {word}")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(tick_labels(groups), rotation=90 if len(groups) > 40 else 0, fontsize=8)
    ax.set_xlabel("decoder block (head = the lm_head's encoder)")
    ax.set_ylabel("firing rate (spikes per neuron per step)")
    top = float(np.nanmax(df[["assumed", "measured"]].astype(float).to_numpy())) if len(df) else 1.0
    ax.set_ylim(0, max(top * 1.35, 0.05))
    where = f"assumed (dashed) vs {word} (solid)" if has_measured else "assumed only: no measured rates in this run"
    ax.set_title(f"Firing rate by block and projection input — {where}")
    ax.legend(title="projection input", ncols=min(4, max(1, df["role"].nunique())), loc="upper right")
    return fig


def fig_histograms(rec: RunRecord):
    """Spike counts per neuron per token, one panel per projection type."""
    if not rec.histograms:
        return None
    plt = _plt()
    n = len(rec.histograms)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(WIDTH_IN, 2.9 * rows + 0.4), layout="constrained", squeeze=False)
    for ax, h in zip(axes.flat, rec.histograms):
        edges = np.asarray(h.edges, dtype=float)
        counts = np.asarray(h.counts, dtype=float)
        frac = counts / counts.sum() if counts.sum() else counts
        ax.bar(edges[:-1], frac, width=np.diff(edges), align="edge", color="#4C72B0", edgecolor="white", lw=0.5)
        ax.set_title(h.projection, fontsize=10)
        signed = edges[0] < 0
        ax.set_xlabel("signed spike count per token" if signed else "spike count per token", fontsize=9)
        ax.set_ylabel("fraction of neurons")
        centers = 0.5 * (edges[:-1] + edges[1:])
        mean_abs = float((np.abs(centers) * frac).sum())
        zero = float(frac[(edges[:-1] <= 0) & (edges[1:] > 0)].sum())
        ax.text(0.98, 0.96, f"mean |k| {mean_abs:.3g}\nzero {100 * zero:.1f} %", transform=ax.transAxes,
                ha="right", va="top", fontsize=8, bbox={"boxstyle": "round", "fc": "white", "ec": "#cccccc"})
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    src = "; ".join(dict.fromkeys(h.source for h in rec.histograms if h.source))
    fig.suptitle(f"Spike-count histograms per projection type{(' — ' + src) if src else ''}", fontsize=11)
    return fig


def fig_mesh(rec: RunRecord):
    """Mesh heatmaps: memory use of every core of the busiest chip, and the load of its on-chip links."""
    m = rec.mapping
    if m is None or m.cores is None or not len(m.cores):
        return None
    plt = _plt()
    cores = m.cores.frame()
    cores["use"] = cores["memory_bytes"] / cores["memory_capacity_bytes"].where(cores["memory_capacity_bytes"] > 0)
    chip_use = cores.groupby("chip")["memory_bytes"].sum()
    chip = chip_use.idxmax()
    mine = cores[cores["chip"] == chip]
    w, h = m.mesh or (int(mine["x"].max()) + 1, int(mine["y"].max()) + 1)
    grid = np.full((h, w), np.nan)
    for x, y, u in zip(mine["x"], mine["y"], mine["use"]):
        grid[int(y), int(x)] = u * 100
    panels = 2 if (m.links is not None and len(m.links)) else 1
    tall = h > 1.2 * w
    fig, axes = plt.subplots(1, panels, figsize=(WIDTH_IN, 6.6 if tall else 4.4), layout="constrained",
                             squeeze=False)
    ax = axes[0, 0]
    cmap = plt.get_cmap("viridis").with_extremes(bad="#eeeeee")
    im = ax.imshow(grid, origin="lower", cmap=cmap, vmin=0, vmax=100, aspect="equal")
    fig.colorbar(im, ax=ax, label="core memory used (% of capacity)", shrink=0.85)
    ax.set_xlabel("mesh x (core)")
    ax.set_ylabel("mesh y (core)")
    n_chips = int(m.summary.get("chips", cores["chip"].nunique()))
    ax.set_title(f"Core memory use, chip {chip} (busiest of {n_chips}); grey = unused", fontsize=10)
    if panels == 2:
        ax = axes[0, 1]
        links = m.links.frame()
        links = links[links["chip"] == chip]
        if len(links):
            import matplotlib.colors as mcolors
            from matplotlib.collections import LineCollection

            segs = [((x0, y0), (x1, y1)) for x0, y0, x1, y1 in links[["x0", "y0", "x1", "y1"]].to_numpy(float)]
            load = links["load"].to_numpy(float)
            norm = mcolors.Normalize(vmin=0, vmax=max(load.max(), 1e-12))
            lc = LineCollection(segs, cmap="inferno_r", norm=norm, linewidths=3.5)
            lc.set_array(load)
            ax.add_collection(lc)
            fig.colorbar(lc, ax=ax, label=f"link load ({m.load_unit})", shrink=0.85, format=_eng())
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(-0.5, h - 0.5)
        ax.set_aspect("equal")
        ax.set_xlabel("mesh x (core)")
        ax.set_ylabel("mesh y (core)")
        ax.set_title(f"On-chip link load, chip {chip}", fontsize=10)
    return fig


def chip_grid_image(chips: pd.DataFrame, values: pd.Series, grid: tuple[int, int, int]) -> tuple[np.ndarray, str, str]:
    """Chips as an image: the x-y grid of a one-layer system, else chip-on-board (y*X + x) by board (z)."""
    gx, gy, gz = grid
    cx, cy = chips["cx"].astype(int).to_numpy(), chips["cy"].astype(int).to_numpy()
    cz = chips["cz"].astype(int).to_numpy() if "cz" in chips.columns else np.zeros(len(chips), int)
    if gz <= 1:
        img = np.full((gy, gx), np.nan)
        img[cy, cx] = values.to_numpy(float)
        return img, "chip grid x", "chip grid y"
    img = np.full((gx * gy, gz), np.nan)
    img[cy * gx + cx, cz] = values.to_numpy(float)
    return img, "board (chip grid z)", f"chip on board (y x {gx} + x)"


def fig_chips(rec: RunRecord):
    """System view: memory placed on each chip and chip-to-chip traffic through it, at its place in the grid."""
    m = rec.mapping
    if m is None or m.chips is None or len(m.chips) < 2 or "memory_bytes" not in m.chips.columns:
        return None
    plt = _plt()
    chips = m.chips.frame()
    grid = m.grid or (int(chips["cx"].max()) + 1, int(chips["cy"].max()) + 1,
                      int(chips["cz"].max()) + 1 if "cz" in chips.columns else 1)
    through = pd.Series(0.0, index=chips["chip"])
    if m.chip_links is not None and len(m.chip_links):
        cl = m.chip_links.frame()
        for col in ("chip_a", "chip_b"):
            through = through.add(cl.groupby(col)["load"].sum(), fill_value=0.0)
    through = through.reindex(chips["chip"]).fillna(0.0)
    wide = grid[2] > 1
    fig, axes = plt.subplots(2 if wide else 1, 1 if wide else 2, figsize=(WIDTH_IN, 5.6 if wide else 4.2),
                             layout="constrained", squeeze=False)
    cmap_mem = plt.get_cmap("viridis").with_extremes(bad="#eeeeee")
    cmap_load = plt.get_cmap("inferno_r").with_extremes(bad="#eeeeee")
    panels = ((chips["memory_bytes"] / 2**20, cmap_mem, "memory (MiB)", "Memory placed on each chip"),
              (pd.Series(through.to_numpy(), index=chips.index), cmap_load, f"{m.load_unit}",
               "Chip-to-chip link traffic through each chip"))
    for ax, (vals, cmap, label, title) in zip(axes.flat, panels):
        img, xl, yl = chip_grid_image(chips, vals, grid)
        im = ax.imshow(img, origin="lower", cmap=cmap, aspect="auto", interpolation="nearest", vmin=0)
        fig.colorbar(im, ax=ax, label=label, shrink=0.9, format=_eng())
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.set_title(title, fontsize=10)
        if img.shape[1] <= 16:
            ax.set_xticks(range(img.shape[1]))
        ax.set_yticks(range(img.shape[0]))
    fig.suptitle(f"The system: {len(chips)} of {grid[0] * grid[1] * grid[2]} chips used (grey = unused)",
                 fontsize=11)
    return fig


def fig_latency(rec: RunRecord):
    """Latency of one token: the parts of its critical path (they add up to the total), and per layer."""
    t = rec.timing
    if t is None:
        return None
    plt = _plt()
    parts = {k: v for k, v in t.breakdown_ns.items() if v > 0} or {"total": t.latency_per_token_ns}
    parts = dict(sorted(parts.items(), key=lambda kv: kv[1]))
    has_layers = t.by_layer is not None and len(t.by_layer) > 0
    fig, axes = plt.subplots(1, 2 if has_layers else 1, figsize=(WIDTH_IN, 4.2), layout="constrained",
                             squeeze=False, gridspec_kw={"width_ratios": [1, 1.5]} if has_layers else None)
    ax = axes[0, 0]
    factor, unit = time_unit(max(t.latency_per_token_ns, max(parts.values())))
    vals = np.array(list(parts.values())) * factor
    total = sum(parts.values()) or 1.0
    ax.barh(np.arange(len(parts)), vals, color=SERIES_COLORS[0], height=0.7)
    ax.set_yticks(np.arange(len(parts)))
    ax.set_yticklabels(list(parts))
    for i, (v, raw) in enumerate(zip(vals, parts.values())):
        ax.text(v, i, f" {v:.3g} {unit} ({100 * raw / total:.0f} %)", va="center", fontsize=8)
    ax.set_xlim(0, vals.max() * 1.45)
    ax.set_xlabel(f"time per token on the critical path ({unit})")
    ax.set_title(f"Latency per token: {t.latency_per_token_ns * factor:.3g} {unit}")
    if has_layers:
        ax = axes[0, 1]
        bl = t.by_layer.frame()
        if "block" in bl.columns and len(bl) > MAX_LAYER_BARS:
            bl["group"] = group_labels(bl["block"].tolist(), bl["layer"].tolist())
            bl = bl.groupby("group", sort=False)["latency_ns"].sum()
            xl = "decoder block"
        else:
            bl = bl.set_index("layer")["latency_ns"]
            xl = "layer (its phase: an encoder runs with the projections it feeds)"
        f2, u2 = time_unit(float(bl.max()))
        ax.bar(np.arange(len(bl)), bl.to_numpy(float) * f2, color=SERIES_COLORS[1])
        ax.set_xticks(np.arange(len(bl)))
        if xl == "decoder block":
            crowded = len(bl) > 16  # a narrow panel: every other block number
            ax.set_xticklabels([lab if (not crowded or not lab.isdigit() or int(lab) % 2 == 0) else ""
                                for lab in tick_labels(bl.index)], fontsize=7)
        else:
            ax.set_xticklabels(bl.index, rotation=90, fontsize=7)
        ax.set_xlabel(xl, fontsize=9)
        ax.set_ylabel(f"busy time per token ({u2})")
        ax.set_title(f"Time per token by {xl.split(' ')[0]} {xl.split(' ')[1] if xl.startswith('decoder') else ''}")
    return fig


#: stem -> (title, figure function); how each is computed is in CAPTIONS
FIGURES: dict[str, tuple[str, Callable[[RunRecord], object]]] = {
    "energy_totals": ("Paper-style vs hardware-aware energy", fig_energy_totals),
    "energy_by_layer": ("Energy by layer, stacked by component", fig_energy_by_layer),
    "energy_by_role": ("Energy by layer role", fig_energy_by_role),
    "firing_rates": ("Firing rate by layer: measured vs assumed", fig_firing_rates),
    "spike_histograms": ("Spike-count histograms per projection type", fig_histograms),
    "mesh_heatmaps": ("Mesh heatmaps: core memory use and link load", fig_mesh),
    "chip_heatmap": ("Per-chip use across the system", fig_chips),
    "latency": ("Latency per token, broken down", fig_latency),
}

CAPTIONS = {
    "energy_totals": (
        "Left: the run's energy divided by its tokens under each energy table, stacked by component. Paper-style "
        "prices the same counts with the papers' compute-only table ({paper_prices}; bitop: scaled by "
        "w_bits x a_bits / 128); hardware-aware prices every counted action with the hardware's table. Right: the "
        "hardware-aware energy per token of each counted action, with its share of the total."),
    "energy_by_layer": (
        "Hardware-aware energy of each layer (summed per decoder block when the model has more than "
        f"{MAX_LAYER_BARS} layers with energy) divided by the run's tokens, stacked by component: compute "
        "(ac, mac, add), memory (synapse, state, KV-cache and embedding reads/writes), network (messages, hops, "
        "barriers), neuron (updates, spikes) and static (static power x run time, when the run has timing and the "
        "engine attributes it to layers; the whole system's static energy is left out here and named in the "
        "title)."),
    "energy_by_role": (
        "The same hardware-aware per-layer energy summed by the layer's role (qkv, o, gate_up, down, attention "
        "score/value, lm_head, encoders and non-linear ops carry their own role), with each role's share."),
    "firing_rates": (
        "For every spike source (the spike encoders in front of each projection, or LIF layers): the firing rate "
        "the workload assumes (spikes per neuron per unfolded step; the analytic and statistical engines use it) "
        "and, when the run measured them, the rate the functional engine measured on real inputs."),
    "spike_histograms": (
        "How many spikes each neuron of a projection's input emitted per token (signed for ternary spikes: -k is k "
        "negative spikes), as a fraction of all neuron-tokens of that projection type summed over every block, "
        "with the mean number of spikes |k| and the share of silent neurons; one panel per projection type. "
        "Measured by the functional engine or drawn by the statistical simulator (the source is in the title)."),
    "mesh_heatmaps": (
        "The busiest chip of the mapping (most memory placed): left, each core's used memory as a share "
        "of its capacity at its mesh position (grey: no layer placed); right, every on-chip link coloured by the "
        "messages it carries per token (both directions) under dimension-order (XY) routing."),
    "chip_heatmap": (
        "Every chip of the system at its place in the chip grid (a multi-board system: one column per board, one "
        "row per chip position on the board): the memory the mapper placed on it, and the messages per token on "
        "the chip-to-chip links that touch it (each link counted at both ends). Grey: no layer placed."),
    "latency": (
        "Left: the simulator's latency of one token split into the parts of its critical path (the phases the "
        "token waited on, each attributed to what bounded it: neuro, embedded, KV-cache or accumulator cores, "
        "network latency or contention, barriers); the parts add up to the latency. Right: how long each layer's "
        "phase was busy per token (mean over the simulated tokens; phases overlap in time, so these do not add up "
        "to the latency)."),
}


def listed_prices(rec: RunRecord, label: str) -> str:
    """The prices an energy table of the run charged, as the run record lists them (``mac 4.6 pJ (bitop), ...``)."""
    prefix = f"{label}: "
    return ", ".join(f"{a.item[len(prefix):]} {a.value}" for a in rec.assumptions
                     if a.item.startswith(prefix) and a.value and a.value != "not charged")


def caption(stem: str, rec: RunRecord) -> str:
    """The caption of a figure for this run: :data:`CAPTIONS` with the run's own figures filled in."""
    paper = rec.paper_style
    prices = f"{paper.table}: {listed_prices(rec, paper.label) or 'nothing charged'}" if paper else "not in this run"
    return CAPTIONS[stem].replace("{paper_prices}", prices)


def render(fig) -> tuple[bytes, bytes]:
    """(PNG bytes, SVG bytes) of a figure; closes it. Metadata dates are left out so output is reproducible."""
    plt = _plt()
    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=110, metadata={"Software": None})
    fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return png.getvalue(), svg.getvalue()


def write_figure(fig, folder: Path, stem: str) -> tuple[Path, Path, bytes]:
    png, svg = render(fig)
    (folder / f"{stem}.png").write_bytes(png)
    (folder / f"{stem}.svg").write_bytes(svg)
    return folder / f"{stem}.png", folder / f"{stem}.svg", svg
