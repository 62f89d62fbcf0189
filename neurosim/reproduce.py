"""Reproduce every FLOPs/Power cell of seed 002 (SDLLM) from the workload builders.

Each reference row names a model, a method, weight and activation bits, unfold steps, SpikeLLM's multiplier and a
firing rate. We build the model's workload with those settings under the model's *paper convention* (what its
printed base counts, a workload option) and count it with the analytic engine priced by ``paper-45nm``; the
printed figures are never read into a count. Each row then goes through the rules of the paper table it comes
from (:class:`PaperTable`: whether its energy is the printed or the unrounded FLOPs times the energy of one op, and
how its rate column reads), and each figure is compared with the printed text at print precision. The real-model
count (causal attention, grouped k/v, lm_head, non-linear ops) is computed beside it for the model-scope rows.
"""

from __future__ import annotations

import csv
import decimal
import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from neurosim.energy import load_energy_table
from neurosim.errors import NeurosimError
from neurosim.pipeline import estimate
from neurosim.resources import data_file
from neurosim.workloads import load_workload
from neurosim.workloads.spec import WorkloadSpec

MODEL_WORKLOADS = {
    "LLaMA2-7B": "sdllm-llama2-7b",
    "LLaMA2-13B": "sdllm-llama2-13b",
    "LLaMA3-8B": "sdllm-llama3-8b",
    "Qwen2.5-14B": "sdllm-qwen2.5-14b",
}
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
REFERENCE_NAME = "sdllm_energy_cells.csv"
#: a cell reproduces when both its figures are within this relative error of the printed ones
TOLERANCE = 0.012


def reference_path() -> Path:
    """The reference table: ../shared/reference/ beside a checkout, else the packaged copy."""
    here = Path(__file__).resolve().parents[2] / "shared" / "reference" / REFERENCE_NAME
    return here if here.exists() else data_file(REFERENCE_NAME)


def read_reference(path: Path | None = None) -> pd.DataFrame:
    """The reference rows; ``flops_printed``, ``power_printed`` and ``rate_printed`` keep each figure's text as
    printed (its number of decimals is its print precision)."""
    path = path or reference_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NeurosimError(f"reference table not found: {path}") from None
    body = "\n".join(ln for ln in text.splitlines() if ln and not ln.startswith("#"))
    ref = pd.read_csv(io.StringIO(body), dtype={"note": str}, keep_default_na=False)
    printed = pd.read_csv(io.StringIO(body), dtype=str, keep_default_na=False)
    for col, name in (("flops", "flops_printed"), ("power", "power_printed"), ("firing_rate", "rate_printed")):
        ref[name] = printed[col].str.strip()
    return ref


# --- how the paper prints: rules found in its own figures ----------------------------------------------------------
@dataclass(frozen=True)
class PaperTable:
    """How one of the paper's tables turns its counts into printed figures.

    ``energy_from_printed_flops``: the energy column is the *printed* (rounded) FLOPs times the energy of one op
    (4.6 pJ a MAC, 0.9 pJ an accumulate), not the unrounded count times it. ``rate``: how its firing-rate column
    reads: ``"as printed"`` (the figures were computed from the printed rate) or ``"truncated"`` (the printed
    rate is the rate the figures used, cut, not rounded, to its decimals: it stands for ``[r, r + 1 ulp)``).
    """

    name: str
    energy_from_printed_flops: bool
    rate: str


