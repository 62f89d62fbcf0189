"""The functional engine's user-level tasks: measured firing rates and perplexities of a workload on real text.

Shared by ``neurosim rates``, ``neurosim ppl``, the benchmark and the committed report, so that every figure
comes from one code path.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from neurosim.errors import NeurosimError
from neurosim.functional.engine import FunctionalResult, model_name_for, run
from neurosim.functional.forward import SETTINGS, perplexity
from neurosim.functional.text import load_text, token_ids
from neurosim.graph import Graph, Linear

#: projections that share one spike encoder, labelled as the rates table shows them
GROUP_LABELS = {"enc_qkv": "q/k/v", "enc_o": "o", "enc_gate_up": "gate/up", "enc_down": "down",
                "enc_lm_head": "lm_head", "enc_ffn_in": "ffn_in", "enc_ffn_out": "ffn_out"}


@dataclass
class Inputs:
    """A workload resolved against a real model and a tokenized text."""

    spec: object
    graph: Graph
    model: object
    ids: np.ndarray
    text_where: str
    text_tokens: int  # tokens in the whole text (ids may be a prefix)


def inputs(workload: str, sets: list[str] | None = None, text: str | Path | None = None,
           tokens: int | None = 512, minimum: int = 1) -> Inputs:
    """Load a workload (with ``--set`` overrides) or a model file, its graph, the matching real model and the
    text's tokens."""
    from neurosim.workloads.builders import build_graph
    from neurosim.workloads.spec import load_workload

    spec = load_workload(workload, sets)
    real_model_name(spec)  # a width mismatch is reported before the text and the weights are read
    graph = build_graph(spec)
    raw, where = load_text(text)
    model = real_model(spec)
    all_ids = token_ids(model, raw, None, where, minimum)
    if tokens is not None and tokens < minimum:
        raise NeurosimError(f"--tokens {tokens}; allowed: an integer >= {minimum}")
    ids = all_ids[:tokens] if tokens is not None else all_ids
    return Inputs(spec, graph, model, ids, where, int(all_ids.size))


def real_model_name(spec, fewer_layers: bool = False) -> str:
    """The name of the real model a workload runs on, or a one-line error; reads no weights. A workload read from a
    model file (``spec.weights``) runs that file's weights (``fewer_layers``: its first N blocks may run), any other
    the packaged model whose dimensions it has."""
    if spec.weights:
        from neurosim.workloads.model_files import check_dims

        return check_dims(spec, fewer_layers=fewer_layers).name
    return model_name_for(spec)


def real_model(spec, fewer_layers: bool = False):
    """The real model a workload runs on (see :func:`real_model_name`), its weights read (cached)."""
    from neurosim.functional.models import load_model, load_model_file

    name = real_model_name(spec, fewer_layers)
    return load_model_file(spec.weights) if spec.weights else load_model(name)


def rates_table(result: FunctionalResult, tolerance: float = 0.2) -> pd.DataFrame:
    """One row per spike-driven layer input (projections sharing an encoder are one row): measured rate, mean
    count, zero fraction, the rate the workload assumes, and ``off`` when they differ by more than ``tolerance``
    (relative)."""
    groups: dict[str, list[Linear]] = {}
    for layer in result.graph.of_kind(Linear):
        if layer.name in result.stats:
            groups.setdefault(result.plan.linear(layer.name).encoder or "", []).append(layer)
    rows = []
    for enc, layers in groups.items():
        st = result.stats[enc]
        assumed = layers[0].input.firing_rate
        rel = (st.rate - assumed) / assumed if assumed else float("inf")
        short = enc.rsplit(".", 1)[-1]
        rows.append({
            "block": -1 if layers[0].block is None else layers[0].block,
            "projection": GROUP_LABELS.get(short, ",".join(x.name.rsplit(".", 1)[-1] for x in layers)),
            "encoder": enc,
            "layers": ",".join(x.name for x in layers),
            "width": st.width,
            "steps": st.steps,
            "tokens": st.tokens,
            "rate": st.rate,
            "mean_count": st.mean_count,
            "zero_fraction": st.zero_fraction,
            "assumed_rate": assumed,
            "rel_diff": rel,
            "off": bool(abs(rel) > tolerance),
        })
    return pd.DataFrame(rows)


