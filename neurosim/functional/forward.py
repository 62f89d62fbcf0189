"""NumPy forward passes of the real models: the FP path and the spike-driven path share one code.

Every projection goes through :meth:`ForwardState.project` with the name of the spike encoder that feeds it in
the workload graph (``blk3.enc_qkv`` -> ``blk3.q_proj``, ``k_proj``, ``v_proj``). With the FP plan it is a float32
matrix product; with a spiking plan the encoder rotates, clips and quantizes the activation to integer spike
counts, and each projection is an exact spike-driven linear (:mod:`~neurosim.functional.spike_linear`) on the
rotated, quantized weights. Attention, norms, SiLU/GELU, rotary and residuals stay in float32 (the workload
graphs price them as fp ops).

Named settings (:data:`SETTINGS`) are ``--set`` overrides of a workload, e.g. SDLLM's W4 A4->1.58 D=8.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from neurosim.errors import NeurosimError
from neurosim.functional.encoders import EncoderConfig, QuantileClip, SpikeCounts, count_range, encode
from neurosim.functional.hadamard import Rotation, rotation_for
from neurosim.functional.lif import (
    LifConfig,
    cached_thresholds,
    calibration_key,
    fold_thresholds,
    rate_code,
    remember_thresholds,
    thresholds_from,
)
from neurosim.functional.quantizers import QuantizedWeight, quantize_weight
from neurosim.functional.spike_linear import SpikeLinearRecord, SpikeStats, spike_linear

#: named settings of the spike-driven path, as workload overrides (``neurosim ppl --setting NAME``)
SETTINGS: dict[str, list[str]] = {
    "sdllm-w4-d8": ["w_bits=4", "a_encoding=ternary", "a_bits=4", "symmetric=true", "unfold=8"],
    "sdllm-w4-d8-q0.5": ["w_bits=4", "a_encoding=ternary", "a_bits=4", "symmetric=true", "unfold=8",
                         "clip_quantile=0.5"],
    "sdllm-w4-d8-q0.6": ["w_bits=4", "a_encoding=ternary", "a_bits=4", "symmetric=true", "unfold=8",
                         "clip_quantile=0.6"],
    "quarot-w4-d8": ["w_bits=4", "a_encoding=ternary", "a_bits=4", "symmetric=true", "unfold=8", "gamma_sqp=false"],
    "w6-d32": ["w_bits=6", "a_encoding=ternary", "a_bits=6", "symmetric=true", "unfold=32"],
    "binary-d15": ["w_bits=4", "a_encoding=binary", "a_bits=4", "symmetric=false", "unfold=15"],
}

LinearHook = Callable[[SpikeLinearRecord], None]
#: called with (encoder name, rotated activation before clipping and quantization: tokens x width, float32)
EncoderHook = Callable[[str, np.ndarray], None]


@dataclass(frozen=True)
class LinearPlan:
    """How one projection runs: fp, or spike-driven from ``encoder`` with ``w_format``/``w_bits`` weights."""

    name: str
    spiking: bool = False
    encoder: str | None = None
    w_format: str = "fp"
    w_bits: int = 16


@dataclass
class ForwardPlan:
    """The spike encoders and projections of one forward pass, keyed by graph layer names."""

    label: str = "fp"
    encoders: dict[str, EncoderConfig | LifConfig] = field(default_factory=dict)
    linears: dict[str, LinearPlan] = field(default_factory=dict)

    def linear(self, name: str) -> LinearPlan:
        return self.linears.get(name) or LinearPlan(name)

    @property
    def spiking(self) -> bool:
        return any(p.spiking for p in self.linears.values())


#: rotated weights kept per model for this many (rotation, fusion) combinations (about 540 MB each for SmolLM2)
ROTATED_CACHE_COMBOS = 2


def _rotated_cache(model, combo: tuple) -> dict:
    """The model's cache of rotated float weights for one (rotation method, gamma fused, beta fused) combination.

    Rotated weights do not depend on the bits, so every setting with the same rotation shares them; the oldest
    combination is dropped beyond :data:`ROTATED_CACHE_COMBOS`. Models are treated as immutable.
    """
    cache = getattr(model, "cache", None)
    if cache is None:
        return {}
    if combo not in cache:
        while len(cache) >= ROTATED_CACHE_COMBOS:
            cache.pop(next(iter(cache)))
        cache[combo] = {}
    return cache[combo]


def _affine(x_hat: np.ndarray, gamma: np.ndarray | None, beta: np.ndarray | None) -> np.ndarray:
    out = x_hat if gamma is None else x_hat * gamma
    return out if beta is None else out + beta


class ForwardState:
    """One model under one plan: prepared (rotated, quantized) weights, clip thresholds, statistics, hooks.

    Reusable across calls; weights are prepared once (:meth:`prepare`), statistics accumulate until
    :meth:`reset_stats`.
    """

    def __init__(self, model, plan: ForwardPlan, on_linear: LinearHook | None = None,
                 thresholds: dict[str, float] | None = None, rotation_seed: int = 0,
                 on_encoder: EncoderHook | None = None):
        self.model = model
        self.plan = plan
        self.on_linear = on_linear
        self.on_encoder = on_encoder
        self.rotation_seed = rotation_seed
        self.rotations: dict[str, Rotation] = {}
        self.weights: dict[str, tuple[QuantizedWeight, np.ndarray | None]] = {}
        self.clips: dict[str, QuantileClip] = {}
        for name, thr in (thresholds or {}).items():
            cfg = plan.encoders.get(name)
            if cfg is not None and cfg.clip_quantile is not None:
                self.clips[name] = QuantileClip(cfg.clip_quantile, threshold=float(thr))
        self.stats: dict[str, SpikeStats] = {}
        self.lif_thresholds: dict[str, np.ndarray] = {}  # LIF encoder -> calibrated thresholds (per neuron)
        self.fp_weights: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}  # spike-driven, fp weights (LIF)
        self.fan_out: dict[str, int] = {}
        self.token_offset = 0
        self.attention_ctx = 0  # sum over query tokens of the context length they attended to
        self.tokens = 0

    # -- state -----------------------------------------------------------------------------------------------
    def reset_stats(self) -> None:
        self.stats.clear()
        self.token_offset = 0
        self.attention_ctx = 0
        self.tokens = 0

    @property
    def thresholds(self) -> dict[str, float]:
        return {n: float(c.threshold) for n, c in self.clips.items() if c.threshold is not None}

    def rotation(self, encoder: str, width: int, kind: str) -> Rotation:
        rot = self.rotations.get(encoder)
        if rot is None or rot.n != width:
            rot = rotation_for(width, kind, self.rotation_seed)
            self.rotations[encoder] = rot
        return rot

    def _stats(self, encoder: str, cfg: EncoderConfig, width: int) -> SpikeStats:
        st = self.stats.get(encoder)
        if st is None:
            lo, hi = count_range(cfg.bits, cfg.symmetric)
            st = self.stats[encoder] = SpikeStats(encoder, width, cfg.steps, lo, hi)
        return st

    def _prepared(self, name: str, w: np.ndarray, bias: np.ndarray | None, rot: Rotation, lp: LinearPlan,
                  gamma: np.ndarray | None, beta: np.ndarray | None) -> tuple[QuantizedWeight, np.ndarray | None]:
        hit = self.weights.get(name)
        if hit is not None:
            return hit
        combo = (rot.method, gamma is not None, beta is not None)
        cache = _rotated_cache(self.model, combo)
        if name in cache:
            w_rot, b_eff = cache[name]
        else:
            w_eff = w.astype(np.float32)
            b_eff = None if bias is None else bias.astype(np.float32)
            if beta is not None:  # QuaRot-style fusion of a LayerNorm's shift into the bias
                b_eff = (0 if b_eff is None else b_eff) + w_eff @ beta.astype(np.float32)
            if gamma is not None:  # QuaRot-style fusion of the norm scale into the weights
                w_eff = w_eff * gamma.astype(np.float32)[None, :]
            w_rot = rot.apply(w_eff)
            cache[name] = (w_rot, b_eff)
        # the quantized weight is kept beside the rotated one for the last (format, bits) it was asked in, so a
        # later run of the same setting (a warm token, the next sweep point) does not quantize it again
        fmt = (lp.w_format, float(lp.w_bits))
        kept = cache.get(("quantized", name))
        if kept is not None and kept[0] == fmt:
            q = kept[1]
        else:
            q = quantize_weight(w_rot, lp.w_format, lp.w_bits, what=name)
            cache[("quantized", name)] = (fmt, q)
        self.weights[name] = (q, b_eff)
        return q, b_eff

    # -- the one projection entry point ----------------------------------------------------------------------
    def project(self, encoder: str, x_hat: np.ndarray, gamma: np.ndarray | None, beta: np.ndarray | None,
                targets: list[tuple[str, np.ndarray, np.ndarray | None]]) -> list[np.ndarray]:
        """Run the projections fed by one encoder. ``x_hat`` is the activation before the norm's affine part
        (``gamma``, ``beta``; None where the encoder does not follow a norm)."""
        width = x_hat.shape[-1]
        for name, w, _ in targets:
            if w.shape[1] != width:
                raise NeurosimError(f"{name}: width mismatch: the activation has {width} features, the weight "
                                    f"expects {w.shape[1]}")
            self.fan_out[name] = int(w.shape[0])
        plans = [self.plan.linear(name) for name, _, _ in targets]
        cfg = self.plan.encoders.get(encoder)
        if cfg is None or not any(p.spiking for p in plans):
            a = _affine(x_hat, gamma, beta)
            return [self._fp(a, w, b) for _, w, b in targets]
        if isinstance(cfg, LifConfig):
            return self._project_lif(encoder, cfg, _affine(x_hat, gamma, beta), targets, plans)
        fuse = not cfg.gamma_sqp and gamma is not None
        a = x_hat if fuse else _affine(x_hat, gamma, beta)
        rot = self.rotation(encoder, width, cfg.rotation)
        clip = None
        if cfg.clip_quantile is not None:
            clip = self.clips.setdefault(encoder, QuantileClip(cfg.clip_quantile))
        z = rot.apply(a)
        if self.on_encoder is not None:
            self.on_encoder(encoder, z)
        counts = encode(z, cfg, clip, what=encoder)
        self._stats(encoder, cfg, width).add(counts.counts)
        outs = []
        for (name, w, b), lp in zip(targets, plans):
            if not lp.spiking:
                outs.append(self._fp(_affine(x_hat, gamma, beta), w, b))
                continue
            qw, b_eff = self._prepared(name, w, b, rot, lp, gamma if fuse else None, beta if fuse else None)
            acc, out = spike_linear(counts, qw, b_eff, what=name, keep_acc=self.on_linear is not None)
            if self.on_linear is not None:
                self.on_linear(SpikeLinearRecord(
                    layer=name, encoder=encoder, counts=counts.counts, act_scale=counts.scale,
                    zero_point=counts.zero_point, weight=qw, acc=acc, output=out, bias=b_eff, steps=cfg.steps,
                    encoding=cfg.encoding, token_offset=self.token_offset))
            outs.append(out)
        return outs

    # -- seed 003: LIF neurons in front of the projections ------------------------------------------------------
    def _project_lif(self, encoder: str, cfg: LifConfig, a: np.ndarray,
                     targets: list[tuple[str, np.ndarray, np.ndarray | None]],
                     plans: list[LinearPlan]) -> list[np.ndarray]:
        """The activation ``a`` is the held input current of the encoder's LIF neurons; each spike-driven target
        accumulates their integer counts with its threshold-folded, quantized weights (see :mod:`.lif`)."""
        if self.on_encoder is not None:
            self.on_encoder(encoder, a)
        theta = self.lif_threshold(encoder, a.shape[-1])
        counts = rate_code(a, theta, cfg, where=encoder).counts
        st = self.stats.get(encoder)
        if st is None:
            lo, hi = cfg.count_range
            st = self.stats[encoder] = SpikeStats(encoder, a.shape[-1], cfg.steps, lo, hi)
        st.add(counts)
        sc = SpikeCounts(counts, np.full(counts.shape[0], 1.0 / cfg.steps), None, cfg.bits, True)
        outs = []
        for (name, w, b), lp in zip(targets, plans):
            if not lp.spiking:
                outs.append(self._fp(a, w, b))
                continue
            if lp.w_format == "fp":  # full-precision weights: the spikes select float columns
                wf = self.fp_weights.get(name)
                if wf is None:
                    wf = self.fp_weights[name] = (fold_thresholds(w, theta), b)
                outs.append(self._fp(sc.as_float(np.float32) * np.float32(1.0 / cfg.steps), wf[0], wf[1]))
                continue
            hit = self.weights.get(name)
            if hit is None:
                hit = self.weights[name] = (quantize_weight(fold_thresholds(w, theta), lp.w_format, lp.w_bits,
                                                            what=name), None if b is None else b.astype(np.float32))
            qw, b_eff = hit
            acc, out = spike_linear(sc, qw, b_eff, what=name, keep_acc=self.on_linear is not None)
            if self.on_linear is not None:
                self.on_linear(SpikeLinearRecord(
                    layer=name, encoder=encoder, counts=counts, act_scale=sc.scale, zero_point=None, weight=qw,
                    acc=acc, output=out, bias=b_eff, steps=cfg.steps, encoding=cfg.encoding,
                    token_offset=self.token_offset))
            outs.append(out)
        return outs

    def lif_threshold(self, encoder: str, width: int) -> np.ndarray:
        """The calibrated thresholds of a LIF encoder (every LIF encoder is calibrated on first use)."""
        if encoder not in self.lif_thresholds:
            self.lif_thresholds.update(calibrate_lif(self.model, self.plan))
        theta = self.lif_thresholds.get(encoder)
        if theta is None or theta.shape != (width,):
            raise NeurosimError(f"{encoder}: no calibrated LIF thresholds for a width of {width}")
        return theta

    @staticmethod
    def _fp(a: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
        out = a.astype(np.float32, copy=False) @ w.T
        return out if b is None else out + b

    def prepare(self) -> None:
        """Rotate and quantize every spike-driven weight now (otherwise done on first use)."""
        prepare_weights(self)


# -- shared pieces ------------------------------------------------------------------------------------------------
def rms_hat(x: np.ndarray, eps: float) -> np.ndarray:
    """x / rms(x) (the RMSNorm without its scale)."""
    ms = np.mean(np.square(x, dtype=np.float32), axis=-1, keepdims=True)
    return x / np.sqrt(ms + np.float32(eps))


def layer_hat(x: np.ndarray, eps: float) -> np.ndarray:
    """(x - mean) / std (the LayerNorm without its affine part)."""
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    var = np.mean(np.square(xc), axis=-1, keepdims=True)
    return xc / np.sqrt(var + np.float32(eps))


def softmax(s: np.ndarray) -> np.ndarray:
    s = s - s.max(axis=-1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(axis=-1, keepdims=True)
    return s


def rope_tables(positions: np.ndarray, head_dim: int, theta: float) -> tuple[np.ndarray, np.ndarray]:
    inv = theta ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    ang = positions[:, None].astype(np.float64) * inv[None, :]
    return np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)


def apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray, interleaved: bool) -> np.ndarray:
    """Rotary embedding of x (tokens x heads x head_dim): adjacent pairs (GGUF order) or halves (HF order)."""
    c, s = cos[:, None, :], sin[:, None, :]
    out = np.empty_like(x)
    if interleaved:
        x0, x1 = x[..., 0::2], x[..., 1::2]
        out[..., 0::2] = x0 * c - x1 * s
        out[..., 1::2] = x0 * s + x1 * c
    else:
        h = x.shape[-1] // 2
        x0, x1 = x[..., :h], x[..., h:]
        out[..., :h] = x0 * c - x1 * s
        out[..., h:] = x0 * s + x1 * c
    return out


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool, chunk: int = 512) -> np.ndarray:
    """Grouped-query attention: q (T x H x d), k and v (T x KV x d) -> (T x H*d). Query blocks bound memory."""
    T, H, d = q.shape
    kv = k.shape[1]
    group = H // kv
    qh = q.reshape(T, kv, group, d).transpose(1, 2, 0, 3)  # kv x group x T x d
    kh = np.ascontiguousarray(k.transpose(1, 2, 0))  # kv x d x T
    vh = np.ascontiguousarray(v.transpose(1, 0, 2))  # kv x T x d
    out = np.empty((kv, group, T, d), dtype=np.float32)
    scale = np.float32(1.0 / np.sqrt(d))
    for s0 in range(0, T, chunk):
        s1 = min(T, s0 + chunk)
        kend = s1 if causal else T
        qc = np.ascontiguousarray(qh[:, :, s0:s1]).reshape(kv, group * (s1 - s0), d)
        sc = (qc @ kh[:, :, :kend]).reshape(kv, group, s1 - s0, kend)
        sc *= scale
        if causal:
            mask = np.arange(kend)[None, :] > np.arange(s0, s1)[:, None]
            sc[..., mask] = -np.inf
        pr = softmax(sc).reshape(kv, group * (s1 - s0), kend)
        out[:, :, s0:s1] = (pr @ vh[:, :kend]).reshape(kv, group, s1 - s0, d)
    return out.transpose(2, 0, 1, 3).reshape(T, H * d)


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return (0.5 * x * (1.0 + erf(x / np.float32(np.sqrt(2.0))))).astype(np.float32)


# -- model forwards ---------------------------------------------------------------------------------------------
def llama_forward(state: ForwardState, ids: np.ndarray) -> np.ndarray:
    """Causal LM forward over one sequence: logits (tokens x vocab, float32)."""
    m = state.model
    ids = np.asarray(ids, dtype=np.int64)
    T = ids.shape[0]
    if T == 0:
        raise NeurosimError("the forward pass needs at least one token")
    if ids.min() < 0 or ids.max() >= m.vocab:
        raise NeurosimError(f"token ids out of range 0..{m.vocab - 1}")
    H, KV, hd, eps = m.heads, m.kv_heads, m.head_dim, m.norm_eps
    cos, sin = rope_tables(np.arange(T), hd, m.rope_theta)
    x = m.embed[ids].astype(np.float32)
    for b, blk in enumerate(m.blocks):
        p = f"blk{b}"
        q, k, v = state.project(f"{p}.enc_qkv", rms_hat(x, eps), blk.attn_norm, None,
                                [(f"{p}.q_proj", blk.q, None), (f"{p}.k_proj", blk.k, None),
                                 (f"{p}.v_proj", blk.v, None)])
        q = apply_rope(q.reshape(T, H, hd), cos, sin, m.rope_interleaved)
        k = apply_rope(k.reshape(T, KV, hd), cos, sin, m.rope_interleaved)
        att = attention(q, k, v.reshape(T, KV, hd), causal=True)
        (o,) = state.project(f"{p}.enc_o", att, None, None, [(f"{p}.o_proj", blk.o, None)])
        x = x + o
        g, u = state.project(f"{p}.enc_gate_up", rms_hat(x, eps), blk.ffn_norm, None,
                             [(f"{p}.gate_proj", blk.gate, None), (f"{p}.up_proj", blk.up, None)])
        (dn,) = state.project(f"{p}.enc_down", silu(g) * u, None, None, [(f"{p}.down_proj", blk.down, None)])
        x = x + dn
    (logits,) = state.project("enc_lm_head", rms_hat(x, eps), m.final_norm, None, [("lm_head", m.lm_head, None)])
    state.tokens += T
    state.token_offset += T
    state.attention_ctx += T * (T + 1) // 2
    return logits


def bert_forward(state: ForwardState, ids: np.ndarray) -> np.ndarray:
    """Encoder forward over one window (ids include [CLS] and [SEP]): last hidden states (tokens x d)."""
    m = state.model
    ids = np.asarray(ids, dtype=np.int64)
    T = ids.shape[0]
    if T == 0 or T > m.max_positions:
        raise NeurosimError(f"a BERT window holds 1..{m.max_positions} tokens; got {T}")
    H, hd, eps = m.heads, m.head_dim, m.norm_eps
    x_hat = layer_hat(m.word_embed[ids] + m.pos_embed[:T] + m.type_embed[0], eps)
    gamma, beta = m.embed_ln_w, m.embed_ln_b
    for b, blk in enumerate(m.blocks):
        p = f"blk{b}"
        q, k, v = state.project(f"{p}.enc_qkv", x_hat, gamma, beta,
                                [(f"{p}.q_proj", blk.q, blk.q_b), (f"{p}.k_proj", blk.k, blk.k_b),
                                 (f"{p}.v_proj", blk.v, blk.v_b)])
        x = _affine(x_hat, gamma, beta)
        att = attention(q.reshape(T, H, hd), k.reshape(T, H, hd), v.reshape(T, H, hd), causal=False)
        (o,) = state.project(f"{p}.enc_o", att, None, None, [(f"{p}.o_proj", blk.o, blk.o_b)])
        x_hat, gamma, beta = layer_hat(x + o, eps), blk.attn_ln_w, blk.attn_ln_b
        (h,) = state.project(f"{p}.enc_ffn_in", x_hat, gamma, beta, [(f"{p}.ffn_in", blk.ffn_in, blk.ffn_in_b)])
        (dn,) = state.project(f"{p}.enc_ffn_out", gelu(h), None, None,
                              [(f"{p}.ffn_out", blk.ffn_out, blk.ffn_out_b)])
        x = _affine(x_hat, gamma, beta)
        x_hat, gamma, beta = layer_hat(x + dn, eps), blk.ffn_ln_w, blk.ffn_ln_b
    state.tokens += T
    state.token_offset += T
    state.attention_ctx += T * T
    return _affine(x_hat, gamma, beta).astype(np.float32)


def bert_windows(model, ids: np.ndarray, window: int) -> list[np.ndarray]:
    """Cut text ids into windows of at most ``window`` tokens, each wrapped in [CLS] ... [SEP]."""
    inner = max(1, min(window, model.max_positions) - 2)
    ids = np.asarray(ids, dtype=np.int64)
    return [np.concatenate([[model.cls_id], ids[i:i + inner], [model.sep_id]]) for i in range(0, len(ids), inner)]


def linear_weights(model) -> dict[str, tuple[str, np.ndarray, np.ndarray | None]]:
    """Graph linear name -> (encoder name, weight, bias) for a loaded model."""
    out: dict[str, tuple[str, np.ndarray, np.ndarray | None]] = {}
    if model.family == "llama":
        for b, blk in enumerate(model.blocks):
            p = f"blk{b}"
            for n, w in (("q_proj", blk.q), ("k_proj", blk.k), ("v_proj", blk.v)):
                out[f"{p}.{n}"] = (f"{p}.enc_qkv", w, None)
            out[f"{p}.o_proj"] = (f"{p}.enc_o", blk.o, None)
            out[f"{p}.gate_proj"] = (f"{p}.enc_gate_up", blk.gate, None)
            out[f"{p}.up_proj"] = (f"{p}.enc_gate_up", blk.up, None)
            out[f"{p}.down_proj"] = (f"{p}.enc_down", blk.down, None)
        out["lm_head"] = ("enc_lm_head", model.lm_head, None)
    else:
        for b, blk in enumerate(model.blocks):
            p = f"blk{b}"
            out[f"{p}.q_proj"] = (f"{p}.enc_qkv", blk.q, blk.q_b)
            out[f"{p}.k_proj"] = (f"{p}.enc_qkv", blk.k, blk.k_b)
            out[f"{p}.v_proj"] = (f"{p}.enc_qkv", blk.v, blk.v_b)
            out[f"{p}.o_proj"] = (f"{p}.enc_o", blk.o, blk.o_b)
            out[f"{p}.ffn_in"] = (f"{p}.enc_ffn_in", blk.ffn_in, blk.ffn_in_b)
            out[f"{p}.ffn_out"] = (f"{p}.enc_ffn_out", blk.ffn_out, blk.ffn_out_b)
    return out


def _norm_of(model, encoder: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The (gamma, beta) of the norm an encoder follows, or (None, None)."""
    if model.family == "llama":
        if encoder == "enc_lm_head":
            return model.final_norm, None
        b, _, e = encoder.partition(".")
        blk = model.blocks[int(b[3:])]
        return {"enc_qkv": (blk.attn_norm, None), "enc_gate_up": (blk.ffn_norm, None)}.get(e, (None, None))
    b, _, e = encoder.partition(".")
    i = int(b[3:])
    if e == "enc_qkv":
        if i == 0:
            return model.embed_ln_w, model.embed_ln_b
        prev = model.blocks[i - 1]
        return prev.ffn_ln_w, prev.ffn_ln_b
    if e == "enc_ffn_in":
        return model.blocks[i].attn_ln_w, model.blocks[i].attn_ln_b
    return None, None