#: The main tables (whole model): energy from the unrounded FLOPs (FP16 LLaMA2-7B prints 6.91 T and 31.77 J, but
#: 6.91 x 4.6 = 31.79; the unrounded 6.907 x 4.6 = 31.77), FLOPs from the printed rate (reading it as a truncated
#: 3-decimal figure moves 22 figures off; see the README's evidence table).
MAIN_TABLES = PaperTable("main tables (whole model, T and J)", False, "as printed")
#: Table 3 (q/k/v projections, membrane-potential clipping): energy from the printed FLOPs (1.649 T x 4.6 =
#: 7.585 J as printed, the unrounded count gives 7.587); its rate column is not what the FLOPs used (the SDLLM row
#: prints the model-wide 0.216, its FLOPs follow the appendix q/k/v rate 0.2230), and the clipped rows' FLOPs need
#: a rate the rounded reading of their printed rate cannot give (q=0.5: 0.100 T needs >= 0.1207, "0.120"), so it
#: is read as truncated.
QKV_TABLE = PaperTable("Table 3 (q/k/v projections, T and J)", True, "truncated")
#: Table A1 (one decoder block, per projection): energy from the printed FLOPs (1.92 G x 0.9 = 1.73 mJ as printed,
#: the unrounded count gives 1.72); its 4-decimal rates are the ones the FLOPs used.
APPENDIX_TABLE = PaperTable("Table A1 (one block, per projection, G and mJ)", True, "as printed")


def paper_table(scope: str) -> PaperTable:
    """The table a reference row's scope comes from."""
    if scope == "model":
        return MAIN_TABLES
    if scope == "qkv":
        return QKV_TABLE
    if scope in PROJECTIONS:
        return APPENDIX_TABLE
    raise NeurosimError(f"reference scope {scope!r}; allowed: model, qkv, {', '.join(PROJECTIONS)}")


def decimals(text: str) -> int:
    """The number of decimals a printed figure has (its print precision)."""
    text = str(text).strip()
    return len(text.split(".", 1)[1]) if "." in text else 0


def at_print(value: float, places: int) -> str:
    """``value`` as the paper prints it with ``places`` decimals: rounded half up on its decimal value (taken to 12
    significant digits first, so 5.05 x 0.9 = 4.545, a float just under it, prints 4.55 as the paper's A1 does)."""
    d = decimal.Decimal(f"{float(value):.12g}")
    return str(d.quantize(decimal.Decimal(1).scaleb(-places), rounding=decimal.ROUND_HALF_UP))


def appendix_rate(ref: pd.DataFrame, row: pd.Series, scopes: tuple[str, ...]) -> float | None:
    """The mean of Table A1's rates for ``scopes`` in the same configuration as ``row`` (None if A1 lacks it)."""
    same = ref[ref["scope"].isin(scopes) & (ref["model"] == row["model"]) & (ref["method"] == row["method"])
               & (ref["w_bits"] == row["w_bits"]) & (ref["a_bits"] == row["a_bits"])
               & (ref["unfold"].astype(str) == str(row["unfold"]))]
    rates = [float(r) for r in same["rate_printed"] if r]
    return sum(rates) / len(rates) if rates else None


def read_rate(ref: pd.DataFrame, row: pd.Series, table: PaperTable | None = None) -> tuple[float | None, str]:
    """(the firing rate a row's figures were computed from, how it was read). A q/k/v row whose configuration the
    appendix lists takes the appendix's q/k/v rate (finer, and the one its FLOPs follow); otherwise the row's
    printed rate under its table's reading (a truncated print: the midpoint of the interval it stands for)."""
    text = str(row.get("rate_printed", row["firing_rate"])).strip()
    if not text:
        return None, ""
    table = table or paper_table(str(row["scope"]))
    if row["scope"] == "qkv":
        a1 = appendix_rate(ref, row, ("q_proj", "k_proj", "v_proj"))
        if a1 is not None:
            return a1, "Table A1's q/k/v rate"
    if table.rate == "truncated":
        ulp = 10.0 ** -decimals(text)
        return float(text) + ulp / 2, f"printed {text}, truncated: [{text}, {float(text) + ulp:.{decimals(text)}f}), midpoint"
    return float(text), "as printed"


