"""`neurosim hw list`, `neurosim hw show NAME` and `neurosim hw calibrate`: the built-in hardware models (neuromorphic
and conventional), their sourced figures, and a CPU model measured on this machine."""

from __future__ import annotations

import sys

import typer

from neurosim.commands._common import FORMAT_HELP

hw_app = typer.Typer(help="Hardware models: list the built-ins, show one with the source of every figure.",
                     no_args_is_help=True)


@hw_app.command("list")
def hw_list(fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP)) -> None:
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
    conv = _conventional_rows()
    if fmt == "json":  # one list: every model, its kind named
        from neurosim.commands._common import json_document

        sys.stdout.write(json_document([{"kind": "neuromorphic", **r} for r in rows]
                                       + [{"kind": "conventional", **r} for r in conv]))
        return
    print_frame(pd.DataFrame(rows), fmt, title="built-in hardware models")
    if fmt != "csv":  # the CSV keeps the neuromorphic table's columns
        print_frame(pd.DataFrame(conv), fmt, title="conventional baselines (neurosim compare --baseline NAME:PRECISION)")


def _conventional_rows() -> list[dict]:
    from neurosim.baseline import builtin_conventional, load_conventional

    rows = []
    for name in builtin_conventional():
        c = load_conventional(name)
        rows.append({"name": name, "device": c.device,
                     **{f"{u}_Tops": c.compute[u].peak.v / 1e12 for u in ("fp16", "int8") if u in c.compute},
                     "bandwidth_GBps": c.memory.bandwidth.v / 1e9, "memory_GB": c.memory.capacity.v / 1e9,
                     "idle_W": c.power.idle.v / 1e3, "max_W": c.power.max.v / 1e3,
                     "description": _first_clause(c.description)})
    return rows


@hw_app.command("show")
def hw_show(
    name: str = typer.Argument(..., help="built-in hardware name (see `neurosim hw list`) or a hardware .yaml"),
    sets: list[str] = typer.Option([], "--hw-set", help="override a hardware figure: "
                                   "--hw-set core.max_neurons.value=4096"),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP + "; csv: the figures, then the system's "
                            "totals as rows (total.cores, ...)"),
) -> None:
    """Print a hardware spec: every figure as written, parsed into internal units, with its source or assumption,
    and the energy table it implies."""
    import pandas as pd

    from neurosim.commands._common import check_format, json_document, print_frame
    from neurosim.hardware import load_hardware

    check_format(fmt)
    if _is_conventional(name):
        _show_conventional(name, sets, fmt)
        return
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
        print_frame(_with_totals(figs, head), "csv")
        return
    from neurosim.commands._common import md_text

    def say(line: str) -> None:  # the model's own words (name, description, notes) as text in Markdown
        typer.echo(md_text(line) if fmt == "md" else line)

    say(f"{hw.name} (version {hw.version}{', extends ' + hw.extends if hw.extends else ''}): "
        f"{head['description']}")
    typer.echo(f"{hw.n_chips} chip(s) on a {gx} x {gy} x {gz} grid; each a {w} x {h} mesh, {k} core(s) a tile, "
               f"{hw.usable_cores_per_chip} usable cores; {hw.total_cores} cores in all; memory "
               f"{hw.core.memory_partition}; static power {head['static_power_W']:.3g} W; barrier "
               f"{head['barrier_ns']:.0f} ns")
    if head["calibration"]:
        say(f"calibration: {head['calibration']}")
    typer.echo("figures: " + ", ".join(f"{n} {what}" for what, n in head["provenance"].items() if n)
               + " (own = published for this chip; borrowed = another chip's figure, column 'borrowed')")
    for n in hw.notes:
        say(f"note: {n}")
    print_frame(figs, fmt, title=f"{hw.name}: figures (value as written, parsed, source / assumption)")
    print_frame(prices, fmt, title=f"{hw.name}: energy table (pJ per counted action)")


def _with_totals(figs, head: dict):
    """The figures table, then the system's totals as rows of the same columns (``total.<quantity>``, the value with
    its unit, computed from the figures above)."""
    import pandas as pd

    gx, gy, gz = head["grid"]
    rows = [("chips", head["chips"], f"{gx} x {gy} x {gz} grid"),
            ("cores", head["total_cores"], f"{head['usable_cores_per_chip']} usable cores a chip"),
            ("static_power_W", head["static_power_W"], "the chips' static power"),
            ("barrier_ns", head["barrier_ns"], "one barrier synchronisation")]
    extra = pd.DataFrame([{"field": f"total.{k}", "value": v, "parsed": v, "source": f"computed: {why}"}
                          for k, v, why in rows])
    return pd.concat([figs, extra], ignore_index=True)


