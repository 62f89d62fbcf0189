"""Side-by-side report of saved runs: two mappings, two hardware models, two encodings (or more).

Every figure puts the runs next to each other on the same axes and units; the tables put one run per column and
list first the settings in which the runs differ, so a reader sees what changed before what it cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neurosim.errors import NeurosimError
from neurosim.report import figures as F
from neurosim.report.html import FigureOut, esc, figure_html, page, table_html
from neurosim.report.record import COMPONENTS, RunRecord

Step = Any


def default_labels(records: Sequence[RunRecord]) -> list[str]:
    """Name each run by what sets it apart: workload, hardware, mode, or the first differing setting."""
    diffs = differences(records)
    labels = []
    for i, r in enumerate(records):
        parts = [f"{k}={v}" for k, v in diffs.iloc[:, [0, i + 1]].itertuples(index=False, name=None)][:2] \
            if len(diffs) else []
        labels.append(", ".join(parts) or f"run {i + 1}")
    if len(set(labels)) < len(labels):
        labels = [f"{i + 1}: {lab}" for i, lab in enumerate(labels)]
    return labels


def _settings(r: RunRecord) -> dict[str, Any]:
    flat: dict[str, Any] = {"workload": r.workload.get("name"), "hardware": r.hardware.get("name"),
                            "energy table": (r.hardware_aware.table if r.hardware_aware else ""),
                            "mode": r.mode, "engine": r.engine, "tokens": r.tokens}
    spec = r.workload.get("spec", {})
    for k, v in spec.items():
        if k in ("name", "description", "source", "notes", "version", "family", "paper_convention"):
            continue
        if isinstance(v, dict):
            for k2, v2 in v.items():
                flat[f"{k}.{k2}"] = v2
        else:
            flat[k] = v
    if r.mapping is not None:
        flat["mapping strategy"] = r.mapping.strategy
        flat["placement"] = r.mapping.placement
    if r.timing is not None and r.timing.mode:
        flat["timing mode"] = r.timing.mode
    return flat


def differences(records: Sequence[RunRecord]) -> pd.DataFrame:
    """Settings whose value is not the same in every run: one row per setting, one column per run."""
    flats = [_settings(r) for r in records]
    keys = list(dict.fromkeys(k for f in flats for k in f))
    rows = []
    for k in keys:
        vals = [f.get(k) for f in flats]
        if len({repr(v) for v in vals}) > 1:
            rows.append([k, *[("" if v is None else str(v)) for v in vals]])
    return pd.DataFrame(rows, columns=["setting", *[f"run {i + 1}" for i in range(len(records))]])


def summary_frame(records: Sequence[RunRecord], labels: Sequence[str]) -> pd.DataFrame:
    """The headline quantities of every run, one column per run."""
    quantities: list[tuple[str, list[Any]]] = []

    def add(name: str, fn) -> None:
        vals = []
        for r in records:
            try:
                vals.append(fn(r))
            except (AttributeError, KeyError, TypeError, ZeroDivisionError):
                vals.append(None)
        if any(v is not None for v in vals):
            quantities.append((name, vals))

    add("workload", lambda r: r.workload["name"])
    add("hardware", lambda r: r.hardware.get("name"))
    add("mode / engine", lambda r: f"{r.mode} / {r.engine}")
    add("tokens", lambda r: r.tokens)
    top = max((b.energy_pj / r.tokens for r in records for b in r.energy), default=0.0)
    f, u = F.energy_unit(top)
    add(f"paper-style energy ({u}/token)", lambda r: r.paper_style.energy_pj * f / r.tokens)
    add(f"hardware-aware energy ({u}/token)", lambda r: r.hardware_aware.energy_pj * f / r.tokens)
    for c in COMPONENTS:
        add(f"  {c} ({u}/token)", lambda r, c=c: (r.hardware_aware.total_pj.get(c, 0.0) * f / r.tokens)
            if (c != "static" or r.hardware_aware.static_included) else "not estimated")
    add("hardware-aware / paper-style", lambda r: r.hardware_aware.energy_pj / r.paper_style.energy_pj)
    add("accumulates per token", lambda r: r.totals["acs"] / r.tokens)
    add("spikes per token", lambda r: r.totals["spikes"] / r.tokens)
    add("messages per token", lambda r: (r.totals.get("messages") or None) and r.totals["messages"] / r.tokens)
    add("on-chip hops per token", lambda r: (r.totals.get("hops_onchip") or None) and r.totals["hops_onchip"] / r.tokens)
    add("chip-to-chip hops per token", lambda r: (r.totals.get("hops_chip") or None) and r.totals["hops_chip"] / r.tokens)
    add("latency per token (ms)", lambda r: r.timing.latency_per_token_ns * 1e-6)
    add("throughput (tokens/s)", lambda r: r.timing.throughput_tokens_per_s)
    add("chips used", lambda r: r.mapping.summary["chips"])
    add("cores used", lambda r: r.mapping.summary["cores"])
    rows = [[name, *vals] for name, vals in quantities]
    return pd.DataFrame(rows, columns=["quantity", *labels])


def energy_components_frame(records: Sequence[RunRecord], labels: Sequence[str]) -> pd.DataFrame:
    rows = []
    for lab, r in zip(labels, records):
        for b in r.energy:
            rows.append({"run": lab, "estimate": b.label, "energy_table": b.table,
                         **{f"{c}_pJ_per_token": b.total_pj.get(c, 0.0) / r.tokens for c in COMPONENTS},
                         "total_pJ_per_token": b.energy_pj / r.tokens})
    return pd.DataFrame(rows)


def energy_by_role_frame(records: Sequence[RunRecord], labels: Sequence[str]) -> pd.DataFrame:
    cols = {}
    for lab, r in zip(labels, records):
        b = r.hardware_aware or (r.energy[0] if r.energy else None)
        if b is None:
            continue
        df = b.by_layer.frame()
        df.loc[df["layer"] == "", "role"] = "system (barriers)"
        df.loc[df["layer"] == "(static)", "role"] = "static"
        df["role"] = df["role"].replace("", "other")
        cols[lab] = df.groupby("role", sort=False)[list(COMPONENTS)].sum().sum(axis=1) / r.tokens
    out = pd.DataFrame(cols).fillna(0.0)
    out = out.loc[out.sum(axis=1).sort_values(ascending=False).index]
    out.index.name = "role"
    return out.reset_index()


# --- figures -----------------------------------------------------------------------------------------------
def fig_totals(records: Sequence[RunRecord], labels: Sequence[str]):
    plt = F._plt()
    bars = []  # (x label, {component: pJ per token})
    for lab, r in zip(labels, records):
        for b in r.energy:
            bars.append((f"{lab}\n{b.label}", {c: b.total_pj.get(c, 0.0) / r.tokens for c in COMPONENTS}))
    frame = pd.DataFrame([v for _, v in bars], index=[k for k, _ in bars])
    factor, unit = F.energy_unit(float(frame.sum(axis=1).max() or 0))
    fig, ax = plt.subplots(figsize=(F.WIDTH_IN, 4.8), layout="constrained")
    F._stacked_bars(ax, frame, factor)
    ax.set_xticks(np.arange(len(frame)))
    ax.set_xticklabels(frame.index, fontsize=8, rotation=0 if len(frame) <= 4 else 30,
                       ha="center" if len(frame) <= 4 else "right")
    tot = frame.sum(axis=1).to_numpy() * factor
    for i, v in enumerate(tot):
        ax.text(i, v, f"{v:.3g} {unit}", ha="center", va="bottom", fontsize=9, fontweight="bold")
    ax.set_ylim(0, tot.max() * 1.15 if tot.max() > 0 else 1)
    ax.set_ylabel(f"energy per token ({unit})")
    ax.set_title("Energy per token of each run: paper-style and hardware-aware, stacked by component")
    ax.legend(title="component", loc="upper left")
    return fig


def fig_by_role(records: Sequence[RunRecord], labels: Sequence[str]):
    df = energy_by_role_frame(records, labels).set_index("role")
    if df.empty:
        return None
    df = df[df.max(axis=1) > 0].iloc[::-1]
    plt = F._plt()
    factor, unit = F.energy_unit(float(df.to_numpy().max()))
    n = len(df.columns)
    h = 0.8 / n
    fig, ax = plt.subplots(figsize=(F.WIDTH_IN, 1.0 + 0.22 * len(df) * max(n, 2)), layout="constrained")
    y = np.arange(len(df))
    for i, lab in enumerate(df.columns):
        ax.barh(y + ((n - 1) / 2 - i) * h, df[lab].to_numpy() * factor, height=h, label=lab,
                color=F.SERIES_COLORS[i % len(F.SERIES_COLORS)])
    ax.set_yticks(y)
    ax.set_yticklabels(df.index)
    ax.set_xlabel(f"hardware-aware energy per token ({unit})")
    ax.set_ylabel("layer role")
    ax.set_title("Hardware-aware energy by layer role, run by run")
    ax.legend(title="run", loc="lower right", fontsize=8)
    return fig


def fig_rates(records: Sequence[RunRecord], labels: Sequence[str]):
    rows = []
    for lab, r in zip(labels, records):
        if r.rates is None or not len(r.rates):
            continue
        df = r.rates.frame()
        for role, part in df.groupby("role", sort=False):
            rows.append({"run": lab, "role": role, "kind": "assumed", "rate": part["assumed"].astype(float).mean()})
            if part["measured"].notna().any():
                rows.append({"run": lab, "role": role, "kind": "measured",
                             "rate": part["measured"].astype(float).mean()})
    if not rows:
        return None
    df = pd.DataFrame(rows)
    df["series"] = df["run"] + " (" + df["kind"] + ")"
    piv = df.pivot_table(index="role", columns="series", values="rate", sort=False)
    plt = F._plt()
    n = len(piv.columns)
    w = 0.8 / n
    fig, ax = plt.subplots(figsize=(F.WIDTH_IN, 4.0), layout="constrained")
    x = np.arange(len(piv))
    for i, s in enumerate(piv.columns):
        ax.bar(x + (i - (n - 1) / 2) * w, piv[s].to_numpy(), width=w, label=s,
               color=F.SERIES_COLORS[i % len(F.SERIES_COLORS)], hatch="//" if "assumed" in s else None,
               edgecolor="white")
    ax.set_xticks(x)
    ax.set_xticklabels(piv.index)
    ax.set_xlabel("projection input")
    ax.set_ylabel("mean firing rate (spikes per neuron per step)")
    ax.set_title("Firing rate per projection input, mean over blocks (hatched: assumed)")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_ylim(0, float(np.nanmax(piv.to_numpy())) * 1.35)
    return fig


def fig_latency(records: Sequence[RunRecord], labels: Sequence[str]):
    timed = [(lab, r) for lab, r in zip(labels, records) if r.timing is not None]
    if not timed:
        return None
    plt = F._plt()
    parts = list(dict.fromkeys(k for _, r in timed for k in r.timing.breakdown_ns))
    top = max(r.timing.latency_per_token_ns for _, r in timed)
    factor, unit = F.time_unit(top)
    fig, ax = plt.subplots(figsize=(F.WIDTH_IN, 1.2 + 0.55 * len(timed)), layout="constrained")
    for j, (lab, r) in enumerate(timed):
        left = 0.0
        bd = r.timing.breakdown_ns or {"total": r.timing.latency_per_token_ns}
        for i, p in enumerate(parts or ["total"]):
            v = bd.get(p, 0.0) * factor
            ax.barh([j], [v], left=left, color=F.SERIES_COLORS[i % len(F.SERIES_COLORS)], height=0.6,
                    label=p if j == 0 else None)
            left += v
    ax.set_yticks(range(len(timed)))
    ax.set_yticklabels([lab for lab, _ in timed], fontsize=8)
    ax.set_xlabel(f"latency per token ({unit})")
    ax.set_title("Latency per token, broken down")
    ax.legend(title="part", fontsize=8, loc="lower right")
    return fig


COMPARE_FIGURES = {
    "compare_energy": ("Energy per token, run by run", fig_totals,
                       ("Each run's energy divided by its tokens under each energy table, stacked by component "
                       "(the same computation as a single report's first figure).")),
    "compare_energy_by_role": ("Energy by layer role", fig_by_role,
                               "Hardware-aware energy per token summed by layer role, one bar per run."),
    "compare_rates": ("Firing rates", fig_rates,
                      ("Mean over blocks of each projection input's firing rate, assumed and (when measured) "
                      "measured, one bar per run.")),
    "compare_latency": ("Latency per token", fig_latency,
                        "Each timed run's latency per token split into the parts its simulator reports."),
}


def write_compare(records: Sequence[RunRecord], folder: str | Path, labels: Sequence[str] | None = None,
                  sources: Sequence[str] = (), step=lambda _m: None) -> None:
    if len(records) < 2:
        raise NeurosimError("compare needs at least two runs")
    labels = list(labels) if labels else default_labels(records)
    if len(labels) != len(records):
        raise NeurosimError(f"--label given {len(labels)} times for {len(records)} runs; give one per run or none")
    folder = Path(folder)
    figs = []
    for stem, (title, fn, caption) in COMPARE_FIGURES.items():
        step(f"figure: {title}")
        fig = fn(records, labels)
        if fig is None:
            figs.append(FigureOut(stem, title, caption, missing="none of the runs has data for it"))
            continue
        _, _, svg = F.write_figure(fig, folder, stem)
        figs.append(FigureOut(stem, title, caption, svg=svg))
    step("tables")
    diffs = differences(records)
    diffs.columns = ["setting", *labels]
    tables = {"compare_differences.csv": diffs, "compare_summary.csv": summary_frame(records, labels),
              "compare_energy_components.csv": energy_components_frame(records, labels),
              "compare_energy_by_role.csv": energy_by_role_frame(records, labels)}
    for name, df in tables.items():
        df.to_csv(folder / name, index=False)
    for i, r in enumerate(records):
        r.save(folder / f"run_{i + 1}.json")
    step("index.html")
    body = ["<h2>The runs</h2>",
            "<ul>" + "".join(f"<li><b>{esc(lab)}</b>: {esc(r.name)}"
                             + (f" — <code>{esc(src)}</code>" if src else "") + "</li>"
                             for lab, r, src in zip(labels, records, list(sources) + [""] * len(records)))
            + "</ul>",
            "<h2>What differs</h2>",
            table_html(diffs) if len(diffs) else "<p>The runs have the same settings.</p>",
            "<h2>Side by side</h2>", table_html(tables["compare_summary.csv"])]
    for f in figs:
        body.append(figure_html(f))
    body += ["<h3>Energy per token by layer role (pJ/token)</h3>", table_html(tables["compare_energy_by_role.csv"])]
    notes = [(lab, n) for lab, r in zip(labels, records) for n in r.notes]
    if notes:
        body += ["<h2>Notes of the runs</h2>",
                 "<ul>" + "".join(f"<li>{esc(lab)}: {esc(n)}</li>" for lab, n in notes) + "</ul>"]
    csvs = " · ".join(f'<a href="{esc(n)}">{esc(n)}</a>' for n in tables)
    body.append(f'<p class="files">CSV files: {csvs}</p>')
    title = "Comparison: " + " vs ".join(labels)
    sub = f"{len(records)} saved runs, side by side"
    (folder / "index.html").write_text(page(title, sub, body, "neurosim compare · self-contained: no scripts, "
                                            "no network"), encoding="utf-8")
