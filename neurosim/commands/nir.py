"""`neurosim import-nir` and `neurosim export-nir`: NIR in and out."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from neurosim.commands._common import FORMAT_HELP
from neurosim.defaults import DEFAULTS


def import_nir_cmd(
    file: Path = typer.Argument(..., help="a NIR file (.nir, HDF5) written by snnTorch, Norse, Sinabs, Rockpool..."),
    out: Path | None = typer.Option(None, "--out", "-o", help="write the graph YAML to this file (+ "
                                    "<stem>.params.npz)"),
    dt: float = typer.Option(1e-4, "--dt", help="time step in seconds (NIR files carry none; snnTorch uses 1e-4)"),
    steps: int = typer.Option(1, "--steps", help="time steps per sample (the run's seq_len)"),
    rate: float = typer.Option(0.1, "--rate", help="assumed firing rate of every spiking layer"),
    input_encoding: str = typer.Option("fp", "--input", help="what the network's input is: fp or binary (spikes)"),
    input_rate: float = typer.Option(0.1, "--input-rate", help="firing rate of binary input spikes"),
    w_bits: int = typer.Option(8, "--w-bits", help="weight width the graph maps and prices (the file's floats "
                               "are kept for simulation); 32 = as stored"),
    quantize: bool = typer.Option(False, "--quantize", help="integer weights and thresholds, for `simulate --mode "
                                  "exact`: per spiking population its incoming weights scaled to fill --w-bits (at "
                                  "most 8) and rounded, its threshold scaled by the same factor and rounded"),
    name: str | None = typer.Option(None, "--name", help="graph name (default: the file's stem)"),
    spikes: Path | None = typer.Option(None, "--spikes", help="recorded input spikes (.npz: one (steps, n) "
                                       "integer array per input port) written beside the graph for --mode exact"),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP + "; csv: one row per layer"),
    max_memory: str | None = typer.Option(None, "--max-memory", help="the most memory the import may take (8G, "
                                          "512M; default: what this machine has available): a file whose arrays "
                                          "need more is refused before they are read"),
) -> None:
    """Import a NIR graph as a neurosim graph that maps and simulates like any workload (with integer weights and
    thresholds, `simulate --mode exact` runs it in Loihi's fixed-point arithmetic)."""
    import numpy as np
    import pandas as pd

    from neurosim.commands._common import check_format, json_document, print_frame, print_lines
    from neurosim.errors import NeurosimError
    from neurosim.graph import LIF, Linear
    from neurosim.interop.nir_import import import_nir, quantize_for_loihi, save_network

    check_format(fmt)
    if steps <= 0:
        raise NeurosimError(f"--steps = {steps}; allowed: an integer > 0")
    for opt, v in (("--rate", rate), ("--input-rate", input_rate)):
        if not 0.0 <= v <= 1.0:
            raise NeurosimError(f"{opt} = {v}; allowed: [0, 1]")
    from neurosim.machine import limited

    with limited(max_memory):
        net = import_nir(file, name=name, dt_s=dt, steps=steps, firing_rate=rate, input_encoding=input_encoding,
                         input_rate=input_rate, w_bits=w_bits)
        if quantize:
            net = quantize_for_loihi(net)
    g, meta = net.graph, net.nir_meta
    rows = []
    for layer in g:
        row = {"layer": layer.name, "type": type(layer).__name__, "in": layer.in_dim, "out": layer.out_dim}
        if isinstance(layer, Linear):
            row["detail"] = f"input {layer.input.label}" + (" + bias" if layer.bias else "")
        elif isinstance(layer, LIF):
            row["detail"] = f"{layer.neuron}, thr {layer.threshold:.4g}, dv {layer.dv}, du {layer.du}, reset {layer.reset}"
        else:
            row["detail"] = getattr(layer, "op", "")
        rows.append(row)
    recorded = None
    if spikes is not None:
        if out is None:
            raise NeurosimError("--spikes is written beside the graph: add --out GRAPH.yaml")
        if not spikes.is_file():
            raise NeurosimError(f"--spikes {spikes}: file not found")
        try:
            with np.load(spikes, allow_pickle=False) as z:
                recorded = {k: z[k] for k in z.files}
        except (OSError, ValueError):
            raise NeurosimError(f"--spikes {spikes}: not a readable .npz file") from None
    written = [str(p) for p in save_network(net, out, recorded)] if out is not None else []
    if fmt == "json":
        sys.stdout.write(json_document({"graph": g.name, "file": str(file), "layers": rows, "dt_s": meta["dt_s"],
                                        **{k: meta[k] for k in ("time", "discretisation", "reset", "inputs",
                                                                "outputs", "recurrent_edges", "firing_rate",
                                                                "weights")},
                                        "spikes": g.meta.get("spikes") if recorded is not None else None,
                                        "written": written}, default=str))
        return
    if fmt == "csv":
        print_frame(pd.DataFrame(rows), "csv")
        return
    print_frame(pd.DataFrame(rows), fmt, title=f"{g.name}: imported from {file}")
    lines = [f"time step dt = {meta['dt_s']:g} s; {meta['time']}", f"discretisation: {meta['discretisation']}",
             "reset: " + ", ".join(f"{k}: {v}" for k, v in meta["reset"].items()),
             "inputs: " + ", ".join(f"{k} {v['shape']} -> {', '.join(v['to'])}" for k, v in meta["inputs"].items()),
             "outputs: " + ", ".join(f"{k} <- {', '.join(v['from'])}" for k, v in meta["outputs"].items())]
    if meta["recurrent_edges"]:
        lines.append("recurrent edges (one-step delay): " + ", ".join(f"{a} -> {b}" for a, b in meta["recurrent_edges"]))
    lines += [f"firing rates: {meta['firing_rate']}", f"weights: {meta['weights']}"]
    if written:
        lines.append(f"wrote {' and '.join(written)}" + (f" (+ recorded input spikes, meta.spikes = "
                                                         f"{g.meta['spikes']})" if recorded is not None else ""))
    else:
        lines.append("(no file written: add --out GRAPH.yaml)")
    print_lines(lines, fmt)


def export_nir_cmd(
    workload: str = typer.Argument(..., help="a workload name or .yaml, or a graph .yaml written by import-nir"),
    out: Path = typer.Option(..., "--out", "-o", help="the NIR file to write"),
    sets: list[str] = typer.Option([], "--set", help="override a workload field: --set layers=1"),
    convention: str = typer.Option(DEFAULTS.convention, "--convention", help="real (default) or paper"),
    dt: float | None = typer.Option(None, "--dt", help="time step in seconds written as metadata (default 1e-4)"),
    max_weights: int = typer.Option(64_000_000, "--max-weights", help="limit on placeholder (zero) weights"),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP + "; what was written"),
) -> None:
    """Export the NIR-expressible part of a graph; layers NIR cannot express are named in the file's metadata."""
    from neurosim.commands._common import check_format, print_document
    from neurosim.interop.nir_export import export_nir
    from neurosim.io import load_yaml

    check_format(fmt)

    params = None
    p = Path(workload)
    data = load_yaml(p) if p.suffix in (".yaml", ".yml") and p.is_file() else None
    if isinstance(data, dict) and "layers" in data and "edges" in data:
        from neurosim.graph import Graph
        from neurosim.interop.nir_import import load_network

        if (data.get("meta") or {}).get("nir", {}).get("params_file"):
            net = load_network(p)
            graph, params = net.graph, net.params
        else:
            graph = Graph.from_dict(data, str(p))
    else:
        from neurosim.workloads import build_graph, load_workload

        graph = build_graph(load_workload(workload, sets), convention)
    ng = export_nir(graph, out, params=params, dt_s=dt, max_placeholder_weights=max_weights)
    skipped = ng.metadata["neurosim_not_exported"]
    kept = [k for k, n in ng.nodes.items() if type(n).__name__ not in ("Input", "Output")]
    kinds: dict[str, int] = {}
    for why in skipped.values():
        kinds[why.split(":")[0]] = kinds.get(why.split(":")[0], 0) + 1
    if fmt != "table":
        print_document({"file": str(out), "nodes": len(kept), "edges": len(ng.edges),
                        "weights": str(ng.metadata["neurosim_weights"]), "not_exported_layers": len(skipped),
                        "not_exported_by_kind": kinds}, fmt, title=f"NIR file {out}")
        return
    typer.echo(f"wrote {out}: {len(kept)} NIR nodes, {len(ng.edges)} edges, weights {ng.metadata['neurosim_weights']}")
    if skipped:
        typer.echo(f"not expressible in NIR ({len(skipped)} layers, named in metadata 'neurosim_not_exported'): "
                   + ", ".join(f"{k} x{v}" for k, v in kinds.items()))


def register(app: typer.Typer) -> None:
    app.command("import-nir")(import_nir_cmd)
    app.command("export-nir")(export_nir_cmd)
