"""`neurosim estimate` and `neurosim list`."""

from __future__ import annotations

import sys

import typer

from neurosim.commands._common import FORMAT_HELP
from neurosim.defaults import DEFAULTS

HUMAN = ("dense_macs", "acs", "macs", "adds", "spikes", "synaptic_ops", "neuron_updates", "scaled_ops")


def estimate_cmd(
    workload: str = typer.Argument(..., help="built-in workload name (see `neurosim list`), a workload .yaml, or "
                                   "your own model: a LLaMA GGUF file or a model folder (config.json + safetensors)"),
    energy: str = typer.Option(DEFAULTS.energy, "--energy", "-e", help="energy table name or .yaml"),
    hw: str | None = typer.Option(None, "--hw", help="price with this hardware model's own (hardware-aware) prices "
                                  "and the traffic of the workload mapped onto it, instead of an energy table"),
    hw_sets: list[str] = typer.Option([], "--hw-set", help="override a hardware figure (with --hw): "
                                      "--hw-set core.synapse_memory.value='192 KiB'"),
    seq: int | None = typer.Option(None, "--seq", help="sequence length in tokens (default: the workload's, 1024)"),
    batch: int | None = typer.Option(None, "--batch", help="batch size (default 1)"),
    sets: list[str] = typer.Option([], "--set", help="override a workload field: --set w_bits=6 --set unfold=32"),
    convention: str = typer.Option(DEFAULTS.convention, "--convention",
                                   help="what the count includes: real (the model as it is; default) or paper "
                                   "(the paper's printed count)"),
    by: str | None = typer.Option(None, "--by", help="rows per layer, block, role or kind (default: role on screen, "
                                  "table or md; layer in csv and json)"),
    rates: str | None = typer.Option(None, "--rates", help="measured rates (a `neurosim rates --save` file): every "
                                     "spike-driven layer takes its measured rate"),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
) -> None:
    """Closed-form counts and energy of a workload: a per-layer table and totals."""
    from neurosim.api import estimate
    from neurosim.commands._common import check_format, human, json_document, print_frame, with_total

    check_format(fmt)
    by = by or ("layer" if fmt in ("csv", "json") else "role")
    est = estimate(workload, _prices(energy, hw, hw_sets), sets=sets, seq=seq, batch=batch, convention=convention,
                   rates=rates, by=by)
    layers = est.rows(by)
    t = est.totals
    head = est.head()
    paper = est.paper
    if fmt == "json":
        sys.stdout.write(json_document(est.to_dict(by)))
        return
    if fmt == "csv":
        totals = {"dense_macs": t["dense_macs"], "acs": t["acs"], "macs": t["macs"], "spikes": t["spikes"],
                  "synaptic_ops": t["synaptic_ops"], "neuron_updates": t["neuron_updates"],
                  "scaled_ops": t["flops_T"] * 1e12, "energy_J": t["energy_J"]}
        print_frame(with_total(layers, by, totals, skip=("block", "firing_rate")), "csv")
        return
    shown = layers if by == "layer" else layers[(layers.select_dtypes("number") != 0).any(axis=1)]
    print_frame(shown, fmt, title=f"{head['workload']}: per {by}" + (" (--by layer: every layer)"
                                                                    if by != "layer" else ""), human_cols=HUMAN)
    conv = ", ".join(f"{k}={v}" for k, v in head["convention"].items()) or "(graph file: every layer as given)"
    lines = [
        (f"workload {head['workload']} ({head['method'] or 'graph'}): W{head['w_bits']}, activations "
         f"{head['a_encoding']} {head['a_bits']}-bit, unfold {head['unfold']}, {head['seq_len']} tokens x batch "
         f"{head['batch']}; firing rates: {head['rates']}"),
        f"convention: {conv}",
        (f"dense MACs {human(t['dense_macs'])}, ACs {human(t['acs'])}, MACs {human(t['macs'])}, "
        f"spikes {human(t['spikes'])}, neuron updates {human(t['neuron_updates'])}"),
        (f"FLOPs (bit-op scaled, as the papers print) {_tera(t['flops_T'])}; energy {_joules(t['energy_J'])} "
         f"({_joules(t['energy_per_token_mJ'] * 1e-3)}/token), energy table {est.table.name}"
         + (" (compute only)" if est.table.compute_only else "")),
    ]
    side = _side_by_side(t, paper.totals) if paper is not None else []
    if fmt == "md":
        from neurosim.commands._common import md_text

        sys.stdout.write("\n" + "\n".join(f"- {md_text(x)}" for x in lines) + "\n")
        if side:
            sys.stdout.write("\n" + "\n".join(side[1:]) + "\n")
    else:
        typer.echo("\n".join(lines + [side[0]] + [r.replace("|", " ").rstrip() for r in side[1:2] + side[3:]]
                              if side else lines))


def _prices(energy: str, hw: str | None, hw_sets: list[str]):
    """What an estimate is priced with: an energy table, or a hardware model (``--hw``, with ``--hw-set``). A hardware
    model given to ``--energy`` still works for one release, with a deprecation line."""
    from neurosim.errors import NeurosimError
    from neurosim.hardware import builtin_hardware, load_hardware

    if hw is None and energy in builtin_hardware():
        from neurosim.commands._vocabulary import deprecated

        deprecated(f"`neurosim estimate --energy {energy}` (a hardware model) is now `--hw {energy}` (--energy is "
                   "an energy table)")
        hw, energy = energy, DEFAULTS.energy
    if hw is None:
        if hw_sets:
            raise NeurosimError("--hw-set overrides a figure of the hardware model given with --hw; no --hw given")
        return energy
    if energy != DEFAULTS.energy:
        raise NeurosimError(f"--energy {energy} and --hw {hw}: an estimate is priced with an energy table or with "
                            "a hardware model's own prices; give one")
    return load_hardware(hw, hw_sets or None)


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


def list_cmd(fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP + "; one row per built-in")) -> None:
    """List the built-in workloads, hardware models and energy tables."""
    import pandas as pd

    from neurosim.commands._common import check_format, json_document, print_frame
    from neurosim.resources import builtin_names

    check_format(fmt)
    kinds = (("workload", "workloads"), ("hardware", "hardware"), ("energy", "energy tables"))
    if fmt == "json":
        sys.stdout.write(json_document({title.replace(" ", "_"): builtin_names(kind) for kind, title in kinds}))
    elif fmt in ("csv", "md"):
        rows = [{"kind": kind, "name": n} for kind, _ in kinds for n in builtin_names(kind)]
        print_frame(pd.DataFrame(rows, columns=["kind", "name"]), fmt, title="built-ins")
    else:
        for kind, title in kinds:
            names = builtin_names(kind)
            typer.echo(f"{title}: {', '.join(names) if names else '(none)'}")


def register(app: typer.Typer) -> None:
    app.command("estimate")(estimate_cmd)
    app.command("list")(list_cmd)
