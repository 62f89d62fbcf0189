"""The one run pipeline: a workload (or graph) + a hardware model + mapping options + an engine -> a result.

Every command goes through here (``estimate``, ``map``, ``simulate``, ``report``, ``sweep``, ``reproduce``,
``compare``), with the defaults of :data:`DEFAULTS`, declared once:

* :func:`load_graph_for` builds the graph of a workload under a convention (the real model by default);
* :func:`estimate` counts it with the analytic engine and prices it (:class:`Estimate`);
* :func:`resolve` maps it onto a hardware model (:class:`MappingOptions`, or a saved mapping file);
* :func:`run_workload` simulates it with the event-driven engine, statistical or exact; exact mode runs the
  functional engine on the real model, computes every core's partial products and verifies every count
  (:func:`simulate_exact`).

The engines meet here and nowhere else: none of them imports another's run orchestration.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from neurosim.defaults import DEFAULTS
from neurosim.energy import EnergyTable, load_energy_table, summarize
from neurosim.engines.analytic import count_graph, dense_macs, layer_table, run_shape_for
from neurosim.engines.events.engine import (
    MODES,
    SimResult,
    StatisticalInput,
    check_config,
    default_block,
    quiet_collector,
    simulate,
)
from neurosim.engines.events.sim import SimConfig
from neurosim.engines.events.work import CountHistogram
from neurosim.errors import NeurosimError
from neurosim.graph import Graph
from neurosim.workloads import build_graph, load_workload
from neurosim.workloads.builders import is_graph_file, load_graph
from neurosim.workloads.rates_file import RatesFile, apply_rates, load_rates
from neurosim.workloads.spec import WorkloadSpec

#: tokens an exact run takes from the text when --tokens is not given
EXACT_DEFAULT_TOKENS = DEFAULTS.exact_tokens


@dataclass
class MappingOptions:
    """How to map: a saved mapping file (or a user placement file), or a partition strategy and a placement;
    the partition's finer options as :class:`neurosim.mapping.PartitionOptions` has them."""

    strategy: str = DEFAULTS.strategy
    placement: str = DEFAULTS.placement
    file: str | None = None
    input_chunk: int = 1024
    split_fan_in: bool = True
    kv_cache: str = "cores"
    #: read a saved mapping file as a user placement (``neurosim map``: re-map with its placement and check it)
    #: rather than use it as it is (``simulate``, ``report``)
    file_as_placement: bool = False

    def partition(self):
        from neurosim.mapping import PartitionOptions

        return PartitionOptions(strategy=self.strategy, input_chunk=self.input_chunk,
                                split_fan_in=self.split_fan_in, kv_cache=self.kv_cache)


@dataclass
class Resolved:
    """A workload graph mapped onto a hardware model."""

    spec: Any
    graph: Any
    hw: Any
    mapping: Any
    map_s: float
    mapping_source: str


def resolve(workload: str, hw_name: str, sets: list[str] | None = None, hw_sets: list[str] | None = None,
            convention: str = DEFAULTS.convention, mapping_file: str | None = None,
            strategy: str = DEFAULTS.strategy, placement: str = DEFAULTS.placement,
            step: Callable[[str], None] | None = None, *, spec: Any = None, graph: Any = None, hw: Any = None,
            how: MappingOptions | None = None, rates: str | RatesFile | None = None) -> Resolved:
    """Load the workload and hardware, and map one onto the other (or read ``mapping_file`` and check it).
    ``spec``/``graph``/``hw`` given: use them as they are (a caller that already built them); ``how`` replaces
    ``mapping_file``/``strategy``/``placement``; ``rates``: a rates file's measured rates (:func:`load_graph_for`)."""
    from neurosim.hardware import load_hardware
    from neurosim.workloads.builders import build_graph

    step = step or (lambda _m: None)
    if graph is None:
        if spec is not None:
            graph = build_graph(spec, convention=convention)
            graph = with_rates(spec, graph, rates) if rates is not None else graph
        else:  # a workload name or file, or a graph file (an imported NIR network, an explicit-weight SNN)
            spec, graph = load_graph_for(workload, sets or None, convention, rates=rates)
    elif rates is not None:
        graph = with_rates(spec, graph, rates)
    hw = hw if hw is not None else load_hardware(hw_name, hw_sets or None)
    t0 = time.perf_counter()
    how = how or MappingOptions(strategy, placement, mapping_file)
    name = spec.name if spec is not None else str(graph.meta.get("workload", graph.name))
    mapping, source = map_onto(graph, hw, how, name, list(hw_sets or []), step)
    return Resolved(spec, graph, hw, mapping, time.perf_counter() - t0, source)


