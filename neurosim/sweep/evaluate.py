"""One sweep point: workload (+ encoding settings) -> graph -> engine counters -> mapping -> energy, latency, quality.

Runs on a Dask worker, so it takes and returns plain data (dicts of scalars). Both engines fill the same columns:
energy (``energy_J`` = dynamic, priced as ``run.energy`` says, + static; ``energy_paper_J`` = the counts priced by
the papers' compute-only ``paper-45nm``), ``latency_ns_per_token`` (``latency_source`` says from where),
``throughput_tokens_per_s``, counts (accumulates, MACs, spikes, messages, hops, barriers) and ``tokens``: the tokens
the energy and counts are for.

Engine "analytic": :func:`~neurosim.engines.analytic.count_graph` counts; the graph is mapped with
:func:`neurosim.mapping.map_graph` (partition strategy = the point's ``mapping``); energy = the counts priced by
the hardware model's own table (``run.energy: hardware``; plus the expected network traffic where the mapping
module provides it) or by a named energy table, plus static energy over the latency.

Latency per token (analytic, first order): every layer runs after the one before it; within a layer the work is
spread evenly over the cores that hold its pieces, and a core does its actions one after another at the
hardware's action latencies (``Hardware.action_latency_ns``: adds and non-spiking ops at the embedded cores'
op time, KV reads/writes at a synapse read, embedding reads on the host not counted); plus one barrier per time
step (``max unfold`` steps a token). Network transfer time and contention are not in it: the event-driven
engine models those. Throughput = 1 / latency (no pipelining).

Engine "events": the same graph, mapped the same way, run by the event-driven simulator
(:func:`neurosim.engines.events.engine.simulate`) in statistical mode with the sweep's ``events`` settings: the
counts are the simulator's (spikes drawn from the firing rates, seeded; messages, hops and barriers as the mapped
network carries them), the latency per token and the throughput its simulated timing (cores, links, contention,
barriers; blocks pipelined), the static energy the static power x the simulated time of the run.
"""

from __future__ import annotations

import math
import os
import socket
import time
from functools import lru_cache
from typing import Any

from neurosim.errors import DoesNotFit, NeurosimError

_FALLBACK_LATENCY = {"add": "mac", "kv_read": "synapse_read", "kv_write": "synapse_read"}
_NOT_TIMED = ("embedding_read", "message", "hop_onchip", "hop_chip", "barrier")
PAPER_TABLE = "paper-45nm"  # the papers' compute-only convention (what the event-driven engine calls paper-style)


@lru_cache(maxsize=16)
def _hardware(name: str):
    """A worker loads each hardware model once (it is only read)."""
    from neurosim.hardware import load_hardware

    return load_hardware(name)


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


def _cores_by_layer(mapping) -> dict[str, int]:
    out = {}
    for name, lm in mapping.layers.items():
        if not len(lm):
            continue
        p = lm.pieces
        cores = {(int(c), int(x), int(y), int(s)) for c, x, y, s in zip(p["chip"], p["x"], p["y"], p["slot"])}
        out[name] = max(1, len(cores))
    return out


def analytic_latency_ns(graph, counters, mapping, hw) -> float:
    """Latency per token (see the module docstring)."""
    from neurosim.engines.analytic import run_shape_for
    from neurosim.graph import LIF, Linear, SpikeEncoder

    lat = hw.action_latency_ns()
    cores = _cores_by_layer(mapping)
    per_layer = counters.groupby(["layer", "action"], sort=False)["count"].sum()
    total = 0.0
    for (layer, action), count in per_layer.items():
        if action in _NOT_TIMED or not layer:
            continue
        t = lat.get(action, lat.get(_FALLBACK_LATENCY.get(action, ""), 0.0))
        total += count * t / cores.get(layer, 1)
    tokens = run_shape_for(graph).tokens
    steps = 1.0
    for layer in graph:
        if isinstance(layer, SpikeEncoder):
            steps = max(steps, float(layer.spec.unfold))
        elif isinstance(layer, Linear) and layer.input.encoding.is_spike:
            steps = max(steps, float(layer.input.unfold))
        elif isinstance(layer, LIF):
            steps = max(steps, float(layer.steps))
    return total / tokens + hw.barrier_ns(mapping.chips_used) * math.ceil(steps)


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
    from neurosim.sweep.quality import quantization_error
    from neurosim.workloads import build_graph, load_workload

    engine = point.get("engine", "analytic")
    if engine not in ("analytic", "events"):
        raise NeurosimError(f"engine {engine!r} is not driven by the sweep; allowed: analytic, events")
    spec = load_workload(resolve_path(point["workload"], base_dir), point_sets(point, run))
    graph = build_graph(spec)
    out: dict[str, Any] = {
        "w_format": spec.weight_format, "a_encoding": spec.a_encoding, "a_bits": spec.a_bits,
        "unfold_effective": float(spec.effective_unfold), "seq_len": spec.seq_len, "batch": spec.batch,
        "params": graph.params,
    }
    if engine == "events":
        out.update(_events_figures(graph, spec, point, run, events, resolve_path(point["hardware"], base_dir)))
    else:
        out.update(_analytic_figures(graph, point, run, base_dir, resolve_path))
    out["quant_error"] = quantization_error(spec.weight_format, spec.w_bits, spec.a_encoding, spec.a_bits,
                                            float(spec.effective_unfold), spec.clip_quantile, spec.symmetric)
    return out


