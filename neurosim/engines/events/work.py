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
from functools import cached_property

import numpy as np

from neurosim.cost import (
    Rules,
    attention_rows,
    encoder_rows,
    executed_ops,
    linear_output_rows,
    linear_synaptic_rows,
    op_rows,
    token_contexts,
)
from neurosim.errors import NeurosimError
from neurosim.graph import LIF, AttentionScore, AttentionValue, InputSpikes, Layer, Linear, SpikeEncoder


@dataclass(frozen=True)
class Block:
    """A block of consecutive tokens that moves through the system as one bundle of events.

    ``ctx[i]``: how many positions token ``i`` attends to (its own included for causal attention).
    """

    index: int
    start: int  # index of the first token in the run
    size: int
    ctx: np.ndarray

    @cached_property
    def ctx_sum(self) -> float:
        return float(self.ctx.sum())


def make_blocks(tokens: int, block: int, context: int, attention: str, window: int | None = None) -> list[Block]:
    """Blocks of ``block`` tokens for a run of ``tokens`` tokens after ``context`` cached positions."""
    out = []
    total = context + tokens
    for b, s in enumerate(range(0, tokens, block)):
        n = min(block, tokens - s)
        pos = context + s + np.arange(n)
        out.append(Block(b, s, n, token_contexts(pos, total, attention, window)))
    return out


def spike_steps_of(layer: Layer) -> tuple[int, float, float]:
    """(whole time steps D, spikes per element per token expected, per-step spike probability) of a source."""
    if isinstance(layer, SpikeEncoder):
        unfold, rate = float(layer.spec.unfold), float(layer.spec.firing_rate or 0.0)
    elif isinstance(layer, LIF):
        unfold, rate = float(layer.steps), float(layer.firing_rate)
    elif isinstance(layer, InputSpikes):
        unfold, rate = 1.0, float(layer.firing_rate)
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

    def __init__(self, table: dict[str, dict[int, float]], where: str = "count histogram"):
        self.where = where  # the file it came from, named in every error
        self.table: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for key, hist in table.items():
            if any(abs(int(v)) > 2**31 for v in hist):
                raise NeurosimError(f"{where}: {key!r}: a count beyond +-2^31; allowed: counts within the unfolding "
                                    "steps of the layer")
            values = np.array(sorted(int(v) for v in hist), dtype=np.int64)
            probs = np.array([float(hist[v]) for v in sorted(hist, key=int)], dtype=float)
            if len(values) == 0 or not np.isfinite(probs).all() or (probs < 0).any() or probs.sum() <= 0:
                raise NeurosimError(f"{where}: {key!r}: needs finite, non-negative frequencies that sum above 0")
            self.table[key] = (values, probs / probs.sum())

    def for_layer(self, layer: Layer) -> tuple[np.ndarray, np.ndarray] | None:
        for key in (layer.name, layer.role, "*"):
            if key in self.table:
                values = self.table[key][0]
                steps = spike_steps_of(layer)[0]
                if np.abs(values).max(initial=0) > steps:
                    raise NeurosimError(f"{self.where}: {key!r}: |count| {int(np.abs(values).max())} is above the "
                                        f"{steps} unfolding steps of layer {layer.name}")
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
    # step t carries every element-token whose |count| exceeds t (front-first unfolding): with the bins by falling
    # |count|, the first k_t of them, k_t the bins above t; a running sum over the bins in that order gives them all
    # (whole numbers, exact; no BLAS product, whose threads cost more than this small sum saves)
    mags = np.abs(values)
    order = np.argsort(-mags, kind="stable")
    upto = np.concatenate([np.zeros((len(per_bin), 1), dtype=np.int64), np.cumsum(per_bin[:, order], axis=1)], axis=1)
    above = (mags[:, None] > np.arange(steps)[None, :]).sum(axis=0)  # k_t per step
    return upto[:, above].astype(np.float64)


# --- non-spiking work: the cost model's rules for one block, and the ops an embedded core really does ----------


@dataclass
class OpWork:
    """Counted rows of a layer for one block (action, count, w_bits, operand) and the ops that take time."""

    rows: list[tuple[str, float, float, str]]
    ops: float = 0.0  # arithmetic an embedded core executes (counted or not under the convention)
    kv_read: float = 0.0
    kv_write: float = 0.0


def nonspike_work(layer: Layer, block: Block, rules: Rules,
                  rng: Callable[[], np.random.Generator] | None = None) -> OpWork:
    """The cost model's rows of one layer for one block (its real per-token contexts), for every action a spike
    phase does not count itself (a spike-driven Linear's accumulates, a spike source's neurons and spikes).
    Spike-driven attention draws its spikes per token (``rng()`` makes the generator)."""
    B, C = float(block.size), block.ctx_sum
    ops = executed_ops(layer, B, C)
    if isinstance(layer, Linear):
        rows = [] if layer.spiking else linear_synaptic_rows(
            layer, rules, dense=float(layer.in_features * layer.out_features * B))
        return OpWork(rows + linear_output_rows(layer, rules, B))
    if isinstance(layer, (AttentionScore, AttentionValue)):
        spike_ctx = None
        inp = layer.input
        if inp.encoding.is_spike and rules.attention != "none" and C > 0:
            d = max(1, math.ceil(float(inp.unfold) - 1e-9))
            p = min(1.0, float(inp.firing_rate or 0.0) * float(inp.unfold) / d)
            gen = rng() if rng is not None else np.random.default_rng(0)
            spikes = gen.binomial(layer.heads * layer.head_dim * d, p, size=block.size).astype(float)
            spike_ctx = float((spikes * block.ctx).sum())
        rows = attention_rows(layer, rules, B, C, spike_ctx)
        if not rows:
            return OpWork([])
        kv = {a: c for a, c, _, _ in rows if a in ("kv_read", "kv_write")}
        return OpWork(rows, ops, kv.get("kv_read", 0.0), kv.get("kv_write", 0.0))
    if isinstance(layer, SpikeEncoder):
        return OpWork(encoder_rows(layer, rules, B), ops)
    if isinstance(layer, (LIF, InputSpikes)):
        return OpWork([])
    return OpWork(op_rows(layer, rules, B, C), ops)
