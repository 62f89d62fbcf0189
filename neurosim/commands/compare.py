"""`neurosim compare`: saved runs (JSON) -> one side-by-side HTML report; or, with ``--baseline``, a workload on a
neuromorphic system beside conventional baselines (GPU/CPU rooflines) with the break-even firing rate."""

from __future__ import annotations

from typing import Optional

import typer

from neurosim.commands._common import FORMAT_HELP
from neurosim.defaults import DEFAULTS


def compare_cmd(
    runs: list[str] = typer.Argument(..., help="two or more run records (--save-run files) or report directories; "
                                    "with --baseline: one workload"),
    out: Optional[str] = typer.Option(None, "--out-dir", help="directory to write (index.html, *.csv, *.png, "
                                      "*.svg); without it, the comparison is printed only"),
    labels: list[str] = typer.Option([], "--label", help="a name for each run, in order (default: what differs)"),
    force: bool = typer.Option(False, "--force", help="write into a directory that holds other files (they are kept)"),
    baselines: list[str] = typer.Option([], "--baseline", help="a conventional baseline HW[:PRECISION][@WORKLOAD], "
                                        "e.g. h100-sxm:int4 (precisions: fp32, fp16, int8, int4; hardware: "
                                        "`neurosim hw list`, or a calibrated CPU .yaml)"),
    hw: Optional[str] = typer.Option(None, "--hw", help="with --baseline: the neuromorphic hardware model"),
    sets: list[str] = typer.Option([], "--set", help="override a workload field: --set layers=2"),
    hw_sets: list[str] = typer.Option([], "--hw-set", help="override a figure of the neuromorphic hardware"),
    baseline_sets: list[str] = typer.Option([], "--baseline-set", help="override a figure of every baseline's "
                                            "hardware: --baseline-set memory.bandwidth.value='102 GB/s'"),
    context: Optional[int] = typer.Option(None, "--context", help="positions cached before the decode step "
                                          "(default: the workload's seq_len x batch - 1)"),
    prompt: Optional[int] = typer.Option(None, "--prompt", help="also a prefill of this many tokens: time to first "
                                         "token, prefill throughput and energy"),
    batch: int = typer.Option(1, "--batch", help="sequences per pass on the baselines (the neuromorphic run is one)"),
    break_even: bool = typer.Option(True, "--break-even/--no-break-even", help="solve the break-even firing rate "
                                    "(simulates a few rates)"),
    convention: str = typer.Option(DEFAULTS.convention, "--convention", help="real (default) or paper"),
    seed: int = typer.Option(DEFAULTS.seed, "--seed", help="seed of the statistical draws"),
    sync: bool = typer.Option(DEFAULTS.sync, "--sync/--async", help="with --baseline: the neuromorphic run's barrier "
                              "per time step, or free-running cores"),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP + "; saved runs: the headline figures per "
                            "run and the settings that differ"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress display (there is none when stderr is not "
                                                            "a terminal)"),
) -> None:
    """Put two or more saved runs side by side (two mappings, two hardware models or two encodings); or, with
    --baseline, a workload on a neuromorphic system beside conventional GPU/CPU baselines: energy per token,
    latency, throughput, energy-delay product and the break-even firing rate."""

    from neurosim.errors import NeurosimError
    from neurosim.report.progress import steps

    if baselines:
        _versus(runs, baselines, hw, sets, hw_sets, baseline_sets, context, prompt, batch, break_even, convention,
                seed, sync, fmt, out, force, quiet)
        return
    from neurosim.api import compare

    if len(runs) < 2:
        raise NeurosimError("compare needs at least two runs (run records written by `neurosim report --save-run`)"
                            ", or one workload and --baseline")
    if labels and len(labels) != len(runs):
        raise NeurosimError(f"--label given {len(labels)} times for {len(runs)} runs; give one per run or none")
    from neurosim.commands._common import check_format

    check_format(fmt)
    with steps("compare", quiet=quiet) as step:
        cmp = compare(runs, out, labels=labels or None, force=force, progress=step)
    if fmt == "table" and cmp.path is not None:
        typer.echo(f"comparison: {cmp.path}")
        return
    _print_runs(cmp, fmt)