def map_onto(graph: Any, hw: Any, how: MappingOptions, workload: str = "", hw_sets: list[str] | None = None,
             step: Callable[[str], None] | None = None) -> tuple[Any, str]:
    """The one place a graph is mapped: (mapping, where it came from). A saved mapping file is checked against
    the hardware, the workload and the graph; a user placement file is completed by the mapper."""
    from neurosim.mapping import load_mapping, map_graph
    from neurosim.mapping.mapper import read_user_file

    step = step or (lambda _m: None)
    mapping_file, strategy, placement = how.file, how.strategy, how.placement
    opts = how.partition()
    if mapping_file is not None:
        step(f"reading mapping {mapping_file}")
        d = read_user_file(mapping_file)
        where = d.get("_where", mapping_file)
        if "layers" in d and not how.file_as_placement:
            if d.get("hardware") != hw.name:
                raise NeurosimError(f"{where}: mapping made for hardware {d.get('hardware')!r}, not {hw.name!r} "
                                    f"(--hw); remap with `neurosim map {workload or graph.name} --hw {hw.name} --out FILE`")
            if workload and d.get("workload") not in (None, "", workload):
                raise NeurosimError(f"{where}: mapping made for workload {d.get('workload')!r}, not {workload!r}; "
                                    f"remap with `neurosim map {workload} --hw {hw.name} --out FILE`")
            mapping = load_mapping(mapping_file, hw)
            try:
                mapping.check_graph(graph)
            except NeurosimError as exc:
                raise NeurosimError(f"{where}: {exc}") from None
            source = f"file {Path(mapping_file).name}"
        else:
            mapping = map_graph(graph, hw, opts, placement=placement, user=d, hardware_sets=list(hw_sets or []),
                                workload=workload)
            source = f"user placement {Path(mapping_file).name}"
    else:
        step(f"mapping {workload or graph.name} onto {hw.name} ({strategy}-split, {placement})")
        mapping = map_graph(graph, hw, opts, placement=placement, hardware_sets=list(hw_sets or []),
                            workload=workload or graph.name)
        source = f"mapper ({strategy}-split, {placement} placement)"
    return mapping, source


def load_histogram(path: str) -> CountHistogram:
    """A JSON count histogram: ``{"<layer, role or *>": {"<count>": frequency, ...}, ...}``."""
    from neurosim.io import load_json

    data = load_json(path, "JSON count histogram")
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise NeurosimError(f"--histogram {path}: expected {{layer|role|*: {{count: frequency}}}}")
    try:
        table = {str(k): {int(c): float(f) for c, f in v.items()} for k, v in data.items()}
    except (TypeError, ValueError):
        raise NeurosimError(f"--histogram {path}: counts must be integers and frequencies numbers") from None
    return CountHistogram(table, where=f"--histogram {path}")


