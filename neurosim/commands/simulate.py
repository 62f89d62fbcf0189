"""`neurosim simulate WORKLOAD --hw NAME`: the event-driven simulator on a mapped system (see docs/events.md)."""

from __future__ import annotations

import typer

from neurosim.commands._common import FORMAT_HELP
from neurosim.defaults import DEFAULTS


def simulate_cmd(
    workload: str = typer.Argument(..., help="built-in workload name (see `neurosim list`), a workload .yaml, or a "
                                             "graph .yaml (import-nir's, or an SNN with its weights: exact mode runs "
                                             "them), or your own model: a LLaMA GGUF file, a LLaMA or BERT folder "
                                             "(config.json + safetensors)"),
    hw_name: str = typer.Option(..., "--hw", help="hardware model (see `neurosim hw list`) or a hardware .yaml"),
    mapping_file: str | None = typer.Option(None, "--mapping",
                                            help="a mapping saved with `neurosim map --out`, or a user placement "
                                                 "(default: map now)"),
    mode: str = typer.Option("statistical", "--mode", help="statistical (spikes drawn from rates) or exact (real "
                                                           "weights and spikes: SmolLM2 / MiniLM, your own model "
                                                           "file, or a graph file's "
                                                           "own weights and input spikes)"),
    tokens: int | None = typer.Option(None, "--tokens",
                                      help="tokens to run (statistical default: the workload's seq_len; exact: 8)"),
    context: int = typer.Option(0, "--context", help="positions already in the KV cache (statistical; e.g. "
                                                     "--tokens 1 --context 1023 is one decode token)"),
    block: int | None = typer.Option(None, "--block", help="tokens per event bundle (default: 1 up to 16 tokens, "
                                                           "else tokens/16)"),
    text: str | None = typer.Option(None, "--text", help="UTF-8 text for the exact mode (default: the shipped text)"),
    sync: bool = typer.Option(DEFAULTS.sync, "--sync/--async", help="barrier per time step, or free-running cores"),
    verify: bool = typer.Option(False, "--verify", help="exact mode: check outputs and counts against the "
                                                        "functional engine; prints `verified` or the first mismatch"),
    seed: int = typer.Option(DEFAULTS.seed, "--seed", help="seed of the statistical draws"),
    histogram: str | None = typer.Option(None, "--histogram",
                                         help="statistical: spike counts drawn from a count histogram (JSON "
                                              "{layer|role|*: {count: frequency}}) instead of the rates"),
    sets: list[str] = typer.Option([], "--set", help="override a workload field: --set layers=2"),
    hw_sets: list[str] = typer.Option([], "--hw-set", help="override a hardware figure: "
                                                           "--hw-set chip.barrier_sync.value='500 ns'"),
    convention: str = typer.Option(DEFAULTS.convention, "--convention", help="what is counted: real (the model as it is; "
                                   "default) or paper (the paper's printed count)"),
    strategy: str = typer.Option(DEFAULTS.strategy, "--strategy", help="partition when mapping now: output or input"),
    placement: str = typer.Option(DEFAULTS.placement, "--placement", help="placement when mapping now: locality or "
                                                                   "serpentine"),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP + "; csv: the counters, one row per core "
                            "and action, with their energy"),
    out: str | None = typer.Option(None, "--out", "-o", help="write the output to this file instead of stdout"),
    save_run: str | None = typer.Option(None, "--save-run", help="also write the run record (JSON) for "
                                                                 "`neurosim report` / `compare`"),
    rates: str | None = typer.Option(None, "--rates", help="measured rates (a `neurosim rates --save` file): the "
                                     "graph takes them, and statistical spike counts are drawn from its measured "
                                     "count histograms (unless --histogram)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar (there is none when stderr is not a "
                                                            "terminal)"),
    max_memory: str | None = typer.Option(None, "--max-memory", help="the most memory the run may take (8G, "
                                          "512M; default: what this machine has available): a run estimated above "
                                          "it is refused before it starts"),
) -> None:
    """Simulate a workload on a mapped hardware model: counts per core, energy (paper-style and hardware-aware),
    latency, throughput, utilization and the critical path of a token."""
    from pathlib import Path

    from neurosim.api import simulate
    from neurosim.commands._common import check_format
    from neurosim.errors import NeurosimError

    check_format(fmt)
    for opt, path in (("--out", out), ("--save-run", save_run)):
        if path is not None and Path(path).is_dir():
            raise NeurosimError(f"{opt} {path}: is a directory; give a file name")
    from neurosim.machine import limited

    with limited(max_memory), _progress(quiet) as (step, advance):
        sim = simulate(workload, hw_name, mode=mode, tokens=tokens, context=context, block=block, text=text,
                       sync=sync, seed=seed, sets=sets, hw_sets=hw_sets, convention=convention, mapping=mapping_file,
                       strategy=strategy, placement=placement, histogram=histogram, rates=rates, verify=verify,
                       progress=step, advance=advance)
        res = sim.result
        record = None
        if save_run is not None:
            step("writing the run record")
            record = sim.record()
    text_out = render(sim, fmt, verify)
    if out is None:
        typer.echo(text_out, nl=False)
    if out is not None or record is not None:  # the output and the run record together: all old or all new
        from neurosim.io import atomic_paths

        with atomic_paths(out, save_run if record is not None else None) as (out_tmp, run_tmp):
            if out_tmp is not None:
                out_tmp.write_text(text_out, encoding="utf-8")
            if run_tmp is not None:
                record.save(run_tmp)
    if out is not None or save_run is not None:
        for what, path in (("output", out), ("run record", save_run)):
            if path is not None:
                typer.echo(f"{what}: {path}", err=True)
    if verify:  # csv / json: stdout stays one document (json carries the result under "verify"), the line on stderr
        typer.echo(res.verify.summary() if res.verify is not None else "not verified", err=fmt != "table")
        if res.verify is None or not res.verify.ok:
            raise typer.Exit(1)


