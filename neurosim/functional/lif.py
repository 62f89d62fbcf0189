"""Seed 003's LIF neurons in front of a spike-driven projection, for the functional engine.

A :class:`LifConfig` is what one graph :class:`~neurosim.graph.LIF` layer (built from a workload's ``lif``
block) asks of the forward pass: the activation entering the projections is held as the input current of
``steps`` LIF neurons (:func:`neurosim.neurons.lif_rate_code`: leak, threshold, reset by subtraction), whose
integer spike counts ``k`` the projections accumulate exactly. The thresholds are calibrated, not trained (seed
003 learns its model by distillation; this one is MiniLM's weights as they are): per neuron (or one per layer),
the ``quantile`` of |input| that the full-precision model gives over the first ``calibration_tokens`` tokens of
the shipped text. A neuron's average spike rate ``k / T`` stands for ``input / threshold``; the threshold is
folded into the next projection's weights (``W diag(threshold)``, threshold balancing) before they are quantized,
so the projection's output is ``(W_q k) x weight_scale / T`` (+ bias): integer accumulation, one readout rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim.errors import NeurosimError
from neurosim.neurons import RESETS, lif_rate_code

SCOPES = ("neuron", "layer")


@dataclass(frozen=True)
class LifConfig:
    """One LIF population of the forward pass (see the module docstring)."""

    steps: int = 32
    leak: float = 1.0
    signed: bool = True  # -1/0/+1 spikes (ternary); False: 0/1 (binary)
    reset: str = "subtract"
    threshold: str = "neuron"  # neuron | layer
    quantile: float = 1.0
    calibration_tokens: int = 126

    def __post_init__(self) -> None:
        if int(self.steps) != self.steps or self.steps < 1:
            raise NeurosimError(f"LIF steps = {self.steps}; allowed: an integer >= 1")
        if not 0 < self.leak <= 1:
            raise NeurosimError(f"LIF leak = {self.leak}; allowed: (0, 1]")
        if self.reset not in RESETS:
            raise NeurosimError(f"LIF reset = {self.reset!r}; allowed: {', '.join(RESETS)}")
        if self.threshold not in SCOPES:
            raise NeurosimError(f"LIF threshold = {self.threshold!r}; allowed: {', '.join(SCOPES)}")
        if not 0 < self.quantile <= 1:
            raise NeurosimError(f"LIF threshold_quantile = {self.quantile}; allowed: (0, 1]")
        if self.calibration_tokens < 1:
            raise NeurosimError(f"LIF calibration_tokens = {self.calibration_tokens}; allowed: >= 1")

    @property
    def encoding(self) -> str:
        return "ternary" if self.signed else "binary"

    @property
    def count_range(self) -> tuple[int, int]:
        return (-self.steps if self.signed else 0), self.steps

    @property
    def bits(self) -> int:
        """Bits of a count (the graph's ``input.bits``)."""
        return int(np.ceil(np.log2(self.steps + 1))) + (1 if self.signed else 0)

    @property
    def label(self) -> str:
        sign = "signed" if self.signed else "binary"
        return (f"LIF {sign} T={self.steps} leak={self.leak:g} reset={self.reset}, thresholds per {self.threshold} "
                f"(q={self.quantile:g} of |input| over {self.calibration_tokens} calibration tokens)")


def thresholds_from(abs_input: np.ndarray, cfg: LifConfig, where: str = "LIF") -> np.ndarray:
    """Per-neuron thresholds (float32, width) from |input| seen on the calibration tokens (tokens x width): the
    ``cfg.quantile`` per neuron, or one over the whole layer. A neuron that never saw a nonzero input takes the
    layer's value (1.0 if the whole layer was zero)."""
    a = np.asarray(abs_input, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] == 0:
        raise NeurosimError(f"{where}: calibration needs tokens x width inputs, got shape {a.shape}")
    layer = float(np.quantile(a, cfg.quantile))
    layer = layer if layer > 0 else 1.0
    if cfg.threshold == "layer":
        return np.full(a.shape[1], layer, dtype=np.float32)
    per = np.quantile(a, cfg.quantile, axis=0)
    return np.where(per > 0, per, layer).astype(np.float32)


def rate_code(current: np.ndarray, thresholds: np.ndarray, cfg: LifConfig, trains: bool = False,
              where: str = "LIF"):
    """The LIF population's counts (tokens x width) and optionally its per-step spikes, for a held current."""
    return lif_rate_code(current, thresholds, cfg.steps, leak=cfg.leak, signed=cfg.signed, reset=cfg.reset,
                         trains=trains, where=where)


def fold_thresholds(w: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """``W diag(threshold)``: the weights a rate ``k / T`` (standing for ``input / threshold``) multiplies."""
    return (np.asarray(w, dtype=np.float32) * np.asarray(thresholds, dtype=np.float32)[None, :]).astype(np.float32)


#: calibrated thresholds per (model, LIF settings that change them): {encoder: thresholds}
_CALIBRATED: dict[tuple, dict[str, np.ndarray]] = {}


def calibration_key(model, cfg: LifConfig) -> tuple:
    return (getattr(model, "name", ""), getattr(model, "source", ""), id(model), cfg.threshold, cfg.quantile,
            cfg.calibration_tokens)


def cached_thresholds(key: tuple) -> dict[str, np.ndarray] | None:
    return _CALIBRATED.get(key)


def remember_thresholds(key: tuple, thresholds: dict[str, np.ndarray]) -> None:
    while len(_CALIBRATED) >= 8:
        _CALIBRATED.pop(next(iter(_CALIBRATED)))
    _CALIBRATED[key] = thresholds
