"""Write one run's report into a folder: figures (PNG + SVG), a CSV per table, ``run.json`` and ``index.html``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from neurosim.report import figures as F
from neurosim.report.html import FigureOut, esc, figure_html, fmt, kv_table, page, table_html
from neurosim.report.record import COMPONENTS, RunRecord

Step = Callable[[str], None]


def _quiet(_msg: str) -> None:
    return None


# --- tables (each is written as CSV and shown in the HTML) -----------------------------------------------------
def energy_components_frame(rec: RunRecord) -> pd.DataFrame:
    rows = []
    for b in rec.energy:
        total = b.energy_pj
        rows.append({"estimate": b.label, "energy_table": b.table, "compute_only": b.compute_only,
                     **{f"{c}_pJ_per_token": b.total_pj.get(c, 0.0) / rec.tokens for c in COMPONENTS},
                     "total_pJ_per_token": total / rec.tokens, "total_J_run": total * 1e-12})
    return pd.DataFrame(rows)


def energy_by_block_frame(rec: RunRecord) -> pd.DataFrame:
    """Energy per token by decoder block and component, for every energy estimate (pJ per token)."""
    frames = []
    for b in rec.energy:
        df = b.by_layer.frame()
        df["group"] = F.group_labels(df["block"].tolist(), df["layer"].tolist())
        g = df.groupby("group", sort=False)[list(COMPONENTS)].sum() / rec.tokens
        g["total"] = g.sum(axis=1)
        g.columns = [f"{c}_pJ_per_token" for c in g.columns]
        g.insert(0, "estimate", b.label)
        frames.append(g.reset_index().rename(columns={"group": "block"}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def layers_frame(rec: RunRecord) -> pd.DataFrame:
    return rec.layers.frame()


def assumptions_frame(rec: RunRecord) -> pd.DataFrame:
    return pd.DataFrame([a.model_dump() for a in rec.assumptions],
                        columns=["item", "value", "source", "assumption", "where"])


def histograms_frame(rec: RunRecord) -> pd.DataFrame:
    rows = []
    for h in rec.histograms:
        for lo, hi, c in zip(h.edges[:-1], h.edges[1:], h.counts):
            rows.append({"projection": h.projection, "bin_low": lo, "bin_high": hi, "count": c, "unit": h.unit,
                         "source": h.source})
    return pd.DataFrame(rows)


def headlines_frame(rec: RunRecord) -> pd.DataFrame:
    return pd.DataFrame([h.model_dump() for h in rec.headlines()], columns=["label", "value", "unit", "note"])


def totals_frame(rec: RunRecord) -> pd.DataFrame:
    return pd.DataFrame([{"quantity": k, "value": v} for k, v in rec.totals.items()])


def tables_of(rec: RunRecord) -> dict[str, pd.DataFrame]:
    """Every table of the report, by CSV file name."""
    out = {
        "headlines.csv": headlines_frame(rec),
        "totals.csv": totals_frame(rec),
        "energy_components.csv": energy_components_frame(rec),
        "energy_by_block.csv": energy_by_block_frame(rec),
        "layers.csv": layers_frame(rec),
    }
    for b in rec.energy:
        key = b.label.replace(" ", "_")
        out[f"energy_by_layer_{key}.csv"] = b.by_layer.frame()
        if b.by_action is not None:
            out[f"energy_by_action_{key}.csv"] = b.by_action.frame()
    if rec.rates is not None:
        out["rates.csv"] = rec.rates.frame()
    if rec.histograms:
        out["spike_histograms.csv"] = histograms_frame(rec)
    m = rec.mapping
    if m is not None:
        out["mapping_summary.csv"] = pd.DataFrame([{"quantity": k, "value": v} for k, v in m.summary.items()])
        for name, t in (("mapping_cores.csv", m.cores), ("mapping_links.csv", m.links),
                        ("mapping_chips.csv", m.chips), ("mapping_chip_links.csv", m.chip_links)):
            if t is not None:
                out[name] = t.frame()
    t = rec.timing
    if t is not None:
        out["latency.csv"] = pd.DataFrame([{"part": k, "latency_ns_per_token": v} for k, v in t.breakdown_ns.items()]
                                          + [{"part": "total", "latency_ns_per_token": t.latency_per_token_ns}])
        if t.by_layer is not None:
            out["latency_by_layer.csv"] = t.by_layer.frame()
    out["assumptions.csv"] = assumptions_frame(rec)
    return out


FIGURE_CSV = {
    "energy_totals": ["energy_components.csv"],
    "energy_by_layer": ["energy_by_block.csv", "layers.csv"],
    "energy_by_role": ["layers.csv"],
    "firing_rates": ["rates.csv"],
    "spike_histograms": ["spike_histograms.csv"],
    "mesh_heatmaps": ["mapping_cores.csv", "mapping_links.csv"],
    "chip_heatmap": ["mapping_chips.csv"],
    "latency": ["latency.csv"],
}


def missing_reason(stem: str, rec: RunRecord) -> str:
    """Why a figure has no data in this run (shown instead of the figure)."""
    hw = rec.hardware.get("name", "?")
    kind = rec.hardware.get("kind", "hardware")
    if stem == "spike_histograms":
        if rec.engine == "analytic":
            return ("no spike-count histograms in this run: the analytic engine knows only mean firing rates; "
                    "--measure-rates (the functional engine on real text) records them")
        return (f"the {rec.engine} engine recorded no spike-count histograms in this run; --measure-rates (the "
                "functional engine on real text) records them")
    if stem in ("mesh_heatmaps", "chip_heatmap"):
        if kind == "energy-table":
            return f"--hw {hw} is an energy table, not a hardware model: nothing is mapped"
        if rec.mapping is None:
            return f"no mapping in this run (the mapper did not run for {hw})"
        return "the mapping has a single chip" if stem == "chip_heatmap" else "the mapping lists no cores"
    if stem == "latency":
        return (f"no timing in this run: the {rec.engine} engine does not time anything; the event-driven "
                "simulator (--mode statistical or exact) does")
    if stem == "firing_rates":
        return "the workload has no spike sources"
    return "no data for this figure in this run"


def draw_figures(rec: RunRecord, folder: Path, step: Step = _quiet) -> list[FigureOut]:
    out = []
    for stem, (title, fn) in F.FIGURES.items():
        step(f"figure: {title}")
        fig = fn(rec)
        if fig is None:
            out.append(FigureOut(stem, title, F.caption(stem, rec), missing=missing_reason(stem, rec)))
            continue
        _, _, svg = F.write_figure(fig, folder, stem)
        out.append(FigureOut(stem, title, F.caption(stem, rec), svg=svg))
    return out


def write_report(rec: RunRecord, folder: str | Path, step: Step = _quiet) -> list[Path]:
    """Write the whole report of ``rec`` into ``folder`` (which the caller stages); returns the files written."""
    folder = Path(folder)
    figs = draw_figures(rec, folder, step)
    step("tables")
    tables = tables_of(rec)
    for name, df in tables.items():
        df.to_csv(folder / name, index=False)
    rec.save(folder / "run.json")
    step("index.html")
    (folder / "index.html").write_text(run_html(rec, figs, tables), encoding="utf-8")
    return sorted(folder.iterdir())


def energy_components_html(rec: RunRecord) -> str:
    """The energy-by-component table in one readable unit per token (the CSV keeps pJ)."""
    rows = []
    for b in rec.energy:  # each estimate in its own unit: they can differ by thousands of times
        factor, unit = F.energy_unit(b.energy_pj / rec.tokens)
        row = {"estimate": b.label, "energy table": b.table + (" (compute only)" if b.compute_only else ""),
               "unit": f"{unit}/token", **{c: b.total_pj.get(c, 0.0) / rec.tokens * factor for c in COMPONENTS},
               "total": b.energy_pj / rec.tokens * factor, "whole run (J)": b.energy_pj * 1e-12}
        if not b.static_included:
            row["static"] = "not charged" if b.compute_only else "not estimated (no timing)"
        rows.append(row)
    return table_html(pd.DataFrame(rows)) + synaptic_op_html(rec)


def synaptic_op_energy_pj(b) -> float | None:
    """Energy of one synaptic op (one weight accumulated for one spike): accumulate + synapse read, per ac."""
    if b.by_action is None:
        return None
    acts = b.by_action.frame().groupby("action")[["count", "energy_pj"]].sum()
    if "ac" not in acts.index or acts.at["ac", "count"] <= 0:
        return None
    e = acts.at["ac", "energy_pj"] + (acts.at["synapse_read", "energy_pj"] if "synapse_read" in acts.index else 0.0)
    return float(e / acts.at["ac", "count"])


def synaptic_op_html(rec: RunRecord) -> str:
    """One sentence on what a synaptic op costs under each table: most of the gap between the two estimates."""
    parts = []
    for b in rec.energy:
        e = synaptic_op_energy_pj(b)
        if e is not None:
            parts.append((b, e))
    if len(parts) < 2:
        return ""
    (pa, ea), (hb, eb) = parts[0], parts[-1]
    ratio = f" ({eb / ea:.3g}x)" if ea > 0 else ""
    return (f"<p>One synaptic op (a weight accumulated because a spike arrived, with its weight read) costs "
            f"<b>{ea:.3g} pJ</b> {esc(pa.label)} ({esc(pa.table)}: the accumulate only, scaled by w·a/128) and "
            f"<b>{eb:.3g} pJ</b> {esc(hb.label)} ({esc(hb.table)}: synapse read + accumulate){ratio}. What the paper "
            "convention leaves out (memory, traffic, neuron updates, static power) makes up the rest of the "
            "difference.</p>")


def mapping_summary_html(summary: dict) -> str:
    """The mapper's summary as a compact table: two quantities a row, utilizations as percentages."""
    cells = []
    for k, v in summary.items():
        if isinstance(v, float) and ("utilization" in k or k.endswith("fraction") or k.startswith("hops_saved")):
            v = f"{100 * v:.1f} %"
        cells.append((k.replace("_", " "), v))
    rows = []
    for i in range(0, len(cells), 2):
        pair = cells[i:i + 2]
        tds = "".join(f"<th>{esc(k)}</th><td class=\"num\">{esc(fmt(v) if isinstance(v, (int, float)) else v)}</td>"
                      for k, v in pair)
        rows.append(f"<tr>{tds}</tr>")
    return f'<div class="wide"><table><tbody>{"".join(rows)}</tbody></table></div>'