def _is_conventional(name: str) -> bool:
    """A built-in conventional model's name, or a .yaml file with ``kind: conventional``."""
    from pathlib import Path

    from neurosim.baseline import builtin_conventional

    if name in builtin_conventional():
        return True
    p = Path(name)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        from neurosim.io import load_yaml

        data = load_yaml(p)
        return isinstance(data, dict) and data.get("kind") == "conventional"
    return False


def _show_conventional(name: str, sets: list[str], fmt: str) -> None:
    import pandas as pd

    from neurosim.baseline import load_conventional
    from neurosim.commands._common import json_document, print_frame

    c = load_conventional(name, sets or None)
    figs = pd.DataFrame(c.figures())
    head = {"name": c.name, "version": c.version, "kind": c.kind, "device": c.device,
            "description": " ".join(c.description.split()), "power_mode": c.power.mode, "notes": c.notes}
    if fmt == "json":
        sys.stdout.write(json_document({**head, "figures": figs.to_dict(orient="records")}))
        return
    if fmt == "csv":
        print_frame(figs, "csv")
        return
    typer.echo(f"{c.name} (conventional {c.device}, version {c.version}): {head['description']}")
    for n in c.notes:
        typer.echo(f"note: {n}")
    print_frame(figs, fmt, title=f"{c.name}: figures (value as written, parsed, source / assumption)")


@hw_app.command("calibrate")
def hw_calibrate(
    out: str = typer.Option(..., "--out", "-o", help="the CPU model .yaml file to write"),
    name: str = typer.Option("cpu-local", "--name", help="the model's name"),
    idle_w: float = typer.Option(10.0, "--idle-w", help="idle power of this machine in W (not measured: an "
                                 "assumption written into the file)"),
    busy_w: float = typer.Option(65.0, "--busy-w", help="power under a full matmul load in W (not measured)"),
    repeat: int = typer.Option(5, "--repeat", help="timings per quantity (the best is kept)"),
    quick: bool = typer.Option(False, "--quick", help="small sizes (a smoke run: less accurate)"),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
) -> None:
    """Measure this machine with NumPy (memory bandwidth, fp32 and int8 matmul throughput, element-wise throughput)
    and write a conventional CPU model: use it as `neurosim compare ... --baseline FILE.yaml:fp32`."""
    from neurosim.baseline.calibrate import write_cpu_model
    from neurosim.commands._common import check_format, print_document
    from neurosim.errors import NeurosimError

    check_format(fmt)
    if repeat < 1:
        raise NeurosimError(f"--repeat {repeat}; allowed: an integer >= 1")
    if idle_w < 0 or busy_w < idle_w:
        raise NeurosimError(f"--idle-w {idle_w:g} --busy-w {busy_w:g}; allowed: 0 <= idle <= busy")
    sizes = {"copy_mb": 16, "n_fp32": 256, "n_int8": 32} if quick else {}
    _, m = write_cpu_model(out, repeat=repeat, name=name, idle_w=idle_w, busy_w=busy_w, **sizes)
    if fmt != "table":
        print_document({"name": name, "file": out, "memory_bandwidth_GBps": m.bandwidth_Bps / 1e9,
                        "fp32_matmul_Gops": m.fp32_ops / 1e9, "int8_matmul_Gops": m.int8_ops / 1e9,
                        "elementwise_Gops": m.vector_ops / 1e9, "idle_W": idle_w, "busy_W": busy_w}, fmt,
                       title=f"{name}: measured on this machine")
        return
    typer.echo(f"memory bandwidth {m.bandwidth_Bps / 1e9:.3g} GB/s + {m.row_s * 1e9:.3g} ns a weight row; fp32 "
               f"matmul {m.fp32_ops / 1e9:.3g} Gop/s; "
               f"int8 (NumPy) {m.int8_ops / 1e9:.3g} Gop/s; element-wise {m.vector_ops / 1e9:.3g} Gop/s")
    typer.echo(f"CPU model: {out}")


def _first_clause(text: str) -> str:
    import re

    text = " ".join(text.split())
    return re.split(r"[:.;] ", text, maxsplit=1)[0][:70]


def register(app: typer.Typer) -> None:
    app.add_typer(hw_app, name="hw")
