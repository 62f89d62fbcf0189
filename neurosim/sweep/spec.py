"""The sweep spec: one validated YAML file (pydantic) that lists the axes of a design-space sweep.

    version: 1
    name: bert-space
    workloads: [spikingbert-4l]          # names or workload .yaml paths (relative to the sweep file)
    hardware: [loihi2, kapoho-point]
    mapping: [output, input]             # partition strategy (neurosim.mapping)
    encoding:
      w_bits: [2, 4, 8]                  # also sets w_format from the bits (1: binary, 2-15: int, 16+: fp)
      unfold: [8, 16]
      clip_quantile: [null, 0.99]
    engine: [analytic, events]           # events: the event-driven simulator, statistical mode
    run: {seq_len: 64, batch: 1, sets: [layers=2], energy: hardware, placement: serpentine}
    events: {tokens: null, context: 0, block: null, sync: true, seed: 0}   # how every point is timed (and counted, for engine 'events' points)
    points:                              # optional: a listed set instead of the cartesian product
      - {workload: spikingbert-4l, hardware: loihi2, mapping: output, w_bits: 4, unfold: 8}

An unknown key anywhere is an error that names it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from neurosim.errors import NeurosimError
from neurosim.io import load_yaml

SWEEP_FORMAT_VERSION = 1
ENGINES_NOW = ("analytic", "events")
#: engines named in the design but not driven yet (name -> why); asking for one is an error that says so
ENGINES_PENDING: dict[str, str] = {}
#: points a sweep may have (the product is built in memory and every point is a Dask task)
MAX_POINTS = 100_000
AXES = ("workload", "hardware", "mapping", "w_bits", "unfold", "clip_quantile", "engine")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Encoding(_Strict):
    """Encoding settings swept; an empty list (or absent) keeps the workload's own value."""

    w_bits: list[int] = Field(default_factory=list)
    unfold: list[float] = Field(default_factory=list)
    clip_quantile: list[float | None] = Field(default_factory=list)

    @field_validator("w_bits")
    @classmethod
    def _bits(cls, v: list[int]) -> list[int]:
        for b in v:
            if not 1 <= b <= 32:
                raise ValueError(f"w_bits {b} out of range; allowed: 1..32")
        return v

    @field_validator("unfold")
    @classmethod
    def _unfold(cls, v: list[float]) -> list[float]:
        for d in v:
            if not d > 0:
                raise ValueError(f"unfold {d} out of range; allowed: > 0")
        return v

    @field_validator("clip_quantile")
    @classmethod
    def _clip(cls, v: list[float | None]) -> list[float | None]:
        for q in v:
            if q is not None and not 0 < q < 1:
                raise ValueError(f"clip_quantile {q} out of range; allowed: null or (0, 1)")
        return v


class Run(_Strict):
    """Settings shared by every point (they are part of each point's identity)."""

    seq_len: int | None = Field(default=None, gt=0)
    batch: int | None = Field(default=None, gt=0)
    sets: list[str] = Field(default_factory=list, description="workload overrides for every point, key=value")
    hw_sets: list[str] = Field(default_factory=list, description="hardware overrides for every point, path=value "
                               "(as --hw-set)")
    energy: str = Field(default="hardware", description="'hardware' (the hardware model's own prices) or a table")
    placement: Literal["serpentine", "locality"] = "locality"  # as every command (neurosim.defaults)
    quality: Literal["quantization_error"] = "quantization_error"
    throttle_s: float = Field(default=0.0, ge=0, le=60, description="wait before each point (to watch or test resume)")
    rates: str | None = Field(default=None, description="a rates file (neurosim rates --save; relative to the sweep "
                              "file): every point takes its measured rates, and a point whose model or encoder "
                              "settings differ from the file's is refused before the sweep starts")


class Events(_Strict):
    """How a point with engine 'events' is simulated (statistical mode: spikes drawn from the firing rates).

    ``tokens: null`` simulates the point's own run, one sequence of ``seq_len`` tokens from position 0: the run the
    analytic engine counts, so the two engines can be compared point for point. ``tokens: 1, context: 1023`` is
    one decode token after 1023 cached positions (``context + tokens`` must fit the KV cache the mapping holds,
    ``seq_len x batch`` positions)."""

    tokens: int | None = Field(default=None, gt=0, le=1_000_000,
                               description="tokens simulated (null: the workload's seq_len)")
    context: int = Field(default=0, ge=0, description="cached positions before the simulated tokens")
    block: int | None = Field(default=None, gt=0, description="tokens per bundle (null: the simulator's default)")
    sync: bool = Field(default=True, description="synchronous (barrier per time step) or asynchronous timing")
    seed: int = Field(default=0, ge=0, description="seed of the spike draws")


class Point(_Strict):
    workload: str
    hardware: str
    mapping: Literal["output", "input"] = "output"
    w_bits: int | None = Field(default=None, ge=1, le=32)
    unfold: float | None = Field(default=None, gt=0)
    clip_quantile: float | None = Field(default=None, gt=0, lt=1)
    engine: str = "analytic"

    @field_validator("engine")
    @classmethod
    def _engine(cls, v: str) -> str:
        return _check_engine(v)