def _headline_cards(rec: RunRecord) -> str:
    cards = []
    for h in rec.headlines():
        cards.append(f'<div class="card"><div class="v">{esc(f"{h.value:.3g}")} {esc(h.unit)}</div>'
                     f'<div class="l">{esc(h.label)}</div><div class="n">{esc(h.note)}</div></div>')
    return f'<div class="cards">{"".join(cards)}</div>'


def run_summary_pairs(rec: RunRecord) -> list[tuple[str, str]]:
    w = rec.workload
    spec = w.get("spec", {})
    hw = rec.hardware
    enc = (f"W{spec.get('w_bits')} weights; {spec.get('a_encoding')} activations, {spec.get('a_bits')}-bit counts, "
           f"unfold {spec.get('unfold') or 'default'}")
    pairs = [
        ("workload", f"{w.get('name')} — {w.get('description', '')}"),
        ("encoding", enc),
        ("hardware", f"{hw.get('name', '?')} (an energy table only: no hardware model)" if hw.get("kind") == "energy-table"
         else f"{hw.get('name', '?')} (hardware model; energy table {hw.get('table', '?')})"),
        ("mode / engine", f"{rec.mode} / {rec.engine}"),
        ("tokens", f"{rec.tokens:,} ({rec.seq_len} per sequence x batch {rec.batch})"),
        ("counting convention", ", ".join(f"{k}={v}" for k, v in rec.convention.items())),
    ]
    summary = hw.get("summary")
    if isinstance(summary, dict) and summary:
        pairs.append(("hardware summary", ", ".join(f"{k} {fmt(v)}" for k, v in summary.items())))
    return pairs


