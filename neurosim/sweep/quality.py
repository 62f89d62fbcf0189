"""A quality proxy for a sweep point: the relative output error of one quantised, spike-encoded linear layer.

On a fixed, seeded sample (activations: Student-t with 4 degrees of freedom, heavy-tailed like LM activations;
weights: Gaussian; 128 tokens x 256 features -> 256 outputs), compare y = W x with the quantised layer:

* weights: fp (exact), int b-bit round-to-nearest per output channel, symmetric; binary sign(W - mean) x
  mean|W|; ternary absmean (seed 003 eqs. 5, 6);
* activations, per token: a spike count with at most L levels per side, where L is the count range of the
  encoding (ternary symmetric: 2^(b-1) - 1; binary asymmetric: 2^b - 1) capped by the unfold steps (one spike
  a step); the scale is max|x| or, with clipping, the ``clip_quantile`` quantile of |x| (values beyond it clip);
  int b-bit the same without the unfold cap; fp exact.

The figure is ||y_q - y|| / ||y|| (Frobenius). It ranks settings; it is not a model's perplexity (that needs
the real-model path of the functional engine: ``neurosim ppl``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=1)
def _sample() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2024)
    x = rng.standard_t(4, size=(128, 256))
    w = rng.normal(0.0, 1.0 / 16, size=(256, 256))
    return x, w


def quantize_weights(w: np.ndarray, w_format: str, bits: int) -> np.ndarray:
    if w_format == "fp" or bits >= 16:
        return w
    if w_format == "binary" or bits == 1:
        return np.where(w - w.mean() >= 0, 1.0, -1.0) * np.abs(w).mean()
    if w_format == "ternary":
        g = np.abs(w).mean()
        return np.clip(np.round(w / (g + 1e-5)), -1, 1) * g
    levels = 2 ** (bits - 1) - 1
    scale = np.abs(w).max(axis=1, keepdims=True) / levels
    return np.clip(np.round(w / scale), -levels, levels) * scale


def quantize_activations(x: np.ndarray, encoding: str, bits: int, unfold: float, clip_quantile: float | None,
                         symmetric: bool = True) -> np.ndarray:
    if encoding == "fp":
        return x
    if encoding == "int":
        levels = 2 ** (bits - 1) - 1 if symmetric else 2**bits - 1
    elif encoding == "ternary" or symmetric:
        levels = min(2 ** (bits - 1) - 1, int(unfold))
    else:
        levels = min(2**bits - 1, int(unfold))
    levels = max(levels, 1)
    ref = np.quantile(np.abs(x), clip_quantile, axis=1, keepdims=True) if clip_quantile else np.abs(x).max(
        axis=1, keepdims=True)
    if symmetric or encoding == "ternary":
        scale = ref / levels
        return np.clip(np.round(x / scale), -levels, levels) * scale
    lo = -ref if clip_quantile else x.min(axis=1, keepdims=True)
    scale = (ref - lo) / levels
    return np.clip(np.round((x - lo) / scale), 0, levels) * scale + lo


def quantization_error(w_format: str, w_bits: int, a_encoding: str, a_bits: int, unfold: float,
                       clip_quantile: float | None, symmetric: bool = True) -> float:
    """Relative output error of the proxy layer (0 = exact)."""
    x, w = _sample()
    y = x @ w.T
    yq = quantize_activations(x, a_encoding, a_bits, unfold, clip_quantile, symmetric) @ quantize_weights(
        w, w_format, w_bits).T
    return float(np.linalg.norm(yq - y) / np.linalg.norm(y))
