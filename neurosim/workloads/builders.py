"""Workload builders: a :class:`WorkloadSpec` -> a :class:`Graph` of layers, per model family.

The builders read only the spec's dimensions, encodings and convention; engines never see the spec's families.
"""

from __future__ import annotations

from neurosim.errors import NeurosimError
from neurosim.graph import (
    LIF,
    ActivationSpec,
    AttentionScore,
    AttentionValue,
    Elementwise,
    Embedding,
    Encoding,
    Graph,
    Linear,
    Norm,
    Readout,
    Residual,
    SpikeEncoder,
)
from neurosim.workloads.spec import Convention, WorkloadSpec


def activation_for(spec: WorkloadSpec, role: str) -> ActivationSpec:
    """The activation representation entering a layer with this role (its rate from the spec)."""
    enc = Encoding(spec.a_encoding)
    if spec.lif is not None and role not in spec.lif.roles:
        return ActivationSpec()  # seed 003's LIF neurons drive only lif.roles; the rest stays fp16
    if enc is Encoding.FP:
        return ActivationSpec(Encoding.FP, bits=min(spec.a_bits, 32) if spec.a_bits >= 16 else 16)
    if enc is Encoding.INT:
        return ActivationSpec(Encoding.INT, bits=spec.a_bits)
    return ActivationSpec(
        enc,
        bits=spec.a_bits,
        unfold=spec.effective_unfold,
        firing_rate=spec.rate(role),
        symmetric=spec.symmetric,
        clip_quantile=spec.clip_quantile,
    )


class _Builder:
    """Shared helpers: encoders before projections, fp ops for the non-spiking parts."""

    def __init__(self, spec: WorkloadSpec, conv: Convention):
        self.spec = spec
        self.conv = conv
        self.g = Graph(name=spec.name)
        self.w_format = spec.weight_format
        if spec.lif is not None:
            self.g.meta["lif"] = spec.lif.model_dump()

    def encoder(self, name: str, dim: int, role: str, after: str, block: int | None) -> str:
        act = activation_for(self.spec, role)
        if not act.encoding.is_spike:
            return after
        if self.spec.lif is not None:  # seed 003: LIF neurons (calibrated thresholds, see graph.meta["lif"])
            lif = self.spec.lif
            self.g.add(LIF(name, block, role, n=dim, threshold=1.0, dv=min(4095, round(4096 * (1 - lif.leak))),
                           du=4095, reset=lif.reset, steps=int(act.unfold), firing_rate=float(act.firing_rate or 0.0),
                           neuron="lif"), after)
            return name
        self.g.add(
            SpikeEncoder(name, block, role, dim=dim, spec=act, rotation=self.spec.rotation, gamma_sqp=self.spec.gamma_sqp),
            after,
        )
        return name

    def linear(self, name: str, fan_in: int, fan_out: int, role: str, after: str, block: int | None,
               cls: type[Linear] = Linear, w_format: str | None = None, w_bits: int | None = None) -> str:
        extra = {}
        if self.spec.lif is not None and role not in self.spec.lif.roles:
            w_format, w_bits = "fp", 16  # a projection whose input does not spike keeps its fp weights
        if cls is Readout and self.spec.model.tied_embeddings:
            extra["tied_to"] = "embed"
        self.g.add(
            cls(name, block, role, in_features=fan_in, out_features=fan_out,
                w_bits=w_bits or self.spec.w_bits, input=activation_for(self.spec, role),
                w_format=w_format or self.w_format, bias=self.has_bias(name, cls), **extra),
            after,
        )
        return name

    def has_bias(self, name: str, cls: type[Linear]) -> bool:
        """Whether a projection carries a bias, as the model's config says (``model.bias``)."""
        bias = self.spec.model.bias or ("all" if self.spec.family == "bert" else "none")
        if cls is Readout or bias == "none":
            return False
        return bias == "all" or name.rsplit(".", 1)[-1] in ("q_proj", "k_proj", "v_proj")

    def elementwise(self, name: str, dim: int, op: str, after: str | list[str], block: int | None,
                    ops: float = 1.0) -> str:
        self.g.add(Elementwise(name, block, op, dim=dim, op=op, ops_per_element=ops), after)
        return name

    def attention(self, b: int, q: str, k: str, v: str, heads: int, kv: int, hd: int, causal_ok: bool) -> str:
        spec = self.spec
        att_in = activation_for(spec, "attn") if self.conv.attention_as_spiking else ActivationSpec()
        p = f"blk{b}"
        self.g.add(AttentionScore(f"{p}.attn_score", b, "attn_score", heads=heads, kv_heads=kv, head_dim=hd,
                                  kv_bits=spec.kv_bits, input=att_in), [q, k])
        self.elementwise(f"{p}.softmax", heads, "softmax", f"{p}.attn_score", b, ops=0)
        self.g.add(AttentionValue(f"{p}.attn_value", b, "attn_value", heads=heads, kv_heads=kv, head_dim=hd,
                                  kv_bits=spec.kv_bits, input=att_in), [f"{p}.softmax", v])
        return f"{p}.attn_value"


