"""From an engine's counters to a :class:`RunRecord`: price them under each energy table, fold per-layer tables,
and gather rates, assumptions and sources. Every engine goes through :func:`record_from_counters`."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from neurosim.counters import COLUMNS
from neurosim.energy import EnergyTable
from neurosim.errors import NeurosimError
from neurosim.graph import LIF, Graph, SpikeEncoder
from neurosim.report.record import (
    COMPONENTS,
    COUNTER_TO_REPORT_COMPONENT,
    MODES,
    Assumption,
    EnergyBreakdown,
    Histogram,
    MappingSummary,
    RunRecord,
    Table,
    Timing,
)
from neurosim.workloads.spec import WorkloadSpec

PAPER_STYLE = "paper-style"
HARDWARE_AWARE = "hardware-aware"

_LAYER_KEYS = ["layer", "block", "role", "kind"]
#: totals key -> counter action
_TOTAL_ACTIONS = {"acs": "ac", "macs": "mac", "spikes": "spike", "neuron_updates": "neuron_update",
                  "synapse_reads": "synapse_read", "kv_reads": "kv_read", "messages": "message",
                  "hops_onchip": "hop_onchip", "hops_chip": "hop_chip", "barriers": "barrier"}


def energy_breakdown(priced: pd.DataFrame, label: str, table: EnergyTable, graph: Graph | None = None,
                     static_pj: float | Mapping[str, float] = 0.0) -> EnergyBreakdown:
    """Price-by-component totals and a per-layer table of one priced counter frame.

    ``static_pj`` is static power x run time: a total (shown as a row ``(static)``) or per layer.
    """
    df = priced.copy()
    df["report_component"] = df["component"].map(COUNTER_TO_REPORT_COMPONENT).fillna("compute")
    piv = df.pivot_table(index=_LAYER_KEYS, columns="report_component", values="energy_pj", aggfunc="sum",
                         fill_value=0.0).reset_index()
    for c in COMPONENTS:
        if c not in piv.columns:
            piv[c] = 0.0
    piv = piv[_LAYER_KEYS + list(COMPONENTS)]
    if graph is not None:  # keep the graph's layer order (whole-system rows such as barriers go last)
        order = {name: i for i, name in enumerate(graph.layers)}
        piv = piv.assign(_o=piv["layer"].map(order).fillna(len(order))).sort_values("_o", kind="stable")
        piv = piv.drop(columns="_o")
    if isinstance(static_pj, Mapping):
        piv["static"] = piv["layer"].map(dict(static_pj)).fillna(0.0)
    elif static_pj:
        piv = pd.concat([piv, pd.DataFrame([{"layer": "(static)", "block": -1, "role": "", "kind": "static",
                                             **{c: 0.0 for c in COMPONENTS}, "static": float(static_pj)}])],
                        ignore_index=True)
    by_action = df.groupby(["action", "component"], sort=False, as_index=False)[["count", "energy_pj"]].sum()
    totals = {c: float(piv[c].sum()) for c in COMPONENTS}
    return EnergyBreakdown(label=label, table=table.name, compute_only=table.compute_only,
                           description=" ".join(table.description.split()), total_pj=totals,
                           static_included=bool(static_pj),
                           by_layer=Table.of(piv.reset_index(drop=True)), by_action=Table.of(by_action))


def assumed_rates(graph: Graph) -> pd.DataFrame:
    """The firing rate each spike source was given (encoders and LIF layers), one row per source layer."""
    rows = []
    for layer in graph:
        if isinstance(layer, SpikeEncoder):
            rate = layer.spec.firing_rate
        elif isinstance(layer, LIF):
            rate = layer.firing_rate
        else:
            continue
        rows.append({"layer": layer.name, "block": -1 if layer.block is None else layer.block, "role": layer.role,
                     "kind": layer.kind, "assumed": rate, "measured": None, "source": "workload"})
    return pd.DataFrame(rows, columns=["layer", "block", "role", "kind", "assumed", "measured", "source"])


def workload_assumptions(spec: WorkloadSpec | None, graph: Graph) -> list[Assumption]:
    if spec is None:  # a graph file (an imported NIR network, an explicit-weight SNN): no workload spec
        return [Assumption(item="model", where=f"graph {graph.name}",
                           value=f"{len(graph)} layers, {graph.params} synapses ({graph.meta.get('source', 'graph')})",
                           assumption="every layer, weight width and firing rate as the graph file gives them")]
    where = f"workload {spec.name}"
    out = [
        Assumption(item="model dimensions", value=_dims(spec), source=spec.source, where=where),
        Assumption(item="encoding", where=where,
                   value=(f"W{spec.w_bits} {spec.w_format or 'int'} weights; activations {spec.a_encoding} "
                          f"{spec.a_bits}-bit, unfold {spec.effective_unfold:g}, rotation {spec.rotation}"),
                   assumption=f"the workload's {spec.method} encoding, as its file states"),
        Assumption(item="firing rate (model-wide)", value=f"{spec.firing_rate:g}", where=where,
                   source=spec.source if "rate" in spec.source else "",
                   assumption="" if "rate" in spec.source else "the workload's stated prior rate"),
    ]
    if spec.rates:
        out.append(Assumption(item="firing rates per projection", where=where,
                              value=", ".join(f"{k} {v:g}" for k, v in spec.rates.items()), source=spec.source))
    conv = graph.meta.get("convention", {})
    out.append(Assumption(item="counting convention", where=where,
                          value=", ".join(f"{k}={v}" for k, v in conv.items()),
                          assumption="what the count includes (attention width, lm_head, non-linear fp ops)"))
    out.append(Assumption(item="run shape", value=f"{spec.seq_len} tokens x batch {spec.batch}", where=where,
                          assumption="a prefill of seq_len tokens; attention context as the convention says"))
    out += [Assumption(item="note", assumption=n, where=where) for n in spec.notes]
    return out


def _dims(spec: WorkloadSpec) -> str:
    m = spec.model
    kv = f", {m.n_kv} kv heads" if m.n_kv != m.heads else ""
    return f"{m.layers} layers, d={m.d_model}, ffn={m.ffn}, {m.heads} heads{kv}, vocab {m.vocab}"


def table_assumptions(table: EnergyTable, label: str) -> list[Assumption]:
    out = []
    for row in table.sources:
        sel = f" [{row['selector']}]" if row["selector"] else ""
        unit = "" if row["energy_pj"] == "not charged" else " pJ" + (f" ({row['scale']})" if row["scale"] != "none" else "")
        out.append(Assumption(item=f"{label}: {row['action']}{sel}", value=f"{row['energy_pj']}{unit}",
                              source=row["source"], assumption=row["assumption"], where=f"energy table {table.name}"))
    return out


def created_now() -> str:
    """When a record is made: now (UTC), or ``SOURCE_DATE_EPOCH`` when set (the reproducible-builds convention), so
    that two runs of the same inputs write byte-identical records (docs/reliability.md, determinism)."""
    import os

    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    when = (_dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc) if epoch.isdigit()
            else _dt.datetime.now(_dt.timezone.utc))
    return when.isoformat(timespec="seconds")


def record_from_counters(
    counters: pd.DataFrame,
    *,
    spec: WorkloadSpec,
    graph: Graph,
    energy_tables: Iterable[tuple[str, EnergyTable]],
    mode: str = "analytic",
    engine: str | None = None,
    hardware: Mapping[str, Any] | None = None,
    tokens: int | None = None,
    static_pj: Mapping[str, float | Mapping[str, float]] | None = None,
    measured_rates: Mapping[str, float] | None = None,
    rate_source: str = "",
    histograms: Iterable[Histogram] = (),
    mapping: MappingSummary | None = None,
    timing: Timing | None = None,
    assumptions: Iterable[Assumption] = (),
    notes: Iterable[str] = (),
    title: str = "",
) -> RunRecord:
    """Build a run record from any engine's counters (the schema of :mod:`neurosim.counters`).

    ``energy_tables``: (label, table) pairs, normally ``("paper-style", paper-45nm)`` and
    ``("hardware-aware", <the hardware's table>)``; ``static_pj``: label -> static energy of the run (a total or
    per layer); ``measured_rates``: layer -> measured firing rate of that spike source.
    """
    import neurosim
    from neurosim.engines.analytic import dense_macs, layer_table, run_shape_for

    missing = [c for c in COLUMNS if c not in counters.columns]
    if missing:
        raise NeurosimError(f"counters lack columns {missing}; every engine emits {COLUMNS}")
    if mode not in MODES:
        raise NeurosimError(f"mode {mode!r}; allowed: {', '.join(MODES)}")
    shape = run_shape_for(graph)
    tokens = int(tokens or shape.tokens)
    engine = engine or (str(counters["engine"].iloc[0]) if len(counters) else "analytic")
    static_pj = dict(static_pj or {})

    breakdowns, table_notes = [], []
    for label, table in energy_tables:
        priced = table.price(counters)
        breakdowns.append(energy_breakdown(priced, label, table, graph, static_pj.get(label, 0.0)))
        table_notes += table_assumptions(table, label)

    layers = layer_table(graph, counters)
    if tokens != shape.tokens:  # the graph's dense MACs are for seq_len x batch tokens: scale to the run's tokens
        layers["dense_macs"] = layers["dense_macs"] * (tokens / shape.tokens)
    for b in breakdowns:
        e = b.by_layer.frame().set_index("layer")[list(COMPONENTS)].sum(axis=1)
        key = "energy_pj_" + b.label.replace("-", "_")
        layers[key] = layers["layer"].map(e).fillna(0.0)

    rates = assumed_rates(graph)
    if measured_rates:
        rates["measured"] = rates["layer"].map(dict(measured_rates))
        rates["source"] = rate_source or "measured"
        unknown = sorted(set(measured_rates) - set(rates["layer"]))
        if unknown:
            raise NeurosimError(f"measured rates name layers that are not spike sources: {', '.join(unknown[:5])}")

    act = counters.groupby("action")["count"].sum()
    totals: dict[str, float | None] = {
        "tokens": float(tokens),
        "params": float(graph.params),
        "dense_macs": float(dense_macs(graph)) * tokens / shape.tokens,
        **{key: float(act.get(a, 0.0)) for key, a in _TOTAL_ACTIONS.items()},
    }
    for b in breakdowns:
        key = b.label.replace("-", "_")
        totals[f"energy_J_{key}"] = b.energy_pj * 1e-12
        totals[f"energy_per_token_mJ_{key}"] = b.energy_pj * 1e-9 / tokens
    if timing is not None:
        totals["latency_per_token_ms"] = timing.latency_per_token_ns * 1e-6
        if timing.throughput_tokens_per_s is not None:
            totals["throughput_tokens_per_s"] = timing.throughput_tokens_per_s

    hw = dict(hardware or {})
    every = [*workload_assumptions(spec, graph), *table_notes, *assumptions]
    conv = graph.meta.get("convention", {})
    return RunRecord(
        neurosim_version=neurosim.__version__,
        created=created_now(),
        title=title,
        workload=({"name": spec.name, "family": spec.family, "method": spec.method,
                   "description": " ".join(spec.description.split()), "source": spec.source,
                   "spec": spec.model_dump(mode="json")} if spec is not None else
                  {"name": str(graph.meta.get("workload", graph.name)), "family": "graph", "method": "graph file",
                   "description": f"graph {graph.name} ({graph.meta.get('source', 'graph file')})",
                   "source": str(graph.meta.get("source", "")), "spec": {}}),
        hardware=hw,
        mode=mode,
        engine=engine,
        tokens=tokens,
        seq_len=shape.seq_len,
        batch=shape.batch,
        convention=dict(conv),
        totals=totals,
        layers=Table.of(layers),
        energy=breakdowns,
        rates=Table.of(rates),
        histograms=list(histograms),
        mapping=mapping,
        timing=timing,
        assumptions=every,
        notes=list(notes),
    )
