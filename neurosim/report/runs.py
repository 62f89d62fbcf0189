"""Produce the run record a report draws: pick the engine for the mode, the energy tables for the hardware.

The analytic engine, the event-driven simulator (statistical and exact modes), the mapper and the functional engine
are all part of the package and imported directly (an ImportError among them is a bug, never a fallback); only the
real-model packages are optional, and a missing one is a one-line error with its install command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurosim.defaults import DEFAULTS
from neurosim.energy import EnergyTable, load_energy_table
from neurosim.errors import NeurosimError
from neurosim.pipeline import MappingOptions, load_graph_for, map_onto
from neurosim.report.build import HARDWARE_AWARE, PAPER_STYLE, record_from_counters
from neurosim.report.record import MODES, Assumption, Histogram, MappingSummary, RunRecord, Table
from neurosim.workloads.rates_file import load_rates

PAPER_TABLE = DEFAULTS.energy


@dataclass
class HardwareChoice:
    """What ``--hw NAME`` resolved to: a hardware model (spec + its energy table) or a bare energy table."""

    name: str
    kind: str  # "hardware" or "energy-table"
    table: EnergyTable
    spec: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    assumptions: list[Assumption] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _is_energy_table(name: str) -> bool:
    from neurosim.resources import builtin_names

    if name in builtin_names("energy"):
        return True
    p = Path(name)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        from neurosim.io import load_yaml

        data = load_yaml(p)
        return isinstance(data, dict) and "prices" in data
    return False


def resolve_hardware(name: str, hw_sets: list[str] | None = None) -> HardwareChoice:
    """A hardware model name (``hala-point``) or an energy table name (``horowitz-45nm``); ``hw_sets`` override a
    hardware model's figures (``a.b.value=x``, as ``neurosim simulate --hw-set``)."""
    from neurosim.resources import builtin_names

    if hw_sets and _is_energy_table(name):
        raise NeurosimError(f"--hw-set overrides a hardware model's figures; {name} is an energy table (--energy)")
    if _is_energy_table(name):
        table = load_energy_table(name)
        return HardwareChoice(name=table.name, kind="energy-table", table=table,
                              info={"name": table.name, "kind": "energy-table",
                                    "description": " ".join(table.description.split())},
                              notes=[(f"{name} is an energy table (--energy), not a hardware model: no mapping, no "
                                     "network or static energy, no timing")])
    hw_names = builtin_names("hardware")
    known = name in hw_names or (Path(name).suffix in (".yaml", ".yml") and Path(name).is_file())
    if not known:
        tables = ", ".join(builtin_names("energy"))
        raise NeurosimError(f"unknown hardware '{name}'; built-in hardware models: {', '.join(hw_names) or '(none)'}; "
                            f"energy tables: {tables} (or give a path to a .yaml file)")
    return _hardware_model(name, hw_sets)


def _hardware_model(name: str, hw_sets: list[str] | None = None) -> HardwareChoice:
    """Load a hardware model (``neurosim.hardware``) and the energy table derived from it."""
    from neurosim.hardware import load_hardware

    hw = load_hardware(name, list(hw_sets or []) or None)
    table = hw.energy_table()
    info = {"name": hw.name, "kind": "hardware", "table": table.name,
            "description": " ".join(hw.description.split()),
            "summary": {"chips": hw.n_chips, "cores per chip": hw.usable_cores_per_chip,
                        "mesh": "x".join(str(v) for v in hw.mesh_shape[:2]),
                        "core memory (KiB)": hw.core.memory_bytes / 1024,
                        "static power (W)": hw.static_power_mw() * 1e-3}}
    where = f"hardware {hw.name}"
    assumptions = [Assumption(item=f"hardware: {r['field']}", value=r.get("value", ""), source=r.get("source", ""),
                              assumption=r.get("assumption", ""), where=where) for r in hw.figures()]
    notes = [f"hardware figures set with --hw-set: {', '.join(hw_sets)}"] if hw_sets else []
    return HardwareChoice(name=hw.name, kind="hardware", table=table, spec=hw, info=info, assumptions=assumptions,
                          notes=notes)


#: more used cores than this: the record keeps the cores and links of the busiest chip only (the heatmap's chip)
MAX_CORE_ROWS = 4096


#: how to map: the run pipeline's options (a saved mapping file, or a partition strategy and a placement)
MappingChoice = MappingOptions


def map_for_report(graph: Any, choice: HardwareChoice, how: MappingChoice, workload: str = ""
                   ) -> tuple[Any, dict[str, Any], str]:
    """Map the graph onto the hardware model through the pipeline's one ``map_onto``: the mapping, the mapper's
    report and where the mapping came from."""
    from neurosim.mapping.report import mapping_report

    mapping, source = map_onto(graph, choice.spec, how, workload)
    return mapping, mapping_report(graph, mapping), source


