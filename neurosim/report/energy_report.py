"""Where the energy of a spiking LM goes on a mapped neuromorphic system, compute-only against hardware-aware: the
kept report ``reports/energy/llama2-7b-hala-point.md`` and its figure, from event-driven simulations.

    python -m neurosim.report.energy_report [--out FILE.md] [--workload NAME] [--hw NAME] [--set k=v]
                                            [--hw-set k=v] [--tokens N] [--seed S]

Defaults: SDLLM LLaMA2-7B on Hala Point, a prefill of the workload's ``seq_len`` tokens, written to
``reports/energy/llama2-7b-hala-point.md`` (about two minutes). ``--hw-set`` takes the same ``a.b.value=x``
overrides as ``neurosim simulate --hw-set``; ``--set`` and ``--tokens`` make a small, fast study.

Every number in the prose is computed from the simulations, the workload and the hardware model (never typed in),
so changing a hardware figure with ``--hw-set`` changes every figure that depends on it. The report sits above
the engines: it maps and simulates through the run pipeline (:mod:`neurosim.pipeline`: ``resolve``,
``run_workload``, ``estimate``) with its defaults.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.defaults import DEFAULTS

WORKLOAD, HW = "sdllm-llama2-7b", "hala-point"
DEFAULT_OUT = Path("reports/energy/llama2-7b-hala-point.md")
#: the "what if" variant: the chips' embedded cores this many times faster than the hardware model says
FAST_FACTOR = 100
PAPER_TABLE = DEFAULTS.energy  # the paper-style table the analytic count is priced with
COMPONENTS = ("compute", "memory", "network", "neuron", "static")
#: hardware figures that price or time an action (the caveats name those resting on an assumption alone)
PRICE_FIELDS = ("energy", "energy_per_bit", "static_power", "op_energy", "op_throughput", "latency", "bandwidth",
                "barrier_sync", "sram_read_64b", "dram_read_64b")


# --- the study: what to run, and its runs ---------------------------------------------------------------------
@dataclass
class Study:
    """What the report simulates: a workload (with ``--set`` overrides) on a hardware model (with ``--hw-set``
    overrides), a prefill of ``tokens`` tokens (None: the workload's ``seq_len``), one seed."""

    workload: str = WORKLOAD
    hw: str = HW
    sets: list[str] = field(default_factory=list)
    hw_sets: list[str] = field(default_factory=list)
    tokens: int | None = None
    seed: int = DEFAULTS.seed

    def fast_set(self, hw) -> str:
        """The ``--hw-set`` of the fast-embedded-cores variant, from the hardware's own speed."""
        return f"chip.embedded.op_throughput.value={hw.chip.embedded.op_throughput.v * FAST_FACTOR:g} op/s"


@dataclass
class Runs:
    """Every simulation the report draws on, with the mapped system, the analytic count and wall times."""

    study: Study
    base: Any  # neurosim.pipeline.Resolved: spec, graph, hw, mapping
    plain_hw: Any  # the hardware model without --hw-set (to name what was overridden)
    fast_set: str
    prefill: Any
    prefill_async: Any
    decode: Any
    fast: Any
    paper: Any  # the prefill counted under the paper's convention; None when that is the workload's own count
    analytic: Any  # neurosim.pipeline.Estimate of the same prefill
    wall_s: float
    elapsed_s: float


def setup(study: Study, convention: str | None = None):
    """The workload mapped onto the hardware, through the run pipeline (:func:`neurosim.pipeline.resolve`: its
    defaults for the convention, partition and placement)."""
    from neurosim.pipeline import resolve

    return resolve(study.workload, study.hw, study.sets, study.hw_sets, convention or DEFAULTS.convention)


def _convention(graph) -> dict[str, Any]:
    return {k: v for k, v in graph.meta.get("convention", {}).items() if k != "name"}


def differs_on_paper(base) -> bool:
    """Whether the workload's paper convention (what the paper printed) counts other than its own convention."""
    paper = getattr(base.spec, "paper_convention", None)
    return paper is not None and paper.model_dump() != _convention(base.graph)


def paper_run(runs: Runs) -> Any:
    """The prefill counted under the paper's convention: the paper variant, or the prefill itself when the
    workload's convention is the paper's; None when the workload has no paper convention."""
    if runs.paper is not None:
        return runs.paper
    paper = getattr(runs.base.spec, "paper_convention", None)
    return runs.prefill if paper is not None and paper.model_dump() == _convention(runs.base.graph) else None


def prefill_tokens(study: Study, spec) -> int:
    return int(study.tokens if study.tokens is not None else spec.seq_len * spec.batch)


def _simulate(r, tokens: int, context: int, sync: bool, seed: int):
    """A statistical run of the pipeline on an already mapped system (its default block size)."""
    from neurosim.pipeline import run_workload

    return run_workload(r.spec.name, r.hw.name, mode="statistical", tokens=tokens, context=context, sync=sync,
                        seed=seed, resolved=r)


def run_study(study: Study) -> Runs:
    """Map and simulate: prefill (sync and async), one decode token after the prefill's positions, the prefill
    with fast embedded cores and, when it counts differently, under the paper's convention (what seed 002 printed);
    count the prefill analytically too."""
    from dataclasses import replace

    from neurosim.hardware import load_hardware
    from neurosim.pipeline import estimate

    t0 = time.perf_counter()
    base = setup(study)
    n = prefill_tokens(study, base.spec)
    fast_set = study.fast_set(base.hw)
    # the same placement; only the embedded cores' speed differs
    fast = replace(base, hw=load_hardware(study.hw, [*study.hw_sets, fast_set]))
    paper = setup(study, convention="paper") if differs_on_paper(base) else None
    t = time.perf_counter()
    prefill = _simulate(base, n, 0, True, study.seed)
    wall = time.perf_counter() - t
    runs = Runs(
        study=study, base=base, plain_hw=load_hardware(study.hw), fast_set=fast_set, prefill=prefill,
        prefill_async=_simulate(base, n, 0, False, study.seed),
        decode=_simulate(base, 1, n - 1, True, study.seed),
        fast=_simulate(fast, n, 0, True, study.seed),
        paper=_simulate(paper, n, 0, True, study.seed) if paper is not None else None,
        analytic=estimate(base.spec, PAPER_TABLE, seq_len=n, convention=_convention_name(base.graph)),
        wall_s=wall, elapsed_s=0.0)
    runs.elapsed_s = time.perf_counter() - t0
    return runs


def _convention_name(graph) -> str:
    return graph.meta.get("convention", {}).get("name", DEFAULTS.convention)


# --- numbers as text ------------------------------------------------------------------------------------------
def _j(pj: float) -> str:
    pj = float(pj)
    for unit, f in (("J", 1e12), ("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3)):
        if abs(pj) >= f:
            return f"{pj / f:.3g} {unit}"
    return f"{pj:.3g} pJ"


def _pct(x: float) -> str:
    return f"{100 * x:.3g} %"


def _ms(ns: float) -> str:
    return f"{ns / 1e6:.3g} ms"


def _s(ns: float) -> str:
    """A duration in s, ms or us."""
    for unit, f in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if abs(ns) >= f:
            return f"{ns / f:.3g} {unit}"
    return f"{ns:.3g} ns"


def _n(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _mw(mw: float) -> str:
    return f"{mw * 1e-3:.3g} W" if mw >= 1e3 else f"{mw:.3g} mW"


def _ops(per_s: float) -> str:
    for unit, f in (("Top/s", 1e12), ("Gop/s", 1e9), ("Mop/s", 1e6), ("kop/s", 1e3)):
        if per_s >= f:
            return f"{per_s / f:.3g} {unit}"
    return f"{per_s:.3g} op/s"


def _x(r: float) -> str:
    """A ratio without exponents: 3.2x, 488x, 3,673x."""
    return f"{r:,.0f}x" if r >= 1000 else f"{r:.3g}x"


def _kind(fig) -> str:
    """How a hardware figure is backed: a published source, or only an assumption."""
    return "published" if (fig.source or "").strip() else "an assumption"


# --- what the prose draws on ----------------------------------------------------------------------------------
def components(res) -> dict[str, float]:
    return dict(res.energy["hardware-aware"])


def unit_prices(res, label: str = "hardware-aware") -> dict[str, float]:
    """Energy per counted action, as priced in this run (pJ)."""
    g = res.priced(label).groupby("action")[["count", "energy_pj"]].sum()
    return {a: float(r.energy_pj / r["count"]) for a, r in g.iterrows() if r["count"]}


def table_price(table, action: str, numeric: str | None = None) -> float:
    """The listed price of ``action`` in an energy table (before any bit-op scaling)."""
    for p in table.prices:
        if p.action == action and (numeric is None or getattr(p, "numeric", None) in (None, numeric)):
            return float(p.energy_pj)
    return 0.0


def max_fanout_cores(mapping) -> tuple[int, str]:
    """The most neuro cores one spike reaches (a neuron's input slice held by each), and its source layer."""
    best, where = 0, ""
    for e in mapping.edges:
        if e.payload != "spike" or not len(e):
            continue
        dst = mapping[e.dst].pieces
        pieces = np.unique(e.routes["dst_piece"])
        lo, hi = dst["in_lo"][pieces], dst["in_hi"][pieces]
        core = np.stack([dst[c][pieces] for c in ("chip", "x", "y", "slot")], axis=1)
        for p in np.unique(lo):  # a neuron at the start of a slice sees the most overlapping slices there
            cover = (lo <= p) & (p < hi)
            n = len(np.unique(core[cover], axis=0))
            if n > best:
                best, where = n, e.src
    return best, where


def attention_on_embedded(s) -> list[Any]:
    """The attention matmul layers the mapping puts on the chips' embedded cores."""
    from neurosim.graph import AttentionScore, AttentionValue

    pieces = s.mapping.pieces_frame()
    names = set(pieces.loc[pieces["role"] == "embedded", "layer"])
    return [ly for ly in s.graph if isinstance(ly, (AttentionScore, AttentionValue)) and ly.name in names]


def analytic_agreement(runs: Runs) -> tuple[float, str]:
    """The largest relative difference between the simulated and the analytic count of an action, over the layers
    and actions the analytic engine counts (the simulator also counts e.g. the output neurons of projections)."""
    an_rows = runs.analytic.counters
    keys = an_rows[["layer", "action"]].drop_duplicates()
    ev = runs.prefill.counters.merge(keys, on=["layer", "action"]).groupby("action")["count"].sum()
    an = an_rows.groupby("action")["count"].sum()
    worst, action = 0.0, ""
    for a, expected in an.items():
        if expected > 0:
            d = abs(float(ev.get(a, 0.0)) / float(expected) - 1)
            if d >= worst:
                worst, action = d, str(a)
    return worst, action


def seed_reference(runs: Runs) -> Any:
    """Seed 002's printed row for this very run (its model, encoding and full prefill), or None."""
    from neurosim.reproduce import MODEL_WORKLOADS, read_reference

    spec = runs.base.spec
    model = {w: m for m, w in MODEL_WORKLOADS.items()}.get(runs.study.workload)
    if (model is None or runs.study.sets or runs.prefill.tokens != spec.seq_len * spec.batch
            or paper_run(runs) is None):
        return None
    ref = read_reference()
    rows = ref[(ref["model"] == model) & (ref["scope"] == "model") & (ref["method"] == "SDLLM")]
    for _, r in rows.iterrows():
        if (float(r["w_bits"]) == spec.w_bits and str(r["unfold"]) and float(r["unfold"]) == spec.unfold
                and str(r["firing_rate"]) and float(r["firing_rate"]) == spec.firing_rate):
            return r
    return None


def overridden(runs: Runs) -> list[tuple[str, str, str]]:
    """(field, value in the model file, value in this report) for every hardware figure --hw-set changed."""
    from neurosim.hardware import iter_figures

    plain = dict(iter_figures(runs.plain_hw))
    return [(path, plain[path].text(), f.text()) for path, f in iter_figures(runs.base.hw)
            if path in plain and plain[path].v != f.v]


def command_line(runs: Runs, *extra: str) -> str:
    """The ``neurosim simulate`` command that reproduces one row."""
    st = runs.study
    parts = ["neurosim simulate", st.workload, "--hw", st.hw, "--tokens", str(runs.prefill.tokens),
             "--seed", str(st.seed)]
    parts += [f"--set {s}" for s in st.sets] + [f"--hw-set '{s}'" for s in st.hw_sets]
    return " ".join([*parts, *extra])


# --- the report -----------------------------------------------------------------------------------------------
def render_markdown(runs: Runs, png: str | None) -> str:
    """The whole report as Markdown; ``png``: the figure's file name beside it (None: no figure)."""
    lines = _intro(runs, png) + _headline(runs) + _by_component(runs) + _by_action(runs) + _reading(runs)
    lines += _time(runs) + _variants(runs) + _caveats(runs)
    return "\n".join(lines) + "\n"


def _workload_text(spec, graph, tokens: int) -> str:
    rates = sorted(spec.rates.values()) if spec.rates else [spec.firing_rate]
    rate = f"{rates[0]:.2f}-{rates[-1]:.2f}" if rates[0] != rates[-1] else f"{rates[0]:.3g}"
    conv = graph.meta.get("convention", {})
    att = conv.get("attention", "causal")
    what = [f"all projections plus {att} {tokens} x {tokens} attention" if att == "full" else
            f"all projections plus {att} attention"]
    if conv.get("attention_as_spiking"):
        what[0] += " priced as spike-driven"
    what.append("with the lm_head" if conv.get("lm_head") else "no lm_head")
    what.append("non-linear ops counted" if conv.get("nonlinear") else "non-linear ops not counted")
    return (f"Workload `{spec.name}` ({spec.method}: W{spec.w_bits} weights, "
            f"{'symmetric' if spec.symmetric else 'asymmetric'} {spec.a_bits}-bit counts unfolded into "
            f"{spec.a_encoding} spikes over D = {spec.effective_unfold:g} steps, {_n(spec.model.layers, 'block')}, "
            f"firing rates {rate}; {spec.source}), counted as the workload file says ({', '.join(what)}).")


def _intro(runs: Runs, png: str | None) -> list[str]:
    st, pre, m, hw = runs.study, runs.prefill, runs.base.mapping, runs.base.hw
    emb = attention_on_embedded(runs.base)
    gen = "python -m neurosim.report.energy_report"
    gen += (f" --workload {st.workload}" if st.workload != WORKLOAD else "") + (f" --hw {st.hw}" if st.hw != HW else "")
    gen += "".join(f" --set {s}" for s in st.sets) + "".join(f" --hw-set '{s}'" for s in st.hw_sets)
    gen += (f" --tokens {st.tokens}" if st.tokens is not None else "") + (f" --seed {st.seed}" if st.seed else "")
    return [
        f"# Where the energy goes: {runs.base.spec.name} on {hw.name}, compute-only vs hardware-aware",
        "",
        (f"Generated by `{gen}` (event-driven simulator, statistical mode, seed {st.seed}; "
         f"{runs.elapsed_s:.0f} s on this machine). " + _workload_text(runs.base.spec, runs.base.graph, pre.tokens)
         + f" Hardware `{hw.name}`" + (f" (extends `{hw.extends}`)" if hw.extends else "")
         + f"; mapping by `neurosim map` defaults: {m.strategy}-split, {m.placement} placement, {m.chips_used} "
         f"chips, {m.cores_used} neuro cores" + (", attention matmuls on the chips' embedded cores." if emb else ".")),
        "",
        (f"Reproduce one row: `{command_line(runs)}` (add `--async`, or `--tokens 1 --context "
         f"{runs.decode.config.context}` for a decode token)."),
        "",
        *(["![energy and latency](" + png + ")", ""] if png else []),
    ]


def _headline(runs: Runs) -> list[str]:
    pre, hw, m = runs.prefill, runs.base.hw, runs.base.mapping
    tok = pre.tokens
    hw_e, paper_e = components(pre), pre.energy["paper-style"]
    hw_total, paper_total = sum(hw_e.values()), sum(paper_e.values())
    dyn = hw_total - hw_e["static"]
    paper_ac = unit_prices(pre, "paper-style").get("ac", 0.0)
    ac_list = table_price(pre.paper_table, "ac")
    s = pre.summary()
    seed = f"; {s['paper_scaled_ops_T']:.3g} T bit-op-scaled ops"
    order = sorted(COMPONENTS, key=lambda c: -hw_e[c])[:3]
    top = ", ".join(f"{c} ({_pct(hw_e[c] / hw_total)})" for c in order)
    return [
        f"## Headline: a prefill of {tok} tokens",
        "",
        "| estimate | whole run | per token | what it counts |",
        "|---|---|---|---|",
        (f"| paper-style (`{pre.paper_table.name}`) | {_j(paper_total)} | {_j(paper_total / tok)} | accumulates at "
         f"{ac_list:g} pJ x w_bits x a_bits / 128 = {paper_ac:.3g} pJ each{_paper_others(pre)}; nothing else{seed} |"),
        f"| hardware-aware, dynamic | {_j(dyn)} | {_j(dyn / tok)} | every counted action at {hw.name}'s prices |",
        (f"| hardware-aware, with static | {_j(hw_total)} | {_j(hw_total / tok)} | plus {m.chips_used} chips x "
         f"{_mw(hw.chip.static_power.v)} over the {_s(pre.timing.makespan_ns)} the run takes |"),
        "",
        (f"**The ratio**: the paper-style estimate counts compute only, and prices an accumulate at {paper_ac:.3g} pJ; "
         f"priced as the mapped hardware does it, the same run costs {_x(dyn / paper_total)} more in dynamic "
         f"energy alone ({_x(hw_total / paper_total)} with static power over the simulated time), and compute "
         f"proper is {_pct(hw_e['compute'] / hw_total)} of it. The largest components are {top}, as the "
         "critiques in the reference notes (Dampfhoffer et al. 2023; Yan et al. 2024) say of compute-only spiking "
         "estimates."),
        "",
    ]


def _paper_others(res) -> str:
    """The actions other than accumulates that the paper-style table charged in this run, with their mean price."""
    g = res.priced("paper-style").groupby("action")[["count", "energy_pj"]].sum()
    others = [(a, r) for a, r in g.iterrows() if a != "ac" and r.energy_pj > 0]
    return "".join(f"; {r['count']:.3g} {a} at {r.energy_pj / r['count']:.3g} pJ each" for a, r in others)


def _by_component(runs: Runs) -> list[str]:
    pre = runs.prefill
    hw_e = components(pre)
    total = sum(hw_e.values())
    lines = ["## Hardware-aware energy by component", "", "| component | energy (run) | per token | share |",
             "|---|---|---|---|"]
    for c in COMPONENTS:
        lines.append(f"| {c} | {_j(hw_e[c])} | {_j(hw_e[c] / pre.tokens)} | {_pct(hw_e[c] / total)} |")
    return [*lines, ""]


def _by_action(runs: Runs) -> list[str]:
    pre, hw, m = runs.prefill, runs.base.hw, runs.base.mapping
    hw_e = components(pre)
    total = sum(hw_e.values())
    by = pre.priced("hardware-aware").groupby(["action", "component"], as_index=False)[["count", "energy_pj"]].sum()
    unit = unit_prices(pre)
    lines = ["## By action (hardware-aware, largest first)", "",
             "| action | component | count (run) | price each | energy (run) | share |", "|---|---|---|---|---|---|"]
    for r in by.sort_values(["energy_pj", "action"], ascending=[False, True]).itertuples(index=False):
        if r.energy_pj > 0:
            lines.append(f"| {r.action} | {r.component} | {r.count:.3g} | {unit.get(r.action, 0):.3g} pJ | "
                         f"{_j(r.energy_pj)} | {_pct(r.energy_pj / total)} |")
    lines.append(f"| static | static | {_s(pre.timing.makespan_ns)} | {_mw(hw.static_power_mw(m.chips_used))} | "
                 f"{_j(hw_e['static'])} | {_pct(hw_e['static'] / total)} |")
    return [*lines, ""]


def _reading(runs: Runs) -> list[str]:
    pre, hw = runs.prefill, runs.base.hw
    p = hw.core.pipeline
    syn, acc = p.synapse["read"].energy, p.dendrite["accumulate"].energy
    unit = unit_prices(pre)
    paper_ac = unit_prices(pre, "paper-style").get("ac", 0.0)
    syn_e = float(pre.priced("hardware-aware").query("action == 'synapse_read'")["energy_pj"].sum())
    hw_e = components(pre)
    dyn = sum(hw_e.values()) - hw_e["static"]
    fan, src = max_fanout_cores(runs.base.mapping)
    link = hw.system.chip_link.energy_per_bit
    crit = max(pre.timing.breakdown_ns.items(), key=lambda kv: kv[1], default=("-", 0.0))[0]
    syn_ac = unit.get("synapse_read", 0.0)
    return [
        "Reading the table:",
        (f"- **memory** is mostly the synaptic op: the hardware model books it on `synapse_read` at "
         f"{syn.v:.3g} pJ ({_kind(syn)}; a weight wider than the core's {hw.core.max_weight_bits.v:g} bits takes "
         f"more synapses), {syn_ac:.3g} pJ per read in this run, with the dendrite's accumulate at {acc.v:.3g} pJ. "
         f"Against the paper's {paper_ac:.3g} pJ bit-op-scaled accumulate that is {_x(syn_ac / paper_ac)} per op; "
         f"synapse reads are {_pct(syn_e / dyn)} of the dynamic energy."),
        (f"- **network**: every spike is sent once per destination core (a neuron of `{src}` reaches up to {fan} "
         f"cores), so messages are spikes x fan-out in cores; a chip-to-chip hop costs {link.v:g} pJ/bit x "
         f"{hw.packet_bits:g}-bit packets = {hw.hop_chip_pj:.3g} pJ ({_kind(link)})."),
        (f"- **static**: idle power of the {runs.base.mapping.chips_used} chips used "
         f"({_mw(hw.static_power_mw(runs.base.mapping.chips_used))}) over the simulated run; the largest part of "
         f"a prefill token's critical path is `{crit}` (next section)."),
        "",
    ]


def _time(runs: Runs) -> list[str]:
    pre, dec, hw, spec = runs.prefill, runs.decode, runs.base.hw, runs.base.spec
    t = pre.timing
    positions = dec.config.context + dec.tokens
    emb = attention_on_embedded(runs.base)
    rate = hw.chip.embedded.op_throughput
    parts = sorted(((k, v) for k, v in dec.timing.breakdown_ns.items() if v > 0), key=lambda kv: -kv[1])
    split = ", ".join(f"{_ms(v)} {k}" for k, v in parts)
    att = ""
    if emb:
        ops = emb[0].heads * emb[0].head_dim * positions
        att = (f" The embedded cores run the attention matmuls (QK^T and AV over {positions} positions: "
               f"{ops / 1e6:.3g} M multiply-accumulates each per block and token) at {_ops(rate.v)} "
               f"({_kind(rate)}), {_ms(len(emb) * ops / rate.v * 1e9)} of embedded-core work per token over "
               f"{_n(len({ly.block for ly in emb}), 'block')}.")
    syn_lat = hw.core.pipeline.synapse["read"].latency.v
    return [
        "## Time, and the static energy it costs",
        "",
        (f"Prefill ({'sync' if pre.config.sync else 'async'}, blocks of {_n(pre.config.block, 'token')}): "
         f"{_s(t.makespan_ns)} simulated for {pre.tokens} tokens, {t.throughput_tokens_per_s:.3g} tokens/s; a "
         f"token's latency about {_ms(t.latency_per_token_ns)}. A decode token after {dec.config.context} cached "
         f"positions: {_ms(dec.timing.latency_per_token_ns)} along its critical path ({split}).{att} Synaptic "
         f"ops take {syn_lat:.3g} ns each, layer after layer; core utilization is "
         f"{t.utilization.get('core_mean', 0):.3g} on average (busiest core {t.utilization.get('core_max', 0):.3g}) "
         f"because each token goes through the {_n(spec.model.layers, 'decoder block')} one after another."),
        "",
    ]


def _conv_text(graph) -> str:
    """What a graph's convention counts, in words."""
    conv = _convention(graph)
    what = [f"{conv.get('attention', 'causal')} attention", "lm_head" if conv.get("lm_head") else "no lm_head",
            "non-linear ops" if conv.get("nonlinear") else "no non-linear ops"]
    return ", ".join(what)


def _variants(runs: Runs) -> list[str]:
    pre, paper = runs.prefill, runs.paper
    rows = [("prefill, sync (above)", pre), ("prefill, async (no barrier)", runs.prefill_async),
            (f"prefill, embedded cores {FAST_FACTOR:g}x faster (`--hw-set '{runs.fast_set}'`)", runs.fast),
            (f"decode token, sync, context {runs.decode.config.context}", runs.decode)]
    if paper is not None:
        rows.append((f"prefill, the paper's convention ({_conv_text(paper.graph)})", paper))
    lines = ["| variant | tokens/s | latency per token | hardware-aware per token | static share |",
             "|---|---|---|---|---|"]
    for label, r in rows:
        e = components(r)
        tot = sum(e.values())
        lines.append(f"| {label} | {r.timing.throughput_tokens_per_s:.3g} | {_ms(r.timing.latency_per_token_ns)} | "
                     f"{_j(tot / r.tokens)} | {_pct(e['static'] / tot)} |")
    lines.append("")
    if paper is not None:
        pe = sum(paper.energy["paper-style"].values()) / paper.tokens
        he = sum(components(paper).values()) / paper.tokens
        lines += [(f"Counted under the paper's convention, the paper-style figure is {_j(pe)} per token against "
                   f"{_j(sum(pre.energy['paper-style'].values()) / pre.tokens)} for the workload's own count above; "
                   f"the hardware-aware one is {_x(he / pe)} the paper-style one there."), ""]
    return lines


def _caveats(runs: Runs) -> list[str]:
    hw, pre = runs.base.hw, runs.prefill
    from neurosim.hardware import iter_figures

    figs = list(iter_figures(hw))
    assumed = [(p, f) for p, f in figs if not (f.source or "").strip()]
    # the non-zero prices and speeds among them: what energy and time depend on
    priced = [f"`{p}` ({f.text()})" for p, f in assumed if p.endswith(PRICE_FIELDS) and f.v > 0]
    worst, action = analytic_agreement(runs)
    ref = seed_reference(runs)
    pr = paper_run(runs)
    lines = [
        "## Caveats",
        "",
        (f"- {len(assumed)} of the {len(figs)} figures of `{hw.name}` rest on an assumption alone (no published "
         f"source), among the non-zero prices and speeds {', '.join(priced) or 'none'}; the others carry their "
         f"source, some with an assumption on top (see `neurosim hw show {hw.name}`). Change any of them with `--hw-set` and "
         "rerun."),
        (f"- Statistical mode draws spikes from the workload's rates; the simulated counts differ from the analytic "
         f"engine's expectation by at most {_pct(worst)} (`{action}`)"
         + (f"; counted under the paper's convention, the paper-style figure is "
            f"{pr.summary()['paper_scaled_ops_T']:.3g} T bit-op-scaled ops and "
            f"{sum(pr.energy['paper-style'].values()) * 1e-12:.3g} J against seed 002's printed "
            f"{float(ref['flops']):.3g} T and {float(ref['power']):.3g} J." if ref is not None else ".")),
        f"- Simulating the prefill of {pre.tokens} tokens took {runs.wall_s:.2g} s of wall time.",
    ]
    changed = overridden(runs)
    if changed:
        lines.append("- Hardware figures changed for this report with `--hw-set`: "
                     + "; ".join(f"`{p}` {a} -> {b}" for p, a, b in changed) + ".")
    return [*lines, ""]


# --- the figure -----------------------------------------------------------------------------------------------
def draw_figure(runs: Runs, png: Path) -> None:
    """Energy per token by component (three estimates), and the decode token's critical path by part."""
    from neurosim.io import pyplot

    plt = pyplot()

    from neurosim.io import atomic_path

    pre, dec, fast, hw = runs.prefill, runs.decode, runs.fast, runs.base.hw
    comps = [*COMPONENTS, "total"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    series = [(f"paper-style ({pre.paper_table.name}, compute only)", pre.energy["paper-style"], pre.tokens,
               "#4C72B0"),
              (f"hardware-aware ({hw.name})", components(pre), pre.tokens, "#DD8452"),
              (f"hardware-aware, embedded cores {FAST_FACTOR:g}x faster", components(fast), fast.tokens, "#55A868")]
    y = np.arange(len(comps))[::-1]
    h = 0.27
    for k, (label, comp, tok, color) in enumerate(series):
        vals = np.array([comp.get(c, 0.0) if c != "total" else sum(comp.values()) for c in comps]) / tok * 1e-9
        ys = y + (1 - k) * h
        live = vals > 0
        ax1.barh(ys[live], vals[live], height=h, color=color, label=label)
        for yy, v in zip(ys[live], vals[live]):
            ax1.text(v * 1.15, yy, f"{v:.3g}", va="center", fontsize=7)
    ax1.set_xscale("log")
    ax1.set_yticks(y, comps)
    ax1.set_xlabel(f"mJ per token, prefill of {pre.tokens} tokens (log scale; no bar: not counted)")
    ax1.set_xlim(right=ax1.get_xlim()[1] * 8)
    fig.legend(*ax1.get_legend_handles_labels(), loc="lower left", ncols=3, fontsize=7, frameon=False)
    ax1.set_title("Energy per token by component", fontsize=10)
    parts = sorted(((k, v / 1e6) for k, v in dec.timing.breakdown_ns.items() if v > 0), key=lambda kv: kv[1])
    ax2.barh([p[0] for p in parts], [p[1] for p in parts], color="#64B5CD")
    for i, (_k, v) in enumerate(parts):
        ax2.text(v * 1.1, i, f"{v:.3g} ms", va="center", fontsize=8)
    ax2.set_xscale("log")
    ax2.set_xlabel("ms along the critical path of one decode token (log scale)")
    ax2.set_title(f"Latency of a decode token (context {dec.config.context}): "
                  f"{dec.timing.latency_per_token_ns / 1e6:.3g} ms", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))  # room for the legend below
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=110, format="png", metadata={"Software": None})
    plt.close(fig)


def build(out: Path, study: Study | None = None, figure: bool = True) -> tuple[Path, Path | None]:
    """Run the study and write the Markdown report (and its PNG figure beside it, same stem)."""
    from neurosim.io import write_text_atomic

    runs = run_study(study or Study())
    out.parent.mkdir(parents=True, exist_ok=True)
    png = out.with_suffix(".png") if figure else None
    if png is not None:
        draw_figure(runs, png)
    write_text_atomic(out, render_markdown(runs, png.name if png is not None else None))
    return out, png


def parse_args(argv: list[str] | None) -> tuple[Path, Study, bool]:
    ap = argparse.ArgumentParser(prog="python -m neurosim.report.energy_report", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the Markdown file to write (the PNG goes beside)")
    ap.add_argument("--workload", default=WORKLOAD)
    ap.add_argument("--hw", default=HW)
    ap.add_argument("--set", dest="sets", action="append", default=[], help="override a workload field")
    ap.add_argument("--hw-set", dest="hw_sets", action="append", default=[],
                    help="override a hardware figure, as `neurosim simulate --hw-set`: a.b.value=x")
    ap.add_argument("--tokens", type=int, default=None, help="prefill tokens (default: the workload's seq_len)")
    ap.add_argument("--seed", type=int, default=DEFAULTS.seed)
    ap.add_argument("--no-figure", action="store_true", help="write the Markdown only")
    a = ap.parse_args(argv)
    if a.tokens is not None and a.tokens < 2:
        ap.error(f"--tokens {a.tokens}; allowed: an integer >= 2 (a prefill, then one decode token after it)")
    return a.out, Study(a.workload, a.hw, a.sets, a.hw_sets, a.tokens, a.seed), not a.no_figure


def main(argv: list[str] | None = None) -> None:
    from neurosim.errors import NeurosimError

    out, study, figure = parse_args(argv)
    try:
        md, png = build(out, study, figure)
    except NeurosimError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"wrote {md}" + (f" and {png}" if png is not None else ""))


if __name__ == "__main__":
    main()
