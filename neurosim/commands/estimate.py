"""`neurosim estimate` and `neurosim list`."""

from __future__ import annotations

import sys

import typer

from neurosim.defaults import DEFAULTS

HUMAN = ("dense_macs", "acs", "macs", "adds", "spikes", "synaptic_ops", "neuron_updates", "scaled_ops")


def estimate_cmd(
    workload: str = typer.Argument(..., help="built-in workload name (see `neurosim list`) or a workload .yaml"),
    energy: str = typer.Option(DEFAULTS.energy, "--energy", "-e", help="energy table name or .yaml"),
    seq: int | None = typer.Option(None, "--seq", help="sequence length in tokens (default: the workload's, 1024)"),
    batch: int | None = typer.Option(None, "--batch", help="batch size (default 1)"),
    sets: list[str] = typer.Option([], "--set", help="override a workload field: --set w_bits=6 --set unfold=32"),
    convention: str = typer.Option(DEFAULTS.convention, "--convention",
                                   help="what the count includes: real (the model as it is; default) or paper "
                                   "(the paper's printed count)"),
    by: str = typer.Option("layer", "--by", help="rows per layer, block, role or kind"),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv, json or md"),
) -> None:
    """Closed-form counts and energy of a workload: a per-layer table and totals."""
    from neurosim.commands._common import check_format, human, json_document, print_frame
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
    meta = est.graph.meta
    head = {
        "workload": meta.get("workload", est.graph.name),
        "method": meta.get("method", ""),
        "energy_table": est.table.name,
        "convention": meta.get("convention", {}),
        "seq_len": meta.get("seq_len", 1024),
        "batch": meta.get("batch", 1),
        "w_bits": meta.get("w_bits"),
        "a_encoding": meta.get("a_encoding"),
        "a_bits": meta.get("a_bits"),
        "unfold": meta.get("unfold"),
        "params": est.graph.params,
    }
    paper = _paper_beside(est, workload, energy, sets, seq, batch)
    if fmt == "json":
        out = {
            **head,
            "totals": t,
            **({"paper_convention": {"convention": paper.graph.meta["convention"], "totals": paper.totals}}
               if paper is not None else {}),
            "printed": {"flops": f"{t['flops_T']:.2f} T", "energy": f"{t['energy_J']:.2f} J"},
            "layers": layers.to_dict(orient="records"),
        }
        sys.stdout.write(json_document(out))
        return
    if fmt == "csv":
        print_frame(layers, "csv")
        return
    print_frame(layers, fmt, title=f"{head['workload']}: per {by}", human_cols=HUMAN)
    conv = ", ".join(f"{k}={v}" for k, v in head["convention"].items()) or "(graph file: every layer as given)"
    lines = [
        (f"workload {head['workload']} ({head['method'] or 'graph'}): W{head['w_bits']}, activations "
         f"{head['a_encoding']} {head['a_bits']}-bit, unfold {head['unfold']}, {head['seq_len']} tokens x batch "
         f"{head['batch']}"),
        f"convention: {conv}",
        f"energy table: {est.table.name}" + (" (compute only)" if est.table.compute_only else ""),
        (f"dense MACs {human(t['dense_macs'])}, ACs {human(t['acs'])}, MACs {human(t['macs'])}, "
        f"spikes {human(t['spikes'])}, neuron updates {human(t['neuron_updates'])}"),
        (f"FLOPs (bit-op scaled, as the papers print) {_tera(t['flops_T'])}; energy {_joules(t['energy_J'])} "
         f"({_joules(t['energy_per_token_mJ'] * 1e-3)}/token)"),
    ]
    side = _side_by_side(t, paper.totals) if paper is not None else []
    if fmt == "md":
        sys.stdout.write("\n" + "\n".join(f"- {x}" for x in lines) + "\n")
        if side:
            sys.stdout.write("\n" + "\n".join(side[1:]) + "\n")
    else:
        typer.echo("\n".join(lines + [""] + [side[0]] + [r.replace("|", " ").rstrip() for r in side[1:2] + side[3:]]
                              if side else lines))


def _paper_beside(est, workload: str, energy: str, sets: list[str], seq, batch):
    """The paper's count of the same workload, when this run counts the real model and a paper count exists."""
    from neurosim.estimate import estimate

    conv = est.graph.meta.get("convention", {})
    if est.spec is None or conv.get("name") != "real" or est.spec.paper_convention is None:
        return None
    return estimate(workload, energy, sets, seq_len=seq, batch=batch, convention="paper")


def _side_by_side(real: dict, paper: dict) -> list[str]:
    """A headline, then a Markdown table: the real model's figures beside the paper's count."""
    from neurosim.commands._common import human

    rows = [("dense MACs", human(real["dense_macs"]), human(paper["dense_macs"])),
            ("FLOPs (bit-op scaled)", _tera(real["flops_T"]), _tera(paper["flops_T"])),
            ("energy", _joules(real["energy_J"]), _joules(paper["energy_J"])),
            ("energy per token", _joules(real["energy_per_token_mJ"] * 1e-3),
             _joules(paper["energy_per_token_mJ"] * 1e-3))]
    w = max(len(r[0]) for r in rows)
    out = ["the real model (default) beside the paper's printed count (--convention paper):",
           f"| {'':<{w}} | {'real model':>10} | {'paper':>10} |", f"|{'-' * (w + 2)}|{'-' * 11}:|{'-' * 11}:|"]
    out += [f"| {a:<{w}} | {b:>10} | {c:>10} |" for a, b, c in rows]
    return out


def _tera(x_t: float) -> str:
    """Tera-ops with the paper's two decimals when large enough, else the next unit down."""
    from neurosim.commands._common import human

    return f"{x_t:.2f} T" if x_t >= 0.01 else human(x_t * 1e12)


def _joules(x_j: float) -> str:
    for unit, f in (("J", 1.0), ("mJ", 1e-3), ("uJ", 1e-6), ("nJ", 1e-9)):
        if abs(x_j) >= 0.01 * f or unit == "nJ":
            return f"{x_j / f:.2f} {unit}" if unit == "J" else f"{x_j / f:.3g} {unit}"
    return f"{x_j:g} J"


def list_cmd() -> None:
    """List the built-in workloads, hardware models and energy tables."""
    from neurosim.resources import builtin_names

    for kind, title in (("workload", "workloads"), ("hardware", "hardware"), ("energy", "energy tables")):
        names = builtin_names(kind)
        typer.echo(f"{title}: {', '.join(names) if names else '(none)'}")


def register(app: typer.Typer) -> None:
    app.command("estimate")(estimate_cmd)
    app.command("list")(list_cmd)
