"""Weight quantizers: the integer matrices and scales a spike-driven core stores.

* RTN (seed 002): symmetric round-to-nearest per output channel, ``b`` bits:
  ``s_o = max|W_o| / (2^(b-1) - 1)``, ``W_int = clamp(round(W / s_o), -(2^(b-1) - 1), 2^(b-1) - 1)``.
* 1 bit (seed 003 eq. 5, after BitNet): ``W_b = sign(W - mean(W))`` (``sign(0) = +1``), output scaled by
  ``beta = mean|W|`` (one scale per matrix).
* 1.58 bit (seed 003 eq. 6, after BitNet b1.58): ``W_t = clamp(round(W / (gamma + eps)), -1, 1)`` with
  ``gamma = mean|W|`` (absmean), output scaled by ``gamma``.

Quantizers compute in the weight's own float precision (float32 for the real models), the scales in float64.
Every quantizer returns a :class:`QuantizedWeight`: ``W ~= scale[:, None] * int`` where ``scale`` has one entry
per output channel (a per-matrix scale is broadcast), so the spike-driven linear has one dequantization rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurosim.errors import NeurosimError

WEIGHT_FORMATS = ("int", "binary", "ternary", "fp")


@dataclass
class QuantizedWeight:
    """An integer weight matrix (fan_out x fan_in, int8/int16) and its per-output-channel scales (float64)."""

    int_weight: np.ndarray
    scale: np.ndarray
    bits: float
    w_format: str
    _as_float: dict = field(default_factory=dict, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.int_weight.shape  # type: ignore[return-value]

    @property
    def max_abs(self) -> int:
        """The largest |integer weight| the format allows (bounds the accumulator)."""
        if self.w_format in ("binary", "ternary"):
            return 1
        return 2 ** (int(self.bits) - 1) - 1

    def as_float(self, dtype=np.float32) -> np.ndarray:
        """The integer matrix as integer-valued floats (cached), for exact BLAS accumulation."""
        key = np.dtype(dtype).str
        if key not in self._as_float:
            self._as_float[key] = self.int_weight.astype(dtype)
        return self._as_float[key]

    def dequantize(self) -> np.ndarray:
        return (self.int_weight.astype(np.float64) * self.scale[:, None]).astype(np.float32)

    @property
    def row_sums(self) -> np.ndarray:
        """sum_j W_int[o, j] (int64): the zero-point correction of asymmetric counts."""
        if "row_sums" not in self._as_float:
            self._as_float["row_sums"] = self.int_weight.sum(axis=1, dtype=np.int64)
        return self._as_float["row_sums"]


def _int_dtype(max_abs: int) -> np.dtype:
    return np.dtype(np.int8) if max_abs <= 127 else np.dtype(np.int16) if max_abs <= 32767 else np.dtype(np.int32)


def _check(w: np.ndarray, what: str) -> np.ndarray:
    """A finite 2-D float matrix (float32 stays float32: the quantizers run in the weight's own precision)."""
    w = np.asarray(w)
    if w.ndim != 2:
        raise NeurosimError(f"{what}: weight must be a 2-D matrix (fan_out x fan_in); got shape {w.shape}")
    if not np.isfinite(w).all():
        raise NeurosimError(f"{what}: weight contains NaN or Inf")
    return w if w.dtype in (np.float32, np.float64) else w.astype(np.float64)


def rtn_per_channel(w: np.ndarray, bits: int, clip_ratio: float = 1.0, what: str = "weight") -> QuantizedWeight:
    """Symmetric round-to-nearest, one scale per output channel (row)."""
    if not 2 <= int(bits) <= 16:
        raise NeurosimError(f"{what}: RTN w_bits = {bits}; allowed: 2..16 (use binary/ternary for 1/1.58 bit)")
    if not 0 < clip_ratio <= 1:
        raise NeurosimError(f"{what}: clip_ratio = {clip_ratio}; allowed: (0, 1]")
    w = _check(w, what)
    qmax = 2 ** (int(bits) - 1) - 1
    amax = np.abs(w).max(axis=1).astype(np.float64) * clip_ratio
    scale = np.where(amax > 0, amax / qmax, 1.0)
    q = w / scale.astype(w.dtype)[:, None]
    np.rint(q, out=q)
    np.clip(q, -qmax, qmax, out=q)
    return QuantizedWeight(q.astype(_int_dtype(qmax)), scale, float(bits), "int")


def binarize_1bit(w: np.ndarray, what: str = "weight") -> QuantizedWeight:
    """1-bit: sign around the matrix mean, scaled by beta = mean|W| (seed 003 eq. 5)."""
    w = _check(w, what)
    q = np.where(w >= w.mean(dtype=np.float64), 1, -1).astype(np.int8)
    beta = float(np.abs(w).mean(dtype=np.float64))
    return QuantizedWeight(q, np.full(w.shape[0], beta), 1.0, "binary")


def ternarize_absmean(w: np.ndarray, eps: float = 1e-5, what: str = "weight") -> QuantizedWeight:
    """1.58-bit: absmean ternary, scaled by gamma = mean|W| (seed 003 eq. 6)."""
    w = _check(w, what)
    gamma = float(np.abs(w).mean(dtype=np.float64))
    q = np.clip(np.rint(w / w.dtype.type(gamma + eps)), -1, 1).astype(np.int8)
    return QuantizedWeight(q, np.full(w.shape[0], gamma), 1.58, "ternary")


def quantize_weight(w: np.ndarray, w_format: str, bits: int, what: str = "weight") -> QuantizedWeight:
    """Dispatch on the graph's ``w_format`` (int / binary / ternary); fp is not quantized."""
    if w_format == "int":
        return rtn_per_channel(w, bits, what=what)
    if w_format == "binary":
        return binarize_1bit(w, what=what)
    if w_format == "ternary":
        return ternarize_absmean(w, what=what)
    raise NeurosimError(f"{what}: w_format = {w_format!r} cannot drive a spike-driven linear; allowed: int, "
                        "binary, ternary")