class _progress:
    """A rich progress bar over the simulated phases on a terminal; silent otherwise; plain lines on stderr with
    ``NEUROSIM_PROGRESS=lines`` (the step names, then the simulated phases done: the first, every tenth of the
    run and the last)."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet

    def __enter__(self):
        from neurosim.report.progress import interactive, line, lines

        self.bar = None
        if self.quiet:
            return (lambda _m: None), None
        if lines():
            def advance_line(done: int, total: int) -> None:
                if done == 1 or done * 10 // total != (done - 1) * 10 // total:
                    line("simulate", f"{done}/{total} phases simulated")

            return (lambda m: line("simulate", m)), advance_line
        if not interactive():
            return (lambda _m: None), None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("[bold]simulate[/bold] {task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=Console(stderr=True), transient=True)
        self.bar.start()
        self.task = self.bar.add_task("starting", total=None)

        def step(msg: str) -> None:
            self.bar.update(self.task, description=msg)

        def advance(done: int, total: int) -> None:
            if done % 50 == 0 or done == total:
                self.bar.update(self.task, completed=done, total=total)

        return step, advance

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


def render(sim, fmt: str, verify: bool = False) -> str:
    """The command's output as text: a report (table), the counters (csv) or everything (json)."""
    from neurosim.commands._common import json_document

    res = sim.result
    if fmt == "csv":
        return counters_csv(res)
    s = res.summary()
    if fmt == "md":
        return _markdown(res, s)
    if fmt == "json":
        body = dict(s)
        body["by_layer"] = sim.layers.to_dict(orient="records")
        if res.verify is not None:
            body["verify"] = {"ok": res.verify.ok, "summary": res.verify.summary(),
                              "layers": [vars(c) for c in res.verify.layers]}
        elif verify:
            body["verify"] = {"ok": False, "summary": "not verified", "layers": []}
        return json_document(body, default=_plain)
    return _table(res, s)