def rate_summary(result: FunctionalResult, table: pd.DataFrame) -> pd.DataFrame:
    """Spike-weighted rate and mean count per projection group, and over all spike-driven inputs."""
    rows = []
    for proj, sub in list(table.groupby("projection", sort=False)) + [("all", table)]:
        stats = [result.stats[e] for e in sub["encoder"]]
        spikes = sum(st.spikes for st in stats)
        elems = sum(st.elements for st in stats)
        updates = sum(st.neuron_updates for st in stats)
        rows.append({"projection": proj, "encoders": len(sub), "rate": spikes / updates if updates else 0.0,
                     "mean_count": spikes / elems if elems else 0.0,
                     "rate_min": float(sub["rate"].min()), "rate_max": float(sub["rate"].max()),
                     "assumed_rate": float(sub["assumed_rate"].iloc[0]), "off_layers": int(sub["off"].sum())})
    return pd.DataFrame(rows)


def measure_rates(workload: str, sets: list[str] | None = None, text: str | Path | None = None,
                  tokens: int | None = 512, tolerance: float = 0.2):
    """(inputs, result, per-input table, summary) of one spike-driven run."""
    if not tolerance > 0:
        raise NeurosimError(f"--tolerance {tolerance}; allowed: > 0 (relative difference, e.g. 0.2)")
    inp = _inputs_first_blocks(workload, sets, text, tokens)
    if not any(layer.spiking for layer in inp.graph.of_kind(Linear)):
        raise NeurosimError(f"workload {inp.spec.name}: no spike-driven layer (a_encoding = "
                            f"{inp.spec.a_encoding!r}); rates need a_encoding ternary or binary")
    result = run(inp.graph, inp.model, inp.ids)
    table = rates_table(result, tolerance)
    return inp, result, table, rate_summary(result, table)


def _inputs_first_blocks(workload: str, sets: list[str] | None, text: str | Path | None,
                         tokens: int | None) -> Inputs:
    """:func:`inputs`, where a workload with fewer blocks than its packaged real model (``--set layers=N``, a quick
    run) runs the model's first N blocks (as exact mode does)."""
    from neurosim.functional.engine import REAL_MODELS
    from neurosim.workloads.builders import build_graph
    from neurosim.workloads.spec import load_workload

    spec = load_workload(workload, sets)
    full = next((want["layers"] for family, want in REAL_MODELS.values()
                 if family == spec.family and 0 < spec.model.layers < want["layers"]), None)
    if full is None or getattr(spec, "weights", None):
        return inputs(workload, sets, text, tokens)
    inp = inputs(workload, [*(sets or []), f"layers={full}"], text, tokens)  # the whole model's name and weights
    n = int(spec.model.layers)
    model = dataclasses.replace(inp.model, layers=n, blocks=list(inp.model.blocks[:n]))
    return Inputs(spec, build_graph(spec), model, inp.ids, inp.text_where, inp.text_tokens)


def rates_file_of(inp: Inputs, result: FunctionalResult, table: pd.DataFrame,
                  sets: list[str] | None = None):
    """The measured rates of one run as a rates file (:class:`~neurosim.workloads.rates_file.RatesFile`): per spike
    encoder the spikes, the rate, the mean count and the signed count histogram, with the model, the workload's
    dimensions and encoder settings, the text and the neurosim version."""
    from neurosim import __version__
    from neurosim.workloads.rates_file import LayerRates, RatesFile, sha256_of, spec_dims, spec_settings

    layers = []
    for row in table.itertuples(index=False):
        st = result.stats[row.encoder]
        layers.append(LayerRates(encoder=row.encoder, feeds=str(row.layers).split(","),
                                 block=None if int(row.block) < 0 else int(row.block), projection=row.projection,
                                 width=int(st.width), steps=int(st.steps), tokens=int(st.tokens),
                                 spikes=int(st.spikes), rate=float(st.rate), mean_count=float(st.mean_count),
                                 zero_fraction=float(st.zero_fraction), hist_lo=int(st.lo),
                                 hist_counts=[int(c) for c in st.histogram]))
    spikes = sum(lr.spikes or 0 for lr in layers)
    updates = sum(lr.width * lr.steps * lr.tokens for lr in layers)
    text = {"file": Path(inp.text_where).name, "sha256": sha256_of(inp.text_where),
            "tokens": int(inp.ids.size), "text_tokens": int(inp.text_tokens)}
    return RatesFile(path="", model=inp.model.name, workload=inp.spec.name, family=inp.spec.family,
                     dims=spec_dims(inp.spec), settings=spec_settings(inp.spec), layers=layers, text=text,
                     sets=list(sets or []), neurosim=__version__, rate=spikes / updates if updates else 0.0)


