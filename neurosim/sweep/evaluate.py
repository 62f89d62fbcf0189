"""One sweep point: workload (+ encoding settings) -> graph -> engine counters -> mapping -> energy, latency, quality.

Runs on a Dask worker, so it takes and returns plain data (dicts of scalars). Both engines fill the same columns:
energy (``energy_J`` = dynamic, priced as ``run.energy`` says, + static; ``energy_paper_J`` = the counts priced by
the papers' compute-only ``paper-45nm``), ``latency_ns_per_token`` (``latency_source`` says from where),
``throughput_tokens_per_s``, counts (accumulates, MACs, spikes, messages, hops, barriers) and ``tokens``: the tokens
the energy and counts are for.

Both engines go through the run pipeline (:mod:`neurosim.pipeline`): the graph is built by
:func:`~neurosim.pipeline.load_graph_for`, mapped by :func:`~neurosim.pipeline.map_onto` (partition strategy = the
point's ``mapping``, placement = ``run.placement``, default as every command: locality), and timed by the one
latency model there is, the event-driven simulator's (statistical mode, with the sweep's ``events`` settings):

Engine "analytic": the counts are :func:`~neurosim.engines.analytic.count_graph`'s expectations (plus the mapper's
expected network traffic); the latency per token, the throughput and the static energy (static power x simulated
time) are the simulation's. Engine "events": the counts are the simulator's too (spikes drawn from the firing
rates, seeded; messages, hops and barriers as the mapped network carries them). Energy is the counts priced by the
hardware model's own table (``run.energy: hardware``) or by a named energy table.
"""

from __future__ import annotations

import os
import socket
import time
from functools import lru_cache
from typing import Any

from neurosim.errors import DoesNotFit, NeurosimError

PAPER_TABLE = "paper-45nm"  # the papers' compute-only convention (what the event-driven engine calls paper-style)


@lru_cache(maxsize=16)
def _hardware(name: str, hw_sets: tuple[str, ...] = ()):
    """A worker loads each hardware model once (it is only read); ``hw_sets``: the sweep's --hw-set overrides."""
    from neurosim.hardware import load_hardware

    return load_hardware(name, list(hw_sets) or None)


def point_sets(point: dict[str, Any], run: dict[str, Any]) -> list[str]:
    """The workload overrides of a point: the run's ``sets``, then the swept encoding settings."""
    sets = list(run.get("sets") or [])
    if run.get("seq_len"):
        sets.append(f"seq_len={run['seq_len']}")
    if run.get("batch"):
        sets.append(f"batch={run['batch']}")
    if point.get("w_bits") is not None:
        sets += [f"w_bits={point['w_bits']}", "w_format=null"]
    if point.get("unfold") is not None:
        sets.append(f"unfold={point['unfold']}")
    if point.get("clip_quantile") is not None:
        sets.append(f"clip_quantile={point['clip_quantile']}")
    return sets


def rates_path(run: dict[str, Any], base_dir: str | None) -> str | None:
    """The rates file of the sweep's ``run.rates`` (relative to the sweep file), or None."""
    from pathlib import Path

    if not run.get("rates"):
        return None
    p = Path(run["rates"])
    return str(Path(base_dir) / p) if base_dir and not p.is_absolute() and (Path(base_dir) / p).is_file() else str(p)


def check_rates(spec_points: list[dict[str, Any]], run: dict[str, Any], base_dir: str | None) -> None:
    """Refuse, before anything runs, a rates file measured on another model or with other encoder settings than
    any point's (one line naming the file, the field and the point)."""
    from neurosim.sweep.spec import resolve_path
    from neurosim.workloads.rates_file import load_rates
    from neurosim.workloads.spec import load_workload

    path = rates_path(run, base_dir)
    if path is None:
        return
    rf = load_rates(path)
    for point in spec_points:
        spec = load_workload(resolve_path(point["workload"], base_dir), point_sets(point, run))
        axes = ", ".join(f"{k}={point[k]}" for k in ("workload", "w_bits", "unfold", "clip_quantile")
                         if point.get(k) is not None)
        rf.check(spec, where=f"sweep point ({axes})")