def spec_for_row(base: WorkloadSpec, row: pd.Series) -> WorkloadSpec:
    """The workload of one reference row: the model's spec with the row's bits, encoding, unfold and rate."""
    w = int(row["w_bits"])
    a = float(row["a_bits"])
    spiking = str(row["method"]).startswith("SDLLM")
    upd: dict = {"w_bits": w, "kv_bits": w, "rates": {}, "spike_multiplier": float(row["spike_multiplier"] or 1.0)}
    if spiking:
        unfold = float(row["unfold"])
        enc = "ternary" if a > 1 else "binary"
        # count bits implied by the unfold: ternary D = 2^(b-1), binary D = 2^b - 1 (8.3 is the paper's average)
        bits = round(__import__("math").log2(unfold)) + 1 if enc == "ternary" else round(__import__("math").log2(unfold + 1))
        upd.update(a_encoding=enc, a_bits=max(1, bits), unfold=unfold, firing_rate=float(row["firing_rate"]),
                   method=str(row["method"]))
    elif w >= 16:
        upd.update(a_encoding="fp", a_bits=16, unfold=None, method="fp16")
    else:
        upd.update(a_encoding="int", a_bits=int(a), unfold=None, method=str(row["method"]))
    return base.model_copy(update=upd)


def _row_figures(spec: WorkloadSpec, scope: str, table) -> tuple[float, float]:
    """A row's FLOPs and energy: the run pipeline's estimate of the row's workload under the paper's convention,
    cut to the row's scope."""
    counters = estimate(spec, table, convention="paper" if spec.paper_convention else "real").counters
    if scope == "qkv":
        counters = counters[counters["layer"].str.endswith(("q_proj", "k_proj", "v_proj"))]
        unit = 1e12
    elif scope in PROJECTIONS:
        counters = counters[counters["layer"] == f"blk0.{scope}"]
        unit = 1e9
    else:
        unit = 1e12
    priced = table.price(counters)
    return float(priced["scaled_ops"].sum()) / unit, float(priced["energy_pj"].sum()) * 1e-12 * (1e3 if unit == 1e9 else 1)


def reproduce_sdllm(ref: pd.DataFrame | None = None,
                    tables: dict[PaperTable, PaperTable] | None = None) -> pd.DataFrame:
    """The reference rows with our figures beside the printed ones.

    Added per row: ``rate_used`` and ``rate_reading`` (:func:`read_rate`), ``ours_flops``, ``ours_power`` (the
    energy under its table's rule), ``ours_power_unrounded`` (the unrounded FLOPs x the energy of one op),
    ``flops_at_print`` / ``power_at_print`` (ours formatted with the printed figure's decimals),
    ``flops_equal_at_print`` / ``power_equal_at_print``, ``rel_err_flops`` / ``rel_err_power`` and, for a figure
    that is not equal, ``flops_zero_rate`` (the count at firing rate 0, from which a cause is explained).
    ``tables`` replaces a table's reading (to show what another reading would give; the README's evidence)."""
    ref = read_reference() if ref is None else ref
    energy = load_energy_table("paper-45nm")
    bases = {m: load_workload(w) for m, w in MODEL_WORKLOADS.items()}
    out_rows = []
    for _, row in ref.iterrows():
        if row["model"] not in bases:
            raise NeurosimError(f"reference row names model {row['model']!r}; known: {', '.join(bases)}")
        table = paper_table(str(row["scope"]))
        table = (tables or {}).get(table, table)
        rate, reading = read_rate(ref, row, table)
        counted = row.copy()
        if rate is not None:
            counted["firing_rate"] = rate
        spec = spec_for_row(bases[row["model"]], counted)
        flops, power_unrounded = _row_figures(spec, row["scope"], energy)
        power = power_unrounded
        if table.energy_from_printed_flops and flops:
            power = float(at_print(flops, decimals(row["flops_printed"]))) * power_unrounded / flops
        rec = {"rate_used": rate, "rate_reading": reading, "ours_flops": flops, "ours_power": power,
               "ours_power_unrounded": power_unrounded}
        for fig, ours in (("flops", flops), ("power", power)):
            rec[f"{fig}_at_print"] = at_print(ours, decimals(row[f"{fig}_printed"]))
            rec[f"{fig}_equal_at_print"] = rec[f"{fig}_at_print"] == row[f"{fig}_printed"]
        rec["flops_zero_rate"] = float("nan")
        if rate is not None and not (rec["flops_equal_at_print"] and rec["power_equal_at_print"]):
            rec["flops_zero_rate"] = _row_figures(spec.model_copy(update={"firing_rate": 0.0}), row["scope"], energy)[0]
        out_rows.append(rec)
    out = pd.concat([ref.reset_index(drop=True), pd.DataFrame(out_rows)], axis=1)
    out["rel_err_flops"] = (out["ours_flops"] - out["flops"].astype(float)).abs() / out["flops"].astype(float)
    out["rel_err_power"] = (out["ours_power"] - out["power"].astype(float)).abs() / out["power"].astype(float)
    return out