def prepare_weights(state: ForwardState) -> None:
    for name, (encoder, w, b) in linear_weights(state.model).items():
        lp = state.plan.linear(name)
        cfg = state.plan.encoders.get(encoder)
        if not lp.spiking or cfg is None:
            continue
        if isinstance(cfg, LifConfig):
            state.lif_threshold(encoder, w.shape[1])  # the LIF weights are folded and quantized on first use
            continue
        gamma, beta = _norm_of(state.model, encoder)
        fuse = not cfg.gamma_sqp and gamma is not None
        rot = state.rotation(encoder, w.shape[1], cfg.rotation)
        state._prepared(name, w, b, rot, lp, gamma if fuse else None, beta if fuse else None)


class _LifCalibration(ForwardState):
    """The full-precision forward that records |input| of every LIF encoder (tokens x width)."""

    def __init__(self, model, encoders: set[str]):
        super().__init__(model, ForwardPlan())
        self.watch = encoders
        self.seen: dict[str, list[np.ndarray]] = {}

    def project(self, encoder, x_hat, gamma, beta, targets):
        a = _affine(x_hat, gamma, beta)
        if encoder in self.watch:
            self.seen.setdefault(encoder, []).append(np.abs(a))
        return [self._fp(a, w, b) for _, w, b in targets]