def evaluate_point(point: dict[str, Any], run: dict[str, Any], base_dir: str | None = None,
                   events: dict[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate one point; a mapping that does not fit the hardware (:class:`~neurosim.errors.DoesNotFit`) is a row
    with status 'infeasible'; any other error (a mistyped workload, a bad setting, a bug) is raised, so the sweep
    counts the point as failed and does not record it. ``events`` are the sweep's ``events`` settings (used by
    engine 'events' points only)."""
    from neurosim.sweep.spec import resolve_path

    t0 = time.perf_counter()
    if run.get("throttle_s"):
        time.sleep(float(run["throttle_s"]))
    row: dict[str, Any] = {"status": "ok", "error": ""}
    try:
        row.update(_evaluate(point, run, base_dir, resolve_path, events or {}))
    except DoesNotFit as exc:
        row.update(status="infeasible", error=str(exc))
    row["elapsed_s"] = time.perf_counter() - t0
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return row


def _evaluate(point: dict[str, Any], run: dict[str, Any], base_dir: str | None, resolve_path,
              events: dict[str, Any]) -> dict[str, Any]:
    from neurosim.pipeline import load_graph_for
    from neurosim.sweep.quality import quantization_error

    engine = point.get("engine", "analytic")
    if engine not in ("analytic", "events"):
        raise NeurosimError(f"engine {engine!r} is not driven by the sweep; allowed: analytic, events")
    spec, graph = load_graph_for(resolve_path(point["workload"], base_dir), point_sets(point, run),
                                 rates=rates_path(run, base_dir))
    out: dict[str, Any] = {
        "w_format": spec.weight_format, "a_encoding": spec.a_encoding, "a_bits": spec.a_bits,
        "unfold_effective": float(spec.effective_unfold), "seq_len": spec.seq_len, "batch": spec.batch,
        "params": graph.params,
    }
    figures = _events_figures if engine == "events" else _analytic_figures
    out.update(figures(graph, spec, point, run, events, resolve_path(point["hardware"], base_dir)))
    out["quant_error"] = quantization_error(spec.weight_format, spec.w_bits, spec.a_encoding, spec.a_bits,
                                            float(spec.effective_unfold), spec.clip_quantile, spec.symmetric)
    return out


def _map_point(graph, spec, point: dict[str, Any], run: dict[str, Any], hw) -> tuple[Any, float]:
    """The point's mapping through the pipeline's one ``map_onto`` (and how long mapping took)."""
    from neurosim.defaults import DEFAULTS
    from neurosim.pipeline import MappingOptions, map_onto

    t0 = time.perf_counter()
    how = MappingOptions(strategy=point.get("mapping") or DEFAULTS.strategy,
                         placement=run.get("placement") or DEFAULTS.placement)
    mapping, _ = map_onto(graph, hw, how, spec.name)
    return mapping, time.perf_counter() - t0


def _simulate_point(graph, spec, mapping, hw, events: dict[str, Any]):
    """The event-driven simulation of a point (statistical mode, the sweep's ``events`` settings): the one
    latency model, used by both engines' points."""
    from neurosim.engines.events.engine import default_block, simulate
    from neurosim.engines.events.sim import SimConfig
    from neurosim.graph import AttentionScore, AttentionValue

    tokens = int(events.get("tokens") or spec.seq_len)
    context = int(events.get("context") or 0)
    positions = int(spec.seq_len) * int(spec.batch)
    if context + tokens > positions and any(isinstance(x, (AttentionScore, AttentionValue)) for x in graph):
        raise NeurosimError(f"events.context + events.tokens = {context + tokens} positions, but the mapping holds "
                            f"a KV cache of seq_len x batch = {positions}; raise run.seq_len to at least "
                            f"{context + tokens} or lower events.context / events.tokens")
    block = int(events.get("block") or default_block(tokens))
    sync = bool(events.get("sync", True))
    cfg = SimConfig("statistical", tokens, context, block, sync, int(events.get("seed", 0)))
    return simulate(graph, mapping, hw, cfg), cfg


def _timing(res, cfg) -> dict[str, Any]:
    t = res.timing
    return {"latency_ns_per_token": t.latency_per_token_ns,
            "latency_source": f"events simulated ({'sync' if cfg.sync else 'async'})",
            "throughput_tokens_per_s": t.throughput_tokens_per_s}


def _analytic_figures(graph, spec, point: dict[str, Any], run: dict[str, Any], events: dict[str, Any],
                      hw_name: str) -> dict[str, Any]:
    import pandas as pd

    from neurosim.engines.analytic import count_graph, dense_macs, run_shape_for
    from neurosim.mapping import expected_traffic

    hw = _hardware(hw_name, tuple(run.get("hw_sets") or ()))
    mapping, map_s = _map_point(graph, spec, point, run, hw)
    counters = count_graph(graph)
    traffic = expected_traffic(graph, mapping)
    counters = pd.concat([counters, traffic[counters.columns]], ignore_index=True)
    energy = run.get("energy", "hardware")
    table = hw.energy_table(chips=mapping.chips_used) if energy == "hardware" else _energy_table(energy)
    tokens = run_shape_for(graph).tokens
    dyn_j = float(table.price(counters)["energy_pj"].sum()) * 1e-12
    res, cfg = _simulate_point(graph, spec, mapping, hw, events)
    # the simulated run's static energy per token, over the analytic run's tokens
    static_j = res.static_pj * 1e-12 * tokens / cfg.tokens
    out: dict[str, Any] = {"cores": mapping.cores_used, "chips": mapping.chips_used, **_timing(res, cfg)}
    out.update(_energy_and_counts(graph, counters, tokens, dyn_j, static_j, dense_macs(graph), batch=None))
    notes = ["network traffic counted (the mapper's expectation)",
             f"timed by the event-driven simulator: {cfg.tokens} tokens, blocks of {cfg.block}, seed {cfg.seed}"]
    out.update(tokens=tokens, context=0, map_s=map_s, sim_s=res.wall_s, notes="; ".join(notes))
    return out


def _events_figures(graph, spec, point: dict[str, Any], run: dict[str, Any], events: dict[str, Any],
                    hw_name: str) -> dict[str, Any]:
    hw = _hardware(hw_name, tuple(run.get("hw_sets") or ()))
    mapping, map_s = _map_point(graph, spec, point, run, hw)
    res, cfg = _simulate_point(graph, spec, mapping, hw, events)
    tokens, context = cfg.tokens, cfg.context
    by = [c for c in res.counters.columns if c not in ("place", "count")]
    folded = res.counters.groupby(by, as_index=False, sort=False)["count"].sum()  # per core -> per layer
    energy = run.get("energy", "hardware")
    if energy == "hardware":  # the simulator's hardware-aware pricing (east-west share of hops as simulated)
        dyn_pj = sum(v for k, v in res.energy["hardware-aware"].items() if k != "static")
    else:
        dyn_pj = float(_energy_table(energy).price(folded)["energy_pj"].sum())
    out: dict[str, Any] = {"cores": mapping.cores_used, "chips": mapping.chips_used, **_timing(res, cfg)}
    out.update(_energy_and_counts(graph, folded, tokens, dyn_pj * 1e-12, res.static_pj * 1e-12,
                                  _dense_macs_of(graph, tokens, context), batch=1))
    head = (f"events: {tokens} tokens after {context} cached, blocks of {cfg.block}, "
            f"{'sync' if cfg.sync else 'async'}, seed {cfg.seed}; mapped in {map_s:.2f} s, simulated in "
            f"{res.wall_s:.2f} s")
    notes = [head, *res.notes]
    out.update(tokens=tokens, context=context, map_s=map_s, sim_s=res.wall_s, notes="; ".join(notes))
    return out


@lru_cache(maxsize=4)
def _energy_table(name: str):
    from neurosim.energy import load_energy_table

    return load_energy_table(name)


def _dense_macs_of(graph, tokens: int, context: int) -> float:
    """The fp model's MACs over ``tokens`` tokens after ``context`` cached positions (one sequence), with each
    token's real attention context (as the simulator's blocks give it): the cost model's dense count."""
    import numpy as np

    from neurosim.cost import Rules, dense_macs, token_contexts

    rules = Rules.of(graph)
    ctx_sum = float(token_contexts(context + np.arange(tokens), context + tokens, rules.attention,
                                   rules.window).sum())
    return sum(dense_macs(layer, tokens, ctx_sum) for layer in graph)


def _energy_and_counts(graph, counters, tokens: int, dyn_j: float, static_j: float, dense: float,
                       batch: int | None) -> dict[str, Any]:
    """The energy and count columns both engines share, from a counter table of ``tokens`` tokens."""
    from neurosim.metrics import metrics_from_counters

    paper_j = float(_energy_table(PAPER_TABLE).price(counters)["energy_pj"].sum()) * 1e-12
    m = metrics_from_counters(graph, counters, batch=batch)
    act = counters.groupby("action")["count"].sum()
    total = dyn_j + static_j
    return {
        "energy_dynamic_J": dyn_j, "energy_static_J": static_j, "energy_J": total,
        "energy_per_token_uJ": total * 1e6 / tokens, "energy_paper_J": paper_j,
        "energy_paper_per_token_uJ": paper_j * 1e6 / tokens,
        "dense_macs": dense, "acs": float(act.get("ac", 0.0)), "macs": float(act.get("mac", 0.0)),
        "spikes": float(act.get("spike", 0.0)), "messages": float(act.get("message", 0.0)),
        "hops_onchip": float(act.get("hop_onchip", 0.0)), "hops_chip": float(act.get("hop_chip", 0.0)),
        "barriers": float(act.get("barrier", 0.0)),
        "effective_acs": m["effective_acs"], "effective_macs": m["effective_macs"],
        "activation_sparsity": m["activation_sparsity"], "footprint_bytes": m["footprint_bytes"],
    }
