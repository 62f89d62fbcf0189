"""Your own model as a workload: a local LLaMA-family GGUF file or Hugging Face style folder (``config.json`` +
``*.safetensors``), or a BERT-family safetensors folder, read from its own metadata.

:func:`read_model_file` reads only the metadata (GGUF key/values and tensor names, or ``config.json`` and the
safetensors headers): the dimensions, vocabulary, tied embeddings, norms, rotary settings and the tokenizer's kind.
:func:`workload_data` turns them into the fields of a :class:`~neurosim.workloads.spec.WorkloadSpec` whose encoding
is SDLLM's (W4, symmetric 4-bit counts -> ternary spikes, D=8; ``--set`` changes any field) and whose ``weights``
names the file, so that the functional engine (``rates``, ``ppl``, ``simulate --mode exact``) runs its real weights.
Every other command (``estimate``, ``map``, ``simulate``, ``report``, ``sweep``) builds the graph from the same spec.

Nothing is ever fetched from a hub: only files on this machine are read. An architecture this reader does not
support gets one line naming what the file declares and what is supported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from neurosim.errors import ModelPackageMissing, NeurosimError

#: what a model file may be, in the words of the one-line error for anything else
SUPPORTED = ("a LLaMA-family GGUF file (general.architecture = llama), or a folder with config.json and "
             "*.safetensors whose model_type is llama (LLaMA family) or bert (BERT family)")
#: GGUF tokenizer models and pre-tokenizers the functional engine can rebuild (see functional/models/files.py)
GGUF_TOKENIZERS = ("gpt2", "llama")
GGUF_PRE_TOKENIZERS = ("default", "gpt2", "smollm", "llama-bpe", "llama3")
#: the encoding a model file is given unless --set says otherwise: SDLLM's (as the built-in sdllm-* workloads)
DEFAULT_ENCODING = {"method": "sdllm", "w_bits": 4, "a_encoding": "ternary", "a_bits": 4, "unfold": 8,
                    "symmetric": True, "rotation": "hadamard"}
#: the sequence length of a causal model's workload, at most its context length (--set seq_len=N changes it)
DEFAULT_SEQ_LEN = 1024


@dataclass(frozen=True)
class ModelFile:
    """What a local model file declares: its family, dimensions and the settings its forward pass needs."""

    path: Path
    fmt: str  # gguf | safetensors
    family: str  # llama | bert
    name: str
    dims: dict[str, Any]  # ModelDims fields
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    rope_interleaved: bool = False  # GGUF's q/k rows are permuted for adjacent-pair rotary; HF's rotate halves
    seq_len: int = DEFAULT_SEQ_LEN
    tokenizer: str = ""  # how the tokenizer is stored: gguf:<model>/<pre>, tokenizer.json, vocab.txt or none
    tensors: dict[str, str] = field(default_factory=dict)  # safetensors: tensor name -> shard file name

    @property
    def where(self) -> str:
        return str(self.path)


def is_model_file(source: str | Path) -> bool:
    """A ``.gguf`` file, or a folder holding ``config.json`` (a Hugging Face style model folder)."""
    p = Path(source)
    if p.suffix.lower() == ".gguf":
        return p.is_file()
    return p.is_dir() and (p / "config.json").is_file()


def check_model_path(source: str | Path) -> None:
    """One line for a path that looks like a model but is not readable as one (a folder without config.json,
    a missing .gguf file)."""
    p = Path(source)
    if p.suffix.lower() == ".gguf" and not p.is_file():
        raise NeurosimError(f"{p}: GGUF file not found")
    if p.is_dir() and not (p / "config.json").is_file():
        raise NeurosimError(f"{p}: a folder but no config.json in it; allowed: {SUPPORTED}")


def gguf_reader(path: str | Path):
    """gguf's reader of a file (cached per file and modification time: it parses the whole vocabulary)."""
    p = Path(path).resolve()
    return _gguf_reader(str(p), p.stat().st_mtime_ns)


@lru_cache(maxsize=2)
def _gguf_reader(path: str, _mtime: int):
    gguf = _require("gguf")
    try:
        reader = gguf.GGUFReader(path)
    except (ValueError, OSError) as exc:  # not a GGUF file, a truncated one
        raise NeurosimError(f"{path}: not a readable GGUF file ({exc})") from None
    reader.path = path  # named in every error about the file (gguf's reader keeps only the memory map)
    return reader


