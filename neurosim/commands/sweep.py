"""`neurosim sweep`: a design-space sweep on Dask, resumable, with a Pareto plot."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from neurosim.commands._common import FORMAT_HELP


def sweep_cmd(
    sweep_file: Path = typer.Argument(..., help="a sweep .yaml (see examples/sweeps/)"),
    out: Path = typer.Option(..., "--out-dir", help="results directory (points/, results.csv, pareto.png)"),
    scheduler: str | None = typer.Option(None, "--scheduler", help="address of a running Dask scheduler "
                                         "(tcp://host:8786); default: a local cluster"),
    workers: int = typer.Option(2, "--workers", help="processes of the local cluster (without --scheduler)"),
    timeout: float = typer.Option(10.0, "--timeout", help="seconds to wait for --scheduler to answer"),
    dry_run: bool = typer.Option(False, "--dry-run", help="list the points and which are done; run nothing"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress display (a bar on a terminal, else a line "
                                                            "per point)"),
    rates: Path | None = typer.Option(None, "--rates", help="measured rates (a `neurosim rates --save` file) for "
                                      "every point (the sweep file's run.rates otherwise); a point with another "
                                      "model or other encoder settings is refused before the sweep starts"),
    sets: list[str] = typer.Option([], "--set", help="override a workload field of every point (after the sweep "
                                   "file's run.sets): --set seq_len=256"),
    hw_sets: list[str] = typer.Option([], "--hw-set", help="override a hardware figure of every point's hardware "
                                      "model: --hw-set chip.static_power.value='1 W'"),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP + "; csv: results.csv's rows; progress "
                            "goes to stderr unless table"),
) -> None:
    """Run every point of a sweep not yet in OUT_DIR; an interrupted sweep resumes where it stopped."""
    from neurosim.commands._common import check_format
    from neurosim.errors import NeurosimError
    from neurosim.sweep.runner import ResultStore, run_sweep
    from neurosim.sweep.spec import load_sweep

    check_format(fmt)
    spec = load_sweep(sweep_file)
    if rates is not None:
        if not rates.is_file():
            raise NeurosimError(f"--rates {rates}: file not found (write one with `neurosim rates WORKLOAD --save "
                                "FILE`)")
        spec.run.rates = str(rates.resolve())
    spec.run.sets = [*spec.run.sets, *sets]
    spec.run.hw_sets = [*spec.run.hw_sets, *hw_sets]
    if workers <= 0:
        raise NeurosimError(f"--workers = {workers}; allowed: an integer > 0")
    if dry_run:
        _dry_run(spec, ResultStore(out).done_ids(), fmt)
        return
    echo = typer.echo if fmt == "table" else (lambda msg: typer.echo(msg, err=True))
    res = run_sweep(spec, out, scheduler=scheduler, workers=workers, timeout_s=timeout, echo=echo, quiet=quiet)
    df = res.results
    n_ok = int((df["status"] == "ok").sum()) if not df.empty else 0
    n_failed = int((df["status"] == "failed").sum()) if not df.empty else 0
    fronts = _fronts(df) if n_ok else {}
    if fmt == "table":
        typer.echo(f"ran {res.ran} points, {len(res.failed)} failed, {res.skipped} were already done; {len(df)} in "
                   f"{out / 'results.csv'} ({n_ok} ok, {len(df) - n_ok - n_failed} infeasible, {n_failed} failed)")
        if res.plot:
            typer.echo(f"Pareto plot: {res.plot}")
        for engine, front in fronts.items():
            typer.echo(f"energy/latency Pareto front ({engine}):\n" + front.to_string(index=False))
    else:
        _print_outcome(res, df, n_ok, fronts, out, fmt)
    if res.failed:  # recorded in failed/ with the error, and tried again next run; "does not fit" is infeasible
        for f in res.failed[1:5]:
            typer.echo(f"also failed: {f}", err=True)
        raise NeurosimError(f"{len(res.failed)} of {res.total} points failed (recorded with the error in "
                            f"{out / 'failed'}; the next run retries them): {res.failed[0]}")


def _fronts(df) -> dict:
    """The energy/latency Pareto front of the feasible points, one per engine: expected (analytic) counts are not
    ranked against drawn (events) ones."""
    from neurosim.sweep.plot import pareto_mask

    ok = df[df["status"] == "ok"]
    by_engine = ok.groupby("engine", sort=True) if "engine" in ok else [("analytic", ok)]
    out = {}
    for engine, part in by_engine:
        front = part[pareto_mask(part["latency_ns_per_token"].to_numpy(), part["energy_per_token_uJ"].to_numpy())]
        cols = [c for c in ("workload", "hardware", "mapping", "w_bits", "unfold", "clip_quantile",
                            "energy_per_token_uJ", "latency_ns_per_token", "quant_error", "cores") if c in front]
        out[engine] = front[cols]
    return out


def _print_outcome(res, df, n_ok: int, fronts: dict, out: Path, fmt: str) -> None:
    from neurosim.commands._common import json_document, print_frame, print_lines

    if fmt == "json":
        sys.stdout.write(json_document({
            "points": res.total, "ran": res.ran, "skipped": res.skipped, "failed": list(res.failed), "ok": n_ok,
            "infeasible": int((df["status"] == "infeasible").sum()) if not df.empty else 0,
            "results": str(out / "results.csv"),
            "pareto_plot": str(res.plot) if res.plot else None,
            "fronts": {e: f.to_dict(orient="records") for e, f in fronts.items()},
            "rows": df.to_dict(orient="records")}))
        return
    if fmt == "csv":
        sys.stdout.write(df.to_csv(index=False))
        return
    for engine, front in fronts.items():
        print_frame(front, fmt, title=f"energy/latency Pareto front ({engine})")
    n_infeasible = int((df["status"] == "infeasible").sum()) if not df.empty else 0
    print_lines([(f"ran {res.ran} points, {len(res.failed)} failed, {res.skipped} were already done; {len(df)} in "
                 f"{out / 'results.csv'} ({n_ok} ok, {n_infeasible} infeasible, {len(df) - n_ok - n_infeasible} "
                 "failed)")]
                + ([f"Pareto plot: {res.plot}"] if res.plot else []), fmt)


def _dry_run(spec, done: set, fmt: str) -> None:
    """The points and which are done (nothing runs)."""
    import pandas as pd

    from neurosim.commands._common import json_document, print_frame

    points = spec.expand()
    rows = [{"id": spec.point_id(p), "done": spec.point_id(p) in done, **p.model_dump()} for p in points]
    if fmt == "table":
        for r in rows:
            typer.echo(f"{r['id']} {'done' if r['done'] else 'todo'} "
                       f"{ {k: v for k, v in r.items() if k not in ('id', 'done')} }")
        typer.echo(f"{len(points)} points, {sum(r['done'] for r in rows)} done")
    elif fmt == "json":
        sys.stdout.write(json_document({"points": rows, "done": sum(r["done"] for r in rows)}))
    else:
        print_frame(pd.DataFrame(rows), fmt, title=f"sweep {spec.name}: {len(points)} points")


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep_cmd)