def run_workload(workload: str, hw_name: str = "hala-point", *, mode: str = DEFAULTS.mode, tokens: int | None = None,
                 context: int = 0, block: int | None = None, text: str | None = None, sync: bool = DEFAULTS.sync,
                 seed: int = DEFAULTS.seed, sets: list[str] | None = None, hw_sets: list[str] | None = None,
                 convention: str = DEFAULTS.convention, mapping_file: str | None = None,
                 strategy: str = DEFAULTS.strategy, placement: str = DEFAULTS.placement,
                 histogram: str | None = None, verify: bool = False,
                 step: Callable[[str], None] | None = None,
                 progress: Callable[[int, int], None] | None = None, resolved: Resolved | None = None,
                 rates: str | RatesFile | None = None) -> SimResult:
    """Resolve, prepare the inputs of the mode, simulate; in exact mode also verify against the functional engine.
    ``rates``: a rates file; the graph takes its measured rates (:func:`load_graph_for`) and, in statistical mode
    without ``histogram``, spike counts are drawn from its measured count histograms."""
    step = step or (lambda _m: None)
    if mode not in MODES:
        raise NeurosimError(f"--mode {mode!r}; allowed: {', '.join(MODES)}")
    if tokens is not None and tokens <= 0:
        raise NeurosimError(f"--tokens {tokens}; allowed: an integer > 0")
    if mode == "statistical" and text is not None:
        raise NeurosimError("--text feeds real tokens to --mode exact; statistical mode draws spikes from rates")
    if mode == "statistical" and verify:
        raise NeurosimError("--verify compares real outputs with the functional engine: it needs --mode exact")
    if mode == "exact" and histogram is not None:
        raise NeurosimError("--histogram is for --mode statistical; exact mode uses the real spike counts")
    if mode == "exact" and context:
        raise NeurosimError("--context is for --mode statistical; exact mode runs the text from its first token")
    hist = load_histogram(histogram) if histogram is not None else None
    rf = load_rates(rates) if isinstance(rates, (str, Path)) else rates
    if rf is not None and hist is None and mode == "statistical" and rf.count_histograms():
        hist = CountHistogram(rf.count_histograms())
    graph_file = is_graph_file(workload)
    if mode == "exact" and resolved is None and not graph_file:  # fail before mapping when there are no weights
        from neurosim.workloads.spec import load_workload

        exact_model_name(load_workload(workload, sets or None))
    snn = None
    guard = {"mode": mode, "tokens": tokens, "block": block, "context": context}
    if mode == "exact" and graph_file:  # an explicit-weight SNN: its own weights, neurons and input spikes
        from neurosim.snn import load_network_files

        if text is not None:
            raise NeurosimError("--text feeds tokens to a language model; an SNN graph runs its recorded input "
                                "spikes (meta.spikes) or draws them from its inputs' firing rates")
        step("loading the network's weights and input spikes")
        g, snn = load_network_files(workload, tokens, seed)
        guard["steps"] = int(snn.steps)
        r = resolved or resolve(workload, hw_name, sets, hw_sets, convention, mapping_file, strategy, placement,
                                step, graph=g, hw=_guarded(g, None, hw_name, hw_sets, guard), rates=rf)
    elif resolved is None:  # the graph and hardware first: the guard refuses before the mapping is made
        spec0, g0 = load_graph_for(workload, sets or None, convention, rates=rf)
        r = resolve(workload, hw_name, sets, hw_sets, convention, mapping_file, strategy, placement, step,
                    spec=spec0, graph=g0, hw=_guarded(g0, spec0, hw_name, hw_sets, guard))
    else:
        r = resolved
    check_resources(r.graph, r.hw, spec=r.spec, mapping=r.mapping, **guard)  # again, with the mapping's cores
    notes = [f"mapping: {r.mapping_source}; {r.mapping.chips_used} chips, {r.mapping.cores_used} cores"]
    if snn is not None:
        return simulate_snn_exact(r, snn, block=block, sync=sync, seed=seed, verify=verify, step=step,
                                  progress=progress, notes=notes)
    if mode == "statistical":
        n = int(tokens if tokens is not None else run_shape_for(r.graph).tokens)
        cfg = SimConfig("statistical", n, context, int(block if block is not None else default_block(n)), sync,
                        seed)
        check_config(cfg)
        step(f"simulating {n} tokens (statistical, {'sync' if sync else 'async'})")
        source = ("count histogram" if histogram is not None else f"the measured count histograms of {rf.path}"
                  if hist is not None else f"the measured rates of {rf.path}" if rf is not None
                  else "the workload's firing rates")
        notes.append(f"spikes drawn from {source} (seed {seed}): per segment and step, binomial/multinomial")
        return simulate(r.graph, r.mapping, r.hw, cfg, StatisticalInput(seed, hist), progress=progress, notes=notes)
    return _run_exact(r, tokens, block, text, sync, seed, verify, step, progress, notes)