def mapping_summary(report: dict[str, Any], mesh: tuple[int, int], grid: tuple[int, int, int]) -> MappingSummary:
    """The mapper's report as the run record's mapping section (large tables cut to the busiest chip)."""
    import pandas as pd

    summary = {k: v for k, v in report["summary"].items() if not isinstance(v, dict)}
    for k, v in report["summary"].items():
        if isinstance(v, dict):
            summary.update({f"{k}_{k2}": v2 for k2, v2 in v.items()})
    cores: pd.DataFrame = report["cores"]
    links: pd.DataFrame = report["links"]
    if len(cores) > MAX_CORE_ROWS:
        busiest = cores.groupby("chip")["memory_bytes"].sum().idxmax()
        summary["cores_table"] = f"busiest chip ({busiest}) only: {int((cores['chip'] == busiest).sum())} of " \
                                 f"{len(cores)} used cores"
        cores = cores[cores["chip"] == busiest]
        links = links[links["chip"] == busiest] if len(links) else links
    cores = cores.drop(columns=[c for c in ("layers",) if c in cores.columns])
    return MappingSummary(strategy=str(summary.get("strategy", "")), placement=str(summary.get("placement", "")),
                          mesh=mesh, grid=grid, summary=summary, cores=Table.of(cores), links=Table.of(links),
                          chips=Table.of(report["chips"]), chip_links=Table.of(report["chip_links"]))


#: the simulator's entry point for reports (see docs/reports.md, "Run record API": engines)
SIMULATOR_ENTRY = ("neurosim.report.events_record", "report_run")


@dataclass
class SimChoice:
    """What to simulate: tokens after ``context`` cached positions, a seed, synchronous (a barrier per time step) or
    asynchronous cores. None leaves the choice to the simulator's defaults."""

    tokens: int | None = None
    context: int | None = None
    seed: int = 0
    sync: bool = True


def simulated_run(mode: str, sim: SimChoice | None = None, **kwargs: Any) -> RunRecord:
    """A statistical or exact run: the event-driven simulator's ``report_run`` builds the record itself (with
    :func:`~neurosim.report.build.record_from_counters`), so there is one code path from a simulation to a report."""
    import importlib

    module, name = SIMULATOR_ENTRY
    entry = getattr(importlib.import_module(module), name)  # part of the package: a failure here is a bug
    sim = sim or SimChoice()
    rec = entry(mode=mode, sim=sim, tokens=sim.tokens, context=sim.context, seed=sim.seed, sync=sim.sync, **kwargs)
    if not isinstance(rec, RunRecord):
        raise NeurosimError(f"{module}.{name} returned {type(rec).__name__}, not a RunRecord")
    return rec


@dataclass
class MeasuredRates:
    """Firing rates and spike-count histograms the functional engine measured on real text."""

    rates: dict[str, float]  # spike source (encoder) -> rate
    histograms: list[Histogram]
    source: str
    stats: dict[str, Any]  # encoder / linear -> SpikeStats (for graph_with_measured_rates)


def measure_rates_for_report(workload: str, sets: list[str] | None, text: str | None, tokens: int) -> MeasuredRates:
    """Run the real model through the functional engine on ``tokens`` tokens of ``text`` (the shipped text when
    None); per projection type, sum the signed spike-count histograms of every block's encoder."""
    import numpy as np

    from neurosim.functional.runs import GROUP_LABELS, measure_rates

    inp, result, table, _summary = measure_rates(workload, sets, text, tokens)
    source = f"functional engine: {inp.model.name} on {Path(inp.text_where).name}, {int(inp.ids.size)} tokens"
    rates = {enc: float(result.stats[enc].rate) for enc in table["encoder"]}
    hists: dict[str, tuple[int, int, Any]] = {}
    for enc in table["encoder"]:
        st = result.stats[enc]
        label = GROUP_LABELS.get(enc.rsplit(".", 1)[-1], enc.rsplit(".", 1)[-1])
        lo, hi, h = hists.get(label, (st.lo, st.hi, np.zeros(st.hi - st.lo + 1)))
        if (lo, hi) != (st.lo, st.hi):
            continue  # one count range per projection type; a different range stays out (never mixed)
        hists[label] = (lo, hi, h + st.histogram)
    histograms = [Histogram(projection=label, edges=[k - 0.5 for k in range(lo, hi + 2)],
                            counts=[float(c) for c in h], source=source,
                            unit="signed spike count per neuron per token (-k: k negative spikes)")
                  for label, (lo, hi, h) in hists.items()]
    return MeasuredRates(rates, histograms, source, dict(result.stats))


def measured_from_file(rf) -> MeasuredRates:
    """A rates file's measured rates and count histograms (per projection type, summed over blocks) as a report
    shows them."""
    import numpy as np

    hists: dict[str, tuple[int, int, Any]] = {}
    for lr in rf.layers:
        if not lr.hist_counts or lr.hist_lo is None:
            continue
        lo, hi = lr.hist_lo, lr.hist_lo + len(lr.hist_counts) - 1
        label = lr.projection or lr.encoder.rsplit(".", 1)[-1]
        lo0, hi0, h = hists.get(label, (lo, hi, np.zeros(hi - lo + 1)))
        if (lo0, hi0) == (lo, hi):  # one count range per projection type (never mixed)
            hists[label] = (lo, hi, h + np.asarray(lr.hist_counts, dtype=float))
    source = rf.source()
    histograms = [Histogram(projection=label, edges=[k - 0.5 for k in range(lo, hi + 2)],
                            counts=[float(c) for c in h], source=source,
                            unit="signed spike count per neuron per token (-k: k negative spikes)")
                  for label, (lo, hi, h) in hists.items()]
    return MeasuredRates({lr.encoder: lr.rate for lr in rf.layers}, histograms, source, {})


