"""The neuromorphic-or-not report: one table and one figure of a neuromorphic run beside conventional baselines.

Every number is the :class:`neurosim.versus.Comparison`'s (computed by the run pipeline and the roofline engine),
none is typed in. The figure has the energy per token of a decode step against the firing rate (the neuromorphic
run's modelled curve, its simulated rates, each baseline as a line, the break-even rates where they cross) above
four panels that put every system side by side: energy per token, latency per token, throughput and the
energy-delay product.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from neurosim.report import figures as F
from neurosim.report.html import FigureOut, esc, figure_html, page, table_html

METRICS = (("energy_per_token_J", "energy per token (J)"), ("latency_per_token_ms", "latency per token (ms)"),
           ("throughput_tokens_per_s", "throughput (tokens/s)"), ("edp_per_token_Js", "energy x delay (J s)"))


def fig_versus(cmp):
    """Energy vs firing rate (top) and the four headline metrics per system (bottom), decode step."""
    plt = F._plt()
    dec = cmp.table[cmp.table["phase"] == "decode"].reset_index(drop=True)
    fig = plt.figure(figsize=(F.WIDTH_IN, 7.6), layout="constrained")
    gs = fig.add_gridspec(2, 4, height_ratios=[1.25, 1.0])
    ax = fig.add_subplot(gs[0, :])
    colors = {s: F.SERIES_COLORS[i % len(F.SERIES_COLORS)] for i, s in enumerate(dec["system"])}
    neuro = dec.iloc[0]
    if len(cmp.curve):
        ax.plot(cmp.curve["rate"], cmp.curve["energy_per_token_J"], color=colors[neuro["system"]], lw=2,
                label=f"{neuro['system']}: modelled (analytic dynamic + simulated remainder)")
        ax.plot(cmp.curve["rate"], cmp.curve["dynamic_per_token_J"], color=colors[neuro["system"]], lw=1, ls="--",
                label="its dynamic energy alone (analytic); dotted: each baseline's without idle power")
    if len(cmp.simulated):
        ax.scatter(cmp.simulated["rate"], cmp.simulated["energy_per_token_J"], color=colors[neuro["system"]],
                   zorder=5, s=28, label="simulated (event-driven)")
    if cmp.workload_rate is not None:
        ax.scatter([cmp.workload_rate], [neuro["energy_per_token_J"]], marker="*", s=120, zorder=6,
                   color=colors[neuro["system"]], edgecolor="black", label="the workload's own rates (simulated)")
    for _, row in dec.iloc[1:].iterrows() if len(cmp.curve) else ():
        ax.axhline(row["energy_per_token_J"], color=colors[row["system"]], lw=1.3, label=row["system"])
        ax.axhline(row["dynamic_per_token_J"], color=colors[row["system"]], lw=0.8, ls=":")
    for b in cmp.break_even:
        if b.status == "crosses" and b.rate is not None:
            ax.plot([b.rate], [b.simulated_J], marker="X", ms=10, color="black", zorder=6)
            ax.annotate(f"{b.rate:.3g}", (b.rate, b.simulated_J), textcoords="offset points", xytext=(6, -12),
                        fontsize=9)
    if len(cmp.curve):
        ax.set_yscale("log")
        ax.set_xlim(0, 1)
        ax.set_xlabel("firing rate of every spike-encoded input (spikes per neuron per step)")
        ax.set_ylabel("energy per decoded token (J)")
        ax.set_title("Energy per token against the firing rate; X: break-even (simulated there)")
        ax.legend(fontsize=7, loc="upper left", ncol=2)
    else:
        _phase_bars(ax, cmp.table, colors)
    for i, (col, label) in enumerate(METRICS):
        a = fig.add_subplot(gs[1, i])
        vals = dec[col].to_numpy(dtype=float)
        y = np.arange(len(dec))
        a.barh(y, vals, color=[colors[s] for s in dec["system"]])
        a.set_xscale("log")
        pos = vals[np.isfinite(vals) & (vals > 0)]
        if len(pos) and pos.max() > 10 * pos.min():  # more than a decade: major ticks only (minor ones collide)
            a.xaxis.set_minor_formatter(plt.NullFormatter())
        a.set_yticks(y)
        a.set_yticklabels(dec["system"] if i == 0 else [""] * len(dec), fontsize=8)
        a.invert_yaxis()
        a.set_title(label, fontsize=9)
        for yy, v in zip(y, vals):
            if np.isfinite(v) and v > 0:
                a.text(v, yy, f" {v:.3g}", va="center", fontsize=7)
    return fig


def _phase_bars(ax, table: pd.DataFrame, colors: dict) -> None:
    """Energy per token of every system, one group per phase (no firing rate to sweep: a non-spiking workload)."""
    phases = list(dict.fromkeys(table["phase"]))
    systems = list(dict.fromkeys(table["system"]))
    w = 0.8 / len(systems)
    for i, sys_ in enumerate(systems):
        vals = [table[(table["system"] == sys_) & (table["phase"] == ph)]["energy_per_token_J"] for ph in phases]
        ys = [float(v.iloc[0]) if len(v) else np.nan for v in vals]
        ax.bar(np.arange(len(phases)) + (i - (len(systems) - 1) / 2) * w, ys, width=w, label=sys_,
               color=colors.get(sys_, F.SERIES_COLORS[i % len(F.SERIES_COLORS)]))
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(phases)))
    ax.set_xticklabels(phases)
    ax.set_ylabel("energy per token (J)")
    ax.set_title("Energy per token by phase (no spike-encoded input: no firing-rate axis)")
    ax.legend(fontsize=7, loc="upper right")


def write_versus(cmp, folder: str | Path, step=lambda _m: None) -> None:
    """index.html, versus.png/svg and the CSV files of a comparison into ``folder``."""
    folder = Path(folder)
    step("figure")
    _, _, svg = F.write_figure(fig_versus(cmp), folder, "versus")
    fig = FigureOut("versus", "Neuromorphic or not",
                    "Top: energy per decoded token against the firing rate. The neuromorphic curve is the analytic "
                    "engine's dynamic energy plus the simulations' remainder (static power over the simulated "
                    "latency), interpolated between the simulated rates (dots); each baseline is a horizontal line. "
                    "Bottom: each system's energy per token, latency per token, throughput and energy-delay product "
                    "(log scales) at the workload's own rates.", svg=svg)
    step("tables")
    tables = {"versus_table.csv": cmp.table, "versus_curve.csv": cmp.curve, "versus_simulated.csv": cmp.simulated,
              "versus_break_even.csv": pd.DataFrame([{**b.__dict__, "gap": b.gap} for b in cmp.break_even])}
    for name, df in tables.items():
        df.to_csv(folder / name, index=False)
    body = ["<h2>Side by side</h2>", table_html(cmp.table.drop(columns=["notes"])), figure_html(fig),
            "<h2>Break-even firing rates</h2>",
            "<ul>" + "".join(f"<li><b>{esc(b.baseline)}</b>: {esc(b.text())}"
                             + (f" (simulated there {b.simulated_J:.4g} J/token vs {b.baseline_J:.4g} J/token)"
                                if b.simulated_J is not None else "") + "</li>" for b in cmp.break_even) + "</ul>",
            "<h2>Notes</h2>", "<ul class='notes'>" + "".join(f"<li>{esc(n)}</li>" for n in cmp.notes)
            + "".join(f"<li>{esc(r['system'])} ({esc(r['phase'])}): {esc(r['notes'])}</li>"
                      for _, r in cmp.table.iterrows()) + "</ul>"]
    csvs = " · ".join(f'<a href="{esc(n)}">{esc(n)}</a>' for n in tables)
    body.append(f'<p class="files">CSV files: {csvs}</p>')
    (folder / "index.html").write_text(
        page(f"Neuromorphic or not: {cmp.workload} on {cmp.hardware}", "beside conventional baselines", body,
             "neurosim compare --baseline · self-contained: no scripts, no network"), encoding="utf-8")
