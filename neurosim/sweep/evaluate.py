"""One sweep point: workload (+ encoding settings) -> graph -> engine counters -> mapping -> energy, latency, quality.

Runs on a Dask worker, so it takes and returns plain data (dicts of scalars).

Engine "analytic": :func:`~neurosim.engines.analytic.count_graph` counts; the graph is mapped with
:func:`neurosim.mapping.map_graph` (partition strategy = the point's ``mapping``); energy = the counts priced by
the hardware model's own table (``run.energy: hardware``; plus the expected network traffic where the mapping
module provides it) or by a named energy table, plus static energy over the latency.

Latency per token (analytic, first order): every layer runs after the one before it; within a layer the work is
spread evenly over the cores that hold its pieces, and a core does its actions one after another at the
hardware's action latencies (``Hardware.action_latency_ns``: adds and non-spiking ops at the embedded cores'
op time, KV reads/writes at a synapse read, embedding reads on the host not counted); plus one barrier per time
step (``max unfold`` steps a token). Network transfer time and contention are not in it: the event-driven
engine models those.
"""

from __future__ import annotations

import math
import os
import socket
import time
from functools import lru_cache
from typing import Any

from neurosim.errors import NeurosimError

_FALLBACK_LATENCY = {"add": "mac", "kv_read": "synapse_read", "kv_write": "synapse_read"}
_NOT_TIMED = ("embedding_read", "message", "hop_onchip", "hop_chip", "barrier")


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


def evaluate_point(point: dict[str, Any], run: dict[str, Any], base_dir: str | None = None) -> dict[str, Any]:
    """Evaluate one point; a user-level problem (e.g. the model does not fit) is a row with status 'infeasible'."""
    from neurosim.sweep.spec import resolve_path

    t0 = time.perf_counter()
    if run.get("throttle_s"):
        time.sleep(float(run["throttle_s"]))
    row: dict[str, Any] = {"status": "ok", "error": ""}
    try:
        row.update(_evaluate(point, run, base_dir, resolve_path))
    except NeurosimError as exc:
        row.update(status="infeasible", error=str(exc))
    row["elapsed_s"] = time.perf_counter() - t0
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return row


def _evaluate(point: dict[str, Any], run: dict[str, Any], base_dir: str | None, resolve_path) -> dict[str, Any]:
    import pandas as pd

    from neurosim.energy import load_energy_table
    from neurosim.engines.analytic import count_graph, dense_macs, run_shape_for
    from neurosim.metrics import metrics_from_counters
    from neurosim.sweep.quality import quantization_error
    from neurosim.workloads import build_graph, load_workload

    if point.get("engine", "analytic") != "analytic":
        raise NeurosimError(f"engine {point.get('engine')!r} is not driven by the sweep yet; allowed: analytic")
    spec = load_workload(resolve_path(point["workload"], base_dir), point_sets(point, run))
    graph = build_graph(spec)
    counters = count_graph(graph)
    out: dict[str, Any] = {
        "w_format": spec.weight_format, "a_encoding": spec.a_encoding, "a_bits": spec.a_bits,
        "unfold_effective": float(spec.effective_unfold), "seq_len": spec.seq_len, "batch": spec.batch,
        "params": graph.params,
    }
    mapping = hw = None
    notes = []
    try:
        from neurosim.mapping import PartitionOptions, map_graph
    except ImportError:
        notes.append("no mapping module: latency not estimated")
    else:
        hw = _hardware(resolve_path(point["hardware"], base_dir))
        mapping = map_graph(graph, hw, PartitionOptions(strategy=point.get("mapping", "output")),
                            placement=run.get("placement", "serpentine"))
        out.update(cores=mapping.cores_used, chips=mapping.chips_used)
        try:
            from neurosim.mapping import expected_traffic

            traffic = expected_traffic(graph, mapping)
            counters = pd.concat([counters, traffic[counters.columns]], ignore_index=True)
            notes.append("network traffic counted")
        except ImportError:
            notes.append("network traffic not counted (mapping traffic model not available)")
    energy = run.get("energy", "hardware")
    if energy == "hardware":
        if hw is None:
            raise NeurosimError("run.energy = 'hardware' needs the hardware/mapping modules; name an energy table")
        table = hw.energy_table(chips=mapping.chips_used)
    else:
        table = load_energy_table(energy)
    priced = table.price(counters)
    tokens = run_shape_for(graph).tokens
    dyn_j = float(priced["energy_pj"].sum()) * 1e-12
    out["energy_dynamic_J"] = dyn_j
    if mapping is not None:
        lat = analytic_latency_ns(graph, counters, mapping, hw)
        static_j = hw.static_energy_pj(lat * tokens, mapping.chips_used) * 1e-12
        out.update(latency_ns_per_token=lat, energy_static_J=static_j)
    else:
        out.update(latency_ns_per_token=float("nan"), energy_static_J=0.0)
    out["energy_J"] = dyn_j + out["energy_static_J"]
    out["energy_per_token_uJ"] = out["energy_J"] * 1e6 / tokens
    m = metrics_from_counters(graph, counters)
    act = counters.groupby("action")["count"].sum()
    out.update(
        dense_macs=dense_macs(graph), acs=float(act.get("ac", 0.0)), macs=float(act.get("mac", 0.0)),
        spikes=float(act.get("spike", 0.0)), effective_acs=m["effective_acs"], effective_macs=m["effective_macs"],
        activation_sparsity=m["activation_sparsity"], footprint_bytes=m["footprint_bytes"],
        quant_error=quantization_error(spec.weight_format, spec.w_bits, spec.a_encoding, spec.a_bits,
                                       float(spec.effective_unfold), spec.clip_quantile, spec.symmetric),
        notes="; ".join(notes),
    )
    return out