def _llama(spec: WorkloadSpec, conv: Convention) -> Graph:
    m = spec.model
    bld = _Builder(spec, conv)
    g = bld.g
    d, hd, heads = m.d_model, m.hd, m.heads
    kv = heads if conv.kv_width == "full" else m.n_kv
    g.add(Embedding("embed", None, "embed", vocab=m.vocab, dim=d, w_bits=16))
    x = "embed"
    for b in range(m.layers):
        p = f"blk{b}"
        g.add(Norm(f"{p}.attn_norm", b, "norm", dim=d, norm=m.norm), x)
        e = bld.encoder(f"{p}.enc_qkv", d, "qkv", f"{p}.attn_norm", b)
        q = bld.linear(f"{p}.q_proj", d, heads * hd, "qkv", e, b)
        k = bld.linear(f"{p}.k_proj", d, kv * hd, "qkv", e, b)
        v = bld.linear(f"{p}.v_proj", d, kv * hd, "qkv", e, b)
        if conv.attention != "none":
            qr = bld.elementwise(f"{p}.rope_q", heads * hd, "rotary", q, b, ops=1.5)
            kr = bld.elementwise(f"{p}.rope_k", kv * hd, "rotary", k, b, ops=1.5)
            a = bld.attention(b, qr, kr, v, heads, kv, hd, True)
        else:
            a = q  # attention not counted (paper convention): o_proj reads the q width
        e = bld.encoder(f"{p}.enc_o", heads * hd, "o", a, b)
        o = bld.linear(f"{p}.o_proj", heads * hd, d, "o", e, b)
        g.add(Residual(f"{p}.attn_residual", b, "residual", dim=d), [o, x])
        g.add(Norm(f"{p}.ffn_norm", b, "norm", dim=d, norm=m.norm), f"{p}.attn_residual")
        e = bld.encoder(f"{p}.enc_gate_up", d, "gate_up", f"{p}.ffn_norm", b)
        gt = bld.linear(f"{p}.gate_proj", d, m.ffn, "gate_up", e, b)
        up = bld.linear(f"{p}.up_proj", d, m.ffn, "gate_up", e, b)
        act = bld.elementwise(f"{p}.silu", m.ffn, "silu", gt, b, ops=4)
        mul = bld.elementwise(f"{p}.gate_mul", m.ffn, "mul", [act, up], b)
        e = bld.encoder(f"{p}.enc_down", m.ffn, "down", mul, b)
        dn = bld.linear(f"{p}.down_proj", m.ffn, d, "down", e, b)
        g.add(Residual(f"{p}.ffn_residual", b, "residual", dim=d), [dn, f"{p}.attn_residual"])
        x = f"{p}.ffn_residual"
    g.add(Norm("final_norm", None, "norm", dim=d, norm=m.norm), x)
    if conv.lm_head and m.lm_head:
        e = bld.encoder("enc_lm_head", d, "lm_head", "final_norm", None)
        bld.linear("lm_head", d, m.vocab, "lm_head", e, None, cls=Readout)
    return g