# --- the resource guard -------------------------------------------------------------------------------------
def check_resources(graph: Graph, hw: Any, *, mode: str, tokens: int | None = None, block: int | None = None,
                    context: int = 0, mapping: Any = None, spec: Any = None, steps: int | None = None,
                    say: Callable[[str], None] | None = None) -> Any:
    """The one resource guard of every simulated run (:mod:`neurosim.budget`): estimate the run's memory and time
    from the graph, the hardware and the mapping (before mapping: the cores its weights need) and refuse, in one
    line that says what it would need and what would fit, a run beyond the memory limit (``--max-memory``,
    ``NEUROSIM_MAX_MEMORY``, else this machine's available memory). Returns the estimate (:class:`~.budget.Need`)."""
    from neurosim.budget import check_run

    if tokens is None:
        tokens = EXACT_DEFAULT_TOKENS if mode == "exact" else run_shape_for(graph).tokens
    layers = None
    if mode == "exact" and steps is None and spec is not None:  # the blocks of the real model exact mode loads
        if spec.weights:  # a model file: its own blocks (read from its metadata, no weights loaded)
            from neurosim.workloads.model_files import read_model_file

            layers = int(read_model_file(spec.weights).dims["layers"])
        else:
            from neurosim.functional.engine import REAL_MODELS

            layers = REAL_MODELS[exact_model_name(spec)][1]["layers"]
    return check_run(graph, hw, mode=mode, tokens=int(tokens), block=block, context=context, mapping=mapping,
                     real_model_layers=layers, steps=steps, say=say)


def _guarded(graph: Graph, spec: Any, hw_name: str, hw_sets: list[str] | None, guard: dict[str, Any]) -> Any:
    """The hardware model, after the guard has checked the run on it (before mapping; a long run says so)."""
    import sys

    from neurosim.hardware import load_hardware

    hw = load_hardware(hw_name, hw_sets or None)
    check_resources(graph, hw, spec=spec, say=lambda m: print(f"note: {m}", file=sys.stderr, flush=True), **guard)
    return hw


# --- the real model exact mode runs -------------------------------------------------------------------------
def truncated_model(model, layers: int):
    """The first ``layers`` decoder blocks of a real model (``--set layers=N`` for a quick exact run)."""
    if layers >= model.layers:
        return model
    return dataclasses.replace(model, layers=layers, blocks=list(model.blocks[:layers]))


def exact_model_name(spec) -> str:
    """The real model exact mode runs a workload on (its blocks may be fewer), or a clear error; loads nothing."""
    from neurosim.functional.engine import REAL_MODELS, model_name_for

    if spec.weights:  # read from a model file: its own weights
        from neurosim.functional.runs import real_model_name

        return real_model_name(spec, fewer_layers=True)
    layers = int(spec.model.layers)
    for name, (family, want) in REAL_MODELS.items():
        if family != spec.family:
            continue
        full = spec.model_copy(update={"model": spec.model.model_copy(update={"layers": want["layers"]})})
        try:
            model_name_for(full)
        except NeurosimError:
            continue
        if layers > want["layers"]:
            raise NeurosimError(f"--mode exact: workload {spec.name} has {layers} blocks but the real model {name} "
                                f"has {want['layers']}; allowed: --set layers=1..{want['layers']}")
        return name
    models = ", ".join(f"{n} ({f})" for n, (f, _) in REAL_MODELS.items())
    try:
        model_name_for(spec)
    except NeurosimError as exc:
        raise NeurosimError(f"--mode exact runs real weights and only these models have them here: {models}; "
                            f"workload {spec.name} is none of them ({exc}); use --mode statistical") from None
    raise NeurosimError(f"--mode exact: no real model for workload {spec.name}")


def real_model_for(spec):
    """The real model a workload runs on in exact mode, cut to the workload's number of blocks."""
    from neurosim.functional.models import load_model, load_model_file

    name = exact_model_name(spec)
    model = load_model_file(spec.weights) if spec.weights else load_model(name)
    return truncated_model(model, int(spec.model.layers))


def _run_exact(r: Resolved, tokens: int | None, block: int | None, text: str | None, sync: bool, seed: int,
               verify: bool, step, progress, notes: list[str]) -> SimResult:
    from neurosim.functional.text import load_text, token_ids

    n = int(tokens if tokens is not None else EXACT_DEFAULT_TOKENS)
    check_config(SimConfig("exact", n, 0, 1, sync, seed))
    step("loading the real model")
    model = real_model_for(r.spec)
    raw, where = load_text(text)
    ids = token_ids(model, raw, n, where)
    notes.append(f"exact: real spikes of {model.name} on {len(ids)} tokens of {Path(where).name}")
    res = simulate_exact(r, model, ids, block=block, sync=sync, seed=seed, step=step, progress=progress, notes=notes)
    if verify and not res.verify.ok:
        res.notes.append(res.verify.summary())
    return res


