"""Tiny model files written by the tests themselves (nothing is downloaded): a LLaMA-family Hugging Face folder
(config.json + safetensors + tokenizer.json), the same weights as a GGUF file (gguf's writer; q/k rows permuted as
llama.cpp's converter does), a BERT-family folder whose tensors carry a ``bert.`` prefix, and files of
architectures neurosim does not run. Tokenizers are trained in-process with ``tokenizers`` on the shipped text.

Dimensions differ from SmolLM2's on purpose (d=64, ffn=192, 4 heads, 2 kv heads, an untied lm_head).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

#: the tiny LLaMA's config (Hugging Face names)
LLAMA_CONFIG = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64,
                "intermediate_size": 192, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
                "tie_word_embeddings": False, "torch_dtype": "float32"}
BERT_CONFIG = {"model_type": "bert", "architectures": ["BertForMaskedLM"], "hidden_size": 32, "intermediate_size": 64,
               "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 64, "type_vocab_size": 2,
               "hidden_act": "gelu", "layer_norm_eps": 1e-12, "position_embedding_type": "absolute"}


def _text() -> str:
    from neurosim.functional.text import load_text

    return load_text()[0]


def bpe_tokenizer(vocab_size: int = 300):
    """A byte-level BPE trained on the shipped text (GPT-2 style: every byte is a token, then merges)."""
    import tokenizers as tk

    tok = tk.Tokenizer(tk.models.BPE())
    tok.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = tk.decoders.ByteLevel()
    trainer = tk.trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"], show_progress=False,
                                     initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([_text()], trainer)
    return tok


def wordpiece_tokenizer(vocab_size: int = 200):
    import tokenizers as tk

    tok = tk.Tokenizer(tk.models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = tk.normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = tk.pre_tokenizers.BertPreTokenizer()
    tok.decoder = tk.decoders.WordPiece()
    trainer = tk.trainers.WordPieceTrainer(vocab_size=vocab_size, show_progress=False,
                                           special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train_from_iterator([_text()], trainer)
    return tok


def llama_weights(vocab: int, seed: int = 0, cfg: dict | None = None) -> dict[str, np.ndarray]:
    """Random float32 weights under Hugging Face names (q/k rows in HF order: rotary on halves)."""
    cfg = cfg or LLAMA_CONFIG
    rng = np.random.default_rng(seed)
    d, f, h = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_attention_heads"]
    kv, hd = cfg["num_key_value_heads"], cfg["hidden_size"] // cfg["num_attention_heads"]

    def mat(o, i):
        return (rng.standard_normal((o, i)) / np.sqrt(i)).astype(np.float32)

    def norm(n):
        return (1 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    w = {"model.embed_tokens.weight": rng.standard_normal((vocab, d)).astype(np.float32),
         "model.norm.weight": norm(d), "lm_head.weight": mat(vocab, d)}
    for b in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{b}."
        w |= {p + "input_layernorm.weight": norm(d), p + "post_attention_layernorm.weight": norm(d),
              p + "self_attn.q_proj.weight": mat(h * hd, d), p + "self_attn.k_proj.weight": mat(kv * hd, d),
              p + "self_attn.v_proj.weight": mat(kv * hd, d), p + "self_attn.o_proj.weight": mat(d, h * hd),
              p + "mlp.gate_proj.weight": mat(f, d), p + "mlp.up_proj.weight": mat(f, d),
              p + "mlp.down_proj.weight": mat(d, f)}
    return w


def write_llama_folder(folder: Path, seed: int = 0, cfg: dict | None = None, tokenizer=None) -> Path:
    """config.json + model.safetensors + tokenizer.json of a tiny LLaMA; returns the folder."""
    from safetensors.numpy import save_file

    cfg = dict(cfg or LLAMA_CONFIG)
    tok = tokenizer or bpe_tokenizer()
    cfg["vocab_size"] = tok.get_vocab_size()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    save_file(llama_weights(cfg["vocab_size"], seed, cfg), str(folder / "model.safetensors"))
    tok.save(str(folder / "tokenizer.json"))
    return folder


def _gguf_rows(w: np.ndarray, heads: int) -> np.ndarray:
    """HF q/k rows -> llama.cpp's order: per head, the halves' element i and i + hd/2 become neighbours 2i, 2i+1."""
    out, d = w.shape
    return w.reshape(heads, 2, out // heads // 2, d).swapaxes(1, 2).reshape(out, d)


def write_llama_gguf(path: Path, folder: Path, arch: str = "llama") -> Path:
    """The tiny LLaMA folder's weights and tokenizer as a GGUF file (F32 tensors, GGUF names)."""
    import gguf
    from safetensors.numpy import load_file

    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    tok = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    w = load_file(str(folder / "model.safetensors"))
    h, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    wr = gguf.GGUFWriter(str(path), arch)
    wr.add_block_count(cfg["num_hidden_layers"])
    wr.add_context_length(cfg["max_position_embeddings"])
    wr.add_embedding_length(cfg["hidden_size"])
    wr.add_feed_forward_length(cfg["intermediate_size"])
    wr.add_head_count(h)
    wr.add_head_count_kv(kv)
    wr.add_rope_freq_base(cfg["rope_theta"])
    wr.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    wr.add_rope_dimension_count(cfg["hidden_size"] // h)
    vocab = sorted(tok["model"]["vocab"].items(), key=lambda kv_: kv_[1])
    special = {t["content"] for t in tok["added_tokens"] if t.get("special")}
    wr.add_tokenizer_model("gpt2")
    wr.add_tokenizer_pre("default")
    wr.add_token_list([t for t, _ in vocab])
    wr.add_token_types([3 if t in special else 1 for t, _ in vocab])
    merges = tok["model"]["merges"]
    wr.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    names = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
             "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    wr.add_tensor("token_embd.weight", w["model.embed_tokens.weight"])
    for b in range(cfg["num_hidden_layers"]):
        for hf, gg in names.items():
            t = w[f"model.layers.{b}.{hf}.weight"]
            if gg in ("attn_q", "attn_k"):
                t = _gguf_rows(t, h if gg == "attn_q" else kv)
            wr.add_tensor(f"blk.{b}.{gg}.weight", np.ascontiguousarray(t))
    wr.add_tensor("output_norm.weight", w["model.norm.weight"])
    wr.add_tensor("output.weight", w["lm_head.weight"])
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()
    return path


def write_bert_folder(folder: Path, seed: int = 0) -> Path:
    """A tiny BERT (2 layers, d=32) whose tensors are saved under ``bert.`` (as a task model stores them)."""
    from safetensors.numpy import save_file

    tok = wordpiece_tokenizer()
    cfg = dict(BERT_CONFIG, vocab_size=tok.get_vocab_size())
    rng = np.random.default_rng(seed)
    d, f = cfg["hidden_size"], cfg["intermediate_size"]

    def mat(o, i):
        return (rng.standard_normal((o, i)) / np.sqrt(i)).astype(np.float32)

    def vec(n, mean=0.0):
        return (mean + 0.1 * rng.standard_normal(n)).astype(np.float32)

    w = {"embeddings.word_embeddings.weight": rng.standard_normal((cfg["vocab_size"], d)).astype(np.float32),
         "embeddings.position_embeddings.weight": 0.1 * mat(cfg["max_position_embeddings"], d),
         "embeddings.token_type_embeddings.weight": 0.1 * mat(2, d),
         "embeddings.LayerNorm.weight": vec(d, 1.0), "embeddings.LayerNorm.bias": vec(d)}
    for b in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{b}."
        for name, (o, i) in {"attention.self.query": (d, d), "attention.self.key": (d, d),
                             "attention.self.value": (d, d), "attention.output.dense": (d, d),
                             "intermediate.dense": (f, d), "output.dense": (d, f)}.items():
            w[p + name + ".weight"], w[p + name + ".bias"] = mat(o, i), vec(o)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            w[p + ln + ".weight"], w[p + ln + ".bias"] = vec(d, 1.0), vec(d)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    save_file({f"bert.{k}": v for k, v in w.items()}, str(folder / "model.safetensors"))
    tok.save(str(folder / "tokenizer.json"))
    return folder


def spm_tokenizer(vocab_size: int = 600):
    """A SentencePiece-style BPE (spaces as U+2581 with one in front, byte fallback) trained on the shipped text,
    and the scores a GGUF file stores for it (a merged piece scores minus its merge rank)."""
    import tokenizers as tk

    space = "\u2581"
    tok = tk.Tokenizer(tk.models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = tk.normalizers.Sequence([tk.normalizers.Prepend(space), tk.normalizers.Replace(" ", space)])
    tok.decoder = tk.decoders.Sequence([tk.decoders.Replace(space, " "), tk.decoders.ByteFallback(),
                                        tk.decoders.Fuse(), tk.decoders.Strip(" ", 1, 0)])
    specials = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)]
    trainer = tk.trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False)
    tok.train_from_iterator([_text()[:3000]], trainer)
    model = json.loads(tok.to_str())["model"]
    rank = {a + b: i for i, (a, b) in enumerate(model["merges"])}
    tokens = [t for t, _ in sorted(model["vocab"].items(), key=lambda kv_: kv_[1])]
    types = [2 if t == "<unk>" else 3 if t in ("<s>", "</s>") else 6 if t.startswith("<0x") else 1 for t in tokens]
    scores = [-float(rank[t]) if t in rank else 0.0 for t in tokens]
    return tok, tokens, types, scores


def write_tokenizer_gguf(path: Path, tokens: list[str], types: list[int], scores: list[float] | None = None,
                         merges: list[str] | None = None, model: str = "llama", arch: str = "llama") -> Path:
    """A GGUF file holding only metadata (no tensors): an architecture and a tokenizer."""
    import gguf

    wr = gguf.GGUFWriter(str(path), arch)
    wr.add_tokenizer_model(model)
    wr.add_token_list(tokens)
    wr.add_token_types(types)
    if scores is not None:
        wr.add_token_scores(scores)
    if merges is not None:
        wr.add_token_merges(merges)
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()
    return path
