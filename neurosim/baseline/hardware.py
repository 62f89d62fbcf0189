"""Conventional hardware models: a GPU or a CPU as a roofline needs it, loaded from ``hwmodels/conventional``.

A model names the device's matmul units per precision (``fp32``, ``fp16``, ``int8``: peak ops/s, dynamic energy
per op, the share of peak a large matmul reaches), its ``vector`` unit (element-wise ops: norms, activations,
softmax), its memory (capacity, bandwidth, energy per bit, achievable share of bandwidth), its power (idle, the
power mode's budget), a per-kernel launch overhead and the query tile of its fused attention. Every number is a
figure with a ``source`` or an ``assumption`` (:class:`neurosim.hardware.Figure`), as in the neuromorphic models;
unknown fields, missing fields and values out of range are one-line errors naming the file and the field.

A deployment of a model on the device is a :class:`Precision` (weights, activations and KV cache widths, and the
unit that runs the matmuls): ``fp32`` (NumPy's dtype), ``fp16``, ``int8`` (W8A8) and ``int4`` (W4A16,
weight-only).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from neurosim.errors import NeurosimError
from neurosim.hardware import (
    INTERNAL_UNIT,
    Bandwidth,
    Bytes,
    Count,
    Energy,
    EnergyPerBit,
    Figure,
    OpRate,
    Power,
    Time,
    iter_figures,
)
from neurosim.io import load_yaml
from neurosim.overrides import apply_overrides

CONVENTIONAL_FORMAT_VERSION = 1

#: the matmul units a device may have, and the element-wise unit every device has
MATMUL_UNITS = ("fp32", "fp16", "int8")
UNITS = (*MATMUL_UNITS, "vector")


class Fraction(Figure):
    """A share in (0, 1]: the part of a peak that real kernels reach."""

    @model_validator(mode="after")
    def _range(self) -> Fraction:
        if not 0.0 < self.v <= 1.0:
            raise ValueError(f"{self.value!r} out of range; allowed: 0 < value <= 1")
        return self


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComputeUnit(_Strict):
    """One kind of arithmetic unit: how fast (ops/s; a multiply-accumulate is 2 ops) and at what energy."""

    peak: OpRate
    energy_per_op: Energy
    efficiency: Fraction

    @model_validator(mode="after")
    def _positive(self) -> ComputeUnit:
        if self.peak.v <= 0:
            raise ValueError("'peak' must be > 0")
        return self

    @property
    def ops_per_s(self) -> float:
        """The throughput a roofline uses: peak x efficiency."""
        return self.peak.v * self.efficiency.v


class Memory(_Strict):
    """Main memory (DRAM, HBM): where weights, activations and the KV cache live between kernels.

    ``row_overhead`` (optional, none by default): a fixed time per weight row a matrix-vector product streams, on
    top of bytes / bandwidth (a CPU's prefetchers restart on every short row: measured by ``neurosim hw
    calibrate``)."""

    capacity: Bytes
    bandwidth: Bandwidth
    energy_per_bit: EnergyPerBit
    efficiency: Fraction
    row_overhead: Time | None = None

    @model_validator(mode="after")
    def _positive(self) -> Memory:
        for name in ("capacity", "bandwidth"):
            if getattr(self, name).v <= 0:
                raise ValueError(f"'{name}' must be > 0")
        return self

    @property
    def bytes_per_s(self) -> float:
        return self.bandwidth.v * self.efficiency.v

    @property
    def row_overhead_s(self) -> float:
        return self.row_overhead.v * 1e-9 if self.row_overhead is not None else 0.0


class PowerSpec(_Strict):
    """Idle power (drawn for the whole run) and the budget of the power mode the figures are for."""

    idle: Power
    max: Power
    mode: str = Field(description="the power mode the model describes (e.g. '15 W', 'TDP 700 W')")

    @model_validator(mode="after")
    def _order(self) -> PowerSpec:
        if self.idle.v > self.max.v:
            raise ValueError(f"'idle' ({self.idle.text()}) must not exceed 'max' ({self.max.text()})")
        return self


class ConventionalHardware(_Strict):
    """A GPU or CPU as a roofline sees it (one root object, versioned)."""

    version: int = CONVENTIONAL_FORMAT_VERSION
    kind: Literal["conventional"]
    name: str
    description: str = ""
    device: Literal["gpu", "cpu"]
    compute: dict[str, ComputeUnit]
    memory: Memory
    power: PowerSpec
    launch_overhead: Time = Field(description="fixed time per kernel (one per layer): launch, dispatch, sync")
    attention_query_tile: Count = Field(description="queries per tile of the fused attention kernel: a prefill "
                                                    "reads the K/V cache once per tile")
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> ConventionalHardware:
        if self.version != CONVENTIONAL_FORMAT_VERSION:
            raise ValueError(f"unsupported version {self.version}; allowed: {CONVENTIONAL_FORMAT_VERSION}")
        unknown = sorted(set(self.compute) - set(UNITS))
        if unknown:
            raise ValueError(f"compute unit(s) {unknown} unknown; allowed: {', '.join(UNITS)}")
        if "vector" not in self.compute:
            raise ValueError("compute lacks the 'vector' unit (element-wise ops); every device needs one")
        if not set(self.compute) & set(MATMUL_UNITS):
            raise ValueError(f"compute has no matmul unit; allowed: {', '.join(MATMUL_UNITS)}")
        if self.attention_query_tile.n <= 0:
            raise ValueError("'attention_query_tile' must be > 0")
        return self

    def unit(self, name: str) -> ComputeUnit:
        """The compute unit ``name`` or a one-line error naming the units this device has."""
        if name not in self.compute:
            raise NeurosimError(f"hardware {self.name} has no '{name}' compute unit; allowed: "
                                f"{', '.join(u for u in self.compute if u != 'vector')}")
        return self.compute[name]

    def figures(self) -> list[dict[str, str]]:
        """Every figure: its path, value as written, parsed value, source and assumption."""
        rows = []
        for path, f in iter_figures(self):
            unit = INTERNAL_UNIT[f.dimension]
            rows.append({"field": path, "value": f.text(), "parsed": f"{f.v:g} {unit}".strip(),
                         "source": f.source or "", "assumption": f.assumption or ""})
        return rows


# --- deployments ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Precision:
    """How the dense model is stored and run: widths of weights, matmul activations and KV cache, and the unit
    that runs the matmuls (element-wise ops run on the ``vector`` unit at ``elementwise_bits``)."""

    name: str
    weight_bits: float
    act_bits: float
    kv_bits: float
    matmul_unit: str
    elementwise_bits: float
    note: str


PRECISIONS: dict[str, Precision] = {
    "fp32": Precision("fp32", 32, 32, 32, "fp32", 32, "fp32 weights and activations (NumPy's dtype: the "
                      "functional engine's FP forward)"),
    "fp16": Precision("fp16", 16, 16, 16, "fp16", 16, "the dense model in half precision"),
    "int8": Precision("int8", 8, 8, 16, "int8", 16, "W8A8 (SmoothQuant-style): int8 weights and matmul inputs, "
                      "fp16 KV cache and element-wise ops"),
    "int4": Precision("int4", 4 + 16 / 128, 16, 16, "fp16", 16, "W4A16 weight-only (AWQ/GPTQ-style): 4-bit weights "
                      "with an fp16 scale per group of 128, dequantized into fp16 matmuls"),
}


def precision(name: str) -> Precision:
    if name not in PRECISIONS:
        raise NeurosimError(f"precision {name!r}; allowed: {', '.join(PRECISIONS)}")
    return PRECISIONS[name]


# --- loading -------------------------------------------------------------------------------------------------------
def _one_line(exc: ValidationError, where: str) -> str:
    """One line from a pydantic error: the file, the field, and what is allowed."""
    from neurosim.workloads.spec import format_validation_error

    return format_validation_error(exc, where, ConventionalHardware)


def conventional_from_dict(data: Any, where: str = "conventional hardware") -> ConventionalHardware:
    if not isinstance(data, dict):
        raise NeurosimError(f"{where}: expected a mapping at the top level")
    if data.get("kind") != "conventional":
        got = data.get("kind")
        hint = " (a neuromorphic hardware model: give it to --hw)" if got is None and "core" in data else ""
        raise NeurosimError(f"{where}: field 'kind' = {got!r}{hint}; allowed: 'conventional'")
    try:
        return ConventionalHardware.model_validate(data)
    except ValidationError as exc:
        raise NeurosimError(_one_line(exc, where)) from None


def load_conventional(name_or_path: str, sets: list[str] | None = None) -> ConventionalHardware:
    """A built-in name (``h100-sxm``) or a path -> a validated :class:`ConventionalHardware`; ``sets`` are
    ``a.b.value=x`` overrides."""
    from neurosim.resources import resolve

    path = resolve("conventional", name_or_path)
    where = str(path) if Path(name_or_path).suffix in (".yaml", ".yml") else f"hardware {name_or_path} ({path.name})"
    data = load_yaml(path)
    if isinstance(data, dict) and sets:
        data = apply_overrides(data, sets, where)
    return conventional_from_dict(data, where)


def builtin_conventional() -> list[str]:
    from neurosim.resources import builtin_names

    return builtin_names("conventional")