def calibrate_lif(model, plan: ForwardPlan) -> dict[str, np.ndarray]:
    """Thresholds of every LIF encoder of ``plan``: the full-precision model runs the first
    ``calibration_tokens`` tokens of the shipped text (:func:`~.lif.thresholds_from`); cached per model and
    settings, so every run, whatever its own text, has the same neurons."""
    from neurosim.functional.text import load_text

    lifs = {n: c for n, c in plan.encoders.items() if isinstance(c, LifConfig)}
    out: dict[str, np.ndarray] = {}
    by_key: dict[tuple, list[str]] = {}
    for name, cfg in lifs.items():
        by_key.setdefault(calibration_key(model, cfg), []).append(name)
    for key, names in by_key.items():
        cfg = lifs[names[0]]
        hit = cached_thresholds(key)
        if hit is None or any(n not in hit for n in names):
            text, _ = load_text()
            ids = model.encode(text)[:cfg.calibration_tokens]
            cal = _LifCalibration(model, set(names))
            if model.family == "llama":
                llama_forward(cal, ids)
            else:
                for win in bert_windows(model, ids, model.max_positions):
                    bert_forward(cal, win)
            hit = {n: thresholds_from(np.concatenate(v, axis=0), lifs[n], where=n) for n, v in cal.seen.items()}
            remember_thresholds(key, hit)
        missing = [n for n in names if n not in hit]
        if missing:
            raise NeurosimError(f"LIF calibration: the forward pass never reached {missing[0]}")
        out.update({n: hit[n] for n in names})
    return out


def perplexity(logits: np.ndarray, ids: np.ndarray) -> tuple[float, float]:
    """(perplexity, mean negative log-likelihood in nats) of ids[1:] given logits[:-1]."""
    ids = np.asarray(ids)
    if logits.shape[0] != ids.shape[0] or ids.shape[0] < 2:
        raise NeurosimError("perplexity needs logits for every token and at least 2 tokens")
    nll = 0.0
    for s0 in range(0, ids.shape[0] - 1, 256):
        s1 = min(ids.shape[0] - 1, s0 + 256)
        z = logits[s0:s1].astype(np.float64)
        zmax = z.max(axis=1, keepdims=True)
        lse = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))
        nll += float((lse - z[np.arange(s1 - s0), ids[s0 + 1:s1 + 1]]).sum())
    mean = nll / (ids.shape[0] - 1)
    return float(np.exp(mean)), mean