def _check_engine(v: str) -> str:
    if v in ENGINES_NOW:
        return v
    if v in ENGINES_PENDING:
        raise ValueError(f"engine '{v}' is pending: {ENGINES_PENDING[v]}; allowed now: {', '.join(ENGINES_NOW)}")
    pending = f" (pending: {', '.join(ENGINES_PENDING)})" if ENGINES_PENDING else ""
    raise ValueError(f"unknown engine '{v}'; allowed: {', '.join(ENGINES_NOW)}{pending}")


class SweepSpec(_Strict):
    version: int = SWEEP_FORMAT_VERSION
    name: str = "sweep"
    description: str = ""
    workloads: list[str] = Field(default_factory=list)
    hardware: list[str] = Field(default_factory=list)
    mapping: list[Literal["output", "input"]] = Field(default_factory=lambda: ["output"])
    encoding: Encoding = Field(default_factory=Encoding)
    engine: list[str] = Field(default_factory=lambda: ["analytic"])
    run: Run = Field(default_factory=Run)
    events: Events = Field(default_factory=Events)
    points: list[Point] | None = None
    _base_dir: str | None = PrivateAttr(default=None)  # the sweep file's folder (set by load_sweep)

    @property
    def base_dir(self) -> str | None:
        return self._base_dir

    @field_validator("version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != SWEEP_FORMAT_VERSION:
            raise ValueError(f"unsupported sweep version {v}; allowed: {SWEEP_FORMAT_VERSION}")
        return v

    @field_validator("engine")
    @classmethod
    def _engines(cls, v: list[str]) -> list[str]:
        return [_check_engine(e) for e in v]

    @model_validator(mode="after")
    def _axes(self) -> SweepSpec:
        if self.points is None and (not self.workloads or not self.hardware):
            raise ValueError("give 'workloads' and 'hardware' lists (the cartesian product), or a 'points' list")
        e = self.encoding
        n = (len(self.points) if self.points is not None else math.prod(
            max(len(a), 1) for a in (self.workloads, self.hardware, self.mapping, e.w_bits, e.unfold,
                                     e.clip_quantile, self.engine)))
        if n > MAX_POINTS:  # checked before the product is built: a sweep of millions of points is a typo
            raise ValueError(f"the sweep has {n:,} points; allowed: at most {MAX_POINTS:,} (list fewer axis values, "
                             "or split it into several sweeps)")
        return self

    def expand(self) -> list[Point]:
        """Every point of the sweep: the listed ``points``, or the cartesian product of the axes."""
        if self.points is not None:
            return list(self.points)
        e = self.encoding
        grid = itertools.product(self.workloads, self.hardware, self.mapping, e.w_bits or [None],
                                 e.unfold or [None], e.clip_quantile or [None], self.engine)
        return [Point(workload=w, hardware=h, mapping=m, w_bits=b, unfold=d, clip_quantile=q, engine=g)
                for w, h, m, b, d, q, g in grid]

    def rates_path(self) -> str | None:
        """The rates file of ``run.rates``, taken relative to the sweep file when it exists there."""
        if not self.run.rates:
            return None
        p = Path(self.run.rates)
        if self.base_dir and not p.is_absolute() and (Path(self.base_dir) / p).is_file():
            return str(Path(self.base_dir) / p)
        return str(p)

    def point_id(self, p: Point) -> str:
        """A stable id of a point and the shared run settings: the key that makes resuming exact. The ``events``
        settings time every point (the one latency model is the simulator's), so they are part of every id."""
        # hw_sets only when given: the ids of sweeps written before it existed stay the same
        skip = {"throttle_s"} | (set() if self.run.hw_sets else {"hw_sets"})
        key: dict[str, Any] = {"point": p.model_dump(), "run": self.run.model_dump(exclude=skip),
                               "events": self.events.model_dump()}
        if self.run.rates:  # the file's content is part of the point: other measured rates, other results
            from neurosim.workloads.rates_file import sha256_of

            key["rates_sha256"] = sha256_of(self.rates_path() or "")
        return hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _message(exc: ValidationError, where: str) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err["loc"]) or "(root)"
    if err["type"] == "extra_forbidden":
        return f"{where}: unknown key '{loc}'"
    if err["type"] == "missing":
        return f"{where}: missing key '{loc}'"
    inp = err.get("input")
    shown = f" = {inp!r}" if inp is not None and not isinstance(inp, (dict, list)) else ""
    return f"{where}: field '{loc}'{shown}: {err['msg'].removeprefix('Value error, ')}"


def sweep_from_dict(data: Any, where: str = "sweep") -> SweepSpec:
    if not isinstance(data, dict):
        raise NeurosimError(f"{where}: expected a mapping of sweep fields at the top level")
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise NeurosimError(_message(exc, where)) from None


def load_sweep(path: str | Path) -> SweepSpec:
    """Load a sweep file; workload and hardware paths in it are read relative to the file (``base_dir``)."""
    path = Path(path)
    spec = sweep_from_dict(load_yaml(path), str(path))
    spec._base_dir = str(path.resolve().parent)
    return spec


def resolve_path(name: str, base_dir: str | None) -> str:
    """A workload/hardware name, or a .yaml path taken relative to the sweep file when it exists there."""
    p = Path(name)
    if base_dir and p.suffix in (".yaml", ".yml") and not p.is_absolute() and (Path(base_dir) / p).is_file():
        return str(Path(base_dir) / p)
    return name
