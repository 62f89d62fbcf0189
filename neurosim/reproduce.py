"""Reproduce every FLOPs/Power cell of seed 002 (SDLLM) from the workload builders.

Each reference row names a model, a method, weight and activation bits, unfold steps, SpikeLLM's multiplier and a
firing rate. We build the model's workload with those settings under the model's *paper convention* (what its
printed base counts, a workload option) and count it with the analytic engine priced by ``paper-45nm``; the
printed base numbers are never read. The principled count (causal attention, grouped k/v, lm_head, non-linear
ops) is computed beside it for the model-scope rows.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from neurosim.energy import load_energy_table
from neurosim.engines.analytic import count_graph
from neurosim.errors import NeurosimError
from neurosim.resources import data_file
from neurosim.workloads import build_graph, load_workload
from neurosim.workloads.spec import WorkloadSpec

MODEL_WORKLOADS = {
    "LLaMA2-7B": "sdllm-llama2-7b",
    "LLaMA2-13B": "sdllm-llama2-13b",
    "LLaMA3-8B": "sdllm-llama3-8b",
    "Qwen2.5-14B": "sdllm-qwen2.5-14b",
}
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
REFERENCE_NAME = "sdllm_energy_cells.csv"


def reference_path() -> Path:
    """The reference table: ../shared/reference/ beside a checkout, else the packaged copy."""
    here = Path(__file__).resolve().parents[2] / "shared" / "reference" / REFERENCE_NAME
    return here if here.exists() else data_file(REFERENCE_NAME)


def read_reference(path: Path | None = None) -> pd.DataFrame:
    path = path or reference_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NeurosimError(f"reference table not found: {path}") from None
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    return pd.read_csv(io.StringIO("\n".join(lines)), dtype={"note": str}, keep_default_na=False)


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
    conv = base.paper_convention or base.convention
    return base.model_copy(update={**upd, "convention": conv})


def _row_figures(spec: WorkloadSpec, scope: str, table) -> tuple[float, float]:
    graph = build_graph(spec, "workload")
    counters = count_graph(graph)
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


def reproduce_sdllm(ref: pd.DataFrame | None = None) -> pd.DataFrame:
    """The reference rows with ours_flops, ours_power, rel_err_flops, rel_err_power added."""
    ref = read_reference() if ref is None else ref
    table = load_energy_table("paper-45nm")
    bases = {m: load_workload(w) for m, w in MODEL_WORKLOADS.items()}
    ours_f, ours_p = [], []
    for _, row in ref.iterrows():
        if row["model"] not in bases:
            raise NeurosimError(f"reference row names model {row['model']!r}; known: {', '.join(bases)}")
        spec = spec_for_row(bases[row["model"]], row)
        f, p = _row_figures(spec, row["scope"], table)
        ours_f.append(f)
        ours_p.append(p)
    out = ref.copy()
    out["ours_flops"] = ours_f
    out["ours_power"] = ours_p
    out["rel_err_flops"] = (out["ours_flops"] - out["flops"].astype(float)).abs() / out["flops"].astype(float)
    out["rel_err_power"] = (out["ours_power"] - out["power"].astype(float)).abs() / out["power"].astype(float)
    return out


def conventions_table() -> pd.DataFrame:
    """Per model: the dense base under the paper's convention and the principled count, and SDLLM W4 D=8 energy."""
    from neurosim.engines.analytic import dense_macs

    table = load_energy_table("paper-45nm")
    rows = []
    for model, name in MODEL_WORKLOADS.items():
        spec = load_workload(name)
        for conv in ("paper", "principled"):
            g = build_graph(spec, conv)
            priced = table.price(count_graph(g))
            c = g.meta["convention"]
            rows.append(
                {
                    "model": model,
                    "convention": conv,
                    "attention": c["attention"],
                    "kv_width": c["kv_width"],
                    "lm_head": c["lm_head"],
                    "nonlinear_ops": c["nonlinear"],
                    "dense_macs_T": dense_macs(g) / 1e12,
                    "sdllm_w4_d8_flops_T": float(priced["scaled_ops"].sum()) / 1e12,
                    "sdllm_w4_d8_energy_J": float(priced["energy_pj"].sum()) * 1e-12,
                }
            )
    return pd.DataFrame(rows)


def to_csv_text(df: pd.DataFrame) -> str:
    buf = io.StringIO()
    df.to_csv(buf, index=False, quoting=csv.QUOTE_MINIMAL, float_format="%.6g")
    return buf.getvalue()