def setting_sets(name: str) -> list[str]:
    if name in ("workload", "fp"):
        return []
    if name not in SETTINGS:
        raise NeurosimError(f"--setting {name!r}; allowed: fp, workload, all, {', '.join(SETTINGS)}")
    return list(SETTINGS[name])


def expand_settings(names: list[str] | None) -> list[str]:
    names = list(names or ["fp", "workload"])
    out: list[str] = []
    for n in names:
        for m in (["fp", *SETTINGS] if n == "all" else [n]):
            setting_sets(m)
            if m not in out:
                out.append(m)
    return out


def perplexity_runs(workload: str, settings: list[str] | None = None, sets: list[str] | None = None,
                    text: str | Path | None = None, tokens: int | None = 512,
                    fp_layers: tuple[str, ...] = (), seeds: int = 1) -> tuple[Inputs, pd.DataFrame]:
    """Perplexity of the FP path and of each spike-driven setting on the same tokens.

    With ``seeds`` > 1 each spike-driven setting also runs with randomized Hadamard signs (seeds 1..K-1): the
    per-token rounding makes the spike-driven perplexity sensitive to tiny changes, and the spread over rotations
    says how much of a difference between settings is noise. ``ppl`` is seed 0's (the plain Hadamard).
    """
    if seeds < 1:
        raise NeurosimError(f"--seeds {seeds}; allowed: an integer >= 1")
    base = inputs(workload, sets, text, tokens, minimum=2)
    if base.model.family != "llama":
        raise NeurosimError(f"workload {base.spec.name}: perplexity needs a causal language model (family llama); "
                            f"{base.model.name} is an encoder")
    rows = []
    for name in expand_settings(settings):
        spec_sets = setting_sets(name) + list(sets or [])
        inp = base if not spec_sets or name == "fp" else inputs(workload, spec_sets, text, tokens, minimum=2)
        ppls, nlls, rates, secs = [], [], [], 0.0
        for seed in range(1 if name == "fp" else seeds):
            t0 = time.perf_counter()
            res = run(inp.graph, inp.model, base.ids, fp=(name == "fp"), fp_layers=fp_layers, rotation_seed=seed)
            secs += time.perf_counter() - t0
            ppl, nll = perplexity(res.logits, base.ids)
            spikes = sum(st.spikes for n, st in res.stats.items() if n in res.plan.encoders)
            steps = sum(st.neuron_updates for n, st in res.stats.items() if n in res.plan.encoders)
            ppls.append(ppl)
            nlls.append(nll)
            rates.append(spikes / steps if steps else float("nan"))
        rows.append({
            "setting": name,
            "encoding": "fp32" if name == "fp" else _describe(inp.spec),
            "ppl": ppls[0],
            "ppl_mean": float(np.mean(ppls)),
            "ppl_min": float(np.min(ppls)),
            "ppl_max": float(np.max(ppls)),
            "seeds": len(ppls),
            "nll": nlls[0],
            "rate": rates[0],
            "tokens": int(base.ids.size),
            "seconds": secs,
        })
    return base, pd.DataFrame(rows)


