"""What a token block asks of each layer: spike counts per step (drawn or real) and the closed-form work of the
non-spiking ops, shared by the statistical and exact input modes.

Statistical draws are per *segment* of a spike source's output (the elementary intervals cut by the mapping's
piece boundaries and routes), per time step, summed over the block's tokens: every element-token-step spikes with
probability ``p`` independently, so a segment's spikes in a step are ``Binomial(width x tokens, p)`` (one draw per
segment and step, never per spike). With a count histogram instead, each element-token draws a count ``k`` from it
(one multinomial per segment) and the count is unfolded front-first, so step ``t`` carries the elements with
``|k| > t``. Generators are seeded per (seed, layer, block): counts do not depend on timing parameters or on the
order events happen in.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from neurosim.errors import NeurosimError
from neurosim.graph import (
    LIF,
    AttentionScore,
    AttentionValue,
    Elementwise,
    Embedding,
    Encoding,
    Layer,
    Linear,
    Norm,
    Residual,
    SpikeEncoder,
)


@dataclass(frozen=True)
class Block:
    """A block of consecutive tokens that moves through the system as one bundle of events.

    ``ctx[i]``: how many positions token ``i`` attends to (its own included for causal attention).
    """

    index: int
    start: int  # index of the first token in the run
    size: int
    ctx: np.ndarray

    @property
    def ctx_sum(self) -> float:
        return float(self.ctx.sum())


def make_blocks(tokens: int, block: int, context: int, attention: str) -> list[Block]:
    """Blocks of ``block`` tokens for a run of ``tokens`` tokens after ``context`` cached positions."""
    out = []
    total = context + tokens
    for b, s in enumerate(range(0, tokens, block)):
        n = min(block, tokens - s)
        pos = context + s + np.arange(n)
        if attention == "full":
            ctx = np.full(n, float(total))
        elif attention == "causal":
            ctx = (pos + 1).astype(float)
        else:
            ctx = np.zeros(n)
        out.append(Block(b, s, n, ctx))
    return out


def spike_steps_of(layer: Layer) -> tuple[int, float, float]:
    """(whole time steps D, spikes per element per token expected, per-step spike probability) of a source."""
    if isinstance(layer, SpikeEncoder):
        unfold, rate = float(layer.spec.unfold), float(layer.spec.firing_rate or 0.0)
    elif isinstance(layer, LIF):
        unfold, rate = float(layer.steps), float(layer.firing_rate)
    else:
        raise NeurosimError(f"layer {layer.name} is not a spike source")
    d = max(1, math.ceil(unfold - 1e-9))
    # a fractional (averaged) unfold keeps its expectation: D whole steps at probability rate x unfold / D
    return d, unfold * rate, min(1.0, rate * unfold / d)


def rng_for(seed: int, name: str, block: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode()), int(block)])


class CountHistogram:
    """Spike counts per element per token: ``values[i]`` occurs with probability ``probs[i]`` (a measured count
    histogram, e.g. from ``neurosim rates``). Keys may be a layer name, a role, or ``*``."""

    def __init__(self, table: dict[str, dict[int, float]]):
        self.table: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for key, hist in table.items():
            values = np.array(sorted(int(v) for v in hist), dtype=np.int64)
            probs = np.array([float(hist[v]) for v in sorted(hist, key=int)], dtype=float)
            if len(values) == 0 or (probs < 0).any() or probs.sum() <= 0:
                raise NeurosimError(f"count histogram {key!r}: needs non-negative frequencies that sum above 0")
            self.table[key] = (values, probs / probs.sum())

    def for_layer(self, layer: Layer) -> tuple[np.ndarray, np.ndarray] | None:
        for key in (layer.name, layer.role, "*"):
            if key in self.table:
                return self.table[key]
        return None


def draw_segment_steps(rng: np.random.Generator, widths: np.ndarray, tokens: int, steps: int, p: float,
                       hist: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Spikes per segment per step (n_seg x steps), summed over ``tokens`` tokens (see the module docstring)."""
    n = widths.astype(np.int64) * int(tokens)
    if hist is None:
        return rng.binomial(n[:, None], p, size=(len(widths), steps)).astype(np.float64)
    values, probs = hist
    if np.abs(values).max(initial=0) > steps:
        raise NeurosimError(f"count histogram has |count| {int(np.abs(values).max())} above the {steps} unfolding "
                            "steps of the layer")
    per_bin = rng.multinomial(n, probs)  # n_seg x bins: how many element-tokens have each count
    mags = np.abs(values)
    # step t carries every element-token whose |count| exceeds t (front-first unfolding)
    fire = (mags[:, None] > np.arange(steps)[None, :]).astype(np.float64)  # bins x steps
    return per_bin.astype(np.float64) @ fire


