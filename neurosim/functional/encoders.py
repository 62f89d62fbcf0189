"""SDLLM's two-step spike encoder (seed 002 sec. 4; ``../shared/reference/encoding_notes.md``).

Per token: rotate the activation with an orthogonal matrix (Walsh-Hadamard where the width allows), optionally
clip it with the quantile-smoothed ReLU, quantize it to integer spike counts (step one), and unfold the counts
into spike trains (step two):

* symmetric b-bit: ``s = c * max|z| / (2^(b-1) - 1)``, ``k = clamp(round(z / s), -(2^(b-1) - 1), 2^(b-1) - 1)``,
  unfolded into ternary (-1/0/+1) trains of ``2^(b-1)`` steps (bidirectional encoding);
* asymmetric b-bit: ``s = c * (max z - min z) / (2^b - 1)``, ``zp = round(-c * min z / s)``,
  ``k = clamp(round(z / s) + zp, 0, 2^b - 1)``, unfolded into binary trains of ``2^b - 1`` steps; the value is
  ``s (k - zp)``.

``c`` is the clip ratio on the range (1.0 = none; QuaRot's activation default is 0.9). Rounding is NumPy's
round-half-to-even. The unfolding puts a count's ``|k|`` spikes in the first ``|k|`` steps (``layout="front"``)
or spreads them evenly (``"spread"``); a linear layer's sum over the window is the same either way.

gamma-SQP vs QuaRot: where the encoder follows an RMSNorm/LayerNorm, gamma-SQP keeps the norm's scale ``gamma``
on the activation (``z = R (gamma * x_hat)``, weights ``W R^T``); QuaRot fuses it into the weights
(``z = R x_hat``, weights ``(W diag(gamma)) R^T``). Both are exact in floating point; they differ in where the
quantization error lands. See :class:`EncoderConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurosim.errors import NeurosimError

LAYOUTS = ("front", "spread")


def steps_for(bits: int, symmetric: bool) -> int:
    """The unfolding window that holds every count: 2^(b-1) (symmetric, ternary) or 2^b - 1 (binary)."""
    return 2 ** (bits - 1) if symmetric else 2**bits - 1


def count_range(bits: int, symmetric: bool) -> tuple[int, int]:
    """The integer range of a b-bit spike count."""
    if symmetric:
        q = 2 ** (bits - 1) - 1
        return -q, q
    return 0, 2**bits - 1


def _count_dtype(bits: int) -> np.dtype:
    return np.dtype(np.int8) if bits <= 7 else np.dtype(np.int16)


def check_finite(x: np.ndarray, what: str) -> None:
    """Raise a :class:`NeurosimError` naming the first NaN/Inf (token, feature) of an activation."""
    if np.isfinite(x).all():
        return
    bad = np.argwhere(~np.isfinite(x))[0]
    raise NeurosimError(f"{what}: activation contains NaN or Inf (first at index {tuple(int(i) for i in bad)}); "
                        "the spike encoder needs finite values")


@dataclass
class SpikeCounts:
    """Step one's output: integer counts (tokens x width), per-token scale and zero point.

    The activation it stands for is ``scale[:, None] * (counts - zero_point[:, None])`` (zero point 0 when
    symmetric).
    """

    counts: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray | None
    bits: int
    symmetric: bool
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def max_abs(self) -> int:
        """The largest |count| (bounds the accumulator of the linears it feeds)."""
        if "max_abs" not in self._cache:
            self._cache["max_abs"] = int(np.abs(self.counts).max()) if self.counts.size else 0
        return self._cache["max_abs"]

    def as_float(self, dtype) -> np.ndarray:
        """The counts as integer-valued floats (cached: q, k and v share one conversion)."""
        key = np.dtype(dtype).str
        if key not in self._cache:
            self._cache[key] = self.counts.astype(dtype)
        return self._cache[key]

    def dequantize(self) -> np.ndarray:
        k = self.counts.astype(np.float64)
        if self.zero_point is not None:
            k = k - self.zero_point[:, None]
        return (k * self.scale[:, None]).astype(np.float32)


def quantize_counts(z: np.ndarray, bits: int, symmetric: bool = True, clip_ratio: float = 1.0,
                    what: str = "activation") -> SpikeCounts:
    """Per-token b-bit integer spike counts of z (tokens x width); see the module docstring for the rules."""
    if not 1 <= int(bits) <= 15 or (symmetric and bits < 2):
        raise NeurosimError(f"{what}: count bits = {bits}; allowed: 2..15 symmetric, 1..15 asymmetric")
    if not 0 < clip_ratio <= 1:
        raise NeurosimError(f"{what}: clip_ratio = {clip_ratio}; allowed: (0, 1]")
    z = np.asarray(z)
    if z.ndim != 2:
        raise NeurosimError(f"{what}: expected tokens x width, got shape {z.shape}")
    check_finite(z, what)
    z64 = z.astype(np.float64)
    lo_k, hi_k = count_range(bits, symmetric)
    if symmetric:
        amax = np.abs(z64).max(axis=1) * clip_ratio
        scale = np.where(amax > 0, amax / hi_k, 1.0)
        k = np.clip(np.rint(z64 / scale[:, None]), lo_k, hi_k)
        return SpikeCounts(k.astype(_count_dtype(bits)), scale, None, int(bits), True)
    zmax = np.maximum(z64.max(axis=1), 0.0) * clip_ratio
    zmin = np.minimum(z64.min(axis=1), 0.0) * clip_ratio
    rng = zmax - zmin
    scale = np.where(rng > 0, rng / hi_k, 1.0)
    zp = np.rint(-zmin / scale)
    k = np.clip(np.rint(z64 / scale[:, None]) + zp[:, None], 0, hi_k)
    return SpikeCounts(k.astype(_count_dtype(bits)), scale, zp.astype(np.int64), int(bits), False)


def unfold(counts: np.ndarray, steps: int, layout: str = "front") -> np.ndarray:
    """Step two: counts (any shape) -> spike trains (steps, *shape) of -1/0/+1 (int8).

    ``front``: step t carries sign(k) when t < |k|; ``spread``: the |k| spikes are spaced evenly over the window
    (step t fires when floor((t + 1) |k| / D) > floor(t |k| / D)).
    """
    if layout not in LAYOUTS:
        raise NeurosimError(f"unfold layout = {layout!r}; allowed: {', '.join(LAYOUTS)}")
    k = np.asarray(counts)
    if k.size and int(np.abs(k).max()) > steps:
        raise NeurosimError(f"a spike count of {int(np.abs(k).max())} does not fit in {steps} unfolding steps")
    mag = np.abs(k).astype(np.int64)
    sign = np.sign(k).astype(np.int8)
    t = np.arange(steps, dtype=np.int64).reshape((steps,) + (1,) * k.ndim)
    if layout == "front":
        fire = t < mag
    else:
        fire = ((t + 1) * mag) // steps > (t * mag) // steps
    return fire.astype(np.int8) * sign


def resum(trains: np.ndarray) -> np.ndarray:
    """Sum spike trains over their leading (time) axis: recovers the counts (int64)."""
    return np.asarray(trains).sum(axis=0, dtype=np.int64)


@dataclass
class QuantileClip:
    """Quantile-smoothed ReLU (seed 002 sec. 4.4): ``y = max(z - theta, 0)`` with theta the moving average of the
    per-token ``q``-quantile of z, ``theta <- m theta + (1 - m) quantile_q(z_t)``.

    The seed learns theta during a short fine-tuning and reuses it frozen at inference; with no fine-tuning here,
    :meth:`calibrate` runs the moving average over calibration tokens (in order) and :meth:`apply` uses the frozen
    value. Applied after the rotation, on the membrane potential that is then quantized (seed eq. 27).
    """

    q: float
    momentum: float = 0.9
    threshold: float | None = None
    seen: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.q < 1:
            raise NeurosimError(f"clip_quantile = {self.q}; allowed: (0, 1)")
        if not 0 <= self.momentum < 1:
            raise NeurosimError(f"clip momentum = {self.momentum}; allowed: [0, 1)")

    def calibrate(self, z: np.ndarray) -> float:
        qs = np.quantile(np.asarray(z, dtype=np.float64), self.q, axis=-1).reshape(-1)
        theta = self.threshold
        for v in qs:
            theta = float(v) if theta is None else self.momentum * theta + (1 - self.momentum) * float(v)
        self.threshold = theta
        self.seen += qs.size
        return float(theta if theta is not None else 0.0)

    def apply(self, z: np.ndarray) -> np.ndarray:
        if self.threshold is None:
            raise NeurosimError("quantile clip used before calibration (no threshold recorded)")
        return np.maximum(z - np.asarray(self.threshold, dtype=z.dtype), 0)


@dataclass(frozen=True)
class EncoderConfig:
    """What one functional spike encoder does; built from a graph's :class:`~neurosim.graph.SpikeEncoder`."""

    bits: int = 4
    symmetric: bool = True
    encoding: str = "ternary"  # ternary | binary
    steps: int = 8
    clip_quantile: float | None = None
    clip_ratio: float = 1.0
    rotation: str = "hadamard"  # hadamard | random | none
    gamma_sqp: bool = True

    def __post_init__(self) -> None:
        if self.encoding not in ("ternary", "binary"):
            raise NeurosimError(f"encoder encoding = {self.encoding!r}; allowed: ternary, binary")
        if self.encoding == "binary" and self.symmetric:
            raise NeurosimError("binary spikes carry no sign: a binary encoder needs symmetric = false "
                                "(asymmetric counts); use ternary for symmetric counts")
        lo, hi = count_range(self.bits, self.symmetric)
        if max(abs(lo), hi) > self.steps:
            raise NeurosimError(f"{self.bits}-bit {'symmetric' if self.symmetric else 'asymmetric'} counts reach "
                                f"{max(abs(lo), hi)} but unfold = {self.steps} steps; allowed: unfold >= "
                                f"{steps_for(self.bits, self.symmetric)}")

    @property
    def label(self) -> str:
        sym = "sym" if self.symmetric else "asym"
        clip = f" q={self.clip_quantile}" if self.clip_quantile else ""
        return f"{self.encoding} {sym} {self.bits}-bit D={self.steps}{clip}"


def encode(z: np.ndarray, cfg: EncoderConfig, clip: QuantileClip | None = None,
           what: str = "encoder") -> SpikeCounts:
    """Step one on an already rotated activation z (tokens x width): clip if configured, then integer counts."""
    if cfg.clip_quantile is not None:
        if clip is None:
            raise NeurosimError(f"{what}: clip_quantile set but no QuantileClip state given")
        if clip.threshold is None:
            check_finite(z, what)
            clip.calibrate(z)
        z = clip.apply(z)
    return quantize_counts(z, cfg.bits, cfg.symmetric, cfg.clip_ratio, what)
