"""`estimate`: a workload -> graph -> analytic counters -> priced by an energy table -> per-layer table + totals."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from neurosim.energy import EnergyTable, load_energy_table, summarize
from neurosim.engines.analytic import count_graph, dense_macs, layer_table, run_shape_for
from neurosim.graph import Graph
from neurosim.workloads import build_graph, load_workload
from neurosim.workloads.builders import is_graph_file, load_graph
from neurosim.workloads.spec import WorkloadSpec


@dataclass
class Estimate:
    spec: WorkloadSpec | None  # None when the run started from a graph file (e.g. an imported NIR network)
    graph: Graph
    table: EnergyTable
    counters: pd.DataFrame
    priced: pd.DataFrame
    layers: pd.DataFrame
    totals: dict[str, float] = field(default_factory=dict)


def estimate(workload: str | WorkloadSpec | Graph, energy: str | EnergyTable = "paper-45nm",
             sets: list[str] | None = None, seq_len: int | None = None, batch: int | None = None,
             convention: str = "real") -> Estimate:
    """Count a workload (a name, a spec, a graph or a graph file) analytically and price it."""
    table = energy if isinstance(energy, EnergyTable) else load_energy_table(energy)
    spec: WorkloadSpec | None = None
    if isinstance(workload, Graph):
        graph = workload
    elif isinstance(workload, str) and is_graph_file(workload):
        graph = load_graph(workload, sets)
    else:
        spec = workload if isinstance(workload, WorkloadSpec) else load_workload(workload, sets)
        graph = build_graph(spec, convention)
    if seq_len is not None:
        graph.meta["seq_len"] = seq_len
    if batch is not None:
        graph.meta["batch"] = batch
    if spec is not None and (seq_len is not None or batch is not None):
        spec = spec.model_copy(update={k: v for k, v in (("seq_len", seq_len), ("batch", batch)) if v is not None})
    counters = count_graph(graph)
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


def aggregate_layers(layers: pd.DataFrame, by: str) -> pd.DataFrame:
    """Sum the per-layer table by block or by role (rates are averaged, weighted by dense MACs)."""
    if by == "layer":
        return layers
    key = {"block": "block", "role": "role", "kind": "kind"}[by]
    num = layers.select_dtypes("number").columns.drop(["block", "firing_rate"], errors="ignore")
    out = layers.groupby(key, sort=False)[list(num)].sum().reset_index()
    return out