def counters_csv(res) -> str:
    """The counters, one row per layer, place and action, with their hardware-aware and paper-style energy; then the
    totals: one ``total`` row per action, the static energy, and ``total``/``all`` (energy only: counts of different
    actions do not add up)."""
    import pandas as pd

    hw = res.priced("hardware-aware", by_place=True)
    paper = res.priced("paper-style", by_place=True)
    df = res.counters.copy()
    df["energy_pj_hardware_aware"] = hw["energy_pj"].to_numpy()
    df["energy_pj_paper_style"] = paper["energy_pj"].to_numpy()
    e_cols = ["energy_pj_hardware_aware", "energy_pj_paper_style"]
    per_action = df.groupby(["component", "action"], as_index=False, sort=False)[["count", *e_cols]].sum()
    static = {"component": "static", "action": "static", "energy_pj_hardware_aware": res.static_pj,
              "energy_pj_paper_style": res.energy["paper-style"]["static"]}
    totals = pd.concat([per_action, pd.DataFrame([static])], ignore_index=True)
    everything = {"component": "all", "action": "all", **{c: float(totals[c].sum()) for c in e_cols}}
    totals = pd.concat([totals, pd.DataFrame([everything])], ignore_index=True)
    totals = totals.assign(**{c: "total" for c in dict.fromkeys([df.columns[0], "layer"])})
    return pd.concat([df, totals], ignore_index=True)[list(df.columns)].to_csv(index=False)


def _markdown(res, s: dict) -> str:
    """The run as Markdown: counts and energy by action, energy by component, the headline lines."""
    import pandas as pd

    from neurosim.commands._common import frame_markdown, human, md_text

    t, tok = res.timing, res.tokens
    hw = res.priced("hardware-aware").groupby("action")["energy_pj"].sum()
    paper = res.priced("paper-style").groupby("action")["energy_pj"].sum()
    counts = res.counters.groupby(["action", "component"], as_index=False)["count"].sum()
    counts["per_token"] = counts["count"] / tok
    counts["hardware_aware_J"] = counts["action"].map(hw).fillna(0.0) * 1e-12
    counts["paper_style_J"] = counts["action"].map(paper).fillna(0.0) * 1e-12
    comp = pd.DataFrame([{"estimate": label, **{f"{c}_J": s["energy_pj"][label][c] * 1e-12 for c in
                                                ("compute", "memory", "network", "neuron", "static")},
                          "total_J": sum(s["energy_pj"][label].values()) * 1e-12,
                          "per_token_J": sum(s["energy_pj"][label].values()) * 1e-12 / tok}
                         for label in ("hardware-aware", "paper-style")])
    lines = [(f"{s['workload']} on {s['hardware']}: {s['chips']} chips, {s['cores']} cores ({s['strategy']}-split, "
              f"{s['placement']} placement); mode {s['mode']}, {s['timing_mode']}, {tok} tokens after "
              f"{s['context']} cached"),
             (f"latency per token {_time(t.latency_per_token_ns)}; throughput {t.throughput_tokens_per_s:.4g} "
              f"tokens/s; simulated time {_time(t.makespan_ns)}; barriers {human(t.barriers)}")]
    lines += [f"note: {n}" for n in s["notes"]]
    return (frame_markdown(counts, "counts and energy (whole run)", ("count", "per_token")) + "\n"
            + frame_markdown(comp, "energy by component") + "\n" + "\n".join(f"- {md_text(x)}" for x in lines) + "\n")


def _plain(v):
    if hasattr(v, "item"):
        return v.item()
    return str(v)


