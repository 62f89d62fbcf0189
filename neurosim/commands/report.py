"""`neurosim report`: one run -> a self-contained HTML report with figures, CSV tables and the run record."""

from __future__ import annotations

import typer

from neurosim.commands._common import FORMAT_HELP
from neurosim.defaults import DEFAULTS


def report_cmd(
    workload: str = typer.Argument(..., help="built-in workload name (see `neurosim list`), a workload .yaml, or "
                                   "your own model: a LLaMA GGUF file or a model folder (config.json + safetensors)"),
    hw: str | None = typer.Option(None, "--hw", help="hardware model (hala-point, loihi2, ...) or a hardware .yaml: "
                                  "mapping, network and static energy, timing (required unless --energy)"),
    energy: str | None = typer.Option(None, "--energy", "-e", help="analytic mode without a hardware model: price "
                                      "the counts with this energy table (name or .yaml; compute only, no mapping)"),
    out: str | None = typer.Option(None, "--out-dir", help="report directory to write (index.html, *.csv, *.png, "
                                   "*.svg); without it, only the headline figures are printed"),
    mode: str = typer.Option("analytic", "--mode", help="analytic, statistical or exact"),
    text: str | None = typer.Option(None, "--text", help="real text: measure firing rates on it (analytic mode; "
                                    "implies --measure-rates) or feed it to the exact mode"),
    measure: bool = typer.Option(False, "--measure-rates", help="measure firing rates and spike-count histograms "
                                 "with the functional engine on real text (models with real weights only)"),
    tokens: int | None = typer.Option(None, "--tokens", help="tokens to simulate (statistical/exact; default: "
                                      "the simulator's) "
                                      "or of the text to measure rates on (default 64)"),
    context: int | None = typer.Option(None, "--context", help="cached positions before the simulated tokens "
                                       "(default: the simulator's)"),
    seed: int = typer.Option(DEFAULTS.seed, "--seed", help="seed of the statistical spike draws"),
    sync: bool = typer.Option(DEFAULTS.sync, "--sync/--async", help="a barrier per time step, or free-running cores"),
    sets: list[str] = typer.Option([], "--set", help="override a workload field: --set layers=2"),
    hw_sets: list[str] = typer.Option([], "--hw-set", help="override a hardware figure (as `neurosim simulate`): "
                                      "--hw-set chip.static_power.value='208 mW'"),
    seq: int | None = typer.Option(None, "--seq", help="sequence length in tokens (default: the workload's)"),
    batch: int | None = typer.Option(None, "--batch", help="batch size (default 1)"),
    convention: str = typer.Option(DEFAULTS.convention, "--convention", help="what the count includes: real (the model as "
                                   "it is; default) or paper (the paper's printed count)"),
    mapping: str | None = typer.Option(None, "--mapping", help="a mapping saved by `neurosim map --out FILE`"),
    strategy: str = typer.Option(DEFAULTS.strategy, "--strategy", help="partition: output (multicast spikes) or input "
                                 "(fan-in split, partial sums)"),
    placement: str = typer.Option(DEFAULTS.placement, "--placement", help="placement: locality or serpentine"),
    force: bool = typer.Option(False, "--force", help="write into a directory that holds other files (they are kept)"),
    save_run: str | None = typer.Option(None, "--save-run", help="also write the run record (JSON) to this file"),
    rates: str | None = typer.Option(None, "--rates", help="measured rates (a `neurosim rates --save` file): every "
                                     "spike-driven layer takes its measured rate (statistical: counts drawn from its "
                                     "histograms)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress display (there is none when stderr is not "
                                                            "a terminal)"),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP + "; the headline figures and the "
                            "report's path (the report itself is the directory)"),
    max_memory: str | None = typer.Option(None, "--max-memory", help="the most memory the run may take (8G, "
                                          "512M; default: what this machine has available): a run estimated above "
                                          "it is refused before it starts"),
) -> None:
    """Run a workload on a hardware model and write an HTML report of its energy, rates, mapping and timing."""
    from neurosim.api import report
    from neurosim.commands._common import check_format
    from neurosim.report.progress import steps

    check_format(fmt)
    from neurosim.machine import limited

    with limited(max_memory), steps("report", quiet=quiet) as step:
        rep = report(workload, _hardware_or_table(hw, energy, mode), out, mode=mode, text=text, measure=measure,
                     tokens=tokens, context=context,
                     seed=seed, sync=sync, sets=sets, hw_sets=hw_sets, seq=seq, batch=batch, convention=convention,
                     mapping=mapping, strategy=strategy, placement=placement, rates=rates, force=force,
                     save_run=save_run, progress=step)
    rec = rep.record
    if fmt != "table":
        _print_headlines(rep, fmt)
        return
    for h in rep.headlines:
        typer.echo(f"{h.label}: {h.value:.3g} {h.unit}" + (f" ({h.note})" if h.note else ""))
    for n in rec.notes:
        typer.echo(f"  note: {n}")
    typer.echo(f"report: {rep.path}" if rep.path else "(no report written: add --out-dir DIR)")


def _hardware_or_table(hw: str | None, energy: str | None, mode: str) -> str:
    """What the run is priced with: a hardware model (--hw) or, analytic only, an energy table (--energy). An energy
    table given to --hw still works for one release, with a deprecation line (energy tables come first, as
    before: horowitz-45nm names both)."""
    from neurosim.errors import NeurosimError
    from neurosim.resources import builtin_names

    if hw is not None and energy is None and mode == "analytic" and hw in builtin_names("energy"):
        from neurosim.commands._vocabulary import deprecated

        deprecated(f"`neurosim report --hw {hw}` (an energy table) is now `--energy {hw}` (--hw is a hardware model)")
        hw, energy = None, hw
    if hw is not None and energy is not None:
        raise NeurosimError(f"--hw {hw} and --energy {energy}: a report is priced with a hardware model (mapping, "
                            "network, static energy, timing) or, analytic only, an energy table; give one")
    if energy is not None:
        if mode != "analytic":
            raise NeurosimError(f"--energy {energy} prices the analytic mode; --mode {mode} simulates on a hardware "
                                "model: give --hw")
        return energy
    if hw is None:
        raise NeurosimError("report needs --hw HARDWARE (or, analytic only, --energy TABLE)")
    return hw


def _print_headlines(rep, fmt: str) -> None:
    """The headline figures (label, value, unit, note) as csv/md rows or one JSON document with the notes and the
    report's path."""
    import pandas as pd

    from neurosim.commands._common import json_document, print_frame, print_lines

    rows = [{"figure": h.label, "value": h.value, "unit": h.unit, "note": h.note or ""} for h in rep.headlines]
    if fmt == "json":
        import sys

        sys.stdout.write(json_document({"workload": rep.record.workload.get("name"),
                                        "hardware": rep.record.hardware.get("name"),
                                        "mode": rep.record.mode, "headlines": rows, "notes": list(rep.record.notes),
                                        "report": str(rep.path) if rep.path else None}))
        return
    print_frame(pd.DataFrame(rows, columns=["figure", "value", "unit", "note"]), fmt, title="headline figures")
    if fmt == "md":
        print_lines([f"note: {n}" for n in rep.record.notes] + ([f"report: {rep.path}"] if rep.path else []), fmt)


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)