def _bert(spec: WorkloadSpec, conv: Convention) -> Graph:
    """Encoder-only BERT (post-LayerNorm, GELU FFN); all heads full width."""
    m = spec.model
    bld = _Builder(spec, conv)
    g = bld.g
    d, hd, heads = m.d_model, m.hd, m.heads
    g.add(Embedding("embed", None, "embed", vocab=m.vocab, dim=d, w_bits=16))
    g.add(Norm("embed_norm", None, "norm", dim=d, norm="layer"), "embed")
    x = "embed_norm"
    ffn_in_role, ffn_out_role = "ffn_in", "ffn_out"
    for b in range(m.layers):
        p = f"blk{b}"
        e = bld.encoder(f"{p}.enc_qkv", d, "qkv", x, b)
        q = bld.linear(f"{p}.q_proj", d, d, "qkv", e, b)
        k = bld.linear(f"{p}.k_proj", d, d, "qkv", e, b)
        v = bld.linear(f"{p}.v_proj", d, d, "qkv", e, b)
        a = bld.attention(b, q, k, v, heads, heads, hd, False) if conv.attention != "none" else q
        e = bld.encoder(f"{p}.enc_o", d, "o", a, b)
        o = bld.linear(f"{p}.o_proj", d, d, "o", e, b)
        g.add(Residual(f"{p}.attn_residual", b, "residual", dim=d), [o, x])
        g.add(Norm(f"{p}.attn_norm", b, "norm", dim=d, norm="layer"), f"{p}.attn_residual")
        e = bld.encoder(f"{p}.enc_ffn_in", d, ffn_in_role, f"{p}.attn_norm", b)
        up = bld.linear(f"{p}.ffn_in", d, m.ffn, ffn_in_role, e, b)
        act = bld.elementwise(f"{p}.gelu", m.ffn, "gelu", up, b, ops=8)
        e = bld.encoder(f"{p}.enc_ffn_out", m.ffn, ffn_out_role, act, b)
        dn = bld.linear(f"{p}.ffn_out", m.ffn, d, ffn_out_role, e, b)
        g.add(Residual(f"{p}.ffn_residual", b, "residual", dim=d), [dn, f"{p}.attn_norm"])
        g.add(Norm(f"{p}.ffn_norm", b, "norm", dim=d, norm="layer"), f"{p}.ffn_residual")
        x = f"{p}.ffn_norm"
    if conv.lm_head and m.lm_head:
        e = bld.encoder("enc_lm_head", d, "lm_head", x, None)
        bld.linear("lm_head", d, m.vocab, "lm_head", e, None, cls=Readout)
    return g


def _rwkv(spec: WorkloadSpec, conv: Convention) -> Graph:
    """SpikeGPT (RWKV-style): a spiking token-mix (receptance/key/value/output, linear-cost recurrence instead of
    attention) and a channel-mix (key d->ffn, value ffn->d, receptance d->d) per block; LayerNorm; lm_head."""
    m = spec.model
    bld = _Builder(spec, conv)
    g = bld.g
    d = m.d_model
    g.add(Embedding("embed", None, "embed", vocab=m.vocab, dim=d, w_bits=16))
    x = "embed"
    for b in range(m.layers):
        p = f"blk{b}"
        g.add(Norm(f"{p}.ln1", b, "norm", dim=d, norm="layer"), x)
        e = bld.encoder(f"{p}.enc_tmix", d, "qkv", f"{p}.ln1", b)
        r = bld.linear(f"{p}.tmix_r", d, d, "qkv", e, b)
        k = bld.linear(f"{p}.tmix_k", d, d, "qkv", e, b)
        v = bld.linear(f"{p}.tmix_v", d, d, "qkv", e, b)
        wkv = bld.elementwise(f"{p}.wkv", d, "exp_decay", [k, v], b, ops=8)
        gate = bld.elementwise(f"{p}.tmix_gate", d, "mul", [r, wkv], b, ops=4)
        e = bld.encoder(f"{p}.enc_tmix_o", d, "o", gate, b)
        o = bld.linear(f"{p}.tmix_o", d, d, "o", e, b)
        g.add(Residual(f"{p}.tmix_residual", b, "residual", dim=d), [o, x])
        g.add(Norm(f"{p}.ln2", b, "norm", dim=d, norm="layer"), f"{p}.tmix_residual")
        e = bld.encoder(f"{p}.enc_cmix", d, "gate_up", f"{p}.ln2", b)
        ck = bld.linear(f"{p}.cmix_k", d, m.ffn, "gate_up", e, b)
        cr = bld.linear(f"{p}.cmix_r", d, d, "gate_up", e, b)
        sq = bld.elementwise(f"{p}.relu_sq", m.ffn, "relu_sq", ck, b, ops=2)
        e = bld.encoder(f"{p}.enc_cmix_v", m.ffn, "down", sq, b)
        cv = bld.linear(f"{p}.cmix_v", m.ffn, d, "down", e, b)
        gate = bld.elementwise(f"{p}.cmix_gate", d, "mul", [cr, cv], b, ops=4)
        g.add(Residual(f"{p}.cmix_residual", b, "residual", dim=d), [gate, f"{p}.tmix_residual"])
        x = f"{p}.cmix_residual"
    g.add(Norm("final_norm", None, "norm", dim=d, norm="layer"), x)
    if conv.lm_head and m.lm_head:
        e = bld.encoder("enc_lm_head", d, "lm_head", "final_norm", None)
        bld.linear("lm_head", d, m.vocab, "lm_head", e, None, cls=Readout)
    return g