def implied_rate(cell: pd.Series, figure: str) -> tuple[float, float] | None:
    """The firing rates that would make our ``figure`` equal the printed one at its precision, [lo, hi): the
    counts are linear in the rate, so from the count at the rate used and at rate 0. None: no rate in the row."""
    rate = cell["rate_used"]
    if rate is None or pd.isna(rate) or not rate or pd.isna(cell["flops_zero_rate"]):
        return None
    per_op = cell["ours_power_unrounded"] / cell["ours_flops"] if cell["ours_flops"] else 0.0
    scale = 1.0 if figure == "flops" else per_op
    a, b = cell["flops_zero_rate"] * scale, (cell["ours_flops"] - cell["flops_zero_rate"]) * scale / rate
    text = cell[f"{figure}_printed"]
    half = 0.5 * 10.0 ** -decimals(text)
    return (float(text) - half - a) / b, (float(text) + half - a) / b


def figure_cause(cell: pd.Series, figure: str) -> str:
    """Why one of our figures is not equal to the printed one at print precision ('' when it is), in one line."""
    if cell[f"{figure}_equal_at_print"]:
        return ""
    table = paper_table(str(cell["scope"]))
    if figure == "power" and table.energy_from_printed_flops:
        per_op = cell["ours_power_unrounded"] / cell["ours_flops"]
        if not cell["flops_equal_at_print"]:
            return (f"{table.name} prints energy = printed FLOPs x {per_op:.3g} pJ per op; it follows our FLOPs "
                    f"figure ({cell['flops_at_print']} x {per_op:.3g} = {cell['power_at_print']})")
        return f"no cause found: {cell['flops_printed']} x {per_op:.3g} pJ per op should print {cell['power_printed']}"
    rates = implied_rate(cell, figure)
    if rates is not None:
        lo, hi = rates
        return (f"the figure scales with the firing rate: the printed {cell[f'{figure}_printed']} needs a rate in "
                f"[{lo:.5f}, {hi:.5f}); the paper prints none that fine for this row (we use {cell['rate_used']:.5g}, "
                f"{cell['rate_reading']}, which gives {cell[f'{figure}_at_print']})")
    return f"no cause found: ours {cell[f'ours_{figure}']:.6g} prints {cell[f'{figure}_at_print']}"


FIGURE_UNITS = {"model": ("T", "J"), "qkv": ("T", "J")}