def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ModelPackageMissing(f"the Python package {module} is needed to read model files; install it with "
                                  f"`pip install {module}` (or `pip install -e '.[models]'`)") from None


def stamp(path: str | Path) -> int:
    """When a model file (or a folder's config.json) last changed: the key of every cache of its contents."""
    p = Path(path)
    return p.stat().st_mtime_ns if p.is_file() else (p / "config.json").stat().st_mtime_ns


def read_model_file(path: str | Path) -> ModelFile:
    """The metadata of a GGUF file or a model folder (cached per path and modification time)."""
    p = Path(path).resolve()
    check_model_path(p)
    return _read_model_file(str(p), stamp(p))


@lru_cache(maxsize=8)
def _read_model_file(path: str, _stamp: int) -> ModelFile:
    p = Path(path)
    if p.suffix.lower() == ".gguf":
        return _read_gguf(p)
    return _read_folder(p)


# --- GGUF --------------------------------------------------------------------------------------------------------
def gguf_field(reader, key: str, default: Any = ...) -> Any:
    """A GGUF key's value (``default`` when absent; absent and no default: a one-line error)."""
    f = reader.fields.get(key)
    if f is None:
        if default is ...:
            raise NeurosimError(f"{reader.path}: GGUF key {key!r} is missing")
        return default
    return f.contents()


