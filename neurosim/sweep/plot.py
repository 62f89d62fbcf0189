"""Pareto plots of a sweep: energy per token against latency per token and against the quality proxy (one front
per engine when a sweep mixes the analytic and the event-driven engine)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def pareto_mask(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Points no other point beats on both (lower is better on both axes); NaNs are never on the front."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    front = np.zeros(len(x), bool)
    idx = np.flatnonzero(ok)
    order = idx[np.lexsort((y[idx], x[idx]))]
    best = np.inf
    for i in order:
        if y[i] < best:
            front[i] = True
            best = y[i]
    return front


def plot_pareto(df: pd.DataFrame, path: str | Path, title: str = "sweep") -> Path | None:
    """Write the two-panel PNG (atomically); None when no point has an energy figure."""
    from neurosim.io import pyplot

    plt = pyplot()

    from neurosim.io import atomic_path

    ok = df[df.get("status", "ok") == "ok"] if "status" in df else df
    if ok.empty or "energy_per_token_uJ" not in ok:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    engines = sorted(ok["engine"].astype(str).unique()) if "engine" in ok else ["analytic"]
    panels = (("latency_ns_per_token", "latency per token (ns, simulated)"),
              ("quant_error", "quality proxy: relative output error of a quantised layer"))
    hw_names = sorted(ok["hardware"].astype(str).unique())
    markers = {("analytic", "output"): "o", ("analytic", "input"): "s", ("events", "output"): "D",
               ("events", "input"): "P"}
    colors = {h: plt.cm.tab10(i % 10) for i, h in enumerate(hw_names)}
    ok = ok.assign(engine=ok["engine"].astype(str) if "engine" in ok else "analytic")
    for ax, (xcol, xlabel) in zip(axes, panels):
        x = ok[xcol].to_numpy(float) if xcol in ok else np.full(len(ok), np.nan)
        y = ok["energy_per_token_uJ"].to_numpy(float)
        for (hw, strategy, engine), sub in ok.groupby(["hardware", "mapping", "engine"]):
            tag = f" ({engine})" if len(engines) > 1 else ""
            ax.scatter(sub.get(xcol, np.nan), sub["energy_per_token_uJ"], s=28, alpha=0.75,
                       color=colors[str(hw)], marker=markers.get((str(engine), str(strategy)), "^"),
                       label=f"{Path(str(hw)).stem} / {strategy}-split{tag}")
        # one front per engine: expected counts and drawn counts are not ranked against each other
        for engine, style in zip(engines, ("k--", "k:", "k-.")):
            of = (ok["engine"] == engine).to_numpy()
            front = pareto_mask(np.where(of, x, np.nan), y)
            if front.any():
                o = np.argsort(x[front])
                label = "Pareto front" + (f" ({engine})" if len(engines) > 1 else "")
                ax.plot(x[front][o], y[front][o], style, lw=1, label=label)
                ax.scatter(x[front], y[front], s=90, facecolors="none", edgecolors="k", lw=1.2)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("energy per token (uJ)")
        if np.nanmax(y, initial=0) / max(np.nanmin(y, initial=1), 1e-30) > 50:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="best")
    n_bad = len(df) - len(ok)
    fig.suptitle(f"{title}: {len(ok)} points" + (f" ({n_bad} infeasible, not shown)" if n_bad else ""))
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return Path(path)