def figures_table(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per printed figure (two per cell): the printed text, ours at print precision, ``equal_at_print``,
    the relative error and, for a figure that is not equal, its cause."""
    rows = []
    for _, c in cells.iterrows():
        units = FIGURE_UNITS.get(str(c["scope"]), ("G", "mJ"))
        for fig, unit in zip(("flops", "power"), units):
            rows.append({"scope": c["scope"], "model": c["model"], "method": c["method"], "w_bits": c["w_bits"],
                         "a_bits": c["a_bits"], "unfold": c["unfold"], "figure": fig, "unit": unit,
                         "printed": c[f"{fig}_printed"], "ours": c[f"ours_{fig}"], "ours_at_print": c[f"{fig}_at_print"],
                         "equal_at_print": bool(c[f"{fig}_equal_at_print"]), "rel_err": c[f"rel_err_{fig}"],
                         "cause": figure_cause(c, fig)})
    return pd.DataFrame(rows)


def summary(cells: pd.DataFrame, tolerance: float = TOLERANCE) -> dict:
    """Cells within ``tolerance`` (both figures) and printed figures equal at print precision."""
    within = (cells["rel_err_flops"] <= tolerance) & (cells["rel_err_power"] <= tolerance)
    equal = cells["flops_equal_at_print"].astype(int) + cells["power_equal_at_print"].astype(int)
    return {"cells": len(cells), "cells_within_tolerance": int(within.sum()), "tolerance": tolerance,
            "figures": 2 * len(cells), "figures_equal_at_print": int(equal.sum()),
            "worst_rel_err_flops": float(cells["rel_err_flops"].max()),
            "worst_rel_err_power": float(cells["rel_err_power"].max())}


def rule_evidence(cells: pd.DataFrame) -> pd.DataFrame:
    """Per table and reading: how many of its printed figures are equal at print precision under the reading the
    reproduction uses and under the alternative (the evidence for each rule; recounts the alternative rates)."""
    rows = []
    groups = {t: cells["scope"].map(lambda s, t=t: paper_table(str(s)) == t) for t in (MAIN_TABLES, QKV_TABLE,
                                                                                        APPENDIX_TABLE)}
    for t, mask in groups.items():
        part = cells[mask]
        for rule, from_printed in (("printed FLOPs", True), ("unrounded FLOPs", False)):
            values = [float(at_print(f, decimals(ft))) * p / f if from_printed and f else p for f, ft, p in
                      zip(part["ours_flops"], part["flops_printed"], part["ours_power_unrounded"])]
            equal = sum(at_print(v, decimals(pt)) == pt for v, pt in zip(values, part["power_printed"]))
            rows.append({"table": t.name, "rule": f"energy = {rule} x energy per op",
                         "used": from_printed == t.energy_from_printed_flops, "equal": int(equal), "of": len(part)})
    for t in (MAIN_TABLES, QKV_TABLE):
        alt = PaperTable(t.name, t.energy_from_printed_flops, "as printed" if t.rate == "truncated" else "truncated")
        other = reproduce_sdllm(tables={t: alt})
        for reading, df in ((t.rate, cells), (alt.rate, other)):
            part = df[groups[t]]
            part = part[part["rate_printed"] != ""]
            equal = int(part["flops_equal_at_print"].sum() + part["power_equal_at_print"].sum())
            rows.append({"table": t.name, "rule": f"printed rate read {reading}", "used": reading == t.rate,
                         "equal": equal, "of": 2 * len(part)})
    return pd.DataFrame(rows)


def conventions_table() -> pd.DataFrame:
    """Per model: the dense base under the paper's convention and the real model's count, and SDLLM W4 D=8 energy
    (both through the run pipeline's estimate)."""
    table = load_energy_table("paper-45nm")
    rows = []
    for model, name in MODEL_WORKLOADS.items():
        spec = load_workload(name)
        for conv in ("paper", "real"):
            est = estimate(spec, table, convention=conv)
            c = est.graph.meta["convention"]
            rows.append(
                {
                    "model": model,
                    "convention": conv,
                    "attention": c["attention"],
                    "kv_width": c["kv_width"],
                    "lm_head": c["lm_head"],
                    "nonlinear_ops": c["nonlinear"],
                    "dense_macs_T": est.totals["dense_macs"] / 1e12,
                    "sdllm_w4_d8_flops_T": est.totals["flops_T"],
                    "sdllm_w4_d8_energy_J": est.totals["energy_J"],
                }
            )
    return pd.DataFrame(rows)


def to_csv_text(df: pd.DataFrame) -> str:
    buf = io.StringIO()
    df.to_csv(buf, index=False, quoting=csv.QUOTE_MINIMAL, float_format="%.6g")
    return buf.getvalue()
