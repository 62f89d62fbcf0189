"""`neurosim report`: one run -> a self-contained HTML report with figures, CSV tables and the run record."""

from __future__ import annotations

import typer

from neurosim.defaults import DEFAULTS


def report_cmd(
    workload: str = typer.Argument(..., help="built-in workload name (see `neurosim list`) or a workload .yaml"),
    hw: str = typer.Option(..., "--hw", help="hardware model (hala-point, loihi2, ...) or an energy table name"),
    out: str = typer.Option(..., "--out", "-o", help="report directory to write (index.html, *.csv, *.png, *.svg)"),
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
) -> None:
    """Run a workload on a hardware model and write an HTML report of its energy, rates, mapping and timing."""
    from neurosim.api import report
    from neurosim.report.progress import steps

    with steps("report", quiet=quiet) as step:
        rep = report(workload, hw, out, mode=mode, text=text, measure=measure, tokens=tokens, context=context,
                     seed=seed, sync=sync, sets=sets, hw_sets=hw_sets, seq=seq, batch=batch, convention=convention,
                     mapping=mapping, strategy=strategy, placement=placement, rates=rates, force=force,
                     save_run=save_run, progress=step)
    rec = rep.record
    for h in rep.headlines:
        typer.echo(f"{h.label}: {h.value:.3g} {h.unit}" + (f" ({h.note})" if h.note else ""))
    for n in rec.notes:
        typer.echo(f"  note: {n}")
    typer.echo(f"report: {rep.path}")


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)
