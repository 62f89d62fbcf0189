"""`neurosim estimate` and `neurosim list`."""

from __future__ import annotations

import json
import sys

import typer

HUMAN = ("dense_macs", "acs", "macs", "adds", "spikes", "synaptic_ops", "neuron_updates", "scaled_ops")


def estimate_cmd(
    workload: str = typer.Argument(..., help="built-in workload name (see `neurosim list`) or a workload .yaml"),
    energy: str = typer.Option("paper-45nm", "--energy", "-e", help="energy table name or .yaml"),
    seq: int | None = typer.Option(None, "--seq", help="sequence length in tokens (default: the workload's, 1024)"),
    batch: int | None = typer.Option(None, "--batch", help="batch size (default 1)"),
    sets: list[str] = typer.Option([], "--set", help="override a workload field: --set w_bits=6 --set unfold=32"),
    convention: str = typer.Option("workload", "--convention",
                                   help="what the count includes: workload (its own), paper, principled"),
    by: str = typer.Option("layer", "--by", help="rows per layer, block, role or kind"),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv, json or md"),
) -> None:
    """Closed-form counts and energy of a workload: a per-layer table and totals."""
    from neurosim.commands._common import check_format, human, print_frame
    from neurosim.errors import NeurosimError
    from neurosim.estimate import aggregate_layers, estimate

    check_format(fmt)
    if by not in ("layer", "block", "role", "kind"):
        raise NeurosimError(f"--by {by!r}; allowed: layer, block, role, kind")
    for opt, v in (("--seq", seq), ("--batch", batch)):
        if v is not None and v <= 0:
            raise NeurosimError(f"{opt} = {v}; allowed: an integer > 0")
    est = estimate(workload, energy, sets, seq_len=seq, batch=batch, convention=convention)
    layers = aggregate_layers(est.layers, by)
    t = est.totals
    head = {
        "workload": est.spec.name,
        "method": est.spec.method,
        "energy_table": est.table.name,
        "convention": est.graph.meta["convention"],
        "seq_len": est.spec.seq_len,
        "batch": est.spec.batch,
        "w_bits": est.spec.w_bits,
        "a_encoding": est.spec.a_encoding,
        "a_bits": est.spec.a_bits,
        "unfold": est.spec.effective_unfold,
        "params": est.graph.params,
    }
    if fmt == "json":
        out = {
            **head,
            "totals": t,
            "printed": {"flops": f"{t['flops_T']:.2f} T", "energy": f"{t['energy_J']:.2f} J"},
            "layers": layers.to_dict(orient="records"),
        }
        sys.stdout.write(json.dumps(out, indent=2, default=float) + "\n")
        return
    if fmt == "csv":
        print_frame(layers, "csv")
        return
    print_frame(layers, fmt, title=f"{est.spec.name}: per {by}", human_cols=HUMAN)
    conv = ", ".join(f"{k}={v}" for k, v in head["convention"].items())
    lines = [
        (f"workload {est.spec.name} ({est.spec.method}): W{est.spec.w_bits}, activations {est.spec.a_encoding} "
        f"{est.spec.a_bits}-bit, unfold {est.spec.effective_unfold:g}, {est.spec.seq_len} tokens x batch {est.spec.batch}"),
        f"convention: {conv}",
        f"energy table: {est.table.name}" + (" (compute only)" if est.table.compute_only else ""),
        (f"dense MACs {human(t['dense_macs'])}, ACs {human(t['acs'])}, MACs {human(t['macs'])}, "
        f"spikes {human(t['spikes'])}, neuron updates {human(t['neuron_updates'])}"),
        (f"FLOPs (bit-op scaled, as the papers print) {t['flops_T']:.2f} T; energy {t['energy_J']:.2f} J "
        f"({t['energy_per_token_mJ']:.3g} mJ/token)"),
    ]
    if fmt == "md":
        sys.stdout.write("\n" + "\n".join(f"- {x}" for x in lines) + "\n")
    else:
        typer.echo("\n".join(lines))


def list_cmd() -> None:
    """List the built-in workloads, hardware models and energy tables."""
    from neurosim.resources import builtin_names

    for kind, title in (("workload", "workloads"), ("hardware", "hardware"), ("energy", "energy tables")):
        names = builtin_names(kind)
        typer.echo(f"{title}: {', '.join(names) if names else '(none)'}")


def register(app: typer.Typer) -> None:
    app.command("estimate")(estimate_cmd)
    app.command("list")(list_cmd)
