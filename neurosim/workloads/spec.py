"""Workload descriptions: one validated spec (pydantic) per YAML file in ``workloads/``.

A workload names a model family and its dimensions, how weights and activations are quantized and spike-encoded,
the firing rates the paper assumes, the sequence length and batch, and the *counting convention* (what a paper's
printed operation count includes). Any field can be overridden with ``--set key=value`` (dotted paths reach
nested fields; a few short aliases such as ``unfold`` and ``rate`` are accepted).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from neurosim import overrides
from neurosim.errors import NeurosimError
from neurosim.io import load_yaml

WORKLOAD_FORMAT_VERSION = 1

ROLES = ("qkv", "o", "gate_up", "down", "attn", "lm_head", "ffn_in", "ffn_out", "mix", "default")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


#: decoder/encoder blocks a workload may have: the largest public LLMs have ~130; a graph is built block by block, so
#: a mistyped 10^9 would run for hours (the resource guard of docs/reliability.md)
MAX_LAYERS = 1024


class ModelDims(_Strict):
    """Architecture dimensions, as in the model's public config."""

    layers: int = Field(gt=0, le=MAX_LAYERS)
    d_model: int = Field(gt=0)
    ffn: int = Field(gt=0)
    heads: int = Field(gt=0)
    kv_heads: int | None = Field(default=None, gt=0)
    head_dim: int | None = Field(default=None, gt=0)
    vocab: int = Field(gt=0)
    tied_embeddings: bool = False
    lm_head: bool = True
    norm: Literal["rms", "layer"] = "rms"
    ffn_kind: Literal["swiglu", "gelu", "relu", "rwkv"] = "swiglu"
    max_positions: int | None = Field(default=None, gt=0)
    # family-specific extras (SymbolicLight local window, RWKV time-mix), kept open and documented in each file
    local_window: int | None = Field(default=None, gt=0)
    # which projections carry a bias: none, qkv (Qwen2.5) or all (BERT); default: all for BERT, none otherwise
    bias: Literal["none", "qkv", "all"] | None = None

    @model_validator(mode="after")
    def _heads_divide(self) -> ModelDims:
        kv = self.kv_heads or self.heads
        if self.heads % kv:
            raise ValueError(f"heads ({self.heads}) must be a multiple of kv_heads ({kv})")
        if self.head_dim is None and self.d_model % self.heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of heads ({self.heads})")
        return self

    @property
    def n_kv(self) -> int:
        return self.kv_heads or self.heads

    @property
    def hd(self) -> int:
        return self.head_dim or self.d_model // self.heads


class Convention(_Strict):
    """What an operation count includes. A workload's ``convention`` is the model as it is (every command's
    default: its real attention and k/v width, its lm_head, its non-linear ops); its ``paper_convention`` is what a
    paper's printed count includes (asked for by name: ``--convention paper``, and by ``reproduce``). The papers'
    printed bases differ between models (see ``reports/sdllm/README.md``)."""

    attention: Literal["full", "causal", "none"] = "causal"
    kv_width: Literal["grouped", "full"] = "grouped"
    lm_head: bool = True
    nonlinear: bool = True  # count norms, softmax, SiLU, rotary, residual adds as fp ops
    attention_as_spiking: bool = False  # price QK^T and AV like the spike-driven projections (paper rows do)


#: the projection inputs of a BERT block that LIF neurons can drive (``lif.roles``)
LIF_ROLES = ("qkv", "o", "ffn_in", "ffn_out")


def lif_count_bits(steps: int, signed: bool) -> int:
    """Bits of a LIF neuron's spike count over ``steps`` time steps: [-T, T] (signed) or [0, T] (binary)."""
    return math.ceil(math.log2(int(steps) + 1)) + (1 if signed else 0)


class LifSpec(_Strict):
    """Seed 003's LIF neurons (eq. 1) in front of the spike-driven projections: ``u <- leak * u + I``, a spike
    where ``u >= threshold`` (and, with signed spikes, a -1 spike where ``u <= -threshold``), reset by
    subtraction (or to zero), over ``unfold`` = T steps per token; the spike count / T (the average spike rate)
    is the layer's output. Where the seed leaves a choice open, these fields make it:

    * ``threshold``: calibrated per neuron (``neuron``) or one per layer (``layer``): the ``threshold_quantile``
      of |input| the full-precision model gives over the first ``calibration_tokens`` tokens of the shipped text;
      the threshold scale is folded into the next layer's weights before they are quantized (threshold balancing);
    * ``roles``: which projection inputs spike (the others stay floating point, with fp weights);
    * ``attention``: ``rates``: softmax attention runs on the rate-decoded q, k, v (seed 003's equilibrium
      average spike rates), not on spikes.

    Signed (-1/0/+1, ``a_encoding: ternary``) or binary (0/1, ``a_encoding: binary``) spikes follow the workload's
    ``a_encoding``; T is its ``unfold``; ``a_bits`` follows from T (the count range)."""

    leak: float = Field(default=1.0, gt=0, le=1, description="gamma of u <- gamma u + I; 1 = no leak (IF)")
    reset: Literal["subtract", "zero"] = "subtract"
    threshold: Literal["neuron", "layer"] = "neuron"
    threshold_quantile: float = Field(default=1.0, gt=0, le=1)
    calibration_tokens: int = Field(default=126, gt=0)
    roles: list[str] = Field(default_factory=lambda: list(LIF_ROLES))
    attention: Literal["rates"] = "rates"

    @field_validator("roles")
    @classmethod
    def _roles(cls, v: list[str]) -> list[str]:
        bad = [r for r in v if r not in LIF_ROLES]
        if bad:
            raise ValueError(f"unknown role {bad[0]!r}; allowed: {', '.join(LIF_ROLES)}")
        if not v:
            raise ValueError(f"no role spikes; allowed: one or more of {', '.join(LIF_ROLES)}")
        return list(dict.fromkeys(v))