def _print_runs(cmp, fmt: str) -> None:
    """Saved runs side by side: the headline figures (one column per run) and the settings that differ."""
    import sys

    from neurosim.commands._common import json_document, print_frame, print_lines

    if fmt == "json":
        sys.stdout.write(json_document({"runs": list(cmp.labels), "figures": cmp.table.to_dict(orient="records"),
                                        "differences": cmp.differences.to_dict(orient="records"),
                                        "comparison": str(cmp.path) if cmp.path else None}))
        return
    print_frame(cmp.table, fmt, title="headline figures per run")
    if fmt == "csv":
        return
    print_frame(cmp.differences, fmt, title="settings that differ")
    print_lines([f"comparison: {cmp.path}" if cmp.path else "(no comparison written: add --out-dir DIR)"], fmt)


def _versus(runs, baselines, hw, sets, hw_sets, baseline_sets, context, prompt, batch, break_even, convention, seed,
            sync, fmt, out, force, quiet=False) -> None:
    import sys
    from pathlib import Path

    from neurosim.commands._common import check_format, json_document, print_frame
    from neurosim.errors import NeurosimError
    from neurosim.report.outdir import check_out_dir, staged_dir
    from neurosim.report.progress import steps
    from neurosim.versus import compare

    check_format(fmt)
    if len(runs) != 1:
        raise NeurosimError(f"compare with --baseline takes one workload; got {len(runs)}: {' '.join(runs)}")
    if hw is None:
        raise NeurosimError("compare with --baseline needs --hw: the neuromorphic hardware model (e.g. hala-point)")
    if out is not None:
        check_out_dir(Path(out), force)
    with steps("compare", quiet=quiet) as step:
        cmp = compare(runs[0], hw, baselines, sets=sets, hw_sets=hw_sets, baseline_sets=baseline_sets,
                      convention=convention, context=context, prompt=prompt, batch=batch,
                      solve_break_even=break_even, seed=seed, sync=sync, step=step)
        if out is not None:
            from neurosim.report.versus import write_versus

            with staged_dir(Path(out), force) as tmp:
                write_versus(cmp, tmp, step=step)
    if fmt == "json":
        sys.stdout.write(json_document(cmp.to_dict()))
        return
    shown = cmp.table.drop(columns=["notes", "hardware"])
    print_frame(shown, fmt, title=f"{cmp.workload} on {cmp.hardware} beside conventional baselines")
    if fmt == "csv":
        return
    from neurosim.commands._common import md_text

    for b in cmp.break_even:
        line = f"break-even firing rate against {b.baseline}: {b.text()}"
        if b.status == "crosses" and b.gap is not None:
            line += (f" (simulated there: {b.simulated_J:.4g} J/token vs {b.baseline_J:.4g} J/token, gap "
                     f"{b.gap:+.2%}; {b.simulations} refining simulation(s))")
        elif b.simulated_J is not None:
            line += f" (simulated at the bound: {b.simulated_J:.4g} J/token vs {b.baseline_J:.4g} J/token)"
        if b.status_without_static not in ("", "not-spiking", "other workload"):
            wo = b.rate_without_static
            line += f"; without static/idle power: {wo:.4g}" if wo is not None else \
                f"; without static/idle power: {b.status_without_static}"
        sys.stdout.write(("- " + md_text(line) if fmt == "md" else line) + "\n")
    for n in cmp.notes:
        sys.stdout.write(("- " + md_text(n) if fmt == "md" else "note: " + n) + "\n")
    if out is not None:
        sys.stdout.write(f"comparison: {Path(out) / 'index.html'}\n")


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_cmd)