def _symboliclight(spec: WorkloadSpec, conv: Convention) -> Graph:
    """SymbolicLight V1 (seed 001): per block a Dual-Path SparseTCAM (spike-gated local attention over a window +
    an exponential-decay aggregation path) and a SwiGLU FFN; binary LIF spikes gate a continuous residual stream."""
    m = spec.model
    bld = _Builder(spec, conv)
    g = bld.g
    d, hd, heads = m.d_model, m.hd, m.heads
    window = m.local_window or 128
    g.add(Embedding("embed", None, "embed", vocab=m.vocab, dim=d, w_bits=16))
    x = "embed"
    for b in range(m.layers):
        p = f"blk{b}"
        g.add(Norm(f"{p}.norm1", b, "norm", dim=d, norm=m.norm), x)
        e = bld.encoder(f"{p}.enc_qkv", d, "qkv", f"{p}.norm1", b)
        q = bld.linear(f"{p}.q_proj", d, d, "qkv", e, b)
        k = bld.linear(f"{p}.k_proj", d, d, "qkv", e, b)
        v = bld.linear(f"{p}.v_proj", d, d, "qkv", e, b)
        dec = bld.linear(f"{p}.decay_proj", d, d, "qkv", e, b)
        local = bld.attention(b, q, k, v, heads, heads, hd, True) if conv.attention != "none" else q
        agg = bld.elementwise(f"{p}.decay_agg", d, "exp_decay", [dec, v], b, ops=3)
        mix = bld.elementwise(f"{p}.path_mix", d, "mul", [local, agg], b, ops=2)
        e = bld.encoder(f"{p}.enc_o", d, "o", mix, b)
        o = bld.linear(f"{p}.o_proj", d, d, "o", e, b)
        g.add(Residual(f"{p}.attn_residual", b, "residual", dim=d), [o, x])
        g.add(Norm(f"{p}.norm2", b, "norm", dim=d, norm=m.norm), f"{p}.attn_residual")
        e = bld.encoder(f"{p}.enc_gate_up", d, "gate_up", f"{p}.norm2", b)
        gt = bld.linear(f"{p}.gate_proj", d, m.ffn, "gate_up", e, b)
        up = bld.linear(f"{p}.up_proj", d, m.ffn, "gate_up", e, b)
        act = bld.elementwise(f"{p}.silu", m.ffn, "silu", gt, b, ops=4)
        mul = bld.elementwise(f"{p}.gate_mul", m.ffn, "mul", [act, up], b)
        e = bld.encoder(f"{p}.enc_down", m.ffn, "down", mul, b)
        dn = bld.linear(f"{p}.down_proj", m.ffn, d, "down", e, b)
        g.add(Residual(f"{p}.ffn_residual", b, "residual", dim=d), [dn, f"{p}.attn_residual"])
        x = f"{p}.ffn_residual"
    g.add(Norm("final_norm", None, "norm", dim=d, norm=m.norm), x)
    if conv.lm_head and m.lm_head:
        e = bld.encoder("enc_lm_head", d, "lm_head", "final_norm", None)
        bld.linear("lm_head", d, m.vocab, "lm_head", e, None, cls=Readout)
    g.meta["local_window"] = window
    return g