def simulate_exact(r: Resolved, model, ids, *, block: int | None = None, sync: bool = DEFAULTS.sync,
                   seed: int = DEFAULTS.seed,
                   step: Callable[[str], None] | None = None, progress: Callable[[int, int], None] | None = None,
                   notes: list[str] | None = None) -> SimResult:
    """Exact mode on a given model and token ids: the functional engine runs traced, every mapped core computes its
    partial products from the real spikes, the simulation times and counts them, and the result carries the
    verification against the functional engine (:class:`~.exact.Verification`)."""
    from neurosim.engines.events.exact import ExactCores, count_checks
    from neurosim.engines.events.plan import plan_for
    from neurosim.functional.engine import run as functional_run
    from neurosim.graph import LIF, SpikeEncoder

    step = step or (lambda _m: None)
    plan = plan_for(r.graph, r.mapping, r.hw)  # the plan and its geometry are reused by later runs
    cores = ExactCores(plan)
    step(f"running {model.name} on {len(ids)} tokens (functional engine, traced; the cores compute each layer)")
    with quiet_collector():  # the model's weights and the plan out of the collector's way for both runs
        t0 = time.perf_counter()
        fr = functional_run(r.graph, model, ids, on_linear=cores)
        functional_s = time.perf_counter() - t0
        seen = int(fr.tokens)
        cfg = SimConfig("exact", seen, 0, int(block if block is not None else default_block(seen)), sync, seed)
        check_config(cfg)
        step(f"simulating {seen} tokens (exact, {'sync' if sync else 'async'})")
        notes = list(notes or [])
        notes.append("exact: every action is counted by the simulator from the real spikes and contexts (the cost "
                     "model), then checked against the functional engine's own count")
        res = simulate(r.graph, r.mapping, r.hw, cfg, cores, progress=progress, plan=plan, notes=notes)
    res.functional_s = functional_s
    res.cores_s = cores.seconds
    ver = cores.verification
    ver.count_checks, ver.unchecked = count_checks(res.counters, fr.counters, cores.ac)
    if ver.unchecked:
        res.notes.append(f"verify: {len(ver.unchecked)} counts have no independent reference, e.g. "
                         + "; ".join(ver.unchecked[:1] + ver.unchecked[-1:]))
    res.verify = ver
    res.functional_counters = fr.counters
    res.measured_rates = {n: float(st.rate) for n, st in fr.stats.items()
                          if n in r.graph.layers and isinstance(r.graph[n], (SpikeEncoder, LIF))}
    return res