class WorkloadSpec(_Strict):
    """A spiking-LM workload. Rates are spikes per element per unfolded step (seed 002's firing rate)."""

    version: int = WORKLOAD_FORMAT_VERSION
    name: str
    family: Literal["llama", "bert", "rwkv", "symboliclight", "matmulfree", "custom"]
    description: str = ""
    source: str = ""
    model: ModelDims
    method: str = "sdllm"
    w_bits: int = Field(default=4, ge=1, le=32)
    w_format: Literal["int", "binary", "ternary", "fp"] | None = None
    a_encoding: Literal["fp", "int", "binary", "ternary"] = "ternary"
    a_bits: int = Field(default=4, ge=1, le=32, description="count bits before unfolding (or the int/fp width)")
    unfold: float | None = Field(default=None, gt=0, description="virtual time steps; default 2^(b-1) or 2^b-1")
    symmetric: bool = True
    clip_quantile: float | None = Field(default=None, gt=0, lt=1)
    rotation: Literal["hadamard", "random", "none"] = "hadamard"
    gamma_sqp: bool = True
    spike_multiplier: float = Field(default=1.0, gt=0)
    firing_rate: float = Field(default=0.2, ge=0, le=1)
    rates: dict[str, float] = Field(default_factory=dict)
    kv_bits: int = Field(default=16, ge=1, le=32)
    seq_len: int = Field(default=1024, gt=0)
    batch: int = Field(default=1, gt=0)
    convention: Convention = Field(default_factory=Convention)
    paper_convention: Convention | None = None  # what the paper's printed count includes (--convention paper)
    lif: LifSpec | None = None  # seed 003's LIF neurons instead of SDLLM's spike encoders (bert family)
    notes: list[str] = Field(default_factory=list)
    #: a local model file (LLaMA GGUF) or folder (config.json + safetensors) whose real weights the functional engine
    #: runs; set when the workload is read from such a file (:mod:`neurosim.workloads.model_files`)
    weights: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _lif_count_bits(cls, data: Any) -> Any:
        """With LIF neurons the count range follows from T: ``a_bits`` is derived unless the file sets it."""
        if isinstance(data, dict) and data.get("lif") is not None and "a_bits" not in data:
            unfold, enc = data.get("unfold"), data.get("a_encoding", "ternary")
            if isinstance(unfold, (int, float)) and unfold >= 1 and enc in ("binary", "ternary"):
                data = {**data, "a_bits": lif_count_bits(int(unfold), enc == "ternary")}
        return data

    @model_validator(mode="after")
    def _lif_consistent(self) -> WorkloadSpec:
        if self.lif is None:
            return self
        if self.family != "bert":
            raise ValueError(f"lif: seed 003's LIF neurons are built for family bert; family = {self.family!r}")
        if self.a_encoding not in ("binary", "ternary"):
            raise ValueError(f"lif: a_encoding = {self.a_encoding!r}; allowed: ternary (signed spikes), binary")
        if self.unfold is None or self.unfold < 1 or self.unfold != int(self.unfold):
            raise ValueError(f"lif: unfold (T, the LIF time steps) = {self.unfold}; allowed: an integer >= 1")
        bits = lif_count_bits(int(self.unfold), self.a_encoding == "ternary")
        if self.a_bits != bits:
            raise ValueError(f"lif: a_bits = {self.a_bits} but counts over T = {int(self.unfold)} steps need "
                             f"{bits} bits; allowed: a_bits = {bits} (or leave a_bits out)")
        if self.convention.attention_as_spiking:
            raise ValueError("lif: attention = 'rates' runs softmax attention on the rate-decoded q, k, v; allowed: "
                             "convention.attention_as_spiking = false")
        for name, value, want in (("rotation", self.rotation, "none"), ("clip_quantile", self.clip_quantile, None),
                                  ("symmetric", self.symmetric, True)):
            if value != want:
                raise ValueError(f"lif: {name} = {value!r}; LIF neurons take the activation as it is, with no zero "
                                 f"point; allowed: {name} = {want!r}")
        return self

    @field_validator("version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != WORKLOAD_FORMAT_VERSION:
            raise ValueError(f"unsupported workload version {v}; allowed: {WORKLOAD_FORMAT_VERSION}")
        return v

    @field_validator("rates")
    @classmethod
    def _rates(cls, v: dict[str, float]) -> dict[str, float]:
        for role, r in v.items():
            if role not in ROLES:
                raise ValueError(f"unknown rate role '{role}'; allowed: {', '.join(ROLES)}")
            if not isinstance(r, (int, float)) or not 0.0 <= float(r) <= 1.0:
                raise ValueError(f"rate for '{role}' = {r!r} out of range; allowed: [0, 1]")
        return v

    @property
    def weight_format(self) -> str:
        """int (RTN b-bit), binary (1-bit), ternary (1.58-bit, stored in 2 bits) or fp; inferred from w_bits."""
        if self.w_format:
            return self.w_format
        return "fp" if self.w_bits >= 16 else "binary" if self.w_bits == 1 else "int"

    @property
    def effective_unfold(self) -> float:
        if self.a_encoding in ("fp", "int"):
            return 1
        if self.unfold is not None:
            return self.unfold
        return 2 ** (self.a_bits - 1) if self.a_encoding == "ternary" else 2**self.a_bits - 1

    def rate(self, role: str) -> float:
        """The assumed firing rate of the input of a layer with this role."""
        return float(self.rates.get(role, self.rates.get("default", self.firing_rate)))


ALIASES = {
    "unfold": "unfold",
    "D": "unfold",
    "T": "unfold",
    "rate": "firing_rate",
    "seq": "seq_len",
    "layers": "model.layers",
    "d_model": "model.d_model",
    "ffn": "model.ffn",
    "heads": "model.heads",
    "kv_heads": "model.kv_heads",
    "vocab": "model.vocab",
    "lm_head": "model.lm_head",
}


def apply_overrides(data: dict[str, Any], sets: list[str] | None, where: str) -> dict[str, Any]:
    """Apply ``key=value`` overrides (dotted keys for nested fields, the short :data:`ALIASES`) to a workload
    mapping (the rule is :func:`neurosim.overrides.apply_overrides`, shared with hardware models).

    ``rate`` (``firing_rate``) set without ``rates``: every input takes that rate (the workload's per-role rates
    are cleared, as the break-even solver does), so ``--set rate=X`` never goes silently unused."""
    out = overrides.apply_overrides(data, sets, where, ALIASES)
    keys = [str(s).split("=", 1)[0].strip() for s in sets or []]
    if any(k in ("rate", "firing_rate") for k in keys) and not any(k == "rates" or k.startswith("rates.")
                                                                    for k in keys):
        out = {**out, "rates": {}}
    return out


def format_validation_error(exc: ValidationError, where: str, model: type[BaseModel] | None = None) -> str:
    """One line from a pydantic error: the file, the field, the bad value and what is allowed."""
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err["loc"]) or "(root)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        allowed = ""
        if model is not None:
            node: Any = model
            for part in err["loc"][:-1]:
                ann = getattr(node, "model_fields", {}).get(part)
                node = getattr(ann, "annotation", None)
            fields = getattr(node, "model_fields", None)
            if fields:
                allowed = f"; allowed: {', '.join(fields)}"
        return f"{where}: unknown field '{loc}'{allowed}"
    if err["type"] == "missing":
        return f"{where}: missing field '{loc}'"
    ctx = err.get("ctx") or {}
    bounds = [f"{op} {ctx[k]}" for k, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")) if k in ctx]
    if bounds:
        msg = f"allowed: {' and '.join(bounds)}"
    elif "expected" in ctx:
        msg = f"allowed: {ctx['expected']}"
    inp = err.get("input")
    shown = f" = {inp!r}" if not isinstance(inp, dict) and inp is not None else ""
    return f"{where}: field '{loc}'{shown}: {msg}"


def workload_from_dict(data: Any, where: str) -> WorkloadSpec:
    if not isinstance(data, dict):
        raise NeurosimError(f"{where}: expected a mapping of workload fields at the top level")
    try:
        return WorkloadSpec.model_validate(data)
    except ValidationError as exc:
        raise NeurosimError(format_validation_error(exc, where, WorkloadSpec)) from None


def load_workload(name_or_path: str, sets: list[str] | None = None) -> WorkloadSpec:
    """Load a built-in workload by name, a YAML file by path, or a model file (a LLaMA GGUF, a model folder with
    config.json + safetensors: the spec is read from its own metadata), then apply ``--set`` overrides."""
    from neurosim.resources import resolve
    from neurosim.workloads import model_files

    model_files.check_model_path(name_or_path)
    if model_files.is_model_file(name_or_path):
        data = model_files.workload_data(name_or_path)
        where = f"model {name_or_path}"
        if sets:
            data = apply_overrides(data, sets, where)
            where = f"{where} (with --set)"
        return workload_from_dict(data, where)
    path = resolve("workload", name_or_path)
    where = str(path) if Path(name_or_path).suffix in (".yaml", ".yml") else f"workload {name_or_path}"
    data = load_yaml(path)
    if isinstance(data, dict) and sets:
        data = apply_overrides(data, sets, where)
        where = f"{where} (with --set)"
    return workload_from_dict(data, where)