def _matmulfree(spec: WorkloadSpec, conv: Convention) -> Graph:
    """The MatMul-free LM (Zhu et al. 2024, arXiv 2406.02528; HGRNBit in ridgerchu/matmulfreellm), as Abreu et al.
    2025 (arXiv 2503.18002) ran it on Loihi 2: per block an MLGRU token mixer and a GLU channel mixer, all
    projections ternary BitLinear layers, RMSNorm before each mixer; no attention and no KV cache.

    MLGRU (per element, per token): f = sigmoid(f_proj x) (lifted by a per-layer lower bound), c = silu(i_proj x) x
    (1 - f), h = f x h_prev + c (the recurrence: 2 ops per element, its state one value per element),
    o = o_proj(rmsnorm(h) x silu(g_proj x)). GLU: down_proj(silu(gate_proj x) x up_proj x); the checkpoint stores
    gate and up as one d -> 2 ffn matrix, split here (same weights, same work). Each BitLinear normalises its input
    (an RMSNorm fused into it): one norm per distinct input."""
    m = spec.model
    bld = _Builder(spec, conv)
    g = bld.g
    d, f = m.d_model, m.ffn
    g.add(Embedding("embed", None, "embed", vocab=m.vocab, dim=d, w_bits=16))
    x = "embed"
    for b in range(m.layers):
        p = f"blk{b}"
        g.add(Norm(f"{p}.attn_norm", b, "norm", dim=d, norm="rms"), x)
        g.add(Norm(f"{p}.mix_in_norm", b, "norm", dim=d, norm="rms"), f"{p}.attn_norm")
        e = bld.encoder(f"{p}.enc_mix", d, "qkv", f"{p}.mix_in_norm", b)
        i = bld.linear(f"{p}.i_proj", d, d, "qkv", e, b)
        fp = bld.linear(f"{p}.f_proj", d, d, "qkv", e, b)
        gp = bld.linear(f"{p}.g_proj", d, d, "qkv", e, b)
        fg = bld.elementwise(f"{p}.forget_gate", d, "sigmoid", fp, b, ops=6)
        c = bld.elementwise(f"{p}.input_gate", d, "silu_mul", [i, fg], b, ops=6)
        h = bld.elementwise(f"{p}.mlgru", d, "recurrence", [c, fg], b, ops=2)
        g.add(Norm(f"{p}.g_norm", b, "norm", dim=d, norm="rms"), h)
        og = bld.elementwise(f"{p}.output_gate", d, "silu_mul", [f"{p}.g_norm", gp], b, ops=5)
        g.add(Norm(f"{p}.o_in_norm", b, "norm", dim=d, norm="rms"), og)
        e = bld.encoder(f"{p}.enc_o", d, "o", f"{p}.o_in_norm", b)
        o = bld.linear(f"{p}.o_proj", d, d, "o", e, b)
        g.add(Residual(f"{p}.mix_residual", b, "residual", dim=d), [o, x])
        g.add(Norm(f"{p}.mlp_norm", b, "norm", dim=d, norm="rms"), f"{p}.mix_residual")
        g.add(Norm(f"{p}.glu_in_norm", b, "norm", dim=d, norm="rms"), f"{p}.mlp_norm")
        e = bld.encoder(f"{p}.enc_gate_up", d, "gate_up", f"{p}.glu_in_norm", b)
        gt = bld.linear(f"{p}.gate_proj", d, f, "gate_up", e, b)
        up = bld.linear(f"{p}.up_proj", d, f, "gate_up", e, b)
        glu = bld.elementwise(f"{p}.glu", f, "silu_mul", [gt, up], b, ops=5)
        g.add(Norm(f"{p}.down_in_norm", b, "norm", dim=f, norm="rms"), glu)
        e = bld.encoder(f"{p}.enc_down", f, "down", f"{p}.down_in_norm", b)
        dn = bld.linear(f"{p}.down_proj", f, d, "down", e, b)
        g.add(Residual(f"{p}.glu_residual", b, "residual", dim=d), [dn, f"{p}.mix_residual"])
        x = f"{p}.glu_residual"
    g.add(Norm("final_norm", None, "norm", dim=d, norm="rms"), x)
    if conv.lm_head and m.lm_head:
        g.add(Norm("lm_head_in_norm", None, "norm", dim=d, norm="rms"), "final_norm")
        e = bld.encoder("enc_lm_head", d, "lm_head", "lm_head_in_norm", None)
        bld.linear("lm_head", d, m.vocab, "lm_head", e, None, cls=Readout)
    return g


