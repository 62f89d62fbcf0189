"""Neuromorphic or not: a neuromorphic run and conventional baselines of the same workload, side by side.

The neuromorphic side goes through the run pipeline (:mod:`neurosim.pipeline`): the workload is mapped once
(:func:`~neurosim.pipeline.resolve`) and the event-driven engine simulates one decode step (``tokens = 1`` after
``context`` cached positions; statistical mode), which gives its latency and its hardware-aware energy (dynamic +
static power over the simulated time); optionally a prefill of ``prompt`` tokens gives the time to first token.
The baselines are the roofline engine (:mod:`neurosim.baseline`) on the dense model of the same workload (or of
another one: ``HW:PRECISION@WORKLOAD``), for the same step.

**Break-even firing rate.** The firing rate ``r`` (every spike-encoded input at the same rate) at which the
neuromorphic decode step costs as much energy per token as a baseline: below it the neuromorphic run wins, above it
it stops winning. It is solved by bisection over ``r`` on

    E(r) = dynamic(r) + remainder(r)

where ``dynamic(r)`` is the analytic engine's expected count of one decode token at rate ``r`` (the cost model's
rules plus the mapper's expected network traffic), priced by the hardware model, and ``remainder(r)`` is what the
event-driven simulation adds on top of it (static power x simulated latency, chiefly), interpolated linearly
between the rates simulated so far. Each solution is simulated, the simulation joins the interpolation, and the
bisection runs again until the rate moves by less than :data:`RATE_TOL`; at the reported rate the simulated
energy equals the baseline's to the printed gap. A second break-even, without static or idle power, compares
the dynamic energies alone (analytic, no simulation).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from neurosim.defaults import DEFAULTS
from neurosim.errors import NeurosimError

#: a break-even rate is final when another simulation moves it by less than this
RATE_TOL = 1e-3
#: simulations per break-even rate, at most (after the shared ones at the workload's rate and at rate 0)
MAX_REFINE = 4

Step = Callable[[str], None]


@dataclass(frozen=True)
class BaselineSpec:
    """A conventional baseline: a hardware model, a precision, and (optionally) another workload to run on it."""

    hardware: str
    precision: str = "fp16"
    workload: str | None = None

    @classmethod
    def parse(cls, text: str) -> BaselineSpec:
        """``HW[:PRECISION][@WORKLOAD]``: ``h100-sxm:int4``, ``jetson-orin-nano-8gb:fp16@transformer-qwen2.5-0.5b``."""
        from neurosim.baseline.hardware import PRECISIONS

        head, _, workload = text.partition("@")
        hw, _, prec = head.rpartition(":") if ":" in head else (head, "", "fp16")
        prec = prec or "fp16"
        if not hw or prec not in PRECISIONS:
            raise NeurosimError(f"--baseline {text!r}: expected HW[:PRECISION][@WORKLOAD] with PRECISION one of "
                                f"{', '.join(PRECISIONS)}")
        return cls(hw, prec, workload or None)

    @property
    def label(self) -> str:
        return f"{self.hardware} {self.precision}" + (f" ({self.workload})" if self.workload else "")


@dataclass
class NeuroStep:
    """One simulated pass of the neuromorphic run."""

    rate: float | None  # the uniform firing rate simulated (None: the workload's own rates)
    tokens: int
    context: int
    latency_s: float  # of one token
    time_s: float  # of the whole pass (makespan)
    energy_J: float  # hardware-aware: dynamic + static
    static_J: float
    chips: int
    cores: int
    wall_s: float
    breakdown_ns: dict[str, float] = field(default_factory=dict)  # the simulator's latency of a token, by part

    @property
    def dynamic_J(self) -> float:
        return self.energy_J - self.static_J

    @property
    def energy_per_token_J(self) -> float:
        return self.energy_J / self.tokens


@dataclass
class BreakEven:
    """Where the neuromorphic decode step's energy per token crosses one baseline's."""

    baseline: str
    baseline_J: float
    rate: float | None  # None: no crossing in [0, 1] (``status`` says which side)
    status: str  # crosses | loses-at-every-rate | wins-at-every-rate | not-spiking
    simulated_J: float | None = None  # the simulation's energy per token at ``rate``
    rate_without_static: float | None = None
    status_without_static: str = ""
    simulations: int = 0

    @property
    def gap(self) -> float | None:
        """(simulated - baseline) / baseline at the reported rate."""
        if self.simulated_J is None or not self.baseline_J:
            return None
        return (self.simulated_J - self.baseline_J) / self.baseline_J

    def text(self) -> str:
        if self.status == "crosses":
            return f"{self.rate:.4g}"
        return {"loses-at-every-rate": "none (loses at every rate)",
                "wins-at-every-rate": "> 1 (wins at every rate)",
                "not-spiking": "n/a (no spike-encoded input)"}.get(self.status, self.status)


@dataclass
class Comparison:
    """A neuromorphic run and its baselines: the table, the energy-vs-rate curve and the break-even rates."""

    workload: str
    hardware: str
    context: int
    prompt: int | None
    table: pd.DataFrame
    curve: pd.DataFrame  # rate, analytic dynamic J/token, modelled total J/token
    simulated: pd.DataFrame  # rate, simulated J/token, latency
    break_even: list[BreakEven]
    notes: list[str] = field(default_factory=list)
    workload_rate: float | None = None  # the workload's model-wide firing rate (None: not spiking)
    steps: dict[str, NeuroStep] = field(default_factory=dict)  # the neuromorphic decode (and prefill) simulated
    rooflines: list[tuple[BaselineSpec, Any, Any]] = field(default_factory=list)  # (spec, decode, prefill or None)

    def to_dict(self) -> dict[str, Any]:
        return {"workload": self.workload, "hardware": self.hardware, "context": self.context, "prompt": self.prompt,
                "table": self.table.to_dict(orient="records"), "curve": self.curve.to_dict(orient="records"),
                "simulated": self.simulated.to_dict(orient="records"),
                "break_even": [{**dataclasses.asdict(b), "gap": b.gap} for b in self.break_even],
                "workload_rate": self.workload_rate,
                "latency_breakdown_ms": {k: {p: v * 1e-6 for p, v in st.breakdown_ns.items()}
                                         for k, st in self.steps.items()},
                "notes": self.notes}


# --- the neuromorphic side ---------------------------------------------------------------------------------------
def spec_at_rate(spec, rate: float):
    """The workload with every spike-encoded input at ``rate`` (its per-role rates dropped)."""
    return spec.model_copy(update={"firing_rate": float(rate), "rates": {}})


def is_spiking(graph) -> bool:
    from neurosim.graph import SpikeEncoder

    return any(isinstance(layer, SpikeEncoder) for layer in graph)


class NeuroRun:
    """The neuromorphic workload mapped once, simulated and counted at any firing rate."""

    def __init__(self, workload: str, hw: str, *, sets: list[str] | None = None, hw_sets: list[str] | None = None,
                 convention: str = DEFAULTS.convention, context: int | None = None, seed: int = DEFAULTS.seed,
                 sync: bool = DEFAULTS.sync, step: Step | None = None):
        from neurosim.pipeline import resolve

        self.step = step or (lambda _m: None)
        self.convention = convention
        self.seed = seed
        self.sync = sync
        self.r = resolve(workload, hw, sets, hw_sets, convention, step=self.step)
        self.spec, self.graph, self.hw, self.mapping = self.r.spec, self.r.graph, self.r.hw, self.r.mapping
        positions = int(self.spec.seq_len) * int(self.spec.batch)
        self.context = positions - 1 if context is None else int(context)
        if not 0 <= self.context < positions:
            raise NeurosimError(f"--context {self.context}; allowed: 0..{positions - 1} (the workload's seq_len x "
                                "batch positions of KV cache)")
        self._sims: dict[tuple, NeuroStep] = {}
        self._graphs: dict[float, Any] = {}
        self._dynamic: dict[float, float] = {}
        self._table = self.hw.energy_table(chips=self.mapping.chips_used)

    @property
    def spiking(self) -> bool:
        return is_spiking(self.graph)

    def graph_at(self, rate: float | None):
        if rate is None:
            return self.graph
        key = round(float(rate), 6)
        if key not in self._graphs:
            from neurosim.workloads.builders import build_graph

            self._graphs[key] = build_graph(spec_at_rate(self.spec, key), self.convention)
        return self._graphs[key]

    def simulate(self, rate: float | None = None, tokens: int = 1, context: int | None = None) -> NeuroStep:
        """The event-driven engine (statistical) at ``rate`` (None: the workload's rates): one decode step after
        ``context`` positions by default, or a prefill of ``tokens`` tokens with ``context = 0``."""
        from neurosim.pipeline import run_workload

        context = self.context if context is None else context
        key = (None if rate is None else round(float(rate), 6), tokens, context)
        if key in self._sims:
            return self._sims[key]
        what = "the workload's rates" if rate is None else f"rate {rate:.4g}"
        self.step(f"simulating {tokens} token(s) after {context} positions at {what}")
        res = run_workload(self.spec.name, self.hw.name, mode="statistical", tokens=tokens, context=context,
                           seed=self.seed, sync=self.sync,
                           resolved=dataclasses.replace(self.r, graph=self.graph_at(rate)))
        e = res.energy["hardware-aware"]
        out = NeuroStep(key[0], tokens, context, res.timing.latency_per_token_ns * 1e-9,
                        res.timing.makespan_ns * 1e-9, sum(e.values()) * 1e-12, e.get("static", 0.0) * 1e-12,
                        res.mapping.chips_used, res.mapping.cores_used, res.wall_s,
                        dict(res.timing.breakdown_ns or {}))
        self._sims[key] = out
        return out

    def dynamic_J(self, rate: float) -> float:
        """The analytic engine's dynamic energy of one decode token at ``rate``: the cost model's counts of each
        layer for one token after ``context`` positions, plus the mapper's expected traffic, priced by the hardware
        model's table."""
        from neurosim.cost import Rules, expected_activity, token_contexts
        from neurosim.engines.analytic import count_graph
        from neurosim.mapping import expected_traffic

        key = round(float(rate), 6)
        if key in self._dynamic:
            return self._dynamic[key]
        graph = self.graph_at(key)
        rules = Rules.of(graph)
        ctx = float(token_contexts(np.array([self.context]), self.context + 1, rules.attention, rules.window)[0])
        acts = {layer.name: expected_activity(layer, 1.0, ctx) for layer in graph}
        counters = count_graph(graph, activity=acts)
        traffic = expected_traffic(graph, self.mapping, tokens=1.0)
        both = pd.concat([counters, traffic[counters.columns]], ignore_index=True)
        self._dynamic[key] = float(self._table.price(both)["energy_pj"].sum()) * 1e-12
        return self._dynamic[key]

    def rates_simulated(self) -> list[NeuroStep]:
        return sorted((s for (r, t, c), s in self._sims.items() if r is not None and t == 1 and c == self.context),
                      key=lambda s: s.rate)

    def modelled_J(self, rate: float) -> float:
        """E(r) = analytic dynamic(r) + the simulations' remainder interpolated at r (see the module docstring)."""
        pts = self.rates_simulated()
        if not pts:
            raise NeurosimError("no simulated rate to interpolate from")
        xs = np.array([p.rate for p in pts])
        rem = np.array([p.energy_J - self.dynamic_J(p.rate) for p in pts])
        if len(pts) == 1:
            return self.dynamic_J(rate) + float(rem[0])
        slope_hi = (rem[-1] - rem[-2]) / (xs[-1] - xs[-2]) if xs[-1] > xs[-2] else 0.0
        if rate > xs[-1]:
            extra = rem[-1] + slope_hi * (rate - xs[-1])
        else:
            extra = float(np.interp(rate, xs, rem))
        return self.dynamic_J(rate) + float(extra)


def _bisect(f: Callable[[float], float], lo: float = 0.0, hi: float = 1.0, tol: float = 1e-5) -> float:
    """The root of an increasing ``f`` on [lo, hi] (f(lo) < 0 < f(hi))."""
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if f(mid) > 0:
            hi = mid
        else:
            lo = mid
        if hi - lo < tol:
            break
    return 0.5 * (lo + hi)


def break_even(run: NeuroRun, label: str, baseline_J: float, baseline_dynamic_J: float,
               step: Step | None = None) -> BreakEven:
    """The firing rate at which the neuromorphic decode step's energy per token equals ``baseline_J``."""
    step = step or (lambda _m: None)
    if not run.spiking:
        return BreakEven(label, baseline_J, None, "not-spiking", status_without_static="not-spiking")
    out = BreakEven(label, baseline_J, None, "")

    def g(r: float) -> float:
        return run.dynamic_J(r) - baseline_dynamic_J

    if g(0.0) > 0:
        out.status_without_static = "loses-at-every-rate"
    elif g(1.0) < 0:
        out.status_without_static = "wins-at-every-rate"
    else:
        out.rate_without_static, out.status_without_static = _bisect(g), "crosses"
    for r in (0.0, 1.0):
        run.simulate(r)

    def f(r: float) -> float:
        return run.modelled_J(r) - baseline_J

    if f(0.0) > 0:
        out.status, out.simulated_J = "loses-at-every-rate", run.simulate(0.0).energy_J
        return out
    if f(1.0) < 0:
        out.status, out.simulated_J = "wins-at-every-rate", run.simulate(1.0).energy_J
        return out
    rate = _bisect(f)
    for _ in range(MAX_REFINE):
        step(f"break-even with {label}: simulating rate {rate:.4g}")
        run.simulate(rate)
        out.simulations += 1
        new = _bisect(f)
        if abs(new - rate) < RATE_TOL:
            break
        rate = new
    out.rate, out.status = rate, "crosses"
    out.simulated_J = run.simulate(rate).energy_J
    return out


# --- the table ---------------------------------------------------------------------------------------------------
def _row(system: str, phase: str, hardware: str, precision: str, workload: str, energy: float, dynamic: float,
         latency: float, time_s: float, tokens: int, notes: str, fits: bool | None = True) -> dict[str, Any]:
    return {"system": system, "phase": phase, "hardware": hardware, "precision": precision, "workload": workload,
            "energy_per_token_J": energy, "dynamic_per_token_J": dynamic, "latency_per_token_ms": latency * 1e3,
            "throughput_tokens_per_s": tokens / time_s if time_s else float("nan"),
            "edp_per_token_Js": energy * latency, "time_s": time_s, "fits": fits, "notes": notes}


def compare(workload: str, hw: str, baselines: list[str | BaselineSpec], *, sets: list[str] | None = None,
            hw_sets: list[str] | None = None, baseline_sets: list[str] | None = None,
            convention: str = DEFAULTS.convention, context: int | None = None, prompt: int | None = None,
            batch: int = 1, solve_break_even: bool = True, seed: int = DEFAULTS.seed, sync: bool = DEFAULTS.sync,
            step: Step | None = None) -> Comparison:
    """Run ``workload`` on the neuromorphic ``hw`` and on each baseline (``HW:PRECISION[@WORKLOAD]``), one decode
    step after ``context`` positions (default: the workload's last position) and, with ``prompt``, a prefill of
    that many tokens; solve the break-even firing rate against each baseline."""
    from neurosim.baseline import Phase, load_conventional, roofline
    from neurosim.pipeline import load_graph_for

    step = step or (lambda _m: None)
    specs = [b if isinstance(b, BaselineSpec) else BaselineSpec.parse(b) for b in baselines]
    if not specs:
        raise NeurosimError("compare needs at least one --baseline HW[:PRECISION][@WORKLOAD]")
    run = NeuroRun(workload, hw, sets=sets, hw_sets=hw_sets, convention=convention, context=context, seed=seed,
                   sync=sync, step=step)
    name = run.spec.name
    rows: list[dict[str, Any]] = []
    neuro = run.simulate(None)
    rate_note = "the workload's firing rates" if run.spiking else "no spike-encoded input"
    rows.append(_row(f"{run.hw.name} (neuromorphic)", "decode", run.hw.name, "as the workload", name,
                     neuro.energy_J, neuro.dynamic_J, neuro.latency_s, neuro.latency_s, 1,
                     f"event-driven, statistical, {'sync' if sync else 'async'}, {rate_note}; {neuro.chips} chips, {neuro.cores} cores; static "
                     f"{neuro.static_J:.3g} J"))
    pre = None
    if prompt:
        pre = run.simulate(None, tokens=int(prompt), context=0)
        rows.append(_row(f"{run.hw.name} (neuromorphic)", "prefill", run.hw.name, "as the workload", name,
                         pre.energy_per_token_J, pre.dynamic_J / pre.tokens, pre.time_s / pre.tokens, pre.time_s,
                         pre.tokens, f"time to first token {pre.time_s * 1e3:.4g} ms"))
    graphs: dict[str, Any] = {name: run.graph}
    results = []
    rooflines_pf: dict[BaselineSpec, Any] = {}
    for b in specs:
        wl = b.workload or name
        if wl not in graphs:
            graphs[wl] = load_graph_for(wl, None, convention)[1]
        g = graphs[wl]
        dev = load_conventional(b.hardware, baseline_sets)
        dec = roofline(g, dev, b.precision, Phase("decode", 1, run.context, batch))
        results.append((b, dec))
        rows.append(_row(b.label, "decode", dev.name, b.precision, wl, dec.energy_per_token_J,
                         dec.dynamic_per_token_J, dec.latency_per_token_s, dec.time_s, dec.tokens,
                         f"roofline, {dec.bound}-bound; " + "; ".join(dec.notes[1:]), dec.fits))
        if prompt:
            pf = roofline(g, dev, b.precision, Phase("prefill", int(prompt), 0, batch))
            rooflines_pf[b] = pf
            rows.append(_row(b.label, "prefill", dev.name, b.precision, wl, pf.energy_per_token_J,
                             pf.dynamic_per_token_J, pf.latency_per_token_s, pf.time_s, pf.tokens,
                             f"roofline, {pf.bound}-bound; time to first token {pf.time_s * 1e3:.4g} ms", pf.fits))
    table = pd.DataFrame(rows)
    for phase in table["phase"].unique():
        sel = table["phase"] == phase
        ref = table[sel].iloc[0]
        table.loc[sel, "energy_vs_neuromorphic"] = table.loc[sel, "energy_per_token_J"] / ref["energy_per_token_J"]
        table.loc[sel, "throughput_vs_neuromorphic"] = (table.loc[sel, "throughput_tokens_per_s"]
                                                        / ref["throughput_tokens_per_s"])
    bes: list[BreakEven] = []
    if solve_break_even:
        for b, dec in results:
            if b.workload not in (None, name):
                bes.append(BreakEven(b.label, dec.energy_per_token_J, None, "other workload",
                                     status_without_static="other workload"))
                continue
            step(f"break-even firing rate against {b.label}")
            bes.append(break_even(run, b.label, dec.energy_per_token_J, dec.dynamic_per_token_J, step))
        be = {x.baseline: x for x in bes}
        table["break_even_rate"] = [be[s].text() if s in be else "" for s in table["system"]]
        table["break_even_rate_without_static"] = [
            (f"{be[s].rate_without_static:.4g}" if be[s].rate_without_static is not None
             else be[s].status_without_static) if s in be else "" for s in table["system"]]
    curve = _curve(run) if (solve_break_even and run.spiking) else pd.DataFrame()
    simulated = pd.DataFrame([{"rate": s.rate, "energy_per_token_J": s.energy_J, "static_J": s.static_J,
                               "latency_ms": s.latency_s * 1e3} for s in run.rates_simulated()])
    notes = [(f"decode: one token after {run.context} cached positions (batch {batch} for the baselines, one "
              "sequence on the neuromorphic system)"),
             (f"neuromorphic: {run.r.mapping_source}; energy priced by hardware {run.hw.name} (dynamic + static "
              "power over the simulated time)"),
             ("baselines: roofline per layer of the dense model (neurosim.baseline), energy = ops x energy per op "
              "+ bits x energy per bit + idle power x time")]
    if pre is not None:
        notes.append(f"prefill: {prompt} tokens from an empty cache; time per token = time of the pass / tokens")
    rate = float(run.spec.firing_rate) if run.spiking else None
    steps = {"decode": neuro, **({"prefill": pre} if pre is not None else {})}
    rooflines = [(b, dec, rooflines_pf.get(b)) for b, dec in results]
    return Comparison(name, run.hw.name, run.context, prompt, table, curve, simulated, bes, notes, rate, steps,
                      rooflines)


def _curve(run: NeuroRun, points: int = 21) -> pd.DataFrame:
    rates = np.linspace(0.0, 1.0, points)
    return pd.DataFrame({"rate": rates, "dynamic_per_token_J": [run.dynamic_J(r) for r in rates],
                         "energy_per_token_J": [run.modelled_J(r) for r in rates]})
