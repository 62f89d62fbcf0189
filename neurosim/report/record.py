"""The run record: one JSON-serialisable result of one run, the input of every report and comparison.

A run record holds what a reader of a report needs and nothing that ties it to a live Python object: the workload
and hardware it ran on, the engine and mode, per-layer counts and energy, energy broken down by component under
each energy table (paper-style and hardware-aware), firing rates assumed and measured, spike-count histograms,
a mapping summary, timing, and every assumption and source used. Engines fill the sections they can; a section
left empty is shown as "not available" with the reason in ``notes``, never invented.

Tables are stored column-wise as ``{"columns": [...], "data": [[...], ...]}`` (pandas ``orient="split"`` without
the index); NaN is stored as ``null``. The file carries ``format`` and ``version``; a file of another version is
refused with a message that says how to regenerate it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from neurosim.errors import NeurosimError
from neurosim.io import load_json

RUN_FORMAT = "neurosim-run"
#: bump when a field changes meaning or is removed; readers refuse other versions
RUN_FORMAT_VERSION = 1

#: the report's energy components. Counter components map onto them: compute, memory, network and neuron as
#: named; ``sync`` (barriers) is shown under network; static energy is static power x run time (needs timing).
COMPONENTS = ("compute", "memory", "network", "neuron", "static")
COUNTER_TO_REPORT_COMPONENT = {"compute": "compute", "memory": "memory", "network": "network",
                               "neuron": "neuron", "sync": "network"}

MODES = ("analytic", "statistical", "exact")


def energy_unit(max_pj: float) -> tuple[float, str]:
    """(factor to multiply pJ by, unit) so that ``max_pj`` shows as a number of at least 1."""
    for factor, unit in ((1e-12, "J"), (1e-9, "mJ"), (1e-6, "µJ"), (1e-3, "nJ")):
        if max_pj * factor >= 1:
            return factor, unit
    return 1.0, "pJ"


def time_unit(max_ns: float) -> tuple[float, str]:
    """(factor to multiply ns by, unit) so that ``max_ns`` shows as a number of at least 1."""
    for factor, unit in ((1e-9, "s"), (1e-6, "ms"), (1e-3, "µs")):
        if max_ns * factor >= 1:
            return factor, unit
    return 1.0, "ns"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Table(_Model):
    """A small data frame as JSON: column names and rows."""

    columns: list[str]
    data: list[list[Any]] = Field(default_factory=list)

    @classmethod
    def of(cls, df: pd.DataFrame) -> Table:
        rows = [[_plain(v) for v in row] for row in df.itertuples(index=False, name=None)]
        return cls(columns=[str(c) for c in df.columns], data=rows)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.data, columns=self.columns)

    def __len__(self) -> int:
        return len(self.data)


def _plain(v: Any) -> Any:
    """A JSON-safe scalar: numpy scalars to Python, NaN/inf to None."""
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class EnergyBreakdown(_Model):
    """The energy of the run under one energy table, by report component and by layer (pJ over the whole run).

    ``by_layer`` has columns ``layer, block, role, kind`` then one column per component in :data:`COMPONENTS`
    (pJ). ``label`` is how the report names it: "paper-style" (the papers' compute-only 45 nm convention) or
    "hardware-aware" (the chosen hardware's table).
    """

    label: str
    table: str
    compute_only: bool = False
    description: str = ""
    total_pj: dict[str, float]
    static_included: bool = False  # False: static energy was not estimated (no timing), not "zero"
    by_layer: Table
    by_action: Table | None = None  # action, component, count, energy_pj

    @property
    def energy_pj(self) -> float:
        return float(sum(self.total_pj.values()))


class Histogram(_Model):
    """Spike counts per neuron per token of one projection type: ``counts[i]`` neurons fell in
    ``[edges[i], edges[i+1])``. ``source`` says where they come from (measured by the functional engine on a
    text, drawn by the statistical simulator, ...)."""

    projection: str
    edges: list[float]
    counts: list[float]
    source: str = ""
    unit: str = "spikes per neuron per token"


class MappingSummary(_Model):
    """What the mapper produced, in the terms a report draws.

    ``cores``: one row per used core with at least ``chip, x, y, memory_bytes, memory_capacity_bytes`` (x, y: the
    core's position in its chip's mesh); ``links``: one row per loaded on-chip link with ``chip, x0, y0, x1, y1,
    load`` (messages per token); ``chip_links``: chip-to-chip links ``chip_a, chip_b, load``; ``chips``: one row
    per chip with ``chip, cx, cy`` (its place in the system grid) and any per-chip totals. ``summary`` holds the
    headline numbers (chips, cores, strategy, placement, hops per token, ...).
    """

    strategy: str = ""
    placement: str = ""
    mesh: tuple[int, int] | None = None  # cores per chip, width x height
    grid: tuple[int, int, int] | None = None  # chips in the system, x x y x z
    summary: dict[str, Any] = Field(default_factory=dict)
    cores: Table | None = None
    links: Table | None = None
    chips: Table | None = None
    chip_links: Table | None = None
    load_unit: str = "messages per token"


class Timing(_Model):
    """Latency of one token (ns) broken down into parts that add up to it, plus throughput and utilization."""

    latency_per_token_ns: float
    breakdown_ns: dict[str, float] = Field(default_factory=dict)
    throughput_tokens_per_s: float | None = None
    utilization: dict[str, float] = Field(default_factory=dict)  # e.g. link_mean, link_max, core_mean (0..1)
    critical_path: list[str] = Field(default_factory=list)
    by_layer: Table | None = None  # layer, latency_ns (per token)
    mode: str = ""  # sync | async


class Assumption(_Model):
    """One figure or choice the run relied on, with where it comes from."""

    item: str
    value: str = ""
    source: str = ""
    assumption: str = ""
    where: str = ""  # the file or table that holds it


class Headline(_Model):
    label: str
    value: float
    unit: str
    note: str = ""


class RunRecord(_Model):
    """One run. See ``docs/reports.md`` ("Run record API") for how engines fill it."""

    format: Literal["neurosim-run"] = RUN_FORMAT
    version: int = RUN_FORMAT_VERSION
    neurosim_version: str = ""
    created: str = ""
    title: str = ""
    workload: dict[str, Any]  # name, family, method, description, source, spec (the full WorkloadSpec as dict)
    hardware: dict[str, Any] = Field(default_factory=dict)  # name, kind (hardware|energy-table), summary...
    mode: Literal["analytic", "statistical", "exact"] = "analytic"
    engine: str = "analytic"
    tokens: int = Field(gt=0)
    seq_len: int = Field(gt=0)
    batch: int = Field(default=1, gt=0)
    convention: dict[str, Any] = Field(default_factory=dict)
    totals: dict[str, float | None] = Field(default_factory=dict)
    layers: Table
    energy: list[EnergyBreakdown] = Field(default_factory=list)
    rates: Table | None = None  # layer, block, role, kind, assumed, measured, source
    histograms: list[Histogram] = Field(default_factory=list)
    mapping: MappingSummary | None = None
    timing: Timing | None = None
    assumptions: list[Assumption] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    # --- accessors used by figures and the HTML ----------------------------------------------------------------
    def breakdown(self, label: str) -> EnergyBreakdown | None:
        return next((e for e in self.energy if e.label == label), None)

    @property
    def hardware_aware(self) -> EnergyBreakdown | None:
        return self.breakdown("hardware-aware")

    @property
    def paper_style(self) -> EnergyBreakdown | None:
        return self.breakdown("paper-style")

    @property
    def name(self) -> str:
        return self.title or f"{self.workload.get('name', '?')} on {self.hardware.get('name', '?')} ({self.mode})"

    def headlines(self) -> list[Headline]:
        """The three figures a reader sees first: energy per token both ways, then latency, chips or the ratio."""
        out: list[Headline] = []
        paper, hw = self.paper_style, self.hardware_aware
        for b, label, note in ((paper, "paper-style energy per token", "compute only"),
                               (hw, "hardware-aware energy per token", "")):
            if b is not None:
                per_token = b.energy_pj / self.tokens
                f, u = energy_unit(per_token)
                out.append(Headline(label=label, value=per_token * f, unit=f"{u}/token",
                                    note=", ".join(x for x in (b.table, note) if x)))
        if self.timing is not None:
            f, u = time_unit(self.timing.latency_per_token_ns)
            out.append(Headline(label="latency per token", value=self.timing.latency_per_token_ns * f,
                                unit=f"{u}/token", note=f"{self.engine} engine, {self.mode} mode"))
        elif paper is not None and hw is not None and paper.energy_pj > 0:
            out.append(Headline(label="hardware-aware / paper-style energy", value=hw.energy_pj / paper.energy_pj,
                                unit="x", note="what the compute-only convention leaves out"))
        if self.mapping is not None and len(out) < 3 and "chips" in self.mapping.summary:
            out.append(Headline(label="chips used", value=float(self.mapping.summary["chips"]), unit="chips"))
        return out[:3]

    # --- persistence -------------------------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=1, allow_nan=False) + "\n"

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically (temporary file + rename): an interrupted save leaves no half-written run file."""
        from neurosim.io import write_text_atomic

        path = Path(path)
        try:
            write_text_atomic(path, self.to_json())
            mask = os.umask(0)
            os.umask(mask)
            path.chmod(0o666 & ~mask)  # the temporary file was private; the record is an ordinary file
            return path
        except PermissionError:
            raise NeurosimError(f"{path}: cannot write the run file (permission denied)") from None
        except IsADirectoryError:
            raise NeurosimError(f"{path}: is a directory; give a file name for the run record") from None


def load_run(path: str | os.PathLike) -> RunRecord:
    """Read a run record; a report directory is accepted (its ``run.json``). Another version is refused."""
    p = Path(path)
    if p.is_dir():
        p = p / "run.json"
    data = load_json(p, "JSON run record")
    if not isinstance(data, dict) or data.get("format") != RUN_FORMAT:
        raise NeurosimError(f"{p}: not a neurosim run record (field 'format' must be '{RUN_FORMAT}')")
    version = data.get("version")
    if version != RUN_FORMAT_VERSION:
        made_by = data.get("neurosim_version") or "an unknown neurosim"
        raise NeurosimError(
            f"{p}: run record format version {version!r} (written by neurosim {made_by}); this neurosim reads "
            f"version {RUN_FORMAT_VERSION}: re-run `neurosim report ... --save-run` with this version"
        )
    try:
        rec = RunRecord.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise NeurosimError(f"{p}: field '{loc}': {err['msg']}") from None
    _check_tables(rec, str(p))
    return rec


def _check_tables(model: BaseModel, where: str, path: str = "") -> None:
    """Every table of a record: rows as long as its columns, each column's values all numbers or all text (a
    hand-edited cell of the wrong kind is one error naming the table and column, not a failure deep in a report)."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = value if isinstance(value, list) else value.values() if isinstance(value, dict) else [value]
        for item in items:
            at = f"{path}{name}"
            if isinstance(item, Table):
                for i, row in enumerate(item.data):
                    if len(row) != len(item.columns):
                        raise NeurosimError(f"{where}: field '{at}.data.{i}': {len(row)} values for "
                                            f"{len(item.columns)} columns")
                for j, col in enumerate(item.columns):
                    kinds = {"number" if isinstance(r[j], (int, float)) else "text" if isinstance(r[j], str)
                             else "other" for r in item.data if r[j] is not None}
                    if len(kinds) > 1 or "other" in kinds:
                        raise NeurosimError(f"{where}: field '{at}' column '{col}' mixes {' and '.join(sorted(kinds))}"
                                            " values; allowed: all numbers or all text (null where missing)")
            elif isinstance(item, BaseModel):
                _check_tables(item, where, f"{at}.")
