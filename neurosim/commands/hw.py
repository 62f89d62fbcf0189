"""`neurosim hw list` and `neurosim hw show NAME`: the built-in hardware models and their sourced figures."""

from __future__ import annotations

import sys

import typer

hw_app = typer.Typer(help="Hardware models: list the built-ins, show one with the source of every figure.",
                     no_args_is_help=True)


@hw_app.command("list")
def hw_list(fmt: str = typer.Option("table", "--format", "-f", help="table, csv, json or md")) -> None:
    """The built-in hardware models: chips, cores, neurons and memory per core."""
    import pandas as pd

    from neurosim.commands._common import check_format, print_frame
    from neurosim.hardware import builtin_hardware, load_hardware

    check_format(fmt)
    rows = []
    for name in builtin_hardware():
        hw = load_hardware(name)
        w, h, k = hw.mesh_shape
        gx, gy, gz = hw.grid_shape
        rows.append({"name": name, "chips": hw.n_chips, "grid": f"{gx}x{gy}x{gz}", "mesh": f"{w}x{h}x{k}",
                     "cores": hw.total_cores, "neurons_per_core": int(hw.core.max_neurons.v),
                     "memory_per_core_KiB": hw.core.synapse_memory.v / 1024,
                     "weight_bits": int(hw.core.max_weight_bits.v), "message_bits": hw.message_bits,
                     "description": _first_clause(hw.description)})
    print_frame(pd.DataFrame(rows), fmt, title="built-in hardware models")


@hw_app.command("show")
def hw_show(
    name: str = typer.Argument(..., help="built-in hardware name (see `neurosim hw list`) or a hardware .yaml"),
    sets: list[str] = typer.Option([], "--set", help="override a figure: --set core.max_neurons.value=4096"),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv, json or md"),
) -> None:
    """Print a hardware spec: every figure as written, parsed into internal units, with its source or assumption,
    and the energy table it implies."""
    import pandas as pd

    from neurosim.commands._common import check_format, json_document, print_frame
    from neurosim.hardware import load_hardware

    check_format(fmt)
    hw = load_hardware(name, sets or None)
    figs = pd.DataFrame(hw.figures())
    prices = pd.DataFrame(hw.energy_table().sources)
    w, h, k = hw.mesh_shape
    gx, gy, gz = hw.grid_shape
    head = {
        "name": hw.name, "version": hw.version, "extends": hw.extends, "description": " ".join(hw.description.split()),
        "chips": hw.n_chips, "grid": [gx, gy, gz], "mesh": [w, h], "cores_per_tile": k,
        "usable_cores_per_chip": hw.usable_cores_per_chip, "total_cores": hw.total_cores,
        "memory_partition": hw.core.memory_partition, "static_power_W": hw.static_power_mw() / 1e3,
        "barrier_ns": hw.barrier_ns(), "calibration": " ".join(hw.calibration.split()),
        "provenance": hw.provenance(), "notes": hw.notes,
    }
    if fmt == "json":
        out = {**head, "figures": figs.to_dict(orient="records"), "energy_table": prices.to_dict(orient="records")}
        sys.stdout.write(json_document(out))
        return
    if fmt == "csv":
        print_frame(figs, "csv")
        return
    typer.echo(f"{hw.name} (version {hw.version}{', extends ' + hw.extends if hw.extends else ''}): "
               f"{head['description']}")
    typer.echo(f"{hw.n_chips} chip(s) on a {gx} x {gy} x {gz} grid; each a {w} x {h} mesh, {k} core(s) a tile, "
               f"{hw.usable_cores_per_chip} usable cores; {hw.total_cores} cores in all; memory "
               f"{hw.core.memory_partition}; static power {head['static_power_W']:.3g} W; barrier "
               f"{head['barrier_ns']:.0f} ns")
    if head["calibration"]:
        typer.echo(f"calibration: {head['calibration']}")
    typer.echo("figures: " + ", ".join(f"{n} {what}" for what, n in head["provenance"].items() if n)
               + " (own = published for this chip; borrowed = another chip's figure, column 'borrowed')")
    for n in hw.notes:
        typer.echo(f"note: {n}")
    print_frame(figs, fmt, title=f"{hw.name}: figures (value as written, parsed, source / assumption)")
    print_frame(prices, fmt, title=f"{hw.name}: energy table (pJ per counted action)")


def _first_clause(text: str) -> str:
    import re

    text = " ".join(text.split())
    return re.split(r"[:.;] ", text, maxsplit=1)[0][:70]


def register(app: typer.Typer) -> None:
    app.add_typer(hw_app, name="hw")