def simulate_snn_exact(r: Resolved, net, *, block: int | None = None, sync: bool = DEFAULTS.sync,
                       seed: int = DEFAULTS.seed, verify: bool = False, step: Callable[[str], None] | None = None,
                       progress: Callable[[int, int], None] | None = None, notes: list[str] | None = None
                       ) -> SimResult:
    """Exact mode on an explicit-weight SNN (a graph file with its weights): the fixed-point functional run
    (:func:`neurosim.snn.run_functional`, bit-exact with Lava) gives every population's spikes at every step; the
    event-driven simulator serves them step by step (one token = one time step, blocks of one step by default) to
    the mapped cores, which count and time them under the same cost model as a language model. Every count is
    checked against the cost model applied to the functional run's own spikes, and the network also runs on the
    event-driven SNN engine, whose spikes, u and v must equal the functional run's at every step (``verify``: a
    mismatch is added to the notes; the command exits non-zero)."""
    from neurosim.engines.events.exact import (
        LayerCheck,
        RecordedSpikes,
        Verification,
        count_checks,
        snn_reference_counts,
    )
    from neurosim.engines.events.plan import plan_for
    from neurosim.snn import first_difference, run_engine, run_functional

    step = step or (lambda _m: None)
    steps = int(net.steps)
    plan = plan_for(r.graph, r.mapping, r.hw)  # the plan and its geometry are reused by later runs
    step(f"running {net.name} for {steps} steps (fixed-point functional engine)")
    t0 = time.perf_counter()
    trace = run_functional(net, steps)
    functional_s = time.perf_counter() - t0
    spikes = {n: s.spikes[:steps] for n, s in net.sources.items()}
    spikes.update({n: tr.spikes for n, tr in trace.populations.items()})
    cfg = SimConfig("exact", steps, 0, int(block if block is not None else 1), sync, seed)
    check_config(cfg)
    step(f"simulating {steps} time steps (exact, {'sync' if sync else 'async'})")
    notes = list(notes or [])
    notes.append(f"exact: the network's own weights and input spikes, {steps} time steps (one token = one time "
                 "step); spikes from the fixed-point functional engine (bit-exact with Lava 0.10)")
    res = simulate(r.graph, r.mapping, r.hw, cfg, RecordedSpikes(spikes), progress=progress, plan=plan, notes=notes)
    res.functional_s = functional_s
    ref = snn_reference_counts(r.graph, spikes, steps, r.hw.core.message_bits.v)
    ver = Verification()
    ver.count_checks, ver.unchecked = count_checks(res.counters, ref, {})
    ver.subject = ("populations bit-exact between the event-driven SNN engine and the fixed-point functional run "
                   "(spikes, u and v at every step)")
    step("running the network on the event-driven SNN engine to compare every step")
    diff = first_difference(trace, run_engine("events", net, steps))
    for name in net.populations:
        same = diff is None or diff.population != name
        ver.layers.append(LayerCheck(name, steps, same, same, "" if same else diff.describe("functional", "events")))
    if verify and not ver.ok:
        res.notes.append(ver.summary())
    res.verify = ver
    res.functional_counters = ref
    res.measured_rates = {n: float(tr.spikes.mean()) if tr.spikes.size else 0.0
                          for n, tr in trace.populations.items()}
    return res


@dataclass
class Estimate:
    spec: WorkloadSpec | None  # None when the run started from a graph file (e.g. an imported NIR network)
    graph: Graph
    table: EnergyTable
    counters: pd.DataFrame
    priced: pd.DataFrame
    layers: pd.DataFrame
    totals: dict[str, float] = field(default_factory=dict)


def load_graph_for(workload: str | WorkloadSpec | Graph, sets: list[str] | None = None,
                   convention: str = DEFAULTS.convention, seq_len: int | None = None, batch: int | None = None,
                   rates: str | RatesFile | None = None) -> tuple[WorkloadSpec | None, Graph]:
    """(spec, graph) of a workload name or file, a spec, a graph file or a graph; ``seq_len``/``batch`` set the run
    (spec is None for a graph). ``rates``: a rates file (``neurosim rates --save``) whose measured rates every spike
    encoder and spike-driven projection takes, after checking it was measured on this model and encoder settings;
    the one place ``--rates`` is applied."""
    spec: WorkloadSpec | None = None
    if isinstance(workload, Graph):
        graph = workload
    elif isinstance(workload, str) and is_graph_file(workload):
        from neurosim.snn import with_input_layers

        graph = with_input_layers(load_graph(workload, sets))  # an imported NIR graph's spike inputs as layers
    else:
        spec = workload if isinstance(workload, WorkloadSpec) else load_workload(workload, sets)
        if seq_len is not None or batch is not None:
            spec = spec.model_copy(update={k: v for k, v in (("seq_len", seq_len), ("batch", batch))
                                           if v is not None})
        graph = build_graph(spec, convention)
    if seq_len is not None:
        graph.meta["seq_len"] = seq_len
    if batch is not None:
        graph.meta["batch"] = batch
    if rates is not None:
        graph = with_rates(spec, graph, rates)
    return spec, graph


def with_rates(spec: WorkloadSpec | None, graph: Graph, rates: str | RatesFile) -> Graph:
    """The graph with a rates file's measured rates (refused, in one line, when measured on another model or with
    other encoder settings)."""
    rf = load_rates(rates) if not isinstance(rates, RatesFile) else rates
    rf.check(spec)
    return apply_rates(graph, rf)