BUILDERS = {"llama": _llama, "bert": _bert, "rwkv": _rwkv, "symboliclight": _symboliclight,
            "matmulfree": _matmulfree}


#: the conventions a run can ask for by name; "workload" and "principled" are the first release's names of "real"
CONVENTIONS = ("real", "paper")
CONVENTION_ALIASES = {"workload": "real", "principled": "real"}


def convention_of(spec: WorkloadSpec, convention: str | Convention = "real") -> tuple[str, Convention]:
    """(name, convention) a run counts under: "real" (the model as it is: the spec's ``convention``, the default)
    or "paper" (the spec's ``paper_convention``: what the paper's printed count includes)."""
    if isinstance(convention, Convention):
        return "custom", convention
    name = CONVENTION_ALIASES.get(convention, convention)
    if name == "real":
        return name, spec.convention
    if name == "paper":
        if spec.paper_convention is None:
            raise NeurosimError(f"workload {spec.name}: --convention paper: the workload has no 'paper_convention' "
                                "(no paper count to reproduce); allowed: real")
        return name, spec.paper_convention
    raise NeurosimError(f"--convention {convention!r}; allowed: {', '.join(CONVENTIONS)}")


def build_graph(spec: WorkloadSpec, convention: str | Convention = "real") -> Graph:
    """Build the layer graph of a workload under a convention (see :func:`convention_of`; default: the real model).
    The graph's ``meta["convention"]`` names it (``name``) beside what it includes."""
    conv_name, conv = convention_of(spec, convention)
    builder = BUILDERS.get(spec.family)
    if builder is None:
        raise NeurosimError(f"workload {spec.name}: family {spec.family!r} has no builder; allowed: {', '.join(BUILDERS)}")
    g = builder(spec, conv)
    g.meta.update(
        {
            "workload": spec.name,
            "family": spec.family,
            "method": spec.method,
            "convention": {"name": conv_name, **conv.model_dump()},
            "seq_len": spec.seq_len,
            "batch": spec.batch,
            "w_bits": spec.w_bits,
            "a_encoding": spec.a_encoding,
            "a_bits": spec.a_bits,
            "unfold": spec.effective_unfold,
            "spike_multiplier": spec.spike_multiplier,
            "tied_embeddings": spec.model.tied_embeddings,
        }
    )
    g.check()
    return g


def is_graph_file(source: str) -> bool:
    """A YAML file holding a graph (``layers`` + ``edges``, e.g. written by ``import-nir``), not a workload spec."""
    from pathlib import Path

    p = Path(source)
    if p.suffix not in (".yaml", ".yml") or not p.is_file():
        return False
    from neurosim.io import load_yaml

    try:
        head = load_yaml(p)  # the safe, size-checked loader; a malformed file is reported by the workload loader
    except NeurosimError:
        return False
    return isinstance(head, dict) and "layers" in head and "family" not in head


def load_graph(source: str, sets: list[str] | None = None, convention: str = "real") -> Graph:
    """A built-in workload name, a workload YAML or a graph YAML -> the layer graph engines run."""
    from neurosim.io import load_yaml
    from neurosim.workloads.spec import load_workload

    if is_graph_file(source):
        if sets:
            raise NeurosimError(f"{source}: --set applies to workload specs, not to a graph file")
        g = Graph.from_dict(load_yaml(source), where=source)
        g.meta.setdefault("workload", g.name)
        return g
    return build_graph(load_workload(source, sets), convention)
