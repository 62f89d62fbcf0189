"""Your own model in the functional engine: a local LLaMA-family GGUF file or Hugging Face style folder, or a
BERT-family safetensors folder, read with ``gguf``, ``safetensors`` and ``tokenizers`` (never from a hub).

The metadata comes from :mod:`neurosim.workloads.model_files` (the same reading that gives the workload spec, so the
graph and the weights cannot disagree); this module reads the weights and the tokenizer:

* GGUF: :func:`~neurosim.functional.models.smollm2.read_llama_gguf` (the packaged SmolLM2 is read the same way);
* a LLaMA folder: :func:`read_llama_folder` (Hugging Face tensor names; rotary on halves, as HF stores q/k);
* a BERT folder: :func:`~neurosim.functional.models.minilm.read_bert_folder` (the packaged MiniLM is read the same
  way).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from neurosim.errors import NeurosimError
from neurosim.functional.models.minilm import BertModel, read_bert_folder
from neurosim.functional.models.packages import require
from neurosim.functional.models.smollm2 import LlamaBlock, LlamaModel, read_llama_gguf
from neurosim.functional.models.tensors import SafetensorsWeights


def load_model_file(path: str | Path) -> LlamaModel | BertModel:
    """The model in a GGUF file or a model folder, as float32 arrays and a tokenizer (cached: the last one read)."""
    from neurosim.workloads.model_files import read_model_file, stamp

    mf = read_model_file(path)
    return _load(str(mf.path), stamp(mf.path))


@lru_cache(maxsize=1)
def _load(path: str, _stamp: int) -> LlamaModel | BertModel:
    from neurosim.workloads.model_files import read_model_file

    mf = read_model_file(path)
    if mf.fmt == "gguf":
        return read_llama_gguf(mf.path)
    if mf.family == "bert":
        return read_bert_folder(mf.path)
    return read_llama_folder(mf.path)


def read_llama_folder(folder: Path) -> LlamaModel:
    """A LLaMA-family Hugging Face folder: ``model.layers.N.self_attn.q_proj.weight`` ..., ``model.norm.weight``,
    ``lm_head.weight`` (absent when tied), and ``tokenizer.json``."""
    from neurosim.workloads.model_files import read_model_file

    mf = read_model_file(folder)
    w = SafetensorsWeights(mf.path, mf.tensors)
    dims = mf.dims
    blocks = []
    for b in range(int(dims["layers"])):
        p = f"model.layers.{b}."
        blocks.append(LlamaBlock(
            attn_norm=w.get(p + "input_layernorm.weight"), q=w.get(p + "self_attn.q_proj.weight"),
            k=w.get(p + "self_attn.k_proj.weight"), v=w.get(p + "self_attn.v_proj.weight"),
            o=w.get(p + "self_attn.o_proj.weight"), ffn_norm=w.get(p + "post_attention_layernorm.weight"),
            gate=w.get(p + "mlp.gate_proj.weight"), up=w.get(p + "mlp.up_proj.weight"),
            down=w.get(p + "mlp.down_proj.weight"),
        ))
    embed = w.get("model.embed_tokens.weight")
    tied = bool(dims["tied_embeddings"])
    if embed.shape[0] != int(dims["vocab"]):
        raise NeurosimError(f"{mf.path}: model.embed_tokens.weight has {embed.shape[0]} rows but config.json says "
                            f"vocab_size = {dims['vocab']}")
    return LlamaModel(
        name=mf.name,
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
        final_norm=w.get("model.norm.weight"),
        lm_head=embed if tied else w.get("lm_head.weight"),
        tokenizer=folder_tokenizer(mf.path),
        rope_interleaved=mf.rope_interleaved,
        tied_embeddings=tied,
        source=f"{mf.path.name} (safetensors folder)",
        weight_formats={"safetensors": len(mf.tensors)},
    )


def folder_tokenizer(folder: Path):
    """A folder's ``tokenizer.json``, without padding or truncation."""
    tk = require("tokenizers")
    path = folder / "tokenizer.json"
    if not path.is_file():
        raise NeurosimError(f"{folder}: no tokenizer.json; the functional engine needs the model's tokenizer "
                            "(estimate and map do not)")
    tok = tk.Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.no_truncation()
    return tok