# --- non-spiking work: counts under the convention, and the ops an embedded core really does --------------------


@dataclass
class OpWork:
    """Counted rows of a layer for one block (action, count, w_bits, operand) and the ops that take time."""

    rows: list[tuple[str, float, float, str]]
    ops: float = 0.0  # arithmetic an embedded core executes (counted or not under the convention)
    kv_read: float = 0.0
    kv_write: float = 0.0


def nonspike_work(layer: Layer, block: Block, conv: dict, mult: float,
                  rng: Callable[[], np.random.Generator] | None = None) -> OpWork:
    """The analytic engine's rules for one block (real per-token contexts), for every action a spike phase does
    not count itself. Spike-driven attention draws its spikes per token (``rng()`` makes the generator)."""
    nonlinear = bool(conv.get("nonlinear", True))
    B = block.size
    rows: list[tuple[str, float, float, str]] = []
    ops = 0.0
    if isinstance(layer, Linear):
        if not layer.spiking:
            wb = layer.weight_bits_priced
            dense = float(layer.in_features * layer.out_features * B)
            m = mult if layer.input.encoding is Encoding.INT else 1.0
            rows += [("mac", dense * m, wb, layer.input.label), ("synapse_read", dense, wb, "")]
        if layer.bias and nonlinear:
            rows.append(("add", float(layer.out_features * B), 16, "fp16"))
        return OpWork(rows)
    if isinstance(layer, (AttentionScore, AttentionValue)):
        if conv.get("attention", "causal") == "none" or block.ctx_sum == 0:
            return OpWork([])
        inp = layer.input
        per_token = layer.heads * layer.head_dim
        ops = per_token * block.ctx_sum
        kv_elems = layer.kv_heads * layer.head_dim
        if inp.encoding.is_spike:
            d = max(1, math.ceil(float(inp.unfold) - 1e-9))
            p = min(1.0, float(inp.firing_rate or 0.0) * float(inp.unfold) / d)
            gen = rng() if rng is not None else np.random.default_rng(0)
            spikes = gen.binomial(per_token * d, p, size=B).astype(float)
            rows.append(("ac", float((spikes * block.ctx).sum()), layer.kv_bits, inp.label))
        else:
            rows.append(("mac", ops, layer.kv_bits, inp.label))
        kv_read, kv_write = kv_elems * block.ctx_sum, float(kv_elems * B)
        rows += [("kv_read", kv_read, layer.kv_bits, ""), ("kv_write", kv_write, layer.kv_bits, "")]
        return OpWork(rows, ops, kv_read, kv_write)
    if isinstance(layer, SpikeEncoder):
        if layer.rotation == "hadamard":
            n = layer.dim * math.log2(max(layer.dim, 2)) * B
            if nonlinear:
                rows.append(("add", n, 16, "fp16"))
            return OpWork(rows, n)
        if layer.rotation == "random":
            n = float(layer.dim * layer.dim * B)
            if nonlinear:
                rows.append(("mac", n, 16, "fp16"))
            return OpWork(rows, n)
        return OpWork(rows)
    if isinstance(layer, LIF):
        return OpWork([])
    if isinstance(layer, Embedding):
        return OpWork([("embedding_read", float(layer.dim * B), layer.w_bits, "")])
    if isinstance(layer, Norm):
        ops = 2.0 * layer.dim * B
        return OpWork([("mac", ops, 16, "fp16")] if nonlinear else [], ops)
    if isinstance(layer, Residual):
        ops = float(layer.dim * B)
        return OpWork([("add", ops, 16, "fp16")] if nonlinear else [], ops)
    if isinstance(layer, Elementwise):
        if layer.op == "softmax":
            ops = 3.0 * layer.dim * block.ctx_sum
        else:
            ops = float(layer.dim * layer.ops_per_element * B)
        return OpWork([("mac", ops, 16, "fp16")] if nonlinear else [], ops)
    return OpWork([])