def _table(res, s: dict) -> str:
    import io

    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from neurosim.commands._common import human

    buf = io.StringIO()
    con = Console(file=buf, width=150, force_terminal=False, color_system=None)
    t, tok = res.timing, res.tokens
    con.print(f"{s['workload']} on {s['hardware']}: {s['chips']} chips, {s['cores']} cores "
              f"({s['strategy']}-split, {s['placement']} placement)")
    con.print(f"mode {s['mode']}, {s['timing_mode']}, {tok} tokens after {s['context']} cached, blocks of "
              f"{s['block']}, seed {s['seed']}; simulated in {s['wall_s']:.2f} s")
    priced_hw = res.priced("hardware-aware").groupby("action")["energy_pj"].sum()
    priced_paper = res.priced("paper-style").groupby("action")["energy_pj"].sum()
    counts = res.counters.groupby(["action", "component"], as_index=False)["count"].sum()
    tab = Table(title="counts and energy (whole run)")
    for col in ("action", "component", "count", "per token", "hardware-aware", "paper-style"):
        tab.add_column(col, justify="left" if col in ("action", "component") else "right")
    for a, comp, n in counts.itertuples(index=False):
        tab.add_row(a, comp, human(n), human(n / tok), _joules(priced_hw.get(a, 0.0)),
                    _joules(priced_paper.get(a, 0.0)))
    con.print(tab)
    e = Table(title="energy by component")
    for col in ("estimate", "compute", "memory", "network", "neuron", "static", "total", "per token"):
        e.add_column(col, justify="left" if col == "estimate" else "right")
    for label in ("hardware-aware", "paper-style"):
        comp = s["energy_pj"][label]
        total = sum(comp.values())
        e.add_row(label, *[_joules(comp[c]) for c in ("compute", "memory", "network", "neuron", "static")],
                  _joules(total), _joules(total / tok))
    con.print(e)
    ratio = s["hardware_to_paper_ratio"]
    if ratio:
        con.print(f"hardware-aware / paper-style energy: {ratio:.3g}x; paper-style FLOPs (bit-op scaled) "
                  f"{s['paper_scaled_ops_T']:.3g} T")
    con.print(f"latency per token {_time(t.latency_per_token_ns)}; throughput {t.throughput_tokens_per_s:.4g} "
              f"tokens/s; simulated time {_time(t.makespan_ns)}; barriers {human(t.barriers)}")
    st = s.get("time_steps") or {}
    if st:
        top = next(iter(st["bound_by"].items()), ("-", 0))
        con.print(f"time steps: {human(st['count'])}, {_time(st['mean_ns'])} each on average (the slowest core or "
                  f"link {_time(st['work_mean_ns'])}, max {_time(st['work_max_ns'])}; barrier "
                  f"{_time(st['barrier_ns'])}); most often bound by {top[0]} ({top[1]} of {st['records']})")
    per = 1.0 / max(t.block_tokens, 1)
    parts = ", ".join(f"{k} {_time(v * per)}" for k, v in sorted(t.breakdown_ns.items(), key=lambda kv: -kv[1])
                      if v > 0)
    con.print(f"latency of a token by part: {parts}")
    u = t.utilization
    if u:
        con.print("utilization: cores mean {:.3g} max {:.3g} ({}); links mean {:.3g} max {:.3g} ({})".format(
            u.get("core_mean", 0), u.get("core_max", 0), t.busiest.get("core", "-"), u.get("link_mean", 0),
            u.get("link_max", 0), t.busiest.get("link", "-")))
    crit = pd.DataFrame(t.critical_path)
    if len(crit):
        top = crit.assign(us=crit["duration_ns"] * per / 1e3).nlargest(8, "us")
        ct = Table(title=f"critical path of a token ({len(crit)} phases): the 8 longest")
        for col in ("phase", "time per token", "bound by"):
            ct.add_column(col, justify="right" if col == "time per token" else "left")
        for r in top.itertuples(index=False):
            ct.add_row(r.phase, _time(r.us * 1e3), r.bound_by)
        con.print(ct)
    for n in s["notes"]:
        con.print(f"note: {n}")
    return buf.getvalue()


def _time(ns: float) -> str:
    ns = float(ns)
    for unit, f in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if abs(ns) >= f:
            return f"{ns / f:.4g} {unit}"
    return f"{ns:.4g} ns"


def _joules(pj: float) -> str:
    pj = float(pj)
    if pj == 0:
        return "0"
    for unit, f in (("J", 1e12), ("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3)):
        if abs(pj) >= f:
            return f"{pj / f:.4g} {unit}"
    return f"{pj:.4g} pJ"


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_cmd)