def run_html(rec: RunRecord, figs: list[FigureOut], tables: dict[str, pd.DataFrame]) -> str:
    body = [_headline_cards(rec), "<h2>What ran</h2>", kv_table(run_summary_pairs(rec))]
    missing = [f for f in figs if f.svg is None]
    if rec.notes or missing:
        items = [f"<li>{esc(n)}</li>" for n in rec.notes]
        items += [f"<li>{esc(f.title)}: {esc(f.missing)}</li>" for f in missing]
        body += ["<h2>How this run was made, and what it leaves out</h2>",
                 f'<ul class="notes">{"".join(items)}</ul>']
    body.append("<h2>Energy</h2>")
    body.append(energy_components_html(rec))
    for f in figs:
        if f.stem == "firing_rates":
            body.append("<h2>Firing rates and spikes</h2>")
        if f.stem == "mesh_heatmaps":
            body.append("<h2>Mapping</h2>")
            if rec.mapping is not None and rec.mapping.summary:
                body.append(mapping_summary_html(rec.mapping.summary))
        if f.stem == "latency":
            body.append("<h2>Timing</h2>")
            if rec.timing is not None:
                t = rec.timing
                pairs = [("latency per token (ns)", t.latency_per_token_ns)]
                if t.throughput_tokens_per_s is not None:
                    pairs.append(("throughput (tokens/s)", t.throughput_tokens_per_s))
                pairs += [(f"utilization: {k}", f"{100 * v:.1f} %") for k, v in t.utilization.items()]
                if t.critical_path:
                    cp = t.critical_path
                    shown = cp if len(cp) <= 9 else [*cp[:5], f"… {len(cp) - 8} more …", *cp[-3:]]
                    pairs.append((f"critical path of a token ({len(cp)} phases)", " → ".join(shown)))
                if t.mode:
                    pairs.append(("timing mode", t.mode))
                body.append(kv_table(pairs))
        if f.svg is not None or f.stem not in ("chip_heatmap",):
            body.append(figure_html(f, [c for c in FIGURE_CSV.get(f.stem, []) if c in tables]))
    body += ["<h2>Tables</h2>", "<h3>Totals of the run</h3>", table_html(tables["totals.csv"])]
    body += ["<h3>Energy per token by decoder block</h3>", table_html(tables["energy_by_block.csv"])]
    if "rates.csv" in tables:
        body += ["<h3>Firing rates</h3>", table_html(tables["rates.csv"], max_rows=60)]
    body += ["<details><summary>Per-layer counts and energy (every layer)</summary>",
             table_html(tables["layers.csv"], max_rows=400), "</details>"]
    body += ["<h2 id=\"assumptions\">Assumptions and sources</h2>",
             ("<p>Every figure the run relied on and where it comes from: the workload's dimensions, encoding and "
             "rates, and every price of both energy tables (a counted action with no price is an error).</p>"),
             table_html(tables["assumptions.csv"], full=True)]
    csvs = " · ".join(f'<a href="{esc(n)}">{esc(n)}</a>' for n in tables)
    body.append(f'<p class="files">CSV files: {csvs} · run record: <a href="run.json">run.json</a></p>')
    title = f"{rec.workload.get('name')} on {rec.hardware.get('name', '?')}: energy report"
    sub = f"{rec.mode} mode, {rec.engine} engine · {rec.tokens:,} tokens"
    foot = (f"neurosim {rec.neurosim_version} · run record format {rec.format} v{rec.version} · created {rec.created}"
            " · self-contained: no scripts, no network")
    return page(title, sub, body, foot)
