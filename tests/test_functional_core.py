"""Functional engine, without real models: rotations, spike encoders, weight quantizers, the exact spike-driven
linear, and the engine on a tiny random LLaMA (counters, trace records, errors)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_models import tiny_model

from neurosim.counters import compare
from neurosim.engines.analytic import count_graph
from neurosim.errors import NeurosimError
from neurosim.functional.encoders import (
    EncoderConfig,
    QuantileClip,
    count_range,
    quantize_counts,
    resum,
    steps_for,
    unfold,
)
from neurosim.functional.engine import graph_with_measured_rates, run
from neurosim.functional.forward import ForwardPlan, ForwardState, llama_forward
from neurosim.functional.hadamard import (
    hadamard_factorisation,
    known_hadamard,
    rotation_for,
    sylvester,
)
from neurosim.functional.quantizers import (
    QuantizedWeight,
    binarize_1bit,
    rtn_per_channel,
    ternarize_absmean,
)
from neurosim.functional.spike_linear import (
    SpikeStats,
    accumulate_spike_trains,
    count_matmul,
    dequantize_accumulator,
    spike_linear,
)
from neurosim.graph import Linear
from neurosim.workloads.builders import build_graph
from neurosim.workloads.spec import workload_from_dict

# -- rotations ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", [2, 4, 12, 20, 28, 36, 44, 60, 108])
def test_hadamard_constructions_give_hadamard_matrices(order):
    h, _ = known_hadamard(order)
    h = h.astype(np.int64)
    assert set(np.unique(h)) <= {-1, 1}
    assert np.array_equal(h @ h.T, order * np.eye(order, dtype=np.int64))


@pytest.mark.parametrize("width, factors", [(576, (36, 16)), (1536, (12, 128)), (384, (12, 32)),
                                            (13824, (108, 128)), (14336, (28, 512)), (4096, (1, 4096)),
                                            (11008, (5504, 2))])
def test_model_widths_factor_into_known_hadamard_orders(width, factors):
    assert hadamard_factorisation(width) == factors


def test_rotation_says_which_construction_was_used():
    assert rotation_for(576).method == "hadamard: paley2(q=17) x sylvester(16)"
    assert rotation_for(1536).method == "hadamard: paley1(q=11) x sylvester(128)"
    assert rotation_for(100).method == "random-orthogonal(seed=0)"  # 100 = 25 x 4: no construction here
    assert rotation_for(100, "random", seed=3).method == "random-orthogonal(seed=3)"
    assert rotation_for(64, "none").method == "identity"


@pytest.mark.parametrize("width", [48, 576, 100, 2048])
def test_rotation_is_orthogonal_and_apply_equals_the_dense_matrix(width):
    rot = rotation_for(width)
    r = rot.matrix()
    assert np.allclose(r @ r.T, np.eye(width), atol=1e-12)
    x = np.random.default_rng(1).standard_normal((3, width))
    assert np.allclose(rot.apply(x), x @ r.T, atol=1e-12)


def test_kronecker_rotation_is_h_m_kron_sylvester():
    h36, _ = known_hadamard(36)
    expected = np.kron(h36, sylvester(16)) / 24.0
    assert np.allclose(rotation_for(576).matrix(), expected, atol=1e-14)


def test_rotation_folded_into_weights_leaves_the_product_unchanged():
    rng = np.random.default_rng(2)
    w, x = rng.standard_normal((7, 48)), rng.standard_normal((5, 48))
    rot = rotation_for(48)
    assert np.allclose(rot.apply(x) @ rot.apply(w).T, x @ w.T, atol=1e-12)


# -- step one: integer counts ------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(tokens=st.integers(1, 5), width=st.integers(1, 40), bits=st.integers(2, 7), symmetric=st.booleans(),
       seed=st.integers(0, 2**16))
def test_counts_stay_in_range_and_dequantize_within_half_a_step(tokens, width, bits, symmetric, seed):
    z = np.random.default_rng(seed).standard_normal((tokens, width)) * 3
    c = quantize_counts(z, bits, symmetric)
    lo, hi = count_range(bits, symmetric)
    assert c.counts.min() >= lo and c.counts.max() <= hi
    err = np.abs(c.dequantize() - z)
    assert (err <= c.scale[:, None] / 2 * (1 + 1e-6) + 1e-6).all()


def test_symmetric_counts_hand_worked():
    c = quantize_counts(np.array([[0.7, -0.35, 0.1, 0.0]]), bits=4, symmetric=True)
    assert c.scale[0] == pytest.approx(0.1)  # max|z| / 7
    assert c.counts.tolist() == [[7, -4, 1, 0]]  # -3.5 rounds half to even
    assert c.zero_point is None


def test_asymmetric_counts_hand_worked():
    c = quantize_counts(np.array([[-1.0, 0.0, 2.0]]), bits=2, symmetric=False)  # 3 levels over [-1, 2]
    assert c.scale[0] == pytest.approx(1.0)
    assert c.zero_point.tolist() == [1]
    assert c.counts.tolist() == [[0, 1, 3]]
    assert np.allclose(c.dequantize(), [[-1.0, 0.0, 2.0]])


def test_clip_ratio_shrinks_the_range():
    z = np.array([[1.0, 0.5, -0.2]])
    assert quantize_counts(z, 4, True, clip_ratio=0.5).counts.tolist() == [[7, 7, -3]]


def test_nan_or_inf_activation_is_a_clear_error():
    z = np.ones((2, 4))
    z[1, 2] = np.nan
    with pytest.raises(NeurosimError, match=r"NaN or Inf .*\(1, 2\)"):
        quantize_counts(z, 4)
    z[1, 2] = np.inf
    with pytest.raises(NeurosimError, match="NaN or Inf"):
        quantize_counts(z, 4, symmetric=False)


# -- step two: unfolding -----------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 9)), bits=st.integers(2, 6), symmetric=st.booleans(),
       layout=st.sampled_from(["front", "spread"]), seed=st.integers(0, 2**16))
def test_unfolding_then_summing_recovers_the_counts(shape, bits, symmetric, layout, seed):
    lo, hi = count_range(bits, symmetric)
    k = np.random.default_rng(seed).integers(lo, hi + 1, size=shape)
    steps = steps_for(bits, symmetric)
    trains = unfold(k, steps, layout)
    assert trains.shape == (steps, *shape)
    assert set(np.unique(trains)) <= ({-1, 0, 1} if symmetric else {0, 1})
    assert np.array_equal(resum(trains), k)
    assert np.array_equal(np.abs(trains).sum(axis=0), np.abs(k))  # spikes never cancel inside a train


def test_front_and_spread_layouts_hand_worked():
    assert unfold(np.array([3]), 8, "front")[:, 0].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]
    assert unfold(np.array([-2]), 8, "spread")[:, 0].tolist() == [0, 0, 0, -1, 0, 0, 0, -1]
    assert unfold(np.array([15]), 15, "front")[:, 0].tolist() == [1] * 15


def test_unfold_rejects_counts_that_do_not_fit_the_window():
    with pytest.raises(NeurosimError, match="does not fit in 8"):
        unfold(np.array([9]), 8)


def test_binary_spikes_need_asymmetric_counts_and_the_window_must_hold_them():
    with pytest.raises(NeurosimError, match="binary spikes carry no sign"):
        EncoderConfig(bits=4, symmetric=True, encoding="binary", steps=15)
    with pytest.raises(NeurosimError, match="unfold >= 15"):
        EncoderConfig(bits=4, symmetric=False, encoding="binary", steps=8)
    assert EncoderConfig(bits=6, symmetric=True, encoding="ternary", steps=32).label == "ternary sym 6-bit D=32"


def test_quantile_clip_moving_average_hand_worked():
    clip = QuantileClip(0.5, momentum=0.5)
    z = np.array([[0.0, 1.0, 2.0], [2.0, 3.0, 4.0]])  # per-token medians 1 and 3
    assert clip.calibrate(z) == pytest.approx(0.5 * 1.0 + 0.5 * 3.0)
    assert clip.apply(np.array([[1.0, 2.5, 5.0]])).tolist() == [[0.0, 0.5, 3.0]]
    with pytest.raises(NeurosimError):
        QuantileClip(1.5)


# -- weights -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [4, 6, 8])
def test_rtn_per_channel_range_scale_and_error(bits):
    w = np.random.default_rng(bits).standard_normal((6, 30)).astype(np.float32)
    q = rtn_per_channel(w, bits)
    qmax = 2 ** (bits - 1) - 1
    assert q.int_weight.dtype == np.int8
    assert np.abs(q.int_weight).max(axis=1).tolist() == [qmax] * 6  # each row's largest weight maps to +-qmax
    assert np.allclose(q.scale, np.abs(w).max(axis=1) / qmax)
    assert (np.abs(q.dequantize() - w) <= q.scale[:, None] / 2 + 1e-6).all()


def test_one_bit_weights_are_signs_around_the_mean_scaled_by_mean_abs():
    q = binarize_1bit(np.array([[1.0, 2.0], [3.0, 6.0]]))  # mean 3
    assert q.int_weight.tolist() == [[-1, -1], [1, 1]]  # W - mean = 0 maps to +1
    assert q.scale.tolist() == [3.0, 3.0]  # beta = mean|W|
    assert q.w_format == "binary" and q.max_abs == 1


def test_ternary_weights_are_absmean_rounded_and_clamped():
    w = np.array([[0.1, -0.5], [1.0, 0.02]])
    q = ternarize_absmean(w)
    gamma = np.abs(w).mean()
    assert q.int_weight.tolist() == [[0, -1], [1, 0]]
    assert q.scale == pytest.approx([gamma, gamma])
    assert q.bits == 1.58


def test_weight_with_nan_is_a_clear_error():
    with pytest.raises(NeurosimError, match="NaN or Inf"):
        rtn_per_channel(np.array([[1.0, np.nan]]), 4)


# -- the spike-driven linear -------------------------------------------------------------------------------------

weight_kinds = st.sampled_from(["int2", "int4", "int6", "int8", "binary", "ternary"])


def _weight(kind: str, shape, rng) -> QuantizedWeight:
    w = rng.standard_normal(shape).astype(np.float32)
    if kind == "binary":
        return binarize_1bit(w)
    if kind == "ternary":
        return ternarize_absmean(w)
    return rtn_per_channel(w, int(kind[3:]))


@settings(max_examples=80, deadline=None)
@given(tokens=st.integers(1, 5), fan_in=st.integers(1, 40), fan_out=st.integers(1, 12), bits=st.integers(2, 6),
       symmetric=st.booleans(), wkind=weight_kinds, layout=st.sampled_from(["front", "spread"]),
       seed=st.integers(0, 2**16))
def test_spike_driven_linear_equals_the_dense_integer_product_and_the_event_sum(
        tokens, fan_in, fan_out, bits, symmetric, wkind, layout, seed):
    rng = np.random.default_rng(seed)
    counts = quantize_counts(rng.standard_normal((tokens, fan_in)) * 2, bits, symmetric)
    w = _weight(wkind, (fan_out, fan_in), rng)
    acc, out = spike_linear(counts, w)
    dense = counts.counts.astype(np.int64) @ w.int_weight.astype(np.int64).T
    assert np.array_equal(acc, dense)
    assert np.array_equal(count_matmul(counts.counts, w), dense)
    trains = unfold(counts.counts, steps_for(bits, symmetric), layout)
    assert np.array_equal(accumulate_spike_trains(trains, w.int_weight), dense)
    assert np.array_equal(out, dequantize_accumulator(acc, counts.scale, w, counts.zero_point))
    ref = counts.dequantize().astype(np.float64) @ w.dequantize().astype(np.float64).T
    assert np.allclose(out, ref, rtol=1e-4, atol=1e-4 * (np.abs(ref).max() + 1))


def test_wide_products_fall_back_to_float64_and_int64_and_stay_exact():
    rng = np.random.default_rng(5)
    k = rng.integers(-63, 64, size=(3, 1000)).astype(np.int16)
    w16 = QuantizedWeight(rng.integers(-32767, 32768, size=(4, 1000)).astype(np.int16), np.ones(4), 16, "int")
    exact = k.astype(object) @ w16.int_weight.astype(object).T  # Python integers: no overflow, no rounding
    assert np.array_equal(count_matmul(k, w16).astype(object), exact)  # bound 2e9 > 2^24: float64 path
    w32 = QuantizedWeight(rng.integers(-2**30, 2**30, size=(2, 1000)).astype(np.int32), np.ones(2), 32, "int")
    big = (k.astype(np.int64) * 256).astype(np.int32)
    got = count_matmul(big, w32)  # bound > 2^53: int64 path
    assert got.dtype == np.int64
    assert np.array_equal(got.astype(object), big.astype(object) @ w32.int_weight.astype(object).T)


def test_width_mismatch_is_a_clear_error():
    w = rtn_per_channel(np.ones((3, 8), dtype=np.float32), 4)
    with pytest.raises(NeurosimError, match="width mismatch"):
        count_matmul(np.zeros((2, 7), dtype=np.int8), w)
    with pytest.raises(NeurosimError, match="width mismatch"):
        spike_linear(quantize_counts(np.ones((2, 9)), 4), w)


def test_spike_stats_rate_mean_count_histogram_and_acs():
    s = SpikeStats("enc", width=4, steps=8, lo=-7, hi=7, fan_out=10)
    s.add(np.array([[0, 1, -2, 7], [0, 0, -1, 3]], dtype=np.int8))
    assert s.spikes == 14 and s.elements == 8
    assert s.rate == pytest.approx(14 / (8 * 8))
    assert s.mean_count == pytest.approx(14 / 8)
    assert s.zero_fraction == pytest.approx(3 / 8)
    assert s.histogram.sum() == 8 and s.histogram[0 + 7] == 3 and s.histogram[7 + 7] == 1
    assert s.acs == 140 and s.neuron_updates == 64


# -- the engine on a tiny random LLaMA ---------------------------------------------------------------------------

TINY = {"layers": 2, "d_model": 48, "ffn": 96, "heads": 4, "kv_heads": 2, "vocab": 64, "tied_embeddings": True}


def tiny_graph(**fields):
    data = {"name": "tiny-llama", "family": "llama", "model": dict(TINY), "w_bits": 4, "a_encoding": "ternary",
            "a_bits": 4, "unfold": 8, "firing_rate": 0.2, "seq_len": 16}
    data.update(fields)
    return build_graph(workload_from_dict(data, "test"))


IDS = np.random.default_rng(9).integers(0, 64, size=16)


def test_trace_records_reproduce_every_spike_driven_linear_exactly():
    records = []
    res = run(tiny_graph(), tiny_model(), IDS, on_linear=records.append)
    names = [r.layer for r in records]
    assert names == [x.name for x in res.graph.of_kind(Linear)]
    for r in records:
        assert r.counts.dtype == np.int8 and r.int_weight.dtype == np.int8
        dense = r.counts.astype(np.int64) @ r.int_weight.astype(np.int64).T
        assert np.array_equal(r.acc, dense)
        assert np.array_equal(r.output, dequantize_accumulator(r.acc, r.act_scale, r.weight, r.zero_point, r.bias))
        assert int(np.abs(r.counts).max()) <= 7 and r.steps == 8
    # the lm_head record's output is the run's logits, bit for bit
    assert np.array_equal(records[-1].output, res.logits)


def test_functional_counters_match_the_analytic_engine_at_the_measured_rates():
    res = run(tiny_graph(), tiny_model(), IDS)
    assert set(res.counters["engine"]) == {"functional"}
    expected = count_graph(graph_with_measured_rates(res.graph, res.stats), seq_len=len(IDS), batch=1)
    core = ["ac", "spike", "neuron_update", "synapse_read", "state_read", "state_write", "kv_read", "kv_write",
            "embedding_read", "mac"]
    diff = compare(res.counters[res.counters.action.isin(core)], expected[expected.action.isin(core)], rtol=1e-12)
    assert diff.empty, diff
    q = res.stats["blk0.q_proj"]
    ac = res.counters.query("layer == 'blk0.q_proj' and action == 'ac'")["count"].sum()
    assert ac == q.spikes * 48 == res.stats["blk0.enc_qkv"].spikes * 48


def test_rotation_adds_are_counted_as_constructed():
    res = run(tiny_graph(), tiny_model(), IDS)
    adds = res.counters.query("layer == 'blk0.enc_qkv' and action == 'add'")["count"].sum()
    assert res.rotations["blk0.enc_qkv"] == "hadamard: paley1(q=11) x sylvester(4)"
    assert adds == 48 * (11 + 2) * len(IDS)  # n (m - 1 + log2 p) per token


def test_asymmetric_binary_counts_add_the_zero_point_correction():
    res = run(tiny_graph(a_encoding="binary", symmetric=False, unfold=15), tiny_model(), IDS)
    st0 = res.stats["blk0.enc_qkv"]
    assert st0.lo == 0 and st0.hi == 15 and st0.steps == 15
    zp = res.counters.query("layer == 'blk0.q_proj' and action == 'mac'")["count"].sum()
    assert zp == 48 * len(IDS)


def test_spike_path_approaches_fp_with_more_bits_and_fp_plan_is_plain_fp():
    m = tiny_model()
    fp = run(tiny_graph(), m, IDS, fp=True)
    assert fp.stats == {} and "ac" not in set(fp.counters.action)
    direct = llama_forward(ForwardState(m, ForwardPlan()), IDS)
    assert np.array_equal(fp.logits, direct)
    err4 = np.abs(run(tiny_graph(), m, IDS).logits - fp.logits).mean()
    err8 = np.abs(run(tiny_graph(w_bits=8, a_bits=8, unfold=128), m, IDS).logits - fp.logits).mean()
    assert err8 < err4 / 4


def test_gamma_sqp_and_quarot_fusion_differ_only_by_quantization():
    m = tiny_model()
    fp = run(tiny_graph(), m, IDS, fp=True).logits
    a = run(tiny_graph(w_bits=8, a_bits=8, unfold=128), m, IDS).logits
    b = run(tiny_graph(w_bits=8, a_bits=8, unfold=128, gamma_sqp=False), m, IDS).logits
    assert not np.array_equal(a, b)
    scale = np.abs(fp).mean()
    assert np.abs(a - fp).mean() < 0.05 * scale and np.abs(b - fp).mean() < 0.05 * scale


def test_quantile_clip_thresholds_are_frozen_and_reusable():
    g, m = tiny_graph(clip_quantile=0.6), tiny_model()
    first = run(g, m, IDS)
    assert set(first.thresholds) == {x.name for x in g if x.kind == "encoder"}
    again = run(g, m, IDS, thresholds=first.thresholds)
    assert np.array_equal(first.logits, again.logits)
    plain = run(tiny_graph(), m, IDS)
    assert first.stats["blk1.enc_down"].rate < plain.stats["blk1.enc_down"].rate


def test_nan_activation_in_the_model_is_a_clear_error():
    m = tiny_model()
    m.embed = m.embed.copy()
    m.embed[int(IDS[3]), 5] = np.nan
    m.lm_head = m.embed
    with pytest.raises(NeurosimError, match="blk0.enc_qkv: activation contains NaN or Inf"):
        run(tiny_graph(), m, IDS)


def test_graph_and_model_width_mismatch_is_a_clear_error():
    g = tiny_graph(model={**TINY, "ffn": 128})
    with pytest.raises(NeurosimError, match="width mismatch at blk0.gate_proj"):
        run(g, tiny_model(), IDS)


def test_fractional_unfold_is_refused():
    with pytest.raises(NeurosimError, match="fractional"):
        run(tiny_graph(unfold=8.3), tiny_model(), IDS)
