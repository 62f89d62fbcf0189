"""Fixed-point LIF and Dense arithmetic against hand-worked cases (Loihi / lava-nc 0.10 bit-accurate semantics).

Every expected number below is worked out by hand from the rules in neurosim/neurons.py's docstring:
u <- trunc0(u * (4096 - du - 1) / 4096) + (a << 6), folded once into (-2^23, 2^23];
v <- trunc0(v * (4096 - dv) / 4096) + u + (bias_mant << bias_exp), saturated to +-(2^23 - 1);
spike when v > vth << 6, then v <- 0.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim.errors import NeurosimError
from neurosim.neurons import (
    DenseFixedParams,
    FixedLifParams,
    FixedLifState,
    FloatLifParams,
    dense_fixed_accumulate,
    dense_fixed_run,
    lava_weights_for,
    lif_fixed_run,
    lif_fixed_run_many,
    lif_fixed_run_scaled,
    lif_fixed_step,
    lif_float_run,
    scaled_dense_inputs,
    stored_weights,
    wrap_int32,
)

U24 = 1 << 23


def step(u: int, v: int, a: int, **params) -> tuple[int, int, bool]:
    """One step of a single neuron from a given state."""
    state = FixedLifState(np.array([u], dtype=np.int32), np.array([v], dtype=np.int32))
    spike = lif_fixed_step(state, np.array([a]), FixedLifParams(**params))
    return int(state.u[0]), int(state.v[0]), bool(spike[0])


# ---- current decay du --------------------------------------------------------------------------------------


def test_du_zero_keeps_4095_of_4096_of_the_current():
    # 4096 * 4095 / 4096 = 4095 exactly
    assert step(4096, 0, 0, du=0, vth=131071)[0] == 4095


def test_du_4095_clears_the_current_so_u_is_the_shifted_input():
    assert step(123456, 0, 5, du=4095, vth=131071)[0] == 5 * 64


def test_du_between_truncates_toward_zero_for_negative_current():
    # du = 2047 -> factor 4096 - 2048 = 2048: -5 * 2048 / 4096 = -2.5 -> -2 (toward zero, not floor -3)
    assert step(-5, 0, 0, du=2047, vth=131071)[0] == -2
    # du = 1024 -> factor 3071: 1000 * 3071 / 4096 = 749.75 -> 749
    assert step(1000, 0, 0, du=1024, vth=131071)[0] == 749


# ---- voltage decay dv --------------------------------------------------------------------------------------


def test_dv_zero_keeps_the_voltage():
    assert step(0, -777, 0, du=4095, dv=0, vth=131071)[1] == -777


def test_dv_4095_keeps_one_4096th():
    assert step(0, 8191, 0, du=4095, dv=4095, vth=131071)[1] == 1
    assert step(0, -8191, 0, du=4095, dv=4095, vth=131071)[1] == -1


def test_dv_between_decays_then_adds_the_new_current():
    # dv = 1000 -> factor 3096: 1000 * 3096 / 4096 = 755.86 -> 755; plus u = 2 << 6 = 128
    assert step(0, 1000, 2, du=4095, dv=1000, vth=131071)[1] == 755 + 128


# ---- the 24-bit edges ---------------------------------------------------------------------------------------


def test_u_may_equal_plus_2_pow_23_without_wrapping():
    assert step(0, 0, 1 << 17, du=4095, vth=131071)[0] == U24


def test_u_past_2_pow_23_wraps_by_2_pow_24():
    # (2^17 + 1) << 6 = 2^23 + 64 -> -2^23 + 64
    assert step(0, 0, (1 << 17) + 1, du=4095, vth=131071)[0] == -U24 + 64


def test_u_at_minus_2_pow_23_wraps_to_plus_2_pow_23():
    assert step(0, 0, -(1 << 17), du=4095, vth=131071)[0] == U24


def test_accumulated_current_wraps_after_its_decay():
    # du = 0: 8388000 * 4095 >> 12 = 8385952; + 100 << 6 = 8392352 > 2^23 -> 8392352 - 2^24 = -8384864
    assert step(8388000, 0, 100, du=0, vth=131071)[0] == -8384864


def test_u_folds_only_once_as_lava_does():
    # an input far past the range is folded by a single 2^24: (2^19) << 6 = 2^25 -> 2^25 - 2^24 = 2^24
    assert step(0, 0, 1 << 19, du=4095, vth=131071)[0] == 1 << 24


def test_shifted_input_wraps_as_int32():
    # 2^25 << 6 = 2^31 -> int32 wraps to -2^31; folded once: -2^31 + 2^24
    assert step(0, 0, 1 << 25, du=4095, vth=131071)[0] == -(1 << 31) + (1 << 24)


def test_v_saturates_at_minus_2_pow_23_plus_1():
    # -8388000 + (-2^23 + 64) = -16776544 -> saturated to -(2^23 - 1)
    u, v, spike = step(0, -8388000, -(1 << 17) + 1, du=4095, dv=0, vth=131071)
    assert u == -U24 + 64
    assert v == -(U24 - 1) and not spike


def test_v_saturated_at_the_top_is_above_any_threshold_so_it_spikes_and_resets():
    # 8388000 + 2^23 saturates at 2^23 - 1 = 8388607 > 131071 << 6 = 8388544
    u, v, spike = step(0, 8388000, 1 << 17, du=4095, dv=0, vth=131071)
    assert u == U24 and spike and v == 0


# ---- threshold and bias -------------------------------------------------------------------------------------


def test_threshold_hit_exactly_does_not_spike_one_more_does():
    params = FixedLifParams(du=4095, dv=0, vth=3)
    trace = lif_fixed_run(np.ones((5, 1), dtype=np.int64), params)
    # v = 64, 128, 192 (= 3 << 6, not above), 256 -> spike and reset, 64
    assert trace.v[:, 0].tolist() == [64, 128, 192, 0, 64]
    assert trace.spikes[:, 0].tolist() == [False, False, False, True, False]


def test_vth_zero_spikes_on_any_positive_voltage():
    assert step(0, 0, 0, du=4095, vth=0, bias_mant=1)[2]
    assert not step(0, 0, 0, du=4095, vth=0, bias_mant=0)[2]


def test_bias_is_mantissa_shifted_by_its_exponent():
    params = FixedLifParams(du=4095, dv=0, vth=1, bias_mant=3, bias_exp=4)  # 48 a step, threshold 64
    trace = lif_fixed_run(np.zeros((3, 1), dtype=np.int64), params)
    assert trace.v[:, 0].tolist() == [48, 0, 48]
    assert trace.spikes[:, 0].tolist() == [False, True, False]


def test_negative_bias_and_negative_exponent_shift_arithmetically():
    assert FixedLifParams(bias_mant=-5, bias_exp=2).effective_bias == -20
    assert FixedLifParams(bias_mant=-5, bias_exp=-1).effective_bias == -3  # floor(-2.5)
    assert FixedLifParams(bias_mant=4095, bias_exp=7).effective_bias == 4095 * 128


def test_per_neuron_bias_broadcasts():
    params = FixedLifParams(du=4095, vth=1000, bias_mant=np.array([1, -2, 3]), bias_exp=np.array([0, 1, 2]))
    trace = lif_fixed_run(np.zeros((2, 3), dtype=np.int64), params)
    assert trace.v.tolist() == [[1, -4, 12], [2, -8, 24]]


def test_current_persists_after_a_spike_and_only_v_resets():
    params = FixedLifParams(du=0, dv=0, vth=1)
    trace = lif_fixed_run(np.array([[2], [0]]), params)
    # step 0: u = 128, v = 128 > 64 -> spike, v = 0; step 1: u = 128 * 4095 >> 12 = 127, v = 127 -> spike
    assert trace.u[:, 0].tolist() == [128, 127]
    assert trace.spikes[:, 0].tolist() == [True, True]


def test_run_equals_repeated_steps_and_allows_batch_axes():
    rng = np.random.default_rng(3)
    a = rng.integers(-3000, 3000, (40, 2, 7))
    params = FixedLifParams(du=300, dv=50, vth=2000, bias_mant=-7, bias_exp=3)
    trace = lif_fixed_run(a, params)
    state = FixedLifState.zeros((2, 7))
    for t in range(40):
        spikes = lif_fixed_step(state, a[t], params)
        assert np.array_equal(spikes, trace.spikes[t])
        assert np.array_equal(state.u, trace.u[t]) and np.array_equal(state.v, trace.v[t])


@pytest.mark.parametrize(
    "field,value",
    [("du", 4096), ("dv", -1), ("vth", 1 << 17), ("vth", -1), ("bias_mant", 4096), ("bias_exp", 8), ("du", 0.5)],
)
def test_out_of_range_lif_parameters_are_rejected_with_the_allowed_range(field, value):
    with pytest.raises(NeurosimError, match=field):
        FixedLifParams(**{field: value})


# ---- floating-point LIF -------------------------------------------------------------------------------------


def test_float_lif_decays_current_then_integrates_voltage():
    params = FloatLifParams(du=0.5, dv=0.0, vth=1.2)
    trace = lif_float_run(np.array([[1.0], [0.0], [0.0]]), params)
    # u = 1, 0.5, 0.25; v = 1, 1.5 -> spike -> 0, 0.25
    assert trace.u[:, 0].tolist() == [1.0, 0.5, 0.25]
    assert trace.v[:, 0].tolist() == [1.0, 0.0, 0.25]
    assert trace.spikes[:, 0].tolist() == [False, True, False]


# ---- Dense --------------------------------------------------------------------------------------------------


def test_mixed_weights_are_clipped_to_9_bits_and_floor_truncated():
    # num_weight_bits 5, mixed: drop 8 - 5 + 1 = 4 low bits; -37 >> 4 = -3 -> -48 (floor)
    w = np.array([[37, -37, 300, -300]])
    assert stored_weights(w, 5, "mixed").tolist() == [[32, -48, 240, -256]]


def test_excitatory_and_inhibitory_weights_truncate_in_magnitude():
    # drop 8 - 5 = 3 bits
    assert stored_weights(np.array([[37, 300, -4]]), 5, "excitatory").tolist() == [[32, 248, 0]]
    assert stored_weights(np.array([[-37, -300, 4]]), 5, "inhibitory").tolist() == [[-32, -248, 0]]


def test_sign_mode_follows_lava_when_not_given():
    assert DenseFixedParams(np.array([[1, 0]])).sign_mode == "excitatory"
    assert DenseFixedParams(np.array([[-1, 0]])).sign_mode == "inhibitory"
    assert DenseFixedParams(np.array([[-1, 1]])).sign_mode == "mixed"


def test_binary_messages_sum_selected_columns_then_shift_by_weight_exp():
    w = np.array([[37, -37], [300, -300]])  # stored (5 bits, mixed): [[32, -48], [240, -256]]
    s = np.array([1, 1])
    assert dense_fixed_accumulate(DenseFixedParams(w, 5, 0, "mixed"), s).tolist() == [-16, -16]
    assert dense_fixed_accumulate(DenseFixedParams(w, 5, -3, "mixed"), s).tolist() == [-2, -2]
    assert dense_fixed_accumulate(DenseFixedParams(w, 5, 2, "mixed"), s).tolist() == [-64, -64]
    # a binary Dense treats any nonzero payload as a spike
    assert dense_fixed_accumulate(DenseFixedParams(w, 5, 0, "mixed"), np.array([7, 0])).tolist() == [32, 240]


def test_graded_messages_multiply_payloads_and_wrap_as_int32():
    w = np.array([[255]])
    p = DenseFixedParams(w, 8, 0, "mixed", num_message_bits=24)
    assert dense_fixed_accumulate(p, np.array([-3])).tolist() == [-762]  # 255 stored as 254 (mixed, 1 bit dropped)
    p = DenseFixedParams(w, 8, 0, "excitatory", num_message_bits=24)
    assert dense_fixed_accumulate(p, np.array([(1 << 31) - 1])).tolist() == [2147483393]  # 255 (2^31 - 1) mod 2^32


def test_dense_output_arrives_one_step_later():
    p = DenseFixedParams(np.array([[2, 3]]), 8, 0, "excitatory")
    out = dense_fixed_run(p, np.array([[1, 0], [0, 1], [1, 1]]))
    assert out[:, 0].tolist() == [0, 2, 3]


def test_wrap_int32_is_twos_complement():
    assert wrap_int32(np.array([1 << 31, -(1 << 31) - 1, 5])).tolist() == [-(1 << 31), (1 << 31) - 1, 5]


@settings(max_examples=60, deadline=None)
@given(
    bits=st.integers(2, 8),
    graded=st.booleans(),
    shape=st.tuples(st.integers(1, 12), st.integers(1, 12), st.integers(1, 5)),
    seed=st.integers(0, 2**32 - 1),
)
def test_lava_weights_for_makes_the_synaptic_input_the_exact_integer_product(bits, graded, shape, seed):
    out_n, in_n, steps = shape
    rng = np.random.default_rng(seed)
    m = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), (out_n, in_n))
    w8, exp = lava_weights_for(m, bits, "mixed")
    s = rng.integers(-7, 8, (steps, in_n)) if graded else rng.integers(0, 2, (steps, in_n))
    p = DenseFixedParams(w8, bits, exp, "mixed", num_message_bits=8 if graded else 0)
    assert np.array_equal(p.stored_weights, w8)
    assert np.array_equal(dense_fixed_accumulate(p, s), s @ m.T)


def test_weights_that_do_not_fit_their_bits_are_rejected():
    with pytest.raises(NeurosimError, match="4-bit mixed"):
        lava_weights_for(np.array([[8]]), 4, "mixed")


@settings(max_examples=80, deadline=None)
@given(
    du=st.sampled_from([0, 1, 2047, 4094, 4095]),
    dv=st.sampled_from([0, 1, 1000, 4095]),
    vth=st.sampled_from([0, 1, 1000, 131071]),
    bias=st.tuples(st.integers(-4096, 4095), st.integers(-3, 7)),
    a_bits=st.sampled_from([4, 12, 17, 18, 26, 31]),
    seed=st.integers(0, 2**32 - 1),
)
def test_unrolled_run_equals_single_steps_at_every_edge(du, dv, vth, bias, a_bits, seed):
    """The fast unrolled path (and its fallback) agree with the step function, folds and saturation included."""
    rng = np.random.default_rng(seed)
    a = rng.integers(-(1 << a_bits), 1 << a_bits, (60, 9)) + (1 << (a_bits - 2))  # drifts one way, so u folds
    params = FixedLifParams(du=du, dv=dv, vth=vth, bias_mant=bias[0], bias_exp=bias[1])
    trace = lif_fixed_run(a, params)
    state = FixedLifState.zeros(9)
    for t in range(60):
        spikes = lif_fixed_step(state, a[t], params)
        assert np.array_equal(spikes, trace.spikes[t]), t
        assert np.array_equal(state.u, trace.u[t]) and np.array_equal(state.v, trace.v[t]), t


@settings(max_examples=80, deadline=None)
@given(
    exp=st.integers(-8, 7),
    graded=st.booleans(),
    payload_bits=st.sampled_from([1, 8, 24]),
    shape=st.tuples(st.integers(1, 40), st.integers(1, 9), st.integers(1, 4)),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_dense_output_skips_the_int32_wrap_only_where_no_sum_can_reach_it(exp, graded, payload_bits, shape, seed):
    """The fast product (wrap skipped when the weights' row sums bound every sum below 2^31) equals the reference
    path on the stored weights, which always wraps as Lava does; large exponents and payloads do wrap."""
    in_n, out_n, steps = shape
    rng = np.random.default_rng(seed)
    p = DenseFixedParams(rng.integers(-256, 256, (out_n, in_n)), 8, exp, "mixed",
                         num_message_bits=24 if graded else 0)
    hi = 1 << (payload_bits - 1) if graded else 2
    s = rng.integers(-hi if graded else 0, hi, (steps, in_n))
    assert np.array_equal(dense_fixed_accumulate(p, s), dense_fixed_accumulate(p, s, p.stored_weights))


def test_a_network_run_is_the_same_on_one_or_two_blas_threads():
    """The products are exact integer sums, so the spikes and states do not depend on the BLAS thread count."""
    from threadpoolctl import threadpool_limits

    from neurosim.snn import Population, Projection, SpikeSource, SpikingNetwork, run_functional

    rng = np.random.default_rng(3)
    src = SpikeSource("in", rng.random((50, 300)) < 0.2)
    dense = DenseFixedParams(rng.integers(-64, 64, (400, 300)), 8, 0, "mixed")
    net = SpikingNetwork("two-threads", {"in": src}, {"out": Population("out", 400, FixedLifParams(vth=200))},
                         [Projection("w", "in", "out", dense)])
    runs = []
    for n in (1, 2):
        with threadpool_limits(limits=n, user_api="blas"):
            runs.append(run_functional(net))
    a, b = (r.populations["out"] for r in runs)
    assert a.spikes.any()
    assert np.array_equal(a.spikes, b.spikes) and np.array_equal(a.u, b.u) and np.array_equal(a.v, b.v)


@settings(max_examples=120, deadline=None)
@given(
    pops=st.lists(st.lists(st.tuples(st.integers(0, 1), st.integers(1, 8), st.integers(-8, 7),
                                     st.sampled_from(["mixed", "excitatory", "inhibitory"]), st.booleans()),
                           max_size=3), min_size=1, max_size=3),
    rows=st.integers(1, 7),
    first=st.integers(0, 1),
    big=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_scaled_dense_inputs_are_the_integer_path_aligned_or_none(pops, rows, first, big, seed):
    """The products folded into the LIF's aligned input equal the reference path (each Dense on its stored weights,
    wrapped as Lava does, summed in int32, << 6) exactly; where they decline (None) a Dense's shift would floor
    a sum or an input could pass 2^17, and the bound returned covers every input."""
    rng = np.random.default_rng(seed)
    first = min(first, rows)
    n_in = [5, 9]
    graded_peak = 1 << 20 if big else 7
    sources = [rng.integers(-graded_peak, graded_peak + 1, (rows - first, n)) for n in n_in]
    binary = [(s % 2 == 0).astype(np.int32) for s in sources]
    sizes = [int(rng.integers(1, 6)) for _ in pops]
    fed, floors, bound_ref = [], False, []
    for incoming, n in zip(pops, sizes):
        feeds, b = [], 0.0
        for src, bits, exp, mode, graded in incoming:
            w = rng.integers(-256, 256, (n, n_in[src]))
            d = DenseFixedParams(w, bits, exp, mode, num_message_bits=24 if graded else 0)
            s = sources[src] if graded else binary[src]
            feeds.append((d, s))
            floors |= exp < 0 and bool(np.any(d.stored_weights % (1 << -exp)))
            b += (float(np.abs(s).max(initial=0)) if graded else 1.0) * d.row_sum_bound * 2.0 ** exp
        fed.append(feeds)
        bound_ref.append(b)
    got = scaled_dense_inputs(fed, sizes, rows, first)
    if got is None:
        assert floors or max(bound_ref) > 1 << 17
        return
    a6, bound = got
    assert a6.shape == (rows, sum(sizes))
    expected = np.zeros((rows, sum(sizes)), dtype=np.int64)
    lo = 0
    for feeds, n in zip(fed, sizes):
        a = np.zeros((rows - first, n), dtype=np.int64)
        for d, s in feeds:
            a += dense_fixed_accumulate(d, s, d.stored_weights)  # the reference: always wraps as Lava does
        expected[first:, lo:lo + n] = wrap_int32(a) << 6
        lo += n
    assert np.array_equal(a6.astype(np.int64), expected)
    assert np.all(np.abs(expected) <= bound << 6)


def _aligned_run_equals_steps(params: list[FixedLifParams], a_bits: int, seed: int) -> None:
    """:func:`lif_fixed_run_scaled` (``a << 6`` given as float32, and as int32, which becomes u's record) and
    :func:`lif_fixed_run_many` of two populations from random states (v at the top included) against
    :func:`lif_fixed_step`, step by step."""
    rng = np.random.default_rng(seed)
    sizes = [4, 3]
    a = rng.integers(-(1 << a_bits) + 1, 1 << a_bits, (40, sum(sizes)))
    u0 = rng.integers(-U24 + 1, U24 + 1, sum(sizes))
    v0 = np.concatenate([rng.integers(-U24 + 1, U24, sum(sizes) - 1), [U24 - 1]])

    def states():
        return [FixedLifState(u0[:4].astype(np.int32), v0[:4].astype(np.int32)),
                FixedLifState(u0[4:].astype(np.int32), v0[4:].astype(np.int32))]

    scaled = lif_fixed_run_scaled((a << 6).astype(np.float32), 1 << a_bits, sizes, params, states())
    owned = lif_fixed_run_scaled((a << 6).astype(np.int32), 1 << a_bits, sizes, params, states())  # u's record
    integer = lif_fixed_run_many([a[:, :4], a[:, 4:]], params, states())
    ref = states()
    for t in range(40):
        for i, (lo, hi) in enumerate(((0, 4), (4, 7))):
            fired = lif_fixed_step(ref[i], a[t, lo:hi], params[i])
            for run in (scaled, owned, integer):
                assert np.array_equal(run[i].spikes[t], fired), t
                assert np.array_equal(run[i].u[t], ref[i].u) and np.array_equal(run[i].v[t], ref[i].v), t


@settings(max_examples=60, deadline=None)
@given(
    du=st.sampled_from([0, 1, 2047, 4095]),
    dv=st.sampled_from([0, 1, 1000, 4095]),
    vth=st.sampled_from([0, 1, 1000, 131071]),
    bias=st.tuples(st.integers(-4096, 4095), st.integers(-3, 7)),
    a_bits=st.sampled_from([4, 12, 17]),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_aligned_input_run_equals_single_steps_from_any_state(du, dv, vth, bias, a_bits, seed):
    """From states anywhere in the 24-bit range (v above the threshold or at the top included, where saturation
    binds), the aligned-input run and the integer run equal the step function."""
    _aligned_run_equals_steps([FixedLifParams(du=du, dv=dv, vth=vth, bias_mant=bias[0], bias_exp=bias[1]),
                               FixedLifParams(vth=3)], a_bits, seed)


@settings(max_examples=40, deadline=None)
@given(
    vth=st.sampled_from([0, 1, 1000, 131071]),
    bias=st.tuples(st.integers(-4096, 4095), st.integers(-3, 7)),
    a_bits=st.sampled_from([4, 12, 17]),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_kept_voltage_path_equals_single_steps(vth, bias, a_bits, seed):
    """du = 4095 and dv = 0 everywhere (the lowered LM blocks): the int32 loop on the records equals the step
    function, biases, saturation at both ends and thresholds at the edges included."""
    _aligned_run_equals_steps([FixedLifParams(du=4095, dv=0, vth=vth, bias_mant=bias[0], bias_exp=bias[1]),
                               FixedLifParams(du=4095, dv=0, vth=0)], a_bits, seed)


def test_an_aligned_input_above_the_fast_bound_is_refused():
    with pytest.raises(NeurosimError, match="2\\^17"):
        lif_fixed_run_scaled(np.zeros((2, 3), dtype=np.float32), (1 << 17) + 1, [3], [FixedLifParams()])
