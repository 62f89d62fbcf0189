"""An event-driven simulation as a run record: energy both ways, timing, mapping, rates, assumptions.

:func:`to_run_record` is what ``neurosim simulate --save-run`` writes; :func:`report_run` is the simulator's entry
point for ``neurosim report --mode statistical|exact`` (see docs/reports.md, "Run record API"). It lives in the
report, above the engines, so that the simulator never imports the report (the import-linter layers contract in
``pyproject.toml``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from neurosim.engines.events.engine import SimResult
from neurosim.engines.events.sim import unfold_of
from neurosim.errors import NeurosimError
from neurosim.graph import LIF, SpikeEncoder
from neurosim.mapping.report import mapping_report as make_report
from neurosim.mapping.routing import chip_coords
from neurosim.report.build import HARDWARE_AWARE, PAPER_STYLE, record_from_counters
from neurosim.report.record import Assumption, RunRecord, Table, Timing
from neurosim.report.runs import map_for_report, mapping_summary

#: how the simulator turns counts into time, for the record's assumptions
TIMING_ASSUMPTIONS = [
    ("core pipeline", ("a core's stages (axon-in, synapse, dendrite, soma, axon-out) are pipelined: its time is the "
                      "busiest stage (actions x stage latency) plus one action of each other busy stage")),
    ("cores as servers", ("a core does one piece of work at a time, first come first served; work given to a busy "
                         "core waits")),
    ("links", ("a directed link carries one message at a time: on-chip in 1 / tile_spike_bandwidth, chip-to-chip in "
              "packet_bits / chip_link.bandwidth; a bundle has drained when its busiest link has")),
    ("back-pressure", ("a route of h hops holds (h + 1) x chip.link_buffer messages its receiver has not taken; a "
                      "core sends its spikes' messages in neuron order and waits at a full route, holding back the "
                      "rest (synchronous spike phases; a fluid model per sending core and step)")),
    ("synchronous mode", ("all cores step together; a step lasts as long as the slowest phase in it plus the barrier "
                         "(Hardware.barrier_ns over the chips used); a spike phase takes D + 1 steps")),
    ("asynchronous mode", ("no barrier; a spike phase's window is one stream whose time is the slowest of its source "
                          "cores, links and synapse cores plus one path latency (seed 002 sec. 5.1)")),
    ("multicast", "a spike reaching n destination cores is n messages (one per output axon), as the mapping counts"),
    ("embedded cores", ("norms, softmax, SiLU, rotary, residuals and attention run at chip.embedded.op_throughput; "
                       "reading the K/V cache costs the KV cores one synapse-read latency and one send per message")),
    ("static energy", "static power of the chips used x the simulated time of the run"),
]


def link_tables(res: SimResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulated load per token of every used link: on-chip rows ``chip, x0, y0, x1, y1, load`` and chip-to-chip
    rows ``chip_a, chip_b, load`` (both directions summed, as the mapper reports them)."""
    mesh, hw = res.plan.mesh, res.hw
    msgs = res.link_messages
    live = np.nonzero(msgs > 0)[0] if msgs is not None else np.zeros(0, dtype=np.int64)
    load = msgs[live] / max(res.tokens, 1) if len(live) else np.zeros(0)
    ax, ay, az, bx, by, bz = mesh.endpoints(live)
    gxn, gyn, gzn = hw.grid_shape
    ids = np.arange(hw.n_chips)
    cx, cy, cz = chip_coords(hw, ids)
    table = np.zeros((gzn, gyn, gxn), dtype=np.int64)
    table[cz, cy, cx] = ids
    w, h = mesh.w, mesh.h
    ca = table[az, ay // h, ax // w]
    cb = table[bz, by // h, bx // w]
    same = ca == cb
    on = list(zip(ca[same], ax[same] % w, ay[same] % h, bx[same] % w, by[same] % h, load[same]))
    off = list(zip(np.minimum(ca, cb)[~same], np.maximum(ca, cb)[~same], load[~same]))
    on_df = pd.DataFrame(on, columns=["chip", "x0", "y0", "x1", "y1", "load"])
    off_df = pd.DataFrame(off, columns=["chip_a", "chip_b", "load"])
    if len(on_df):
        on_df = on_df.groupby(["chip", "x0", "y0", "x1", "y1"], as_index=False)["load"].sum()
    if len(off_df):
        off_df = off_df.groupby(["chip_a", "chip_b"], as_index=False)["load"].sum()
    return on_df, off_df


def measured_rates(res: SimResult) -> dict[str, float]:
    """Spike sources' firing rates in this run: measured (exact) or as drawn (statistical)."""
    if res.measured_rates is not None:
        return dict(res.measured_rates)
    spikes = res.counters[res.counters["action"] == "spike"].groupby("layer")["count"].sum()
    out = {}
    for layer in res.graph:
        if isinstance(layer, (SpikeEncoder, LIF)) and layer.name in spikes.index:
            width = layer.out_dim
            out[layer.name] = float(spikes[layer.name]) / (width * unfold_of(layer) * res.tokens)
    return out


def to_run_record(res: SimResult, spec, hardware_info: dict[str, Any] | None = None,
                  assumptions: list | None = None, mapping_report: dict[str, Any] | None = None,
                  title: str = "", extra_notes: list[str] | None = None) -> RunRecord:
    """The run record of a simulation (energy tables: paper-style = paper-45nm, hardware-aware = the hardware's)."""
    t = res.timing
    per_tok = 1.0 / max(t.block_tokens, 1)
    timing = Timing(
        latency_per_token_ns=t.latency_per_token_ns,
        breakdown_ns={k: v * per_tok for k, v in t.breakdown_ns.items() if v > 0},
        throughput_tokens_per_s=t.throughput_tokens_per_s,
        utilization={k: v for k, v in t.utilization.items() if k != "links_used"},
        critical_path=[f"{c['phase']}: {c['duration_ns'] * per_tok / 1e3:.1f} us per token ({c['bound_by']})"
                       for c in t.critical_path],
        by_layer=Table.of(t.by_layer.assign(block=[
            -1 if res.graph[n].block is None else res.graph[n].block for n in t.by_layer["layer"]])[
            ["layer", "block", "kind", "latency_ns"]]),
        mode=t.mode,
    )
    hw = res.hw
    info = dict(hardware_info or {"name": hw.name, "kind": "hardware", "table": res.hw_table.name,
                                  "description": " ".join(hw.description.split())})
    info.setdefault("calibration", " ".join(hw.calibration.split()))  # which prices the run used (issue 12)
    rep = mapping_report or make_report(res.graph, res.mapping)
    on, off = link_tables(res)
    if len(on) or len(off):
        rep = dict(rep)
        rep["links"], rep["chip_links"] = on, off
    w, h, _ = hw.mesh_shape
    summary = mapping_summary(rep, (w, h), tuple(hw.grid_shape))
    summary.load_unit = "messages per token (simulated)"
    every = list(assumptions or [])
    every += [Assumption(item=f"simulator: {k}", assumption=v, where="neurosim.engines.events")
              for k, v in TIMING_ASSUMPTIONS]
    notes = list(res.notes) + list(extra_notes or [])
    if res.verify is not None:
        notes.append(res.verify.summary())
    rates = measured_rates(res)
    source = ("functional engine (exact mode)" if res.measured_rates is not None
              else f"drawn by the statistical simulator (seed {res.config.seed})")
    return record_from_counters(
        res.counters, spec=spec, graph=res.graph, mode=res.config.mode, engine="events",
        energy_tables=[(PAPER_STYLE, res.paper_table), (HARDWARE_AWARE, res.hw_table)],
        hardware=info, tokens=res.tokens, static_pj={HARDWARE_AWARE: res.static_pj},
        measured_rates=rates, rate_source=source, mapping=summary, timing=timing, assumptions=every,
        notes=notes, title=title)


def report_run(mode: str, workload: str, hw: str, spec, graph, hardware, mapping, text: str | None = None,
               progress=None, tokens: int | None = None, context: int | None = None, seed: int = 0,
               sync: bool = True, rates=None, **_unused) -> RunRecord:
    """The simulator's entry point for ``neurosim report --mode statistical|exact`` (returns a RunRecord).
    ``_unused`` takes what the report passes for other engines (e.g. its SimChoice, already unpacked here)."""
    from neurosim.pipeline import Resolved, run_workload

    if hardware.spec is None:
        raise NeurosimError(f"--mode {mode} simulates a mapped system: --hw {hw} must be a hardware model, not an "
                            "energy table")
    step = progress or (lambda _m: None)
    step(f"mapping onto {hardware.name}")
    m, rep, source = map_for_report(graph, hardware, mapping,
                                    spec.name if spec is not None else str(graph.meta.get("workload", graph.name)))
    resolved = Resolved(spec, graph, hardware.spec, m, 0.0, source)
    res = run_workload(workload, hardware.name, mode=mode, tokens=tokens, context=int(context or 0), text=text,
                       sync=sync, seed=seed, step=step, resolved=resolved, rates=rates)
    return to_run_record(res, spec, hardware.info, hardware.assumptions, rep, extra_notes=list(hardware.notes))
