"""The spike-driven linear layer, computed exactly in the count domain, and its per-layer statistics.

Seed 002's theorems 2 and 4: over the unfolded window, a spike-driven linear layer adds the weight column of each
input that spikes (+ for a +1 spike, - for a -1 spike). Summed over the window, that is ``W_int @ k`` where ``k``
is the integer count vector, so the whole window is one integer matrix product: no loop over spikes.

Exactness: the product is evaluated with BLAS on integer-valued floats when it provably cannot round. Every
partial sum is an integer bounded by ``fan_in x max|k| x max|W_int|``; below 2^24 float32 holds every such
integer exactly (float64 below 2^53), whatever the summation order, so the result equals the int64 product bit
for bit. Above 2^53 it falls back to NumPy's int64 matmul. :func:`accumulate_spike_trains` is the literal
event-by-event reference (select the columns of the spiking inputs, add or subtract them), used by the tests.

Dequantization (one rule for every setting, reproducible bit for bit; it lives in
:func:`neurosim.readout.dequantize_accumulator`, below both engines that use it):
``total = acc - zero_point[:, None] * row_sums[None, :]`` (int64; no correction when symmetric), then
``output = float32(total) * float32(act_scale)[:, None] * float32(w_scale)[None, :]`` (+ float32 bias),
evaluated left to right in float32.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurosim.errors import NeurosimError
from neurosim.functional.encoders import SpikeCounts
from neurosim.functional.quantizers import QuantizedWeight
from neurosim.readout import dequantize_accumulator

_F32_EXACT = 2**24
_F64_EXACT = 2**53


def accumulator_bound(fan_in: int, max_count: int, max_weight: int) -> int:
    """An upper bound on |every partial sum| of the accumulation."""
    return int(fan_in) * int(max_count) * int(max_weight)


def _exact_float(bound: int) -> np.dtype | None:
    """The float type whose BLAS product is exact for integer partial sums up to ``bound`` (None: neither)."""
    if bound < _F32_EXACT:
        return np.dtype(np.float32)
    if bound < _F64_EXACT:
        return np.dtype(np.float64)
    return None


def _check_widths(counts: np.ndarray, weight: QuantizedWeight, what: str) -> None:
    w = weight.int_weight
    if counts.ndim != 2 or counts.shape[1] != w.shape[1]:
        raise NeurosimError(f"{what}: width mismatch: spike counts have shape {counts.shape}, the weight expects "
                            f"{w.shape[1]} inputs (weight {w.shape[0]} x {w.shape[1]})")
    if counts.dtype.kind not in "iu":
        raise NeurosimError(f"{what}: spike counts must be integers, got dtype {counts.dtype}")


def count_matmul(counts: np.ndarray, weight: QuantizedWeight, what: str = "spike linear") -> np.ndarray:
    """Exact ``counts @ W_int^T`` (tokens x fan_out), int32 when it fits, else int64."""
    counts = np.asarray(counts)
    _check_widths(counts, weight, what)
    max_k = int(np.abs(counts).max()) if counts.size else 0
    bound = accumulator_bound(weight.int_weight.shape[1], max_k, weight.max_abs)
    dt = _exact_float(bound)
    if dt is None:
        return counts.astype(np.int64) @ weight.int_weight.astype(np.int64).T
    acc = counts.astype(dt) @ weight.as_float(dt).T
    return acc.astype(np.int32 if bound < 2**31 else np.int64)


def accumulate_spike_trains(trains: np.ndarray, int_weight: np.ndarray) -> np.ndarray:
    """Reference: for every step and token, add the weight columns of +1 spikes and subtract those of -1 spikes.

    ``trains``: (steps, tokens, fan_in) of -1/0/+1. Loops over steps and tokens (slow; for tests and for
    checking an event-driven engine), never used on the forward path.
    """
    steps, tokens, _fan_in = trains.shape
    w = np.asarray(int_weight).astype(np.int64)
    out = np.zeros((tokens, w.shape[0]), dtype=np.int64)
    for t in range(steps):
        for n in range(tokens):
            s = trains[t, n]
            out[n] += w[:, s > 0].sum(axis=1) - w[:, s < 0].sum(axis=1)
    return out


@dataclass
class SpikeStats:
    """Spikes entering (or leaving) one layer, accumulated over every token it saw.

    ``rate = spikes / (elements x steps)`` (seed 002: -1 and +1 both count); ``mean_count = spikes / elements``
    (the mean |k|); ``histogram[i]`` counts elements whose count is ``lo + i``; ``acs = spikes x fan_out``.
    """

    layer: str
    width: int
    steps: int
    lo: int
    hi: int
    tokens: int = 0
    spikes: int = 0
    fan_out: int = 0
    histogram: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.histogram is None:
            self.histogram = np.zeros(self.hi - self.lo + 1, dtype=np.int64)

    def add(self, counts: np.ndarray) -> None:
        """Account one batch of counts (tokens x width)."""
        k = np.asarray(counts)
        if k.ndim != 2 or k.shape[1] != self.width:
            raise NeurosimError(f"{self.layer}: stats of width {self.width} given counts of shape {k.shape}")
        self.tokens += k.shape[0]
        self.spikes += int(np.abs(k).sum(dtype=np.int64))
        self.histogram += np.bincount((k.reshape(-1).astype(np.int64) - self.lo), minlength=self.hi - self.lo + 1)

    @property
    def elements(self) -> int:
        return self.tokens * self.width

    @property
    def rate(self) -> float:
        return self.spikes / (self.elements * self.steps) if self.elements else 0.0

    @property
    def mean_count(self) -> float:
        return self.spikes / self.elements if self.elements else 0.0

    @property
    def zero_fraction(self) -> float:
        return float(self.histogram[-self.lo]) / self.elements if self.elements and self.lo <= 0 else 0.0

    @property
    def acs(self) -> int:
        return self.spikes * self.fan_out

    @property
    def neuron_updates(self) -> int:
        return self.elements * self.steps

    def values(self) -> np.ndarray:
        return np.arange(self.lo, self.hi + 1)

    def to_dict(self) -> dict:
        return {
            "layer": self.layer, "width": self.width, "steps": self.steps, "tokens": self.tokens,
            "spikes": self.spikes, "rate": self.rate, "mean_count": self.mean_count,
            "zero_fraction": self.zero_fraction, "fan_out": self.fan_out, "acs": self.acs,
            "histogram": {int(v): int(c) for v, c in zip(self.values(), self.histogram)},
        }


@dataclass
class SpikeLinearRecord:
    """Everything an event-driven engine needs to reproduce one spike-driven linear exactly (the trace API).

    ``acc`` is the pure spike-driven accumulation ``counts @ int_weight^T`` (the signed sum of the weight columns
    selected by the spikes, over the whole window); ``output`` follows :func:`dequantize_accumulator`.
    """

    layer: str
    encoder: str
    counts: np.ndarray  # tokens x fan_in, int8/int16
    act_scale: np.ndarray  # tokens, float64
    zero_point: np.ndarray | None  # tokens, int64 (asymmetric counts) or None
    weight: QuantizedWeight  # int_weight fan_out x fan_in (int8/int16) and scale (fan_out, float64)
    acc: np.ndarray  # tokens x fan_out, int32/int64
    output: np.ndarray  # tokens x fan_out, float32
    bias: np.ndarray | None
    steps: int
    encoding: str  # ternary | binary
    token_offset: int = 0  # index of the first token of this batch in the run

    @property
    def int_weight(self) -> np.ndarray:
        return self.weight.int_weight

    @property
    def weight_scale(self) -> np.ndarray:
        return self.weight.scale


def spike_linear(counts: SpikeCounts, weight: QuantizedWeight, bias: np.ndarray | None = None,
                 what: str = "spike linear", keep_acc: bool = True) -> tuple[np.ndarray | None, np.ndarray]:
    """(exact integer accumulator, dequantized float32 output) of a spike-driven linear.

    The output is what :func:`dequantize_accumulator` gives for that accumulator, computed without the round
    trip through integers (the float accumulator already holds the exact integers). ``keep_acc=False`` skips
    materialising the integer accumulator (returns None for it).
    """
    k = counts.counts
    _check_widths(k, weight, what)
    fan_in = weight.int_weight.shape[1]
    bound = accumulator_bound(fan_in, counts.max_abs, weight.max_abs)
    total_bound = bound
    if counts.zero_point is not None:
        zp_max = int(np.abs(counts.zero_point).max()) if counts.zero_point.size else 0
        total_bound = bound + accumulator_bound(fan_in, zp_max, weight.max_abs)
    dt = _exact_float(total_bound)
    if dt is None:
        acc = k.astype(np.int64) @ weight.int_weight.astype(np.int64).T
        return acc, dequantize_accumulator(acc, counts.scale, weight, counts.zero_point, bias)
    accf = counts.as_float(dt) @ weight.as_float(dt).T
    acc = accf.astype(np.int32 if bound < 2**31 else np.int64) if keep_acc else None
    if counts.zero_point is not None:
        accf -= counts.zero_point.astype(dt)[:, None] * weight.row_sums.astype(dt)[None, :]
    out = accf if dt == np.float32 else accf.astype(np.float32)
    out *= counts.scale.astype(np.float32)[:, None]
    out *= weight.scale.astype(np.float32)[None, :]
    if bias is not None:
        out += bias.astype(np.float32)[None, :]
    return acc, out
