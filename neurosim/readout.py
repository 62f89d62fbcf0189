"""The readout of a spike-driven linear layer: its integer accumulator -> its float output, bit for bit.

Shared by the functional engine (:mod:`neurosim.functional.spike_linear`, which computes the accumulator)
and the event-driven exact mode (:mod:`neurosim.engines.events.exact`, whose embedded cores do the same
readout from the cores' partial sums), so neither engine imports the other. The rule:
``total = acc - zero_point[:, None] * row_sums[None, :]`` (int64; no correction when symmetric), then
``output = float32(total) * float32(act_scale)[:, None] * float32(w_scale)[None, :]`` (+ float32 bias),
evaluated left to right in float32.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class ScaledIntWeight(Protocol):
    """What the readout needs of a quantized weight (such as
    :class:`neurosim.functional.quantizers.QuantizedWeight`): per-output-channel scales, integer row sums."""

    @property
    def scale(self) -> np.ndarray: ...

    @property
    def row_sums(self) -> np.ndarray: ...


def dequantize_accumulator(acc: np.ndarray, act_scale: np.ndarray, weight: ScaledIntWeight,
                           zero_point: np.ndarray | None = None,
                           bias: np.ndarray | None = None) -> np.ndarray:
    """The float output of a spike-driven linear from its integer accumulator (the rule in the module doc)."""
    total = acc
    if zero_point is not None:
        total = acc.astype(np.int64) - zero_point.astype(np.int64)[:, None] * weight.row_sums[None, :]
    out = total.astype(np.float32)
    out *= act_scale.astype(np.float32)[:, None]
    out *= weight.scale.astype(np.float32)[None, :]
    if bias is not None:
        out += bias.astype(np.float32)[None, :]
    return out