def _describe(spec) -> str:
    if spec.a_encoding in ("fp", "int"):
        return f"W{spec.w_bits} A{spec.a_encoding}{spec.a_bits}"
    sym = "sym" if spec.symmetric else "asym"
    clip = f" q={spec.clip_quantile:g}" if spec.clip_quantile else ""
    rot = spec.rotation + ("" if spec.gamma_sqp else " quarot-fused")
    return (f"W{spec.w_bits} A{spec.a_bits}->{spec.a_encoding} {sym} D={spec.effective_unfold:g}{clip} "
            f"({rot})")


def plot_rates(result: FunctionalResult, table: pd.DataFrame, out_dir: str | Path, title: str = "",
               names: tuple[str | None, str | None] = ("rate_by_layer.png", "count_hist.png")) -> list[Path]:
    """Two PNGs: measured rate by block and projection, and the count histograms (seed 002 fig. 6 style);
    ``names`` renames them (None skips one)."""
    from neurosim.io import pyplot

    plt = pyplot()

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if names[0]:
        written.append(_plot_rate_by_layer(plt, table, out / names[0], title))
    if names[1]:
        written.append(_plot_count_hist(plt, result, table, out / names[1], title))
    return written


def _plot_rate_by_layer(plt, table: pd.DataFrame, path: Path, title: str) -> Path:
    from neurosim.io import atomic_path

    fig = rate_figure(table, title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return path


def rate_figure(table: pd.DataFrame, title: str = ""):
    """Measured rate by block and projection, with the workload's assumed rate (a matplotlib figure)."""
    import matplotlib.pyplot as plt

    blocks = table[table["block"] >= 0]
    fig, ax = plt.subplots(figsize=(8, 4))
    for proj, sub in blocks.groupby("projection", sort=False):
        ax.plot(sub["block"], sub["rate"], marker="o", ms=3, label=proj)
    head = table[table["block"] < 0]
    for _, row in head.iterrows():
        ax.plot([blocks["block"].max() + 1], [row["rate"]], marker="*", ms=10, ls="", label=row["projection"])
    assumed = table["assumed_rate"].iloc[0]
    ax.axhline(assumed, color="k", ls="--", lw=1, label=f"workload assumes {assumed:g}")
    ax.set_xlabel("decoder block")
    ax.set_ylabel("firing rate (spikes / element / step)")
    ax.set_ylim(bottom=0)
    ax.set_title(title or "measured firing rate by layer")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=3)
    fig.tight_layout()
    return fig


def _plot_count_hist(plt, result: FunctionalResult, table: pd.DataFrame, path: Path, title: str) -> Path:
    from neurosim.io import atomic_path

    fig = count_hist_figure(result, table, title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return path


def count_hist_figure(result: FunctionalResult, table: pd.DataFrame, title: str = ""):
    """The signed spike-count histogram of each projection type, summed over blocks (a matplotlib figure)."""
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys(table["projection"]))
    n = len(groups)
    cols = min(n, 3)
    rows_n = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows_n, cols, figsize=(4 * cols, 3.2 * rows_n), squeeze=False)
    for ax, proj in zip(axes.flat, groups):
        encs = table.loc[table["projection"] == proj, "encoder"]
        st0 = result.stats[encs.iloc[0]]
        hist = sum(result.stats[e].histogram for e in encs)
        total = hist.sum()
        spikes = sum(result.stats[e].spikes for e in encs)
        elems = sum(result.stats[e].elements for e in encs)
        ax.bar(st0.values(), hist / total, color="tab:blue", width=0.8)
        if st0.hi - st0.lo <= 16:
            ax.set_xticks(st0.values())
            ax.tick_params(axis="x", labelsize=7)
        ax.set_title(f"{proj}: mean |k| {spikes / elems:.2f}, rate {spikes / (elems * st0.steps):.3f}", fontsize=9)
        ax.set_xlabel(f"spike count k (D = {st0.steps})")
        ax.set_ylabel("probability")
        ax.grid(alpha=0.3, axis="y")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(title or "spike count histograms", fontsize=10)
    fig.tight_layout()
    return fig

