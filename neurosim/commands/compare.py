"""`neurosim compare`: saved runs (JSON) -> one side-by-side HTML report."""

from __future__ import annotations

import typer


def compare_cmd(
    runs: list[str] = typer.Argument(..., help="two or more run records (--save-run files) or report directories"),
    out: str = typer.Option(..., "--out", "-o", help="directory to write (index.html, *.csv, *.png, *.svg)"),
    labels: list[str] = typer.Option([], "--label", help="a name for each run, in order (default: what differs)"),
    force: bool = typer.Option(False, "--force", help="write into a directory that holds other files (they are kept)"),
) -> None:
    """Put two or more saved runs side by side: two mappings, two hardware models or two encodings."""
    from pathlib import Path

    from neurosim.errors import NeurosimError
    from neurosim.report.compare import write_compare
    from neurosim.report.outdir import check_out_dir, staged_dir
    from neurosim.report.progress import steps
    from neurosim.report.record import load_run

    if len(runs) < 2:
        raise NeurosimError("compare needs at least two runs (run records written by `neurosim report --save-run`)")
    if labels and len(labels) != len(runs):
        raise NeurosimError(f"--label given {len(labels)} times for {len(runs)} runs; give one per run or none")
    records = [load_run(r) for r in runs]
    out_dir = Path(out)
    check_out_dir(out_dir, force)
    with steps("compare") as step, staged_dir(out_dir, force) as tmp:
        write_compare(records, tmp, labels or None, sources=runs, step=step)
    typer.echo(f"comparison: {out_dir / 'index.html'}")


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_cmd)