def _read_gguf(p: Path) -> ModelFile:
    reader = gguf_reader(p)
    arch = gguf_field(reader, "general.architecture", None)
    if arch != "llama":
        raise NeurosimError(f"{p}: general.architecture = {arch!r} is not supported; supported: {SUPPORTED}")

    def num(key: str, default: Any = ...) -> Any:
        return gguf_field(reader, f"llama.{key}", default)

    experts = int(num("expert_count", 0) or 0)
    if experts:
        raise NeurosimError(f"{p}: llama.expert_count = {experts} (a mixture of experts) is not supported; "
                            f"supported: {SUPPORTED} with dense feed-forward blocks")
    scaling = num("rope.scaling.type", "none")
    if scaling not in ("none", None):
        raise NeurosimError(f"{p}: llama.rope.scaling.type = {scaling!r} is not supported; supported: none "
                            "(plain rotary embeddings)")
    tensors = {t.name: t for t in reader.tensors}
    if "token_embd.weight" not in tensors:
        raise NeurosimError(f"{p}: tensor 'token_embd.weight' is missing")
    d = int(num("embedding_length"))
    heads = int(num("attention.head_count"))
    head_dim = int(num("rope.dimension_count", 0) or num("attention.key_length", 0) or d // heads)
    vocab = int(tensors["token_embd.weight"].shape[1])
    ctx = int(num("context_length", DEFAULT_SEQ_LEN))
    dims = {"layers": int(num("block_count")), "d_model": d, "ffn": int(num("feed_forward_length")),
            "heads": heads, "kv_heads": int(num("attention.head_count_kv", heads)), "vocab": vocab,
            "tied_embeddings": "output.weight" not in tensors, "lm_head": True, "norm": "rms",
            "ffn_kind": "swiglu", "max_positions": ctx}
    if head_dim * heads != d:
        dims["head_dim"] = head_dim
    tok_model = gguf_field(reader, "tokenizer.ggml.model", None)
    pre = gguf_field(reader, "tokenizer.ggml.pre", "default")
    return ModelFile(path=p, fmt="gguf", family="llama", name=p.stem, dims=dims,
                     rope_theta=float(num("rope.freq_base", 10000.0)),
                     norm_eps=float(num("attention.layer_norm_rms_epsilon", 1e-5)), rope_interleaved=True,
                     seq_len=min(DEFAULT_SEQ_LEN, ctx),
                     tokenizer="none" if tok_model is None else f"gguf:{tok_model}/{pre}")


# --- Hugging Face style folders ----------------------------------------------------------------------------------
def safetensors_index(folder: Path) -> dict[str, str]:
    """Tensor name -> shard file of a folder's safetensors (``model.safetensors.index.json`` or every
    ``*.safetensors``), from the files' headers only."""
    st = _require("safetensors")
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            return {str(k): str(v) for k, v in json.loads(index.read_text(encoding="utf-8"))["weight_map"].items()}
        except (ValueError, KeyError, AttributeError) as exc:
            raise NeurosimError(f"{index}: not a safetensors index ({exc})") from None
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise NeurosimError(f"{folder}: no *.safetensors file (this reader takes safetensors weights only; "
                            "pytorch_model.bin is not read)")
    out: dict[str, str] = {}
    for f in files:
        try:
            with st.safe_open(str(f), "np") as h:
                out.update(dict.fromkeys(h.keys(), f.name))
        except (st.SafetensorError, OSError) as exc:  # a bad header, an unreadable file
            raise NeurosimError(f"{f}: not a readable safetensors file ({exc})") from None
    return out


def _config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise NeurosimError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(cfg, dict):
        raise NeurosimError(f"{path}: expected a JSON object")
    return cfg


def _key(cfg: dict[str, Any], where: Path, key: str, default: Any = ...) -> Any:
    if key in cfg and cfg[key] is not None:
        return cfg[key]
    if default is ...:
        raise NeurosimError(f"{where}: key {key!r} is missing")
    return default


def _read_folder(folder: Path) -> ModelFile:
    cfg = _config(folder)
    where = folder / "config.json"
    kind = cfg.get("model_type")
    if kind not in ("llama", "bert"):
        arch = cfg.get("architectures")
        shown = f" (architectures: {', '.join(map(str, arch))})" if isinstance(arch, list) and arch else ""
        raise NeurosimError(f"{where}: model_type = {kind!r}{shown} is not supported; supported: {SUPPORTED}")
    tensors = safetensors_index(folder)
    tok = ("tokenizer.json" if (folder / "tokenizer.json").is_file()
           else "vocab.txt" if kind == "bert" and (folder / "vocab.txt").is_file() else "none")
    return (_llama_folder if kind == "llama" else _bert_folder)(folder, cfg, where, tensors, tok)


def _llama_folder(folder: Path, cfg: dict, where: Path, tensors: dict[str, str], tok: str) -> ModelFile:
    def refuse(key: str, value: Any, allowed: str) -> None:
        raise NeurosimError(f"{where}: {key} = {value!r} is not supported; supported: {allowed}")

    if cfg.get("rope_scaling"):
        refuse("rope_scaling", cfg["rope_scaling"], "null (plain rotary embeddings)")
    for key in ("attention_bias", "mlp_bias"):
        if cfg.get(key):
            refuse(key, cfg[key], "false (LLaMA projections carry no bias)")
    act = cfg.get("hidden_act", "silu")
    if act != "silu":
        refuse("hidden_act", act, "silu (SwiGLU feed-forward)")
    if cfg.get("num_local_experts"):
        refuse("num_local_experts", cfg["num_local_experts"], "none (dense feed-forward blocks)")
    d = int(_key(cfg, where, "hidden_size"))
    heads = int(_key(cfg, where, "num_attention_heads"))
    head_dim = int(_key(cfg, where, "head_dim", d // heads))
    ctx = int(_key(cfg, where, "max_position_embeddings", DEFAULT_SEQ_LEN))
    tied = bool(cfg.get("tie_word_embeddings", False)) or "lm_head.weight" not in tensors
    dims = {"layers": int(_key(cfg, where, "num_hidden_layers")), "d_model": d,
            "ffn": int(_key(cfg, where, "intermediate_size")), "heads": heads,
            "kv_heads": int(_key(cfg, where, "num_key_value_heads", heads)), "vocab": int(_key(cfg, where, "vocab_size")),
            "tied_embeddings": tied, "lm_head": True, "norm": "rms", "ffn_kind": "swiglu", "max_positions": ctx}
    if head_dim * heads != d:
        dims["head_dim"] = head_dim
    return ModelFile(path=folder, fmt="safetensors", family="llama", name=folder.name, dims=dims,
                     rope_theta=float(_key(cfg, where, "rope_theta", 10000.0)),
                     norm_eps=float(_key(cfg, where, "rms_norm_eps", 1e-6)), rope_interleaved=False,
                     seq_len=min(DEFAULT_SEQ_LEN, ctx), tokenizer=tok, tensors=tensors)


def _bert_folder(folder: Path, cfg: dict, where: Path, tensors: dict[str, str], tok: str) -> ModelFile:
    act = cfg.get("hidden_act", "gelu")
    if act != "gelu":
        raise NeurosimError(f"{where}: hidden_act = {act!r} is not supported; supported: gelu (erf)")
    pos = cfg.get("position_embedding_type", "absolute")
    if pos != "absolute":
        raise NeurosimError(f"{where}: position_embedding_type = {pos!r} is not supported; supported: absolute")
    ctx = int(_key(cfg, where, "max_position_embeddings"))
    dims = {"layers": int(_key(cfg, where, "num_hidden_layers")), "d_model": int(_key(cfg, where, "hidden_size")),
            "ffn": int(_key(cfg, where, "intermediate_size")), "heads": int(_key(cfg, where, "num_attention_heads")),
            "vocab": int(_key(cfg, where, "vocab_size")), "lm_head": False, "norm": "layer", "ffn_kind": "gelu",
            "max_positions": ctx}
    return ModelFile(path=folder, fmt="safetensors", family="bert", name=folder.name, dims=dims,
                     norm_eps=float(_key(cfg, where, "layer_norm_eps", 1e-12)), seq_len=_bert_window(folder, ctx),
                     tokenizer=tok, tensors=tensors)


def _bert_window(folder: Path, ctx: int) -> int:
    """The tokens per window an encoder is run with: the tokenizer's truncation length, else the
    sentence-transformers max_seq_length, else the model's positions."""
    for name, get in (("tokenizer.json", lambda d: (d.get("truncation") or {}).get("max_length")),
                      ("sentence_bert_config.json", lambda d: d.get("max_seq_length"))):
        f = folder / name
        if f.is_file():
            try:
                n = get(json.loads(f.read_text(encoding="utf-8")))
            except (ValueError, AttributeError, UnicodeDecodeError):
                n = None
            if isinstance(n, int) and n > 0:
                return min(n, ctx)
    return ctx


# --- the workload spec -------------------------------------------------------------------------------------------
def workload_data(path: str | Path) -> dict[str, Any]:
    """The fields of a WorkloadSpec for a model file: its own dimensions, SDLLM's encoding, its convention (the model
    as it is), and ``weights`` naming the file."""
    mf = read_model_file(path)
    causal = mf.family == "llama"
    return {
        "name": mf.name,
        "family": mf.family,
        "description": f"{mf.name}: read from {mf.fmt} {'file' if mf.fmt == 'gguf' else 'folder'} {mf.path}, with "
                       "SDLLM's encoding (W4, symmetric 4-bit counts -> ternary spikes, D=8) unless --set says "
                       "otherwise",
        "source": f"dims: {mf.path} ({'GGUF metadata' if mf.fmt == 'gguf' else 'config.json'}); real weights: "
                  "the same file",
        "weights": str(mf.path),
        "model": dict(mf.dims),
        **DEFAULT_ENCODING,
        "gamma_sqp": causal,  # post-LayerNorm encoders fold the norm's affine into the weights (as minilm-l6)
        "seq_len": mf.seq_len,
        "convention": {"attention": "causal" if causal else "full", "kv_width": "grouped", "lm_head": causal,
                       "nonlinear": True, "attention_as_spiking": False},
        "notes": ["firing_rate is the WorkloadSpec default prior; `neurosim rates` measures this model's own"],
    }


def check_dims(spec: Any, *, fewer_layers: bool = False) -> ModelFile:
    """A workload spec read from a model file must keep the file's dimensions (the functional engine runs its real
    weights); ``fewer_layers``: exact simulation may run the first N blocks (``--set layers=N``)."""
    mf = read_model_file(spec.weights)
    got = spec.model.model_dump()
    diff = []
    for key, want in mf.dims.items():
        have = got.get(key)
        if key == "layers" and fewer_layers and have is not None and 1 <= have <= want:
            continue
        if have != want:
            diff.append(f"model.{key} = {have} (the file has {want})")
    if diff:
        allowed = f"; allowed: --set layers=1..{mf.dims['layers']}" if fewer_layers else ""
        raise NeurosimError(f"workload {spec.name}: width mismatch with its model file {mf.path}: {', '.join(diff)}; "
                            f"the functional engine runs real weights, so these dimensions cannot be overridden"
                            f"{allowed}")
    return mf
