"""Running the event-driven simulator: inputs (statistical or exact) -> SimPy run -> counters, timing, energy.

:func:`simulate` is the engine's entry point for a graph already mapped; :func:`run_workload` resolves a workload,
hardware and mapping by name (what the CLI and the report call).
"""

from __future__ import annotations

import gc
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from neurosim.cost import Rules
from neurosim.energy import EnergyTable, load_energy_table
from neurosim.engines.events.plan import Phase, Plan, plan_for
from neurosim.engines.events.sim import PhaseTiming, SimConfig, Simulator, SpikeInput
from neurosim.engines.events.work import (
    Block,
    CountHistogram,
    draw_segment_steps,
    make_blocks,
    rng_for,
    spike_steps_of,
)
from neurosim.errors import NeurosimError
from neurosim.graph import Graph
from neurosim.hardware import Hardware
from neurosim.mapping.model import Mapping

MODES = ("statistical", "exact")
PAPER_TABLE = "paper-45nm"
#: hardware-aware energy components (counter components; sync = barriers is shown under network)
ENERGY_COMPONENTS = ("compute", "memory", "network", "neuron", "static")


class StatisticalInput(SpikeInput):
    """Spikes drawn from the graph's firing rates (or a count histogram), seeded per (seed, layer, block)."""

    def __init__(self, seed: int = 0, histogram: CountHistogram | None = None):
        self.seed = seed
        self.histogram = histogram

    def segment_steps(self, phase: Phase, plan: Plan, block: Block) -> np.ndarray:
        src = plan.layers[phase.layers[0]].layer
        steps, _, p = spike_steps_of(src)
        hist = self.histogram.for_layer(src) if self.histogram is not None else None
        drawn = draw_segment_steps(rng_for(self.seed, src.name, block.index), np.diff(phase.segments), block.size,
                                   steps, p, hist)
        if getattr(src, "graded", False):  # a payload wider than a message goes bit-serially: every chunk assumed
            drawn = drawn * float(-(-int(src.bits) // max(1, int(plan.hw.core.message_bits.v))))  # set (a bound)
        return drawn


@dataclass
class Timing:
    """Simulated time of the run and of one token, with where it went."""

    makespan_ns: float
    latency_per_token_ns: float
    block_latency_ns: float
    block_tokens: int
    throughput_tokens_per_s: float
    breakdown_ns: dict[str, float]
    critical_path: list[dict[str, Any]]
    by_layer: pd.DataFrame
    utilization: dict[str, float]
    busiest: dict[str, str]
    barriers: float
    mode: str
    steps: list = field(default_factory=list)  # synchronous mode: every global time step (sim.StepRecord)

    def step_summary(self, keep: int = 5000) -> dict[str, Any]:
        """The global time steps (synchronous mode): how long they took (work = the slowest core or link plus the
        network latency; then the barrier), what bound them, and each step's duration when there are at most
        ``keep`` of them."""
        recs = self.steps
        if not recs:
            return {}
        work = np.array([r.work_ns for r in recs])
        hw = np.array([r.hw_steps for r in recs], dtype=float)
        bar = np.array([r.barrier_ns for r in recs])
        bound: dict[str, int] = defaultdict(int)
        for r in recs:
            bound[r.bound_by] += 1
        top = dict(sorted(bound.items(), key=lambda kv: -kv[1])[:8])
        out = {"count": int(hw.sum()), "records": len(recs), "work_mean_ns": float(work.mean()),
               "work_max_ns": float(work.max()), "barrier_ns": float(bar.sum() / hw.sum()),
               "mean_ns": float((work + bar).sum() / hw.sum()), "bound_by": top}
        if len(recs) <= keep:
            out["per_step_ns"] = [float(r.duration_ns) for r in recs]
        return out


@dataclass
class SimResult:
    """Everything one run produced."""

    graph: Graph
    mapping: Mapping
    hw: Hardware
    config: SimConfig
    counters: pd.DataFrame
    timing: Timing
    hw_table: EnergyTable
    paper_table: EnergyTable
    energy: dict[str, dict[str, float]]  # label -> component -> pJ
    wall_s: float
    plan: Plan
    notes: list[str] = field(default_factory=list)
    verify: Any = None  # exact mode: the verification report (:class:`~.exact.Verification`)
    functional_counters: pd.DataFrame | None = None  # exact mode: what the functional engine counted
    measured_rates: dict[str, float] | None = None  # exact mode: encoder -> measured firing rate
    functional_s: float = 0.0  # exact mode: wall time of the traced functional run (cores' products included)
    cores_s: float = 0.0  # exact mode: wall time of the cores' partial products (inside the traced run)
    link_messages: np.ndarray | None = None  # messages that crossed each directed link over the run

    @property
    def tokens(self) -> int:
        return self.config.tokens

    def action_totals(self) -> dict[str, float]:
        return {a: float(c) for a, c in self.counters.groupby("action")["count"].sum().items()}

    def priced(self, label: str, by_place: bool = False) -> pd.DataFrame:
        """The counters priced under ``label`` (hardware-aware or paper-style); folded over places unless
        ``by_place``."""
        table = self.hw_table if label == "hardware-aware" else self.paper_table
        df = self.counters
        if not by_place:
            by = [c for c in df.columns if c not in ("place", "count")]
            df = df.groupby(by, as_index=False, sort=False)["count"].sum()
        return table.price(df)

    @property
    def static_pj(self) -> float:
        return self.energy["hardware-aware"]["static"]

    def summary(self) -> dict[str, Any]:
        """Headline figures (JSON-ready)."""
        t = self.timing
        hw_e, paper = self.energy["hardware-aware"], self.energy["paper-style"]
        acts = self.action_totals()
        hw_total, paper_total = sum(hw_e.values()), sum(paper.values())
        return {
            "workload": self.graph.meta.get("workload", self.graph.name),
            "hardware": self.hw.name,
            "calibration": " ".join(self.hw.calibration.split()),
            "mode": self.config.mode,
            "timing_mode": "sync" if self.config.sync else "async",
            "tokens": self.config.tokens,
            "context": self.config.context,
            "block": self.config.block,
            "seed": self.config.seed,
            "chips": self.mapping.chips_used,
            "cores": self.mapping.cores_used,
            "strategy": self.mapping.strategy,
            "placement": self.mapping.placement,
            "counts": acts,
            "energy_pj": {"hardware-aware": hw_e, "paper-style": paper},
            "energy_J": {"hardware-aware": hw_total * 1e-12, "paper-style": paper_total * 1e-12},
            "energy_per_token_mJ": {"hardware-aware": hw_total * 1e-9 / self.tokens,
                                    "paper-style": paper_total * 1e-9 / self.tokens},
            "hardware_to_paper_ratio": hw_total / paper_total if paper_total else None,
            "paper_scaled_ops_T": float(self.priced("paper-style")["scaled_ops"].sum()) * 1e-12,
            "makespan_ns": t.makespan_ns,
            "time_steps": t.step_summary(),
            "latency_per_token_ns": t.latency_per_token_ns,
            "throughput_tokens_per_s": t.throughput_tokens_per_s,
            "latency_breakdown_ns": t.breakdown_ns,
            "utilization": t.utilization,
            "busiest": t.busiest,
            "critical_path": t.critical_path,
            "wall_s": self.wall_s + self.cores_s,
            "accumulates_per_wall_s": (acts.get("ac", 0.0) / (self.wall_s + self.cores_s)
                                       if self.wall_s + self.cores_s > 0 else None),
            "notes": self.notes,
        }


def default_block(tokens: int) -> int:
    """Tokens per bundle: one at a time up to 16 tokens, else about 16 blocks (pipelined through the layers)."""
    return tokens if tokens <= 1 else (1 if tokens <= 16 else -(-tokens // 16))


def check_config(cfg: SimConfig) -> None:
    if cfg.mode not in MODES:
        raise NeurosimError(f"--mode {cfg.mode!r}; allowed: {', '.join(MODES)}")
    if cfg.tokens <= 0:
        raise NeurosimError(f"--tokens {cfg.tokens}; allowed: an integer > 0")
    if cfg.context < 0:
        raise NeurosimError(f"--context {cfg.context}; allowed: an integer >= 0")
    if cfg.block <= 0:
        raise NeurosimError(f"--block {cfg.block}; allowed: an integer > 0")


@contextmanager
def quiet_collector() -> Iterator[None]:
    """The objects alive now (graph, mapping, model weights, a kept plan: hundreds of thousands) moved out of the
    cyclic garbage collector's way while a run makes its own short-lived objects: ``gc.freeze()`` puts them in the
    permanent generation, so the collections the run's events and arrays trigger do not walk them every time, and
    ``gc.unfreeze()`` gives them back after (nothing is collected later than it would be: they were alive; the
    figures are in docs/performance.md). Left out when the process has frozen objects of its own (their freeze is
    kept as it is) or has the collector off; a nested use does nothing (known without asking the collector, whose
    count of frozen objects walks all of them: 50 ms for a loaded model)."""
    global _quiet_depth
    if _quiet_depth or not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    gc.freeze()
    _quiet_depth += 1
    try:
        yield
    finally:
        _quiet_depth -= 1
        gc.unfreeze()


_quiet_depth = 0  # quiet_collector uses under way (the outermost froze the objects)


def simulate(graph: Graph, mapping: Mapping, hw: Hardware, cfg: SimConfig, spikes: SpikeInput | None = None,
             progress: Callable[[int, int], None] | None = None, plan: Plan | None = None,
             after_run: Callable[[Simulator], None] | None = None,
             count_nonspike: bool = True, notes: list[str] | None = None) -> SimResult:
    """Simulate ``cfg.tokens`` tokens of ``graph`` on ``hw`` as ``mapping`` places it."""
    check_config(cfg)
    if mapping.hardware != hw.name:
        raise NeurosimError(f"mapping was made for hardware {mapping.hardware!r}, not {hw.name!r}; remap with "
                            f"`neurosim map ... --hw {hw.name}`")
    t0 = time.perf_counter()
    with quiet_collector():
        plan = plan or plan_for(graph, mapping, hw)
        rules = Rules.of(graph)
        blocks = make_blocks(cfg.tokens, cfg.block, cfg.context, rules.attention, rules.window)
        sim = Simulator(plan, cfg, spikes or StatisticalInput(cfg.seed), blocks, progress, count_nonspike)
        sim.run()
        if after_run is not None:
            after_run(sim)
        counters = sim.tally.frame()
        wall = time.perf_counter() - t0
        timing = _timing(sim, blocks)
        hw_table, paper_table, energy = _energy(sim, counters, timing)
    out_notes = list(notes or [])
    out_notes += _standard_notes(graph, cfg, blocks)
    res = SimResult(graph, mapping, hw, cfg, counters, timing, hw_table, paper_table, energy, wall, plan, out_notes)
    res.link_messages = sim.links.messages
    return res


def _standard_notes(graph: Graph, cfg: SimConfig, blocks: list[Block]) -> list[str]:
    out = []
    if cfg.block > 1:
        out.append(f"tokens move in blocks of {cfg.block}: a token's latency is its block's latency / {cfg.block} "
                   "(exact for blocks of 1)")
    conv = graph.meta.get("convention", {})
    if not conv.get("nonlinear", True):
        out.append("the workload's convention does not count non-linear ops (norms, softmax, ...); they still take "
                   "time on the embedded cores")
    return out


def _energy(sim: Simulator, counters: pd.DataFrame, timing: Timing
            ) -> tuple[EnergyTable, EnergyTable, dict[str, dict[str, float]]]:
    hw, plan = sim.hw, sim.plan
    on = float(counters.loc[counters["action"] == "hop_onchip", "count"].sum())
    ew = sim.ew_hops / on if on > 0 else 0.5
    hw_table = hw.energy_table(ew_fraction=ew, chips=plan.chips_used)
    paper = load_energy_table(PAPER_TABLE)
    out: dict[str, dict[str, float]] = {}
    folded = sim.tally.by_part(counters)  # pricing ignores the place
    for label, table in (("hardware-aware", hw_table), ("paper-style", paper)):
        priced = table.price(folded)
        comp = priced.assign(c=priced["component"].replace({"sync": "network"})).groupby("c")["energy_pj"].sum()
        e = {c: float(comp.get(c, 0.0)) for c in ENERGY_COMPONENTS if c != "static"}
        e["static"] = hw.static_energy_pj(timing.makespan_ns, plan.chips_used) if label == "hardware-aware" else 0.0
        out[label] = e
    return hw_table, paper, out


def _timing(sim: Simulator, blocks: list[Block]) -> Timing:
    plan = sim.plan
    recs = sim.timings
    makespan = max((r.end for r in recs.values()), default=0.0)
    b0 = [r for (p, b), r in recs.items() if b == 0]
    last = max(b0, key=lambda r: (r.end, r.phase))
    # the critical path of the first block: back from the phase that finished last along the last inputs
    path: list[PhaseTiming] = []
    r: PhaseTiming | None = last
    while r is not None:
        path.append(r)
        r = recs.get((r.last_pred, 0)) if r.last_pred >= 0 else None
    path.reverse()
    breakdown: dict[str, float] = defaultdict(float)
    for r in path:
        for k, v in r.parts.items():
            breakdown[k] += v
    b0_tokens = blocks[0].size
    block_latency = last.end
    crit = []
    for r in path:
        ph = plan.phases[r.phase]
        dur = r.end - r.ready
        if dur <= 0:
            continue
        top = max(r.parts.items(), key=lambda kv: kv[1])[0] if r.parts else ""
        crit.append({"phase": ph.name, "kind": ph.kind, "start_ns": r.ready, "end_ns": r.end, "duration_ns": dur,
                     "bound_by": top})
    # per-layer latency per token (mean over blocks)
    per_phase: dict[int, float] = defaultdict(float)
    for (p, b), r in recs.items():
        per_phase[p] += (r.end - r.ready)
    tokens = sum(b.size for b in blocks)
    rows = []
    for ph in plan.phases:
        rows.append({"phase": ph.name, "layer": ph.layers[0], "kind": ph.kind,
                     "latency_ns": per_phase[ph.index] / tokens})
    by_layer = pd.DataFrame(rows)
    util, busiest = _utilization(sim, makespan)
    return Timing(makespan, block_latency / b0_tokens, block_latency, b0_tokens,
                  tokens / makespan * 1e9 if makespan > 0 else float("inf"), dict(breakdown), crit, by_layer, util,
                  busiest, sim.clock.steps if sim.clock is not None else 0.0, "sync" if sim.clock else "async",
                  list(sim.clock.records) if sim.clock is not None else [])


def _utilization(sim: Simulator, makespan: float) -> tuple[dict[str, float], dict[str, str]]:
    plan = sim.plan
    used = np.unique(np.concatenate([lp.cores[lp.cores >= 0] for lp in plan.layers.values()]))
    out: dict[str, float] = {}
    busiest: dict[str, str] = {}
    if makespan <= 0:
        return out, busiest
    cb = sim.core_busy[used] / makespan
    if len(cb):
        out["core_mean"] = float(cb.mean())
        out["core_max"] = float(cb.max())
        busiest["core"] = plan.core_place(int(used[int(np.argmax(cb))]))
    live = np.nonzero(sim.links.messages > 0)[0]
    if len(live):
        lb = sim.links.busy_ns[live] / makespan
        out["link_mean"] = float(lb.mean())
        out["link_max"] = float(lb.max())
        out["links_used"] = float(len(live))
        busiest["link"] = plan.mesh.describe(int(live[int(np.argmax(lb))]))
        chip = plan.mesh.is_chip_link(live)
        if chip.any():
            out["chip_link_mean"] = float(lb[chip].mean())
            out["chip_link_max"] = float(lb[chip].max())
    return out, busiest
