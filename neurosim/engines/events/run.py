"""A simulation from names: workload, hardware and mapping resolved, statistical or exact inputs prepared, the
exact run verified. What ``neurosim simulate`` and ``neurosim report --mode statistical|exact`` call."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurosim.engines.events.engine import (
    MODES,
    SimResult,
    StatisticalInput,
    check_config,
    default_block,
    simulate,
)
from neurosim.engines.events.sim import SimConfig
from neurosim.engines.events.work import CountHistogram
from neurosim.errors import NeurosimError

#: tokens an exact run takes from the text when --tokens is not given
EXACT_DEFAULT_TOKENS = 8


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
            convention: str = "real", mapping_file: str | None = None, strategy: str = "output",
            placement: str = "locality", step: Callable[[str], None] | None = None) -> Resolved:
    """Load the workload and hardware, and map one onto the other (or read ``mapping_file`` and check it)."""
    from neurosim.hardware import load_hardware
    from neurosim.mapping import PartitionOptions, load_mapping, map_graph
    from neurosim.mapping.mapper import read_user_file
    from neurosim.workloads.builders import build_graph
    from neurosim.workloads.spec import load_workload

    step = step or (lambda _m: None)
    spec = load_workload(workload, sets or None)
    graph = build_graph(spec, convention=convention)
    hw = load_hardware(hw_name, hw_sets or None)
    t0 = time.perf_counter()
    if mapping_file is not None:
        step(f"reading mapping {mapping_file}")
        d = read_user_file(mapping_file)
        where = d.get("_where", mapping_file)
        if "layers" in d:
            if d.get("hardware") != hw.name:
                raise NeurosimError(f"{where}: mapping made for hardware {d.get('hardware')!r}, not {hw.name!r} "
                                    f"(--hw); remap with `neurosim map {spec.name} --hw {hw.name} --out FILE`")
            if d.get("workload") not in (None, "", spec.name):
                raise NeurosimError(f"{where}: mapping made for workload {d.get('workload')!r}, not {spec.name!r}; "
                                    f"remap with `neurosim map {spec.name} --hw {hw.name} --out FILE`")
            mapping = load_mapping(mapping_file, hw)
            try:
                mapping.check_graph(graph)
            except NeurosimError as exc:
                raise NeurosimError(f"{where}: {exc}") from None
            source = f"file {Path(mapping_file).name}"
        else:
            mapping = map_graph(graph, hw, PartitionOptions(strategy=strategy), user=d, workload=spec.name)
            source = f"user placement {Path(mapping_file).name}"
    else:
        step(f"mapping {spec.name} onto {hw.name} ({strategy}-split, {placement})")
        mapping = map_graph(graph, hw, PartitionOptions(strategy=strategy), placement=placement,
                            hardware_sets=list(hw_sets or []), workload=spec.name)
        source = f"mapper ({strategy}-split, {placement} placement)"
    return Resolved(spec, graph, hw, mapping, time.perf_counter() - t0, source)


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
    return CountHistogram(table)


def run_workload(workload: str, hw_name: str = "hala-point", *, mode: str = "statistical", tokens: int | None = None,
                 context: int = 0, block: int | None = None, text: str | None = None, sync: bool = True,
                 seed: int = 0, sets: list[str] | None = None, hw_sets: list[str] | None = None,
                 convention: str = "real", mapping_file: str | None = None, strategy: str = "output",
                 placement: str = "locality", histogram: str | None = None, verify: bool = False,
                 step: Callable[[str], None] | None = None,
                 progress: Callable[[int, int], None] | None = None, resolved: Resolved | None = None) -> SimResult:
    """Resolve, prepare the inputs of the mode, simulate; in exact mode also verify against the functional engine."""
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
    if mode == "exact" and resolved is None:  # fail before mapping when there are no real weights to run
        from neurosim.engines.events.exact import exact_model_name
        from neurosim.workloads.spec import load_workload

        exact_model_name(load_workload(workload, sets or None))
    r = resolved or resolve(workload, hw_name, sets, hw_sets, convention, mapping_file, strategy, placement, step)
    notes = [f"mapping: {r.mapping_source}; {r.mapping.chips_used} chips, {r.mapping.cores_used} cores"]
    if mode == "statistical":
        n = int(tokens if tokens is not None else r.spec.seq_len * r.spec.batch)
        cfg = SimConfig("statistical", n, context, int(block if block is not None else default_block(n)), sync,
                        seed)
        check_config(cfg)
        step(f"simulating {n} tokens (statistical, {'sync' if sync else 'async'})")
        source = "count histogram" if hist is not None else "the workload's firing rates"
        notes.append(f"spikes drawn from {source} (seed {seed}): per segment and step, binomial/multinomial")
        return simulate(r.graph, r.mapping, r.hw, cfg, StatisticalInput(seed, hist), progress=progress, notes=notes)
    return _run_exact(r, tokens, block, text, sync, seed, verify, step, progress, notes)


def _run_exact(r: Resolved, tokens: int | None, block: int | None, text: str | None, sync: bool, seed: int,
               verify: bool, step, progress, notes: list[str]) -> SimResult:
    from neurosim.engines.events.exact import real_model_for
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


def simulate_exact(r: Resolved, model, ids, *, block: int | None = None, sync: bool = True, seed: int = 0,
                   step: Callable[[str], None] | None = None, progress: Callable[[int, int], None] | None = None,
                   notes: list[str] | None = None) -> SimResult:
    """Exact mode on a given model and token ids: the functional engine runs traced, every mapped core computes its
    partial products from the real spikes, the simulation times and counts them, and the result carries the
    verification against the functional engine (:class:`~.exact.Verification`)."""
    from neurosim.engines.events.exact import ExactCores, count_checks
    from neurosim.engines.events.plan import build_plan
    from neurosim.functional.engine import run as functional_run
    from neurosim.graph import SpikeEncoder

    step = step or (lambda _m: None)
    plan = build_plan(r.graph, r.mapping, r.hw)
    cores = ExactCores(plan)
    step(f"running {model.name} on {len(ids)} tokens (functional engine, traced; the cores compute each layer)")
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
                          if n in r.graph.layers and isinstance(r.graph[n], SpikeEncoder)}
    return res
