"""`neurosim sweep`: a design-space sweep on Dask, resumable, with a Pareto plot."""

from __future__ import annotations

from pathlib import Path

import typer


def sweep_cmd(
    sweep_file: Path = typer.Argument(..., help="a sweep .yaml (see examples/sweeps/)"),
    out: Path = typer.Option(..., "--out", "-o", help="results folder (points/, results.csv, pareto.png)"),
    scheduler: str | None = typer.Option(None, "--scheduler", help="address of a running Dask scheduler "
                                         "(tcp://host:8786); default: a local cluster"),
    workers: int = typer.Option(2, "--workers", help="processes of the local cluster (without --scheduler)"),
    timeout: float = typer.Option(10.0, "--timeout", help="seconds to wait for --scheduler to answer"),
    dry_run: bool = typer.Option(False, "--dry-run", help="list the points and which are done; run nothing"),
    rates: Path | None = typer.Option(None, "--rates", help="measured rates (a `neurosim rates --save` file) for "
                                      "every point (the sweep file's run.rates otherwise); a point with another "
                                      "model or other encoder settings is refused before the sweep starts"),
) -> None:
    """Run every point of a sweep not yet in OUT; an interrupted sweep resumes where it stopped."""
    from neurosim.errors import NeurosimError
    from neurosim.sweep.runner import ResultStore, run_sweep
    from neurosim.sweep.spec import load_sweep

    spec = load_sweep(sweep_file)
    if rates is not None:
        if not rates.is_file():
            raise NeurosimError(f"--rates {rates}: file not found (write one with `neurosim rates WORKLOAD --save "
                                "FILE`)")
        spec.run.rates = str(rates.resolve())
    if workers <= 0:
        raise NeurosimError(f"--workers = {workers}; allowed: an integer > 0")
    if dry_run:
        done = ResultStore(out).done_ids()
        points = spec.expand()
        for p in points:
            pid = spec.point_id(p)
            typer.echo(f"{pid} {'done' if pid in done else 'todo'} {p.model_dump()}")
        typer.echo(f"{len(points)} points, {sum(spec.point_id(p) in done for p in points)} done")
        return
    res = run_sweep(spec, out, scheduler=scheduler, workers=workers, timeout_s=timeout, echo=typer.echo)
    df = res.results
    n_ok = int((df["status"] == "ok").sum()) if not df.empty else 0
    typer.echo(f"ran {res.ran} points, {len(res.failed)} failed, {res.skipped} were already done; {len(df)} in "
               f"{out / 'results.csv'} ({n_ok} ok, {len(df) - n_ok} infeasible)")
    if res.plot:
        typer.echo(f"Pareto plot: {res.plot}")
    if not df.empty and n_ok:
        from neurosim.sweep.plot import pareto_mask

        ok = df[df["status"] == "ok"]
        # one front per engine: expected (analytic) counts are not ranked against drawn (events) ones
        by_engine = ok.groupby("engine", sort=True) if "engine" in ok else [("analytic", ok)]
        for engine, part in by_engine:
            front = part[pareto_mask(part["latency_ns_per_token"].to_numpy(), part["energy_per_token_uJ"].to_numpy())]
            cols = [c for c in ("workload", "hardware", "mapping", "w_bits", "unfold", "clip_quantile",
                                "energy_per_token_uJ", "latency_ns_per_token", "quant_error", "cores") if c in front]
            typer.echo(f"energy/latency Pareto front ({engine}):\n" + front[cols].to_string(index=False))
    if res.failed:  # not recorded, so the next run tries them again; "does not fit" is a finished, infeasible point
        for f in res.failed[1:5]:
            typer.echo(f"also failed: {f}", err=True)
        raise NeurosimError(f"{len(res.failed)} of {res.total} points failed (not recorded; the next run retries "
                            f"them): {res.failed[0]}")


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep_cmd)
