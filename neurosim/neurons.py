"""Neuron and synapse arithmetic: floating-point LIF, Loihi's fixed-point LIF and Loihi's Dense synapse.

The fixed-point models reproduce lava-nc 0.10 (``PyLifModelBitAcc``, ``PyDenseModelBitAcc``) bit for bit, so that
neurosim's engines can be checked against Lava step by step. They follow what that code computes, including
its integer widths, not only what its docstrings say:

LIF, per time step (all arithmetic on integers; ``>>`` is an arithmetic shift):

- ``u <- sign(u) * ((|u| * (4096 - (du + 1))) >> 12) + (a_in << 6)``: the current decays with ``du + 1`` (a 1-bit
  offset, so ``du = 4095`` clears it and ``du = 0`` keeps 4095/4096 of it); the input is MSB-aligned by 6 bits.
  The sum is an int32 sum (it wraps at 2^31, as Lava's does) and is then folded into 24 bits *once*:
  above ``2^23`` subtract ``2^24``, at or below ``-2^23`` add ``2^24`` (so ``u`` lives in ``(-2^23, 2^23]``).
- ``v <- sign(v) * ((|v| * (4096 - dv)) >> 12) + u + bias``, ``bias = bias_mant << bias_exp`` (``>>`` for a
  negative exponent), int32 sums, then saturated to ``[-(2^23 - 1), 2^23 - 1]``; ``dv = 0`` keeps ``v``.
- spike where ``v > vth << 6``; a spiking neuron's ``v`` is reset to 0 (``u`` is kept).
- ``a_in`` arrives as int32 (Lava's LIF declares a 16-bit port but receives the sender's int32 channel);
  inputs from several Dense processes are added in int32.

Dense (weights as Lava takes them: 8-bit-scale integers, ``(out, in)``):

- the stored weight is the given one clipped to the 8-bit range of its sign mode (mixed: ``[-256, 255]``,
  excitatory: ``[0, 255]``, inhibitory: ``[-255, 0]``), then its low ``8 - num_weight_bits (+1 if mixed)`` bits
  are truncated (arithmetic shift; inhibitory weights are truncated in magnitude);
- binary messages (``num_message_bits = 0``): the sum of the stored weight columns of the inputs that are nonzero,
  in int64; graded messages: the int32 dot product of the stored weights with the payloads (it wraps at 2^31);
- the sum is shifted by ``weight_exp`` (left if positive, arithmetic right otherwise) and sent on an int32
  channel (wraps at 2^31); it reaches the neurons one time step later (Lava's Dense sends the previous step's
  accumulation, which keeps recurrent networks free of deadlock).

The documented scaling ``w * 2^(8 - num_weight_bits + weight_exp + mixed)`` describes weights given as
``num_weight_bits``-bit mantissas; Lava 0.10 instead takes 8-bit-scale weights and zeroes their low bits, so a
b-bit mantissa ``m`` is passed as ``m << (8 - b + mixed)`` with ``weight_exp = -(8 - b + mixed)`` to make the
synaptic input exactly ``m`` (see :func:`lava_weights_for`).

Every function is vectorized over neurons (any leading batch axes are allowed); the ``*_run`` functions unroll
over time, which is the one loop a recurrence cannot avoid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurosim.errors import NeurosimError

#: width of Loihi's u and v state registers
UV_BITS = 24
UV_LIMIT = 1 << (UV_BITS - 1)  # 2^23
DECAY_SHIFT = 12
DECAY_UNITY = 1 << DECAY_SHIFT  # 4096
#: threshold and synaptic input are MSB-aligned to the 24-bit state by this many bits
VTH_SHIFT = 6
ACT_SHIFT = 6
#: Lava's ds_offset / dm_offset: 1-bit offsets added to du / dv
DU_OFFSET = 1
DV_OFFSET = 0
DECAY_MAX = DECAY_UNITY - 1  # du, dv are 12-bit unsigned
VTH_MAX = (1 << 17) - 1  # vth is 17-bit unsigned
#: the largest |synaptic input| of the unrolled LIF's fast path (|a << 6| <= 2^23: no int32 sum can wrap)
FAST_INPUT_BOUND = 1 << 17
BIAS_MANT_MIN, BIAS_MANT_MAX = -(1 << 12), (1 << 12) - 1  # 13-bit signed
BIAS_EXP_MIN, BIAS_EXP_MAX = -12, 7  # Loihi: 3-bit unsigned; Lava shifts right for a negative exponent
WEIGHT_EXP_MIN, WEIGHT_EXP_MAX = -8, 7  # Loihi's weight exponent range
SIGN_MODES = ("mixed", "excitatory", "inhibitory")

_I32 = 1 << 32


def wrap_int32(x: np.ndarray) -> np.ndarray:
    """The value an int64 array takes when cast to int32 (two's complement wrap), kept as int64."""
    x = np.asarray(x, dtype=np.int64)
    if x.size == 0 or (x.min() >= -(1 << 31) and x.max() < (1 << 31)):
        return x
    return ((x + (1 << 31)) & (_I32 - 1)) - (1 << 31)


def _decay(x: np.ndarray, decay_eff: int) -> np.ndarray:
    """sign(x) * ((|x| * (4096 - decay_eff)) >> 12), in int64 (Lava promotes to int64 for the product)."""
    prod = x.astype(np.int64) * (DECAY_UNITY - decay_eff)
    return np.sign(prod) * (np.abs(prod) >> DECAY_SHIFT)


def _check_int(name: str, value: object, lo: int, hi: int, where: str) -> None:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu" and not (arr.dtype.kind == "f" and np.all(arr == np.round(arr))):
        raise NeurosimError(f"{where}: {name} = {value!r} must be an integer; allowed: {lo}..{hi}")
    if arr.size and (arr.min() < lo or arr.max() > hi):
        bad = arr.min() if arr.min() < lo else arr.max()
        raise NeurosimError(f"{where}: {name} = {bad} out of range; allowed: {lo}..{hi}")


# --------------------------------------------------------------------------------------------------------------
# Fixed-point LIF (Loihi, as lava-nc 0.10 PyLifModelBitAcc)


@dataclass(frozen=True)
class FixedLifParams:
    """Parameters of Loihi's fixed-point LIF. ``bias_mant``/``bias_exp`` may be per neuron (arrays)."""

    du: int = 0
    dv: int = 0
    vth: int = 10
    bias_mant: int | np.ndarray = 0
    bias_exp: int | np.ndarray = 0
    where: str = field(default="LIF", compare=False)

    def __post_init__(self) -> None:
        _check_int("du", self.du, 0, DECAY_MAX, self.where)
        _check_int("dv", self.dv, 0, DECAY_MAX, self.where)
        _check_int("vth", self.vth, 0, VTH_MAX, self.where)
        _check_int("bias_mant", self.bias_mant, BIAS_MANT_MIN, BIAS_MANT_MAX, self.where)
        _check_int("bias_exp", self.bias_exp, BIAS_EXP_MIN, BIAS_EXP_MAX, self.where)
        object.__setattr__(self, "du", int(self.du))
        object.__setattr__(self, "dv", int(self.dv))
        object.__setattr__(self, "vth", int(self.vth))

    @property
    def effective_bias(self) -> np.ndarray:
        """bias_mant << bias_exp (arithmetic >> for a negative exponent), as int64."""
        mant = np.asarray(self.bias_mant, dtype=np.int64)
        exp = np.asarray(self.bias_exp, dtype=np.int64)
        return np.where(exp >= 0, mant << np.maximum(exp, 0), mant >> np.maximum(-exp, 0))

    @property
    def effective_vth(self) -> int:
        return self.vth << VTH_SHIFT


@dataclass
class FixedLifState:
    """Current ``u`` and voltage ``v`` of a population, int32 as on the chip (24 bits used)."""

    u: np.ndarray
    v: np.ndarray

    @classmethod
    def zeros(cls, shape: int | tuple[int, ...]) -> FixedLifState:
        return cls(np.zeros(shape, dtype=np.int32), np.zeros(shape, dtype=np.int32))

    def copy(self) -> FixedLifState:
        return FixedLifState(self.u.copy(), self.v.copy())


def lif_fixed_step(state: FixedLifState, a_in: np.ndarray, params: FixedLifParams) -> np.ndarray:
    """Advance one time step in place; return the spikes (bool) of this step.

    ``a_in`` is the synaptic input of this step (int, the int32 value Lava's port receives).
    """
    a = wrap_int32(np.asarray(a_in, dtype=np.int64))
    u = wrap_int32(_decay(state.u, params.du + DU_OFFSET) + wrap_int32(a << ACT_SHIFT))
    u = np.where(u > UV_LIMIT, u - 2 * UV_LIMIT, np.where(u <= -UV_LIMIT, u + 2 * UV_LIMIT, u))
    v = wrap_int32(wrap_int32(_decay(state.v, params.dv + DV_OFFSET) + u) + params.effective_bias)
    v = np.clip(v, -UV_LIMIT + 1, UV_LIMIT - 1)
    spikes = v > params.effective_vth
    v[spikes] = 0
    state.u[...] = u
    state.v[...] = v
    return spikes


@dataclass
class LifTrace:
    """Per-step record of a population: ``spikes[t]``, and ``u[t]``, ``v[t]`` at the end of step t (after reset)."""

    spikes: np.ndarray
    u: np.ndarray
    v: np.ndarray


def lif_fixed_run(a_in: np.ndarray, params: FixedLifParams, state: FixedLifState | None = None) -> LifTrace:
    """Unroll :func:`lif_fixed_step` over the first axis of ``a_in`` (time); ``state`` is updated in place.

    Same results as calling :func:`lif_fixed_step` ``T`` times; see :func:`lif_fixed_run_many` for how it is fast.
    """
    a_in = np.asarray(a_in)
    steps, shape = a_in.shape[0], a_in.shape[1:]
    state = state if state is not None else FixedLifState.zeros(shape)
    flat = FixedLifState(state.u.reshape(-1), state.v.reshape(-1))
    (trace,) = lif_fixed_run_many([a_in.reshape(steps, -1)], [params], [flat])
    state.u[...] = flat.u.reshape(shape)
    state.v[...] = flat.v.reshape(shape)
    return LifTrace(*(x.reshape(steps, *shape) for x in (trace.spikes, trace.u, trace.v)))


def lif_fixed_run_many(a_in: list[np.ndarray], params: list[FixedLifParams],
                       states: list[FixedLifState] | None = None) -> list[LifTrace]:
    """Run several independent populations (``a_in[i]`` of shape (T, n_i)) side by side over the same T steps.

    The populations are concatenated into one vector with per-neuron parameters, so the per-step cost is one set
    of NumPy operations for all of them. Where the inputs keep every intermediate within int32 and ``u`` within
    24 bits (|a_in| <= 2^17 and |u| <= 2^23 at the start, the usual case) the step is done in place with about a
    dozen operations and no int32 wrapping; otherwise each step takes the general path of :func:`lif_fixed_step`.
    """
    sizes = [int(a.shape[1]) for a in a_in]
    steps = int(a_in[0].shape[0]) if a_in else 0
    if any(a.shape[0] != steps for a in a_in):
        raise NeurosimError("lif_fixed_run_many: every population needs the same number of steps")
    a = (np.concatenate([np.asarray(x, dtype=np.int64) for x in a_in], axis=1) if len(a_in) > 1
         else np.asarray(a_in[0], dtype=np.int64)) if a_in else np.zeros((0, 0), dtype=np.int64)
    a_lo, a_hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
    if a_lo < -(1 << 31) or a_hi >= 1 << 31:  # the input port is int32
        a = wrap_int32(a)
        a_lo, a_hi = (int(a.min()), int(a.max()))
    return _run_populations(sizes, params, states, a, None, max(a_hi, -a_lo))  # no |a| temporary: time x neurons


def lif_fixed_run_scaled(a6: np.ndarray, a_bound: int, sizes: list[int], params: list[FixedLifParams],
                         states: list[FixedLifState] | None = None) -> list[LifTrace]:
    """:func:`lif_fixed_run_many` for an input already summed, side by side and MSB-aligned: ``a6`` (T x the
    populations' neurons) holds ``a_in << 6`` (what :func:`scaled_dense_inputs` makes straight from the products),
    ``a_bound`` >= max |a_in| (at most 2^17, where no int32 wrap of the input port applies). The results are
    those of :func:`lif_fixed_run_many`. An int32 ``a6`` becomes the record of u (where u is the input, as with
    du = 4095, it already is; else it is written over): give a copy to keep it."""
    if a_bound > FAST_INPUT_BOUND:
        raise NeurosimError(f"lif_fixed_run_scaled: input bound {a_bound} > 2^17; give the integer input instead")
    if a6.shape[1] != sum(sizes):
        raise NeurosimError(f"lif_fixed_run_scaled: input of {a6.shape[1]} neurons for populations of {sum(sizes)}")
    return _run_populations([int(n) for n in sizes], params, states, None, a6, int(a_bound))


def _run_populations(sizes: list[int], params: list[FixedLifParams], states: list[FixedLifState] | None,
                     a: np.ndarray | None, a6: np.ndarray | None, a_max: int) -> list[LifTrace]:
    """The populations side by side: the input as integers ``a`` or as ``a6 = a << 6`` (floats), |a| <= a_max."""
    states = states if states is not None else [FixedLifState.zeros(n) for n in sizes]
    steps = int((a if a is not None else a6).shape[0]) if sizes else 0
    own_a6 = a6 is not None and a6.dtype == np.int32 and a6.shape == (steps, sum(sizes))

    def per_neuron(values: list[np.ndarray | int]) -> np.ndarray:
        return np.concatenate([np.broadcast_to(np.asarray(x, dtype=np.int64), (n,)) for x, n in zip(values, sizes)])

    fu = per_neuron([DECAY_UNITY - (p.du + DU_OFFSET) for p in params])
    fv = per_neuron([DECAY_UNITY - (p.dv + DV_OFFSET) for p in params])
    vth6 = per_neuron([p.effective_vth for p in params])
    bias = per_neuron([p.effective_bias for p in params])
    u = np.concatenate([s.u.reshape(-1) for s in states]).astype(np.int64)
    v = np.concatenate([s.v.reshape(-1) for s in states]).astype(np.int64)
    n = u.size
    spikes = np.zeros((steps, n), dtype=bool)
    u_out = a6 if own_a6 else np.zeros((steps, n), dtype=np.int32)  # a6 is read before u_out is written
    v_out = np.zeros((steps, n), dtype=np.int32)
    if steps and n:
        if a_max <= FAST_INPUT_BOUND and int(np.abs(u).max()) <= UV_LIMIT:
            if a6 is None:  # a << 6 in float64 (exact: below 2^24), one pass
                a6 = np.multiply(a, float(1 << ACT_SHIFT), dtype=np.float64)
            _lif_fast(a6, a_max << ACT_SHIFT, fu, fv, vth6, bias, u, v, spikes, u_out, v_out)
        else:
            if a is None:  # a6 holds exact integers a << 6 (below 2^24)
                a = (a6 * (1.0 / (1 << ACT_SHIFT))).astype(np.int64)
            _lif_general(a, fu, fv, vth6, bias, u, v, spikes, u_out, v_out)
    traces, lo = [], 0
    for state, size in zip(states, sizes):
        hi = lo + size
        state.u.reshape(-1)[...] = u[lo:hi]
        state.v.reshape(-1)[...] = v[lo:hi]
        traces.append(LifTrace(spikes[:, lo:hi], u_out[:, lo:hi], v_out[:, lo:hi]))
        lo = hi
    return traces


def _lif_general(a, fu, fv, vth6, bias, u, v, spikes, u_out, v_out) -> None:
    """Every step exactly as Lava computes it, int32 wrapping included (per-neuron parameters)."""
    for t in range(a.shape[0]):
        pu = u * fu
        s = wrap_int32(np.sign(pu) * (np.abs(pu) >> DECAY_SHIFT) + wrap_int32(a[t] << ACT_SHIFT))
        u[...] = np.where(s > UV_LIMIT, s - 2 * UV_LIMIT, np.where(s <= -UV_LIMIT, s + 2 * UV_LIMIT, s))
        pv = v * fv
        w = wrap_int32(wrap_int32(np.sign(pv) * (np.abs(pv) >> DECAY_SHIFT) + u) + bias)
        v[...] = np.clip(w, -UV_LIMIT + 1, UV_LIMIT - 1)
        np.greater(v, vth6, out=spikes[t])
        v[spikes[t]] = 0
        u_out[t] = u
        v_out[t] = v


def _lif_fast(a6, a6_max, fu, fv, vth6, bias, u, v, spikes, u_out, v_out) -> None:
    """The general step when nothing can leave int32: |a << 6| <= 2^23 and |u| <= 2^23 keep every sum below 2^26.
    ``a6``: the synaptic input MSB-aligned, ``a << 6`` (int32, or floats holding exact integers; steps x
    neurons; it may be ``u_out`` itself); ``a6_max`` >= max |a << 6|.

    The state is held in float64, where every value here is an integer below 2^53 and so exact: ``x * (f / 4096)``
    is the exact dyadic (f / 4096 and the product need at most 43 significant bits) and ``trunc`` rounds it
    toward zero as Lava's sign-magnitude shift does; sums, clips and comparisons of such integers are exact too.
    That makes a decay two operations instead of five. The 24-bit fold of u is skipped when u provably cannot
    pass 2^23 (|u| <= |u0| + max|a << 6| * 4096 / (du + 1); u0 drops out where du = 4095), and each side of v's
    saturation where it provably cannot bind.
    """
    du_eff = DECAY_UNITY - fu
    # how far u can reach: |u0| + max|a << 6| * 4096 / (du + 1), where du = 4095 clears u0 (u is the input alone)
    u_reach = np.where(fu == 0, 0.0, np.abs(u)) + a6_max * DECAY_UNITY / np.maximum(du_eff, 1)
    fold = bool(np.any(u_reach > UV_LIMIT))
    keep_u = bool(np.any(fu))  # du = 4095 everywhere: u is just this step's input
    decay_v = bool(np.any(fv != DECAY_UNITY))
    any_bias = bool(np.any(bias))
    # saturation of v cannot happen when |v| <= |v0| + (max|u| + max|bias|) * 4096 / dv stays inside 24 bits
    u_bound = min(float(UV_LIMIT), float(np.max(u_reach, initial=0)))
    dv_eff = DECAY_UNITY - fv
    clip = bool(np.any(dv_eff == 0)) or (
        float(np.max(np.abs(v), initial=0))
        + (u_bound + float(np.max(np.abs(bias), initial=0))) * float(np.max(DECAY_UNITY / np.maximum(dv_eff, 1)))
        >= UV_LIMIT - 1
    )
    # the upper side alone: v enters a step at most M = max(0, v0, vth) (a decay never raises a value above
    # max(it, 0); a neuron that stays below threshold is <= vth, one that fires is 0), so it leaves the sum at
    # most M + max u + max bias
    top = max(0.0, float(np.max(v, initial=0)), float(np.max(vth6, initial=0)))
    clip_hi = clip and top + u_bound + float(np.max(bias, initial=0)) > UV_LIMIT - 1
    u_is_input = not keep_u and not fold  # then the record of u is the input itself
    if u_is_input and not decay_v:
        _lif_kept_v(a6, bias, vth6, any_bias, clip, clip_hi, u, v, spikes, u_out, v_out)
        return
    uf, vf = u.astype(np.float64), v.astype(np.float64)
    fu_frac, fv_frac = fu / DECAY_UNITY, fv / DECAY_UNITY
    bias_f, vth_f = np.asarray(bias, dtype=np.float64), np.asarray(vth6, dtype=np.float64)
    below = np.empty(uf.shape, dtype=bool)
    u_rec = None if u_is_input else np.empty((a6.shape[0], uf.size))
    v_rec = np.empty((a6.shape[0], uf.size))
    not_spiking = np.empty(spikes.shape, dtype=bool)
    # each step is computed in place in its own row of the records (no copy of the state per step)
    pu, pv = uf, vf  # the state before the step
    for t in range(a6.shape[0]):
        if not u_is_input:
            cu = u_rec[t]
            if keep_u:
                np.multiply(pu, fu_frac, out=cu)
                np.trunc(cu, out=cu)
                cu += a6[t]
            else:
                cu[...] = a6[t]
            if fold:
                np.greater(cu, UV_LIMIT, out=below)
                cu[below] -= 2 * UV_LIMIT
                np.less_equal(cu, -UV_LIMIT, out=below)
                cu[below] += 2 * UV_LIMIT
            pu = cu
        cv = v_rec[t]
        if decay_v:
            np.multiply(pv, fv_frac, out=cv)
            np.trunc(cv, out=cv)
            cv += a6[t] if u_is_input else pu
        else:  # v kept: the step's v is the last one plus u, in one operation
            np.add(pv, a6[t] if u_is_input else pu, out=cv)
        _v_rest(cv, bias_f if any_bias else None, clip, clip_hi, vth_f, not_spiking[t])
        pv = cv
    np.logical_not(not_spiking, out=spikes)
    if not (u_is_input and u_out is a6):
        u_out[...] = a6 if u_is_input else u_rec
    v_out[...] = v_rec
    u[...] = a6[-1] if u_is_input else pu
    v[...] = pv


def _lif_kept_v(a6, bias, vth6, any_bias, clip, clip_hi, u, v, spikes, u_out, v_out) -> None:
    """:func:`_lif_fast` when u is the step's input (du = 4095, no fold) and v is kept (dv = 0): no product, so
    every value is an integer (|v| <= 2^23, |a << 6| <= 2^23, |bias| < 2^20: sums below 2^25) and the loop runs in
    int32 on the records themselves: u's record is the input, each v is the last plus u (and bias), saturated
    where it can bind, reset where it passes the threshold."""
    if u_out is not a6:
        np.copyto(u_out, a6, casting="unsafe")  # exact integers: the record of u is the input
    bias_i, vth_i = np.asarray(bias, dtype=np.int32), np.asarray(vth6, dtype=np.int32)
    not_spiking = np.empty(spikes.shape, dtype=bool)
    pv = v.astype(np.int32)
    for t in range(u_out.shape[0]):
        cv = v_out[t]
        np.add(pv, u_out[t], out=cv)
        _v_rest(cv, bias_i if any_bias else None, clip, clip_hi, vth_i, not_spiking[t])
        pv = cv
    np.logical_not(not_spiking, out=spikes)
    u[...] = u_out[-1]
    v[...] = pv


def _v_rest(cv: np.ndarray, bias: np.ndarray | None, clip: bool, clip_hi: bool, vth: np.ndarray,
            keep: np.ndarray) -> None:
    """The rest of a voltage step in place, once decay and u are in ``cv``: the bias, the saturation (both sides,
    or the lower alone where the upper cannot bind), the threshold (``keep``: the neurons that do not fire) and
    the reset of those that do."""
    if bias is not None:
        cv += bias
    if clip_hi:
        np.clip(cv, -UV_LIMIT + 1, UV_LIMIT - 1, out=cv)
    elif clip:
        np.maximum(cv, -UV_LIMIT + 1, out=cv)
    np.less_equal(cv, vth, out=keep)
    cv *= keep


# --------------------------------------------------------------------------------------------------------------
# Floating-point LIF (as lava-nc 0.10 PyLifModelFloat)


@dataclass(frozen=True)
class FloatLifParams:
    """Floating-point LIF: ``du``, ``dv`` are decay fractions in [0, 1]; ``bias`` is added every step.

    Lava's floating-point model adds ``bias_mant`` and ignores ``bias_exp``; here that is ``bias``.
    """

    du: float = 0.0
    dv: float = 0.0
    vth: float = 10.0
    bias: float | np.ndarray = 0.0


@dataclass
class FloatLifState:
    u: np.ndarray
    v: np.ndarray

    @classmethod
    def zeros(cls, shape: int | tuple[int, ...]) -> FloatLifState:
        return cls(np.zeros(shape), np.zeros(shape))


def lif_float_step(state: FloatLifState, a_in: np.ndarray, params: FloatLifParams) -> np.ndarray:
    """u <- u (1 - du) + a_in; v <- v (1 - dv) + u + bias; spike where v > vth, then v <- 0.

    The operations are done in Lava's order so the floating-point results agree bit for bit.
    """
    state.u[...] = state.u * (1 - params.du)
    state.u[...] += a_in
    state.v[...] = state.v * (1 - params.dv) + state.u + params.bias
    spikes = state.v > params.vth
    state.v[spikes] = 0
    return spikes


def lif_float_run(a_in: np.ndarray, params: FloatLifParams, state: FloatLifState | None = None) -> LifTrace:
    """Unroll :func:`lif_float_step` over the first axis of ``a_in`` (time)."""
    a_in = np.asarray(a_in, dtype=float)
    steps, shape = a_in.shape[0], a_in.shape[1:]
    state = state if state is not None else FloatLifState.zeros(shape)
    spikes = np.zeros((steps, *shape), dtype=bool)
    u = np.zeros((steps, *shape))
    v = np.zeros((steps, *shape))
    for t in range(steps):
        spikes[t] = lif_float_step(state, a_in[t], params)
        u[t] = state.u
        v[t] = state.v
    return LifTrace(spikes, u, v)


# --------------------------------------------------------------------------------------------------------------
# Seed 003's LIF (eq. 1): leak, threshold, reset by subtraction, spikes counted over T steps

RESETS = ("subtract", "zero")


@dataclass
class RateCodeResult:
    """What :func:`lif_rate_code` returns: spike counts per neuron (int8 for T <= 127, else int16), and the spikes
    of every step when asked for (steps x ..., int8: -1/0/+1)."""

    counts: np.ndarray
    trains: np.ndarray | None = None


def _reset(u: np.ndarray, fired: np.ndarray, th: np.ndarray, reset: str) -> None:
    """Reset the neurons that fired: subtract the (signed) threshold, or set ``u`` to 0."""
    if reset == "subtract":
        np.subtract(u, th, out=u, where=fired)
    else:
        u[fired] = 0.0


def lif_rate_code(current: np.ndarray, threshold: float | np.ndarray, steps: int, leak: float = 1.0,
                  signed: bool = True, reset: str = "subtract", trains: bool = False,
                  where: str = "LIF") -> RateCodeResult:
    """Seed 003's LIF neurons (eq. 1) driven by a current held for ``steps`` time steps.

    Each step, in float32: ``u <- leak * u + I``; a +1 spike where ``u >= threshold`` and then ``u -= threshold``
    (``reset="subtract"``) or ``u <- 0`` (``"zero"``); with ``signed`` spikes also a -1 spike where
    ``u <= -threshold`` (then ``u += threshold`` or ``u <- 0``). ``u`` starts at 0. ``threshold`` is a scalar or
    one value per neuron (the last axis). The count ``k`` (the sum of the spikes) is what a spike-driven layer
    downstream accumulates; the average spike rate of eq. 2 is ``k / steps``. With leak 1 and subtraction, a
    current ``I`` gives ``k = floor(steps x I / threshold)`` clipped to ``[-steps, steps]`` (up to float rounding).
    """
    if int(steps) != steps or steps < 1:
        raise NeurosimError(f"{where}: steps = {steps}; allowed: an integer >= 1")
    if not 0.0 < float(leak) <= 1.0:
        raise NeurosimError(f"{where}: leak = {leak}; allowed: (0, 1]")
    if reset not in RESETS:
        raise NeurosimError(f"{where}: reset = {reset!r}; allowed: {', '.join(RESETS)}")
    i_in = np.asarray(current, dtype=np.float32)
    if not np.isfinite(i_in).all():
        raise NeurosimError(f"{where}: the input current contains NaN or Inf")
    th = np.broadcast_to(np.asarray(threshold, dtype=np.float32), i_in.shape[-1:] if i_in.ndim else ())
    if not (th > 0).all():
        raise NeurosimError(f"{where}: thresholds must be > 0 (got min {float(th.min())})")
    steps = int(steps)
    dtype = np.int8 if steps <= 127 else np.int16
    u = np.zeros(i_in.shape, dtype=np.float32)
    k = np.zeros(i_in.shape, dtype=dtype)
    out = np.zeros((steps, *i_in.shape), dtype=np.int8) if trains else None
    g = np.float32(leak)
    for t in range(steps):
        if leak != 1.0:
            u *= g
        u += i_in
        up = np.greater_equal(u, th)
        _reset(u, up, th, reset)
        k += up
        if out is not None:
            out[t] = up
        if signed:
            down = np.less_equal(u, -th)
            _reset(u, down, -th, reset)
            k -= down
            if out is not None:
                out[t] -= down
    return RateCodeResult(k, out)


# --------------------------------------------------------------------------------------------------------------
# Dense synapse (as lava-nc 0.10 PyDenseModelBitAcc)


def sign_mode_of(weights: np.ndarray) -> str:
    """Lava's rule when no sign mode is given: all >= 0 excitatory, all <= 0 inhibitory, else mixed."""
    w = np.asarray(weights)
    if w.size == 0 or w.min() >= 0:
        return "excitatory"
    if w.max() <= 0:
        return "inhibitory"
    return "mixed"


@dataclass(frozen=True)
class DenseFixedParams:
    """A Dense connection as Lava takes it: ``weights`` (out, in) in 8-bit scale, plus its fixed-point settings."""

    weights: np.ndarray
    num_weight_bits: int = 8
    weight_exp: int = 0
    sign_mode: str | None = None
    num_message_bits: int = 0
    where: str = field(default="Dense", compare=False)
    #: what is derived from the weights once (stored weights, BLAS operands), kept for every later run
    _derived: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        w = np.asarray(self.weights)
        if w.ndim != 2:
            raise NeurosimError(f"{self.where}: weights must be a 2-D (out, in) matrix, got shape {w.shape}")
        _check_int("weights", w, -(1 << 31), (1 << 31) - 1, self.where)
        _check_int("num_weight_bits", self.num_weight_bits, 1, 8, self.where)
        _check_int("weight_exp", self.weight_exp, WEIGHT_EXP_MIN, WEIGHT_EXP_MAX, self.where)
        _check_int("num_message_bits", self.num_message_bits, 0, 32, self.where)
        mode = self.sign_mode or sign_mode_of(w)
        if mode not in SIGN_MODES:
            raise NeurosimError(f"{self.where}: sign_mode = {self.sign_mode!r}; allowed: {', '.join(SIGN_MODES)}")
        object.__setattr__(self, "weights", w.astype(np.int64))
        object.__setattr__(self, "sign_mode", mode)

    @property
    def graded(self) -> bool:
        return self.num_message_bits > 0

    @property
    def stored_weights(self) -> np.ndarray:
        """The weights after Lava's clip to 8 bits and truncation to ``num_weight_bits`` (int64; computed once,
        read-only)."""
        w = self._derived.get("stored")
        if w is None:
            w = self._derived["stored"] = stored_weights(self.weights, self.num_weight_bits, self.sign_mode)
            w.flags.writeable = False
        return w

    def product_operand(self, dtype: type) -> np.ndarray:
        """The stored weights transposed, (in, out), C-ordered (BLAS's fastest layout for spikes @ weights), in
        ``dtype`` (float32/float64 for BLAS, int64), made once."""
        key = np.dtype(dtype).str
        w = self._derived.get(key)
        if w is None:
            w = self._derived[key] = np.ascontiguousarray(self.stored_weights.T, dtype=dtype)
        return w

    @property
    def stored_multiple_of(self) -> int:
        """The largest k (up to 31) such that every stored weight is a multiple of 2^k."""
        k = self._derived.get("pow2")
        if k is None:  # the lowest bit set in any weight is the lowest set in their OR (two's complement alike)
            bits = int(np.bitwise_or.reduce(self.stored_weights, axis=None)) if self.stored_weights.size else 0
            k = self._derived["pow2"] = 31 if bits == 0 else min(31, (bits & -bits).bit_length() - 1)
        return k

    def aligned_bound(self, peak: float) -> float | None:
        """A bound on |output| for inputs of at most ``peak`` in magnitude (binary messages: 1), when the shift
        by ``weight_exp`` is an exact scaling of the sum (the stored weights are multiples of ``2^-weight_exp``),
        so that the output is a product with :attr:`scaled_operand` (:func:`scaled_dense_inputs`); else None."""
        if self.weight_exp < 0 and self.stored_multiple_of < -self.weight_exp:  # the shift would floor the sum
            return None
        return (peak if self.graded else 1.0) * self.row_sum_bound * 2.0 ** self.weight_exp

    @property
    def scaled_operand(self) -> np.ndarray:
        """The stored weights transposed, (in, out), times ``2^(weight_exp + 6)`` in float32: a product with it is
        the Dense's output MSB-aligned as the LIF takes it (exact only where :func:`scaled_dense_inputs` says)."""
        w = self._derived.get("scaled")
        if w is None:  # converted and scaled in one buffered pass (no weights-sized temporary)
            stored = self.stored_weights
            w = self._derived["scaled"] = np.empty(stored.shape[::-1], dtype=np.float32)
            np.multiply(stored.T, 2.0 ** (self.weight_exp + ACT_SHIFT), out=w, casting="unsafe")
        return w

    @property
    def row_sum_bound(self) -> float:
        """The largest sum of |stored weight| over one output neuron's inputs (what bounds a product's partial
        sums per unit of input)."""
        b = self._derived.get("bound")
        if b is None:
            b = self._derived["bound"] = float(np.abs(self.stored_weights).sum(axis=1).max(initial=0))
        return b


def stored_weights(weights: np.ndarray, num_weight_bits: int, sign_mode: str) -> np.ndarray:
    """Clip to the 8-bit range of the sign mode, then zero the low ``8 - num_weight_bits (+1 mixed)`` bits."""
    w = np.asarray(weights, dtype=np.int64)
    mixed = sign_mode == "mixed"
    if sign_mode == "inhibitory":
        w = -w
    w = np.clip(w, -256 if mixed else 0, 255)
    drop = 8 - int(num_weight_bits) + int(mixed)
    w = (w >> drop) << drop
    return -w if sign_mode == "inhibitory" else w


def _exact_matmul(spikes: np.ndarray, weights_t: np.ndarray) -> np.ndarray:
    """``spikes @ weights_t`` exactly in int64, through float32 / float64 BLAS when every partial sum is an
    integer that format holds exactly (below 2^24 / 2^53)."""
    bound = float(np.abs(spikes).max(initial=0)) * float(np.abs(weights_t).sum(axis=0).max(initial=0))
    if bound < 2.0**24:
        return (spikes.astype(np.float32) @ weights_t.astype(np.float32)).astype(np.int64)
    if bound < 2.0**53:
        return (spikes.astype(np.float64) @ weights_t.astype(np.float64)).astype(np.int64)
    return spikes.astype(np.int64) @ weights_t.astype(np.int64)


def _exact_product(params: DenseFixedParams, s: np.ndarray) -> np.ndarray:
    """``s @ stored.T`` exactly in int64, as :func:`_exact_matmul`, with the weight operands made once per Dense."""
    dtype = product_dtype(float(np.abs(s).max(initial=0)) * params.row_sum_bound)
    return (s.astype(dtype) @ params.product_operand(dtype)).astype(np.int64, copy=False)


def product_dtype(bound: float) -> type:
    """The cheapest type in which a product whose partial sums stay below ``bound`` in magnitude is exact: float32
    (integers below 2^24), float64 (below 2^53), else int64."""
    if bound < 2.0**24:
        return np.float32
    if bound < 2.0**53:
        return np.float64
    return np.int64


def dense_fixed_accumulate(params: DenseFixedParams, s_in: np.ndarray, stored: np.ndarray | None = None) -> np.ndarray:
    """The int32 value Dense sends for input ``s_in`` (shape (..., in)), before its one-step delay.

    Vectorized over any leading axes (e.g. all time steps at once).
    """
    s = np.asarray(s_in)
    if stored is None:
        def product(x: np.ndarray) -> np.ndarray:
            return _exact_product(params, x)
        row_bound = params.row_sum_bound
    else:
        def product(x: np.ndarray) -> np.ndarray:
            return _exact_matmul(x, stored.T)
        row_bound = float("inf")
    shift = params.weight_exp
    if params.graded:
        bound = float(np.abs(s).max(initial=0)) * row_bound
        acc = product(s.astype(np.int64))  # Lava: int32 dot product
        if bound >= 2.0**31:
            acc = wrap_int32(acc)
        if shift > 0:
            return wrap_int32(acc << shift) if bound * 2.0**shift >= 2.0**31 else acc << shift
        return acc >> -shift if shift else acc
    acc = product(s != 0)  # Lava: int64 sum of the selected columns
    if shift:
        acc = acc << shift if shift > 0 else acc >> -shift
    # the wrap to int32 changes nothing when no sum can reach 2^31 (every partial sum of selected columns is at
    # most the largest row sum of |weights|)
    return acc if row_bound * 2.0**max(shift, 0) < 2.0**31 else wrap_int32(acc)


def dense_fixed_run(params: DenseFixedParams, s_in: np.ndarray) -> np.ndarray:
    """Dense output for every step of ``s_in`` (time first), delayed one step as in Lava (step 0 receives 0)."""
    s_in = np.asarray(s_in)
    out = np.zeros((s_in.shape[0], params.weights.shape[0]), dtype=np.int64)
    if s_in.shape[0] > 1:
        out[1:] = dense_fixed_accumulate(params, s_in[:-1])
    return out


def scaled_dense_inputs(populations: list[list[tuple[DenseFixedParams, np.ndarray]]], sizes: list[int], rows: int,
                        first: int = 0) -> tuple[np.ndarray, int] | None:
    """The synaptic input of populations side by side, MSB-aligned as the LIF takes it (``a_in << 6``), made
    straight from the products: ``populations[i]`` lists the (Dense, spikes) pairs that feed population i (of
    ``sizes[i]`` neurons), each ``spikes`` (rows - first, in) reaching rows ``first..rows - 1`` (rows before are 0:
    Lava's one-step delay at the start of a run). Returns (int32 array rows x the populations' neurons, a bound on
    |a_in|) for :func:`lif_fixed_run_scaled`, or None when a Dense does not qualify (then the integer path:
    :func:`dense_fixed_accumulate`, :func:`lif_fixed_run_many`).

    The same integers as the integer path whenever it returns: each Dense's ``weight_exp`` and the 6-bit alignment
    are folded into its weights, which is exact when the stored weights are multiples of ``2^-weight_exp`` (the
    shift then divides every sum exactly, as Lava's arithmetic shift of the sum does); every population's input is
    bounded by the sum over its Dense of max|payload| x the largest row sum of |stored weights| x ``2^weight_exp``,
    and it qualifies only when that is <= 2^17: then no int32 channel wraps, every partial sum of a product is an
    integer below 2^23 (exact in float32 whatever order BLAS adds in), and the LIF's fast path applies. Spikes
    given as the same array to several Dense are converted once."""
    bounds = []
    for incoming, n in zip(populations, sizes):
        bound = 0.0
        for dense, spikes in incoming:
            if int(dense.weights.shape[0]) != n or np.shape(spikes) != (rows - first, dense.weights.shape[1]):
                raise NeurosimError(f"{dense.where}: {dense.weights.shape} weights for {n} neurons and spikes of "
                                    f"shape {np.shape(spikes)} (expected {(rows - first, dense.weights.shape[1])})")
            b = dense.aligned_bound(float(np.abs(spikes).max(initial=0)) if dense.graded else 1.0)
            if b is None:
                return None
            bound += b
        if bound > FAST_INPUT_BOUND:
            return None
        bounds.append(bound)
    out = np.zeros((rows, int(sum(sizes))), dtype=np.int32)  # a << 6 <= 2^23: int32 holds every sum
    operands: dict[tuple[int, bool], np.ndarray] = {}
    held = []
    lo = 0
    for incoming, n in zip(populations, sizes):
        for j, (dense, spikes) in enumerate(incoming):
            key = (id(spikes), dense.graded)
            x = operands.get(key)
            if x is None:  # binary messages: an input fires or not; graded: its payload
                x = operands[key] = (np.asarray(spikes) if dense.graded else np.asarray(spikes) != 0
                                     ).astype(np.float32)
                held.append(spikes)  # held, so its id stays its own while it is a key
            part = out[first:, lo:lo + n]
            if j == 0:  # the product's exact integers, converted as they are placed
                np.copyto(part, x @ dense.scaled_operand, casting="unsafe")
            else:
                np.add(part, x @ dense.scaled_operand, out=part, casting="unsafe")
        lo += n
    return out, int(np.ceil(max(bounds, default=0.0)))


def lif_fixed_run_fed(populations: list[list[tuple[DenseFixedParams, np.ndarray]]], sizes: list[int],
                      params: list[FixedLifParams], rows: int, first: int = 0,
                      states: list[FixedLifState] | None = None) -> list[LifTrace]:
    """Populations side by side, each fed by its Dense over ``rows`` steps (``populations`` as in
    :func:`scaled_dense_inputs`: each (Dense, spikes) reaches rows ``first..rows - 1``): the products straight into
    the LIF's aligned input where that is exact, else the integer path (each Dense's int32 output, summed, then
    :func:`lif_fixed_run_many`). The one way both engines run a feed-forward level."""
    scaled = scaled_dense_inputs(populations, sizes, rows, first)
    if scaled is not None:
        return lif_fixed_run_scaled(*scaled, sizes, params, states)
    a_ins = []
    for incoming, n in zip(populations, sizes):
        a_in = np.zeros((rows, n), dtype=np.int64)
        for dense, spikes in incoming:
            if rows > first:
                a_in[first:] += dense_fixed_accumulate(dense, spikes)
        a_ins.append(a_in)
    return lif_fixed_run_many(a_ins, params, states)


def lava_weights_for(mantissas: np.ndarray, num_weight_bits: int, sign_mode: str = "mixed",
                     extra_exp: int = 0) -> tuple[np.ndarray, int]:
    """Lava Dense ``(weights, weight_exp)`` whose synaptic input is exactly ``mantissas * 2^extra_exp``.

    ``mantissas`` are ``num_weight_bits``-bit integers (signed for mixed sign); they are placed in the top bits
    of Lava's 8-bit weight so the truncation keeps them, and ``weight_exp`` shifts them back down.
    """
    m = np.asarray(mantissas, dtype=np.int64)
    b = int(num_weight_bits)
    drop = 8 - b + int(sign_mode == "mixed")
    if sign_mode == "mixed":
        lo, hi = -(1 << (b - 1)), (1 << (b - 1)) - 1
    elif sign_mode == "excitatory":
        lo, hi = 0, (1 << b) - 1
    else:
        lo, hi = -((1 << b) - 1), 0
    if m.size and (m.min() < lo or m.max() > hi):
        raise NeurosimError(
            f"weights in [{m.min()}, {m.max()}] do not fit {b}-bit {sign_mode} weights; allowed: {lo}..{hi}"
        )
    exp = extra_exp - drop
    if not WEIGHT_EXP_MIN <= exp <= WEIGHT_EXP_MAX:
        raise NeurosimError(f"weight_exp = {exp} out of range; allowed: {WEIGHT_EXP_MIN}..{WEIGHT_EXP_MAX}")
    return m << drop, exp