def estimate(workload: str | WorkloadSpec | Graph, energy: str | EnergyTable = DEFAULTS.energy,
             sets: list[str] | None = None, seq_len: int | None = None, batch: int | None = None,
             convention: str = DEFAULTS.convention, activity: dict[str, Any] | None = None,
             rates: str | RatesFile | None = None) -> Estimate:
    """Count a workload (a name, a spec, a graph or a graph file) analytically and price it. ``activity``: a
    measured activity per layer (e.g. a functional run's) instead of the rates' expectation; ``rates``: a rates
    file's measured rates (:func:`load_graph_for`)."""
    spec, graph = load_graph_for(workload, sets, convention, seq_len, batch, rates)
    counters = count_graph(graph, activity=activity)
    table, traffic = _estimate_table(energy, graph)
    if traffic is not None:
        counters = pd.concat([counters, traffic], ignore_index=True)
    priced = table.price(counters)
    layers = layer_table(graph, counters)
    per_layer = priced.groupby("layer", sort=False)[["energy_pj", "scaled_ops"]].sum()
    layers["scaled_ops"] = layers["layer"].map(per_layer["scaled_ops"]).fillna(0.0)
    layers["energy_J"] = layers["layer"].map(per_layer["energy_pj"]).fillna(0.0) * 1e-12
    shape = run_shape_for(graph)
    s = summarize(priced)
    totals = {
        "tokens": shape.tokens,
        "dense_macs": dense_macs(graph),
        "acs": float(counters.loc[counters.action == "ac", "count"].sum()),
        "macs": float(counters.loc[counters.action == "mac", "count"].sum()),
        "spikes": float(counters.loc[counters.action == "spike", "count"].sum()),
        "synaptic_ops": float(layers["synaptic_ops"].sum()),
        "neuron_updates": float(counters.loc[counters.action == "neuron_update", "count"].sum()),
        "flops_T": s["scaled_ops_T"],
        "energy_J": s["energy_J"],
        "energy_per_token_mJ": s["energy_J"] * 1e3 / shape.tokens,
        **{k: v for k, v in s.items() if k.startswith("energy_") and k != "energy_J"},
    }
    return Estimate(spec, graph, table, counters, priced, layers, totals)


def _estimate_table(energy: Any, graph: Graph) -> tuple[EnergyTable, pd.DataFrame | None]:
    """The energy table of an estimate and, when ``energy`` names (or is) a hardware model rather than an energy table,
    the expected traffic of the graph mapped onto it (messages, hops, barriers: what a hardware-aware price needs
    and the analytic count alone lacks). Static energy needs simulated time: ``neurosim simulate`` gives it."""
    from neurosim.hardware import Hardware

    if isinstance(energy, EnergyTable):
        return energy, None
    if isinstance(energy, Hardware):  # a hardware model already loaded (with --hw-set overrides)
        hw = energy
    else:
        try:
            return load_energy_table(energy), None
        except NeurosimError as exc:
            from neurosim.hardware import builtin_hardware, load_hardware

            if energy not in builtin_hardware():
                raise NeurosimError(f"{exc}; or a hardware model ({', '.join(builtin_hardware())}) for its "
                                    "hardware-aware prices with the mapped traffic") from None
            hw = load_hardware(energy)
    from neurosim.mapping.traffic import expected_traffic

    mapping, _ = map_onto(graph, hw, MappingOptions())
    traffic = expected_traffic(graph, mapping)
    hops = [(e.routes["messages"] * e.routes["hops_ew"]).sum() for e in mapping.edges if len(e)]
    on = mapping.totals()["hops_onchip"]
    ew = float(sum(hops)) / on if on > 0 else 0.5
    return hw.energy_table(ew_fraction=ew, chips=mapping.chips_used), traffic


def aggregate_layers(layers: pd.DataFrame, by: str) -> pd.DataFrame:
    """Sum the per-layer table by block or by role (rates are averaged, weighted by dense MACs)."""
    if by == "layer":
        return layers
    key = {"block": "block", "role": "role", "kind": "kind"}[by]
    num = layers.select_dtypes("number").columns.drop(["block", "firing_rate"], errors="ignore")
    out = layers.groupby(key, sort=False)[list(num)].sum().reset_index()
    return out
