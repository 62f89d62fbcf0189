"""The event-driven SNN engine (neurosim/engines/events/snn.py): its vectorized bundles, its literal step-by-step
run and the functional engine agree at every step, on feed-forward and recurrent networks alike."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim.engines.events import snn as events_snn
from neurosim.neurons import DenseFixedParams, FixedLifParams, lava_weights_for
from neurosim.snn import Population, Projection, SpikeSource, SpikingNetwork, first_difference, run_functional


def _dense(rng, out, inp, bits, graded_bits=0, scale=1):
    m = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), (out, inp)) * scale
    w8, exp = lava_weights_for(np.clip(m, -(1 << (bits - 1)), (1 << (bits - 1)) - 1), bits, "mixed")
    return DenseFixedParams(w8, num_weight_bits=bits, weight_exp=exp, sign_mode="mixed", num_message_bits=graded_bits)


def mixed_network(seed: int = 11, steps: int = 37, recurrent: bool = True) -> SpikingNetwork:
    """Binary and graded sources; a feed-forward population; a cycle of two populations (one with a self-loop)
    fed from outside; a population after the cycle; leaks and biases (``recurrent=False``: no cycle, ff feeds the
    last population directly)."""
    rng = np.random.default_rng(seed)
    n_in, n = 40, 24
    net = SpikingNetwork("mixed")
    net.sources["s"] = SpikeSource("s", (rng.random((steps, n_in)) < 0.3).astype(np.int32))
    graded = rng.integers(-7, 8, (steps, n_in)) * (rng.random((steps, n_in)) < 0.4)
    net.sources["g"] = SpikeSource("g", graded.astype(np.int32), graded=True, message_bits=4)
    net.populations["ff"] = Population("ff", n, FixedLifParams(du=300, dv=100, vth=20, bias_mant=3))
    net.populations["r1"] = Population("r1", n, FixedLifParams(du=4095, dv=256, vth=8))
    net.populations["r2"] = Population("r2", n, FixedLifParams(du=1000, dv=0, vth=10))
    net.populations["out"] = Population("out", n, FixedLifParams(du=4095, dv=50, vth=5))
    net.projections += [Projection("s->ff", "s", "ff", _dense(rng, n, n_in, 4)),
                        Projection("g->ff", "g", "ff", _dense(rng, n, n_in, 3, graded_bits=4)),
                        Projection("ff->r1", "ff", "r1", _dense(rng, n, n, 6)),
                        Projection("r1->r2", "r1", "r2", _dense(rng, n, n, 5)),
                        Projection("r2->r1", "r2", "r1", _dense(rng, n, n, 4)),
                        Projection("r2->r2", "r2", "r2", _dense(rng, n, n, 3)),
                        Projection("r2->out", "r2", "out", _dense(rng, n, n, 6)),
                        Projection("s->out", "s", "out", _dense(rng, n, n_in, 4))]
    if not recurrent:
        for name in ("r1", "r2"):
            net.populations.pop(name)
        net.projections = [p for p in net.projections if {p.pre, p.post}.isdisjoint({"r1", "r2"})]
        net.projections.append(Projection("ff->out", "ff", "out", _dense(rng, n, n, 6)))
    return net


def test_cycles_are_the_strongly_connected_populations():
    net = mixed_network()
    on_cycle = events_snn.cycles(net)
    assert set(on_cycle) == {"r1", "r2"}
    assert on_cycle["r1"] == on_cycle["r2"] == frozenset({"r1", "r2"})


@pytest.mark.parametrize("window", [None, 1, 5])
def test_bundles_of_any_window_equal_the_functional_run_at_every_step(window):
    net = mixed_network()
    ref = run_functional(net)
    ev = events_snn.simulate_snn(net, window=window)
    assert ev.engine == "events"
    assert first_difference(ref, ev) is None
    assert all(ref.populations[n].spikes.sum() > 0 for n in net.populations)


def test_a_window_capped_by_memory_gives_the_same_run(monkeypatch):
    """A feed-forward network split into windows of a few steps (the cap on a window's input) runs exactly as one
    window: the LIF state and the one-step delay carry across windows."""
    net = mixed_network(seed=3, steps=50, recurrent=False)
    assert not events_snn.cycles(net)
    whole = events_snn.simulate_snn(net)
    monkeypatch.setattr(events_snn, "WINDOW_ELEMENTS", 24 * 7)
    split = events_snn.simulate_snn(net)
    assert first_difference(whole, split) is None
    assert first_difference(run_functional(net), split) is None


def test_preparing_the_weights_changes_nothing_but_when_the_work_is_done():
    net = mixed_network(seed=8)
    before = events_snn.simulate_snn(net)
    fresh = mixed_network(seed=8)
    events_snn.prepare(fresh)
    assert all(p.dense._derived for p in fresh.projections)
    assert first_difference(before, events_snn.simulate_snn(fresh)) is None
    stored = fresh.projections[0].dense.stored_weights
    assert stored is fresh.projections[0].dense.stored_weights and not stored.flags.writeable


def test_a_wide_graded_input_takes_the_exact_integer_product():
    """Payloads large enough that float32 partial sums would lose bits: the product falls back to float64/int64
    and still equals the event-by-event sum."""
    rng = np.random.default_rng(2)
    steps, n_in, n = 12, 300, 16
    net = SpikingNetwork("wide")
    net.sources["g"] = SpikeSource("g", rng.integers(-(1 << 15), 1 << 15, (steps, n_in)).astype(np.int32),
                                   graded=True, message_bits=16)
    net.populations["p"] = Population("p", n, FixedLifParams(du=4095, dv=0, vth=100000))
    net.projections.append(Projection("g->p", "g", "p", _dense(rng, n, n_in, 8, graded_bits=16)))
    literal = events_snn.simulate_snn(net, window=1)
    assert first_difference(literal, events_snn.simulate_snn(net)) is None
    assert first_difference(run_functional(net), literal) is None


def test_a_projection_back_to_an_earlier_population_without_a_cycle_runs_in_bundles():
    """``x`` is declared first but fed by ``y`` (a back edge that closes no cycle): ``x`` waits for ``y``'s whole
    run and both still take one bundle each, equal to the functional (step-by-step) run."""
    rng = np.random.default_rng(4)
    steps, n_in, n = 30, 32, 20
    net = SpikingNetwork("back")
    net.sources["s"] = SpikeSource("s", (rng.random((steps, n_in)) < 0.4).astype(np.int32))
    net.populations["x"] = Population("x", n, FixedLifParams(du=4095, dv=100, vth=4))
    net.populations["y"] = Population("y", n, FixedLifParams(du=2000, dv=0, vth=6))
    net.projections += [Projection("s->y", "s", "y", _dense(rng, n, n_in, 5)),
                        Projection("y->x", "y", "x", _dense(rng, n, n, 5))]
    assert net.recurrent and not events_snn.cycles(net)
    assert events_snn.levels(net, {}) == [["y"], ["x"]]
    ev = events_snn.simulate_snn(net)
    assert first_difference(run_functional(net), ev) is None
    assert ev.populations["x"].spikes.sum() > 0


@pytest.mark.parametrize("steps", [0, 1, 2])
def test_runs_of_zero_one_and_two_steps_have_every_record(steps):
    net = mixed_network()
    ev = events_snn.simulate_snn(net, steps)
    assert all(tr.spikes.shape == (steps, net.populations[n].n) for n, tr in ev.populations.items())
    assert first_difference(run_functional(net, steps), ev) is None


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), kept=st.booleans(), steps=st.integers(1, 12))
def test_random_feed_forward_networks_run_alike_in_every_engine_path(seed, kept, steps):
    """Random feed-forward networks (binary and graded sources, 1-8 bit weights of every sign mode, exponents from
    -8 to 7, several Dense into one population, populations reading populations; ``kept``: du = 4095 and dv = 0
    everywhere, the int32 kept-voltage loop): the functional run, the bundled event-driven run (the aligned-input
    path where it applies) and the literal step-by-step run with event-by-event accumulation agree at every step."""
    rng = np.random.default_rng(seed)
    net = SpikingNetwork("random")
    n_in = int(rng.integers(3, 20))
    net.sources["b"] = SpikeSource("b", (rng.random((steps, n_in)) < 0.4).astype(np.int32))
    g = rng.integers(-9, 10, (steps, n_in)) * (rng.random((steps, n_in)) < 0.5)
    net.sources["g"] = SpikeSource("g", g.astype(np.int32), graded=True, message_bits=5)
    names = []
    for i in range(int(rng.integers(1, 4))):
        name, n = f"p{i}", int(rng.integers(2, 12))
        du, dv = (4095, 0) if kept else (int(rng.integers(0, 4096)), int(rng.integers(0, 4096)))
        net.populations[name] = Population(name, n, FixedLifParams(du=du, dv=dv, vth=int(rng.integers(0, 60)),
                                                                   bias_mant=int(rng.integers(-20, 21))))
        for j, pre in enumerate(rng.choice(["b", "g", *names], size=int(rng.integers(1, 3)))):
            width = n_in if pre in ("b", "g") else net.populations[pre].n
            mode = str(rng.choice(["mixed", "excitatory", "inhibitory"]))
            w = rng.integers(-256, 256, (n, width))
            net.projections.append(Projection(f"{pre}->{name}#{j}", str(pre), name, DenseFixedParams(
                w, int(rng.integers(1, 9)), int(rng.integers(-8, 8)), mode, num_message_bits=5 if pre == "g" else 0)))
        names.append(name)
    functional = run_functional(net)
    for window in (None, 1):
        diff = first_difference(functional, events_snn.simulate_snn(net, window=window))
        assert diff is None, diff.describe("functional", f"events (window {window})")