def make_run(workload: str, hw: str, mode: str = "analytic", text: str | None = None,
             sets: list[str] | None = None, seq_len: int | None = None, batch: int | None = None,
             convention: str = DEFAULTS.convention, mapping: MappingChoice | None = None, progress=None,
             measure: bool = False, tokens: int = 64, sim: SimChoice | None = None,
             hw_sets: list[str] | None = None, rates: str | None = None) -> RunRecord:
    """Run the workload on the hardware in the given mode and return its run record.

    ``measure`` (implied by ``text`` in analytic mode): the functional engine measures firing rates and spike-count
    histograms on real text, and the analytic engine counts at the measured rates. ``rates``: a rates file
    (``neurosim rates --save``) whose measured rates the graph takes (and, simulated, whose count histograms the
    statistical mode draws from).
    """
    import pandas as pd

    from neurosim.engines.analytic import count_graph

    if mode not in MODES:
        raise NeurosimError(f"--mode {mode!r}; allowed: {', '.join(MODES)}")
    if tokens <= 0:
        raise NeurosimError(f"--tokens {tokens}; allowed: an integer > 0")
    step = progress or (lambda _msg: None)
    how = mapping or MappingChoice()
    choice = resolve_hardware(hw, hw_sets)
    if how.file is not None and choice.spec is None:
        raise NeurosimError(f"--mapping needs a hardware model; --hw {hw} is not one")
    if rates is not None and mode == "analytic" and (measure or text is not None):
        raise NeurosimError("--rates gives measured rates already; --measure-rates / --text measure them again: "
                            "give one or the other")
    rf = load_rates(rates) if rates is not None else None
    spec, graph = load_graph_for(workload, sets, convention, seq_len, batch, rates=rf)
    if mode != "analytic":
        return simulated_run(mode, sim=sim, workload=workload, hw=hw, spec=spec, graph=graph, hardware=choice,
                             mapping=how, text=text, progress=step, rates=rf)
    notes = list(choice.notes)
    measured = measured_from_file(rf) if rf is not None else None
    if measured is not None:
        notes.append(f"firing rates: {measured.source}; the analytic engine counts at the measured rates (the "
                     "assumed ones are shown beside them)")
    elif measure or text is not None:
        step("measuring firing rates (functional engine, real model)")
        from neurosim.functional.engine import graph_with_measured_rates

        measured = measure_rates_for_report(workload, sets, text, tokens)
        graph = graph_with_measured_rates(graph, measured.stats)
        notes.append(f"firing rates measured by the {measured.source}; the analytic engine counts at the measured "
                     "rates (the assumed ones are shown beside them)")
    step("counting (analytic engine)")
    counters = count_graph(graph)
    table = choice.table
    summary = None
    if choice.spec is not None:
        step(f"mapping onto {choice.name}")
        from neurosim.mapping import expected_traffic

        m, rep, _source = map_for_report(graph, choice, how, spec.name if spec is not None else "")
        counters = pd.concat([counters, expected_traffic(graph, m)], ignore_index=True)
        ew = float(rep["summary"].get("onchip_hops_east_west_fraction", 0.5))
        table = choice.spec.energy_table(ew_fraction=ew, chips=m.chips_used)
        w, h, _ = choice.spec.mesh_shape
        summary = mapping_summary(rep, (w, h), tuple(choice.spec.grid_shape))
        notes += [f"mapping: {n}" for n in rep.get("notes", [])]
        notes.append("network counts (messages, hops, barriers) are the mapper's expectation from the assumed "
                     "firing rates and the routes of the mapping")
    notes.append("analytic engine: counts are expectations from shapes and "
                 + ("the measured firing rates" if measured else "the workload's assumed firing rates"))
    if choice.kind == "hardware":
        notes.append("no timing: static energy (static power x run time) needs the event-driven simulator")
    tables = [(PAPER_STYLE, load_energy_table(PAPER_TABLE)), (HARDWARE_AWARE, table)]
    step("pricing")
    rec = record_from_counters(counters, spec=spec, graph=graph, energy_tables=tables, mode=mode,
                               engine="analytic", hardware=choice.info, assumptions=choice.assumptions,
                               mapping=summary, notes=notes,
                               measured_rates=measured.rates if measured else None,
                               rate_source=measured.source if measured else "",
                               histograms=measured.histograms if measured else ())
    if measured is not None:  # the graph now carries measured rates: restore the workload's assumed ones
        _, assumed = load_graph_for(workload, sets, convention, seq_len, batch)
        from neurosim.report.build import assumed_rates

        back = assumed_rates(assumed).set_index("layer")["assumed"]
        frame = rec.rates.frame()
        frame["assumed"] = frame["layer"].map(back)
        rec.rates = Table.of(frame)
    return rec
