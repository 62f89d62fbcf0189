"""Regenerate ``reports/energy/llama2-7b-hala-point.md`` and its figure: where the energy of SDLLM LLaMA2-7B goes
on Hala Point, compute-only (seed 002's convention) against hardware-aware, from event-driven simulations.

Usage: ``python -m neurosim.engines.events.energy_report [OUT_DIR]`` (default ``reports/energy``); about two minutes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

WORKLOAD, HW = "sdllm-llama2-7b", "hala-point"
FAST_X86 = "chip.embedded.op_throughput.value=40 Gop/s"


def _run(resolved, tokens: int, context: int, block: int, sync: bool, seed: int = 0):
    from neurosim.engines.events.engine import simulate
    from neurosim.engines.events.sim import SimConfig

    t = time.perf_counter()
    res = simulate(resolved.graph, resolved.mapping, resolved.hw, SimConfig("statistical", tokens, context, block,
                                                                           sync, seed))
    return res, time.perf_counter() - t


def _j(pj: float) -> str:
    pj = float(pj)
    for unit, f in (("J", 1e12), ("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3)):
        if abs(pj) >= f:
            return f"{pj / f:.3g} {unit}"
    return f"{pj:.3g} pJ"


def _pct(x: float) -> str:
    return f"{100 * x:.3g} %"


def _unit_prices(res) -> dict[str, float]:
    priced = res.priced("hardware-aware")
    g = priced.groupby("action")[["count", "energy_pj"]].sum()
    return {a: float(r.energy_pj / r["count"]) for a, r in g.iterrows() if r["count"]}


def build(out_dir: Path) -> tuple[Path, Path]:
    from neurosim.engines.events.run import resolve
    from neurosim.io import atomic_path, write_text_atomic

    t0 = time.perf_counter()
    base = resolve(WORKLOAD, HW)
    fast = resolve(WORKLOAD, HW, hw_sets=[FAST_X86])
    fast.mapping = base.mapping  # the same placement; only the embedded cores' speed differs
    principled = resolve(WORKLOAD, HW, convention="principled")
    prefill, wall = _run(base, 1024, 0, 64, True)
    prefill_async, _ = _run(base, 1024, 0, 64, False)
    decode, _ = _run(base, 1, 1023, 1, True)
    prefill_fast, _ = _run(fast, 1024, 0, 64, True)
    prefill_principled, _ = _run(principled, 1024, 0, 64, True)
    elapsed = time.perf_counter() - t0

    md = out_dir / "llama2-7b-hala-point.md"
    png = out_dir / "llama2-7b-hala-point.png"
    _figure(prefill, decode, prefill_fast, png, atomic_path)
    write_text_atomic(md, _markdown(base, prefill, prefill_async, decode, prefill_fast, prefill_principled, wall,
                                    elapsed, png.name))
    return md, png


def _components(res) -> dict[str, float]:
    return dict(res.energy["hardware-aware"])


def _figure(prefill, decode, fast, png: Path, atomic_path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    comps = ["compute", "memory", "network", "neuron", "static", "total"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    series = [("paper-style (45 nm, compute only)", prefill.energy["paper-style"], prefill.tokens, "#4C72B0"),
              ("hardware-aware (Hala Point)", _components(prefill), prefill.tokens, "#DD8452"),
              ("hardware-aware, x86 cores 100x faster", _components(fast), fast.tokens, "#55A868")]
    y = np.arange(len(comps))[::-1]
    h = 0.27
    for k, (label, comp, tok, color) in enumerate(series):
        vals = [comp.get(c, 0.0) if c != "total" else sum(comp.values()) for c in comps]
        vals = np.array(vals) / tok * 1e-9  # mJ per token
        ys = y + (1 - k) * h
        live = vals > 0
        ax1.barh(ys[live], vals[live], height=h, color=color, label=label)
        for yy, v in zip(ys[live], vals[live]):
            ax1.text(v * 1.15, yy, f"{v:.3g}", va="center", fontsize=7)
    ax1.set_xscale("log")
    ax1.set_yticks(y, comps)
    ax1.set_xlabel("mJ per token, 1024-token prefill (log scale; no bar: not counted)")
    ax1.set_xlim(right=ax1.get_xlim()[1] * 8)
    ax1.legend(loc="upper right", fontsize=7, frameon=False)
    ax1.set_title("Energy per token by component", fontsize=10)
    parts = sorted(((k, v / 1e6) for k, v in decode.timing.breakdown_ns.items() if v > 0), key=lambda kv: kv[1])
    ax2.barh([p[0] for p in parts], [p[1] for p in parts], color="#64B5CD")
    for i, (_k, v) in enumerate(parts):
        ax2.text(v * 1.1, i, f"{v:.3g} ms", va="center", fontsize=8)
    ax2.set_xscale("log")
    ax2.set_xlabel("ms along the critical path of one decode token (log scale)")
    ax2.set_title(f"Latency of a decode token (context 1023): {decode.timing.latency_per_token_ns / 1e6:.0f} ms",
                  fontsize=10)
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def _markdown(base, pre, pre_async, dec, fast, princ, wall: float, elapsed: float, png: str) -> str:
    tok = pre.tokens
    hw_e, paper_e = _components(pre), pre.energy["paper-style"]
    hw_total, paper_total = sum(hw_e.values()), sum(paper_e.values())
    dyn = hw_total - hw_e["static"]
    priced = pre.priced("hardware-aware")
    by_action = priced.groupby(["action", "component"], as_index=False)[["count", "energy_pj"]].sum()
    by_action = by_action.sort_values("energy_pj", ascending=False)
    unit = _unit_prices(pre)
    paper_priced = pre.priced("paper-style")
    ac = paper_priced[paper_priced.action == "ac"]
    paper_ac = float(ac["energy_pj"].sum() / ac["count"].sum())
    s = pre.summary()
    t = pre.timing
    m = base.mapping
    lines = [
        "# Where the energy goes: SDLLM LLaMA2-7B on Hala Point, compute-only vs hardware-aware",
        "",
        (f"Generated by `python -m neurosim.engines.events.energy_report` (event-driven simulator, statistical mode, "
        f"seed 0; {elapsed:.0f} s on this machine). Workload `{WORKLOAD}` (SDLLM: W4 weights, symmetric 4-bit "
        "counts unfolded into ternary spikes over D = 8 steps, per-projection firing rates 0.20-0.22 from seed 002), "
        "counted under its paper convention (all projections plus full 1024 x 1024 attention priced as spike-driven, "
        "no lm_head, non-linear ops not counted). Hardware `hala-point` (Loihi 2 figures taken from Loihi, as the "
        "model file says); mapping by `neurosim map` defaults: output-split, locality placement, "
        f"{m.chips_used} chips, {m.cores_used} neuro cores, attention and norms on the chips' embedded x86 cores."),
        "",
        ("Reproduce one row: `neurosim simulate sdllm-llama2-7b --hw hala-point --tokens 1024 --seed 0` "
        "(add `--async`, or `--tokens 1 --context 1023` for a decode token)."),
        "",
        "![energy and latency](" + png + ")",
        "",
        "## Headline: a 1024-token prefill",
        "",
        "| estimate | whole run | per token | what it counts |",
        "|---|---|---|---|",
        (f"| paper-style (`paper-45nm`) | {_j(paper_total)} | {_j(paper_total / tok)} | accumulates at 0.9 pJ x "
        f"w_bits x a_bits / 128 = {paper_ac:.3g} pJ each; nothing else (seed 002's {s['paper_scaled_ops_T']:.2f} T "
        f"bit-op-scaled ops, 0.67 J) |"),
        f"| hardware-aware, dynamic | {_j(dyn)} | {_j(dyn / tok)} | every counted action at Hala Point's prices |",
        (f"| hardware-aware, with static | {_j(hw_total)} | {_j(hw_total / tok)} | plus "
        f"{m.chips_used} chips x 104 mW over the {t.makespan_ns / 1e9:.1f} s the run takes |"),
        "",
        (f"**The ratio**: seed 002 counts compute only, and prices an accumulate at {paper_ac:.3g} pJ; priced as the "
        f"mapped hardware does it, the same run costs {dyn / paper_total:.0f}x more in dynamic energy alone "
        f"({hw_total / paper_total:.0f}x with static power over the simulated time), and compute proper is "
        f"{100 * hw_e['compute'] / hw_total:.2g} % of it: the weight reads of the synaptic ops, spike traffic and idle "
        "power dominate, as the critiques in the reference notes (Dampfhoffer et al. 2023; Yan et al. 2024) say "
        "of compute-only spiking estimates."),
        "",
        "## Hardware-aware energy by component",
        "",
        "| component | energy (run) | per token | share |",
        "|---|---|---|---|",
    ]
    for c in ("compute", "memory", "network", "neuron", "static"):
        lines.append(f"| {c} | {_j(hw_e[c])} | {_j(hw_e[c] / tok)} | {_pct(hw_e[c] / hw_total)} |")
    lines += ["", "## By action (hardware-aware, largest first)", "",
              "| action | component | count (run) | price each | energy (run) | share |", "|---|---|---|---|---|---|"]
    for r in by_action.itertuples(index=False):
        if r.energy_pj <= 0:
            continue
        lines.append(f"| {r.action} | {r.component} | {r.count:.3g} | {unit.get(r.action, 0):.3g} pJ | "
                     f"{_j(r.energy_pj)} | {_pct(r.energy_pj / hw_total)} |")
    lines.append(f"| static | static | {t.makespan_ns / 1e9:.1f} s | {m.chips_used * 104:.0f} mW | "
                 f"{_j(hw_e['static'])} | {hw_e['static'] / hw_total:.1%} |")
    ac_hw = unit.get("synapse_read", 0.0)
    lines += [
        "",
        "Reading the table:",
        (f"- **memory** is the synaptic op: the Loihi figure (Davies 2018, 23.6 pJ per synaptic spike op) covers the "
        f"weight read and the accumulate together, and the hardware model books it on `synapse_read` "
        f"({ac_hw:.3g} pJ) with the dendrite's accumulate at 0 pJ. Against the paper's {paper_ac:.3g} pJ "
        f"bit-op-scaled accumulate that is {ac_hw / paper_ac:.0f}x per op; this alone explains most of the "
        "dynamic ratio."),
        ("- **network**: every spike is sent once per destination core (a neuron of `enc_gate_up` reaches up to 350 "
        "cores), so messages are spikes x fan-out in cores; a chip-to-chip hop costs 2 pJ/bit x 64-bit packets "
        "(an assumption: chip links are not published)."),
        "- **static**: idle power of the chips used, over a run that the embedded cores make long (next section).",
        "",
        "## Time, and why static energy is large",
        "",
        (f"Prefill (sync, blocks of 64 tokens): {t.makespan_ns / 1e9:.1f} s simulated for 1024 tokens, "
        f"{t.throughput_tokens_per_s:.1f} tokens/s; a token's latency about {t.latency_per_token_ns / 1e6:.0f} ms. "
        f"A decode token after 1023 cached positions: {dec.timing.latency_per_token_ns / 1e6:.0f} ms, of which "
        f"{dec.timing.breakdown_ns.get('embedded cores', 0) / 1e6:.0f} ms on the embedded x86 cores "
        "(QK^T and AV over 1024 positions: 4.2 M multiply-accumulates each per block, at the assumed 400 Mop/s) and "
        f"{dec.timing.breakdown_ns.get('neuro cores', 0) / 1e6:.0f} ms on the neuro cores (synaptic ops at 3.5 ns "
        "each, layer after layer); core utilization is low "
        f"(mean {t.utilization.get('core_mean', 0):.3f}) because the 32 blocks run one after another for each token."),
        "",
        "| variant | tokens/s | latency per token | hardware-aware per token | static share |",
        "|---|---|---|---|---|",
    ]
    for label, r in (("prefill, sync (above)", pre), ("prefill, async (no barrier)", pre_async),
                     ("prefill, x86 cores 100x faster (`--hw-set '" + FAST_X86 + "'`)", fast),
                     ("decode token, sync, context 1023", dec),
                     ("prefill, principled convention (causal attention, lm_head, non-linear ops)", princ)):
        e = _components(r)
        tot = sum(e.values())
        lines.append(f"| {label} | {r.timing.throughput_tokens_per_s:.3g} | "
                     f"{r.timing.latency_per_token_ns / 1e6:.3g} ms | {_j(tot / r.tokens)} | "
                     f"{e['static'] / tot:.0%} |")
    pe = princ.energy["paper-style"]
    lines += [
        "",
        (f"Under the principled convention the paper-style figure grows to {_j(sum(pe.values()) / princ.tokens)} "
        "per token (the non-linear ops are counted at 4.6 pJ fp MACs), still far below the hardware-aware one."),
        "",
        "## Caveats",
        "",
        ("- Loihi 2's per-op energies are not published; the hardware model uses Loihi (14 nm) figures, an upper "
        "bound on an Intel 4 chip, and assumptions for chip links, static power and the x86 cores (see `neurosim "
        "hw show hala-point`). Change any of them with `--hw-set` and rerun."),
        ("- Statistical mode draws spikes from the workload's rates; counts agree with the analytic engine within "
        f"0.1 % here and the paper-style figure reproduces seed 002 ({s['paper_scaled_ops_T']:.2f} T, "
        f"{sum(paper_e.values()) * 1e-12:.2f} J)."),
        f"- Simulating the 1024-token prefill took {wall:.0f} s of wall time.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else Path("reports/energy")
    md, png = build(out)
    print(f"wrote {md} and {png}")


if __name__ == "__main__":
    main()