def _analytic_figures(graph, point: dict[str, Any], run: dict[str, Any], base_dir: str | None,
                      resolve_path) -> dict[str, Any]:
    import pandas as pd

    from neurosim.engines.analytic import count_graph, dense_macs, run_shape_for
    from neurosim.mapping import PartitionOptions, expected_traffic, map_graph

    counters = count_graph(graph)
    out: dict[str, Any] = {}
    hw = _hardware(resolve_path(point["hardware"], base_dir))
    mapping = map_graph(graph, hw, PartitionOptions(strategy=point.get("mapping", "output")),
                        placement=run.get("placement", "serpentine"))
    out.update(cores=mapping.cores_used, chips=mapping.chips_used)
    traffic = expected_traffic(graph, mapping)
    counters = pd.concat([counters, traffic[counters.columns]], ignore_index=True)
    notes = ["network traffic counted"]
    energy = run.get("energy", "hardware")
    table = hw.energy_table(chips=mapping.chips_used) if energy == "hardware" else _energy_table(energy)
    tokens = run_shape_for(graph).tokens
    dyn_j = float(table.price(counters)["energy_pj"].sum()) * 1e-12
    lat = analytic_latency_ns(graph, counters, mapping, hw)
    static_j = hw.static_energy_pj(lat * tokens, mapping.chips_used) * 1e-12
    out.update(latency_ns_per_token=lat, latency_source="analytic first-order",
               throughput_tokens_per_s=1e9 / lat if lat > 0 else float("nan"))
    out.update(_energy_and_counts(graph, counters, tokens, dyn_j, static_j, dense_macs(graph), batch=None))
    out.update(tokens=tokens, context=0, notes="; ".join(notes))
    return out


def _events_figures(graph, spec, point: dict[str, Any], run: dict[str, Any], events: dict[str, Any],
                    hw_name: str) -> dict[str, Any]:
    from neurosim.engines.events.engine import default_block, simulate
    from neurosim.engines.events.sim import SimConfig
    from neurosim.graph import AttentionScore, AttentionValue
    from neurosim.mapping import PartitionOptions, map_graph

    hw = _hardware(hw_name)
    t0 = time.perf_counter()
    mapping = map_graph(graph, hw, PartitionOptions(strategy=point.get("mapping", "output")),
                        placement=run.get("placement", "serpentine"))
    map_s = time.perf_counter() - t0
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
    res = simulate(graph, mapping, hw, cfg)
    by = [c for c in res.counters.columns if c not in ("place", "count")]
    folded = res.counters.groupby(by, as_index=False, sort=False)["count"].sum()  # per core -> per layer
    energy = run.get("energy", "hardware")
    if energy == "hardware":  # the simulator's hardware-aware pricing (east-west share of hops as simulated)
        dyn_pj = sum(v for k, v in res.energy["hardware-aware"].items() if k != "static")
    else:
        dyn_pj = float(_energy_table(energy).price(folded)["energy_pj"].sum())
    t = res.timing
    out: dict[str, Any] = {"cores": mapping.cores_used, "chips": mapping.chips_used,
                           "latency_ns_per_token": t.latency_per_token_ns,
                           "latency_source": f"events simulated ({'sync' if sync else 'async'})",
                           "throughput_tokens_per_s": t.throughput_tokens_per_s}
    out.update(_energy_and_counts(graph, folded, tokens, dyn_pj * 1e-12, res.static_pj * 1e-12,
                                  _dense_macs_of(graph, tokens, context), batch=1))
    head = (f"events: {tokens} tokens after {context} cached, blocks of {block}, {'sync' if sync else 'async'}, "
            f"seed {cfg.seed}; mapped in {map_s:.2f} s, simulated in {res.wall_s:.2f} s")
    notes = [head, *res.notes]
    out.update(tokens=tokens, context=context, map_s=map_s, sim_s=res.wall_s, notes="; ".join(notes))
    return out


@lru_cache(maxsize=4)
def _energy_table(name: str):
    from neurosim.energy import load_energy_table

    return load_energy_table(name)


def _dense_macs_of(graph, tokens: int, context: int) -> float:
    """The fp model's MACs over ``tokens`` tokens after ``context`` cached positions (one sequence): every Linear
    densely, attention over each token's real context (as the simulator's blocks give it)."""
    from neurosim.graph import AttentionScore, AttentionValue, Linear

    attention = graph.meta.get("convention", {}).get("attention", "causal")
    if attention == "full":
        ctx_sum = float(tokens) * (context + tokens)
    elif attention == "causal":
        ctx_sum = float(tokens) * context + tokens * (tokens + 1) / 2.0
    else:
        ctx_sum = 0.0
    total = 0.0
    for layer in graph:
        if isinstance(layer, Linear):
            total += float(layer.in_features) * layer.out_features * tokens
        elif isinstance(layer, (AttentionScore, AttentionValue)):
            total += float(layer.heads) * layer.head_dim * ctx_sum
    return total


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
