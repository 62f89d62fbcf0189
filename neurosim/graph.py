"""The spiking-LM graph IR: layers are small dataclasses (data, not behaviour), a graph is ordered nodes + edges.

Every engine (analytic, event-driven, functional, Lava) implements these layer types; none of them adds
behaviour here. Shapes are per-token feature widths: an edge ``a -> b`` carries ``a.out_dim`` features per token,
and ``b.accepts(width)`` says whether it can take them. The attention matmuls are the only layers whose work
depends on the context length, which is an engine parameter, not part of the graph.

Serialisation is generic: ``to_dict`` writes every dataclass field plus ``type``; a registry maps the type name
back to the class, and unknown types or fields are errors that name them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

from neurosim.errors import NeurosimError

GRAPH_FORMAT_VERSION = 1


class Encoding(str, Enum):
    """How a layer's input activation is represented on the hardware."""

    FP = "fp"  # floating point (bits = 16 or 32)
    INT = "int"  # b-bit integers, one multi-bit value per element per token (SpikeLLM counts these as MACs)
    BINARY = "binary"  # 0/1 spikes; a count in [0, 2^b - 1] unfolded over 2^b - 1 steps
    TERNARY = "ternary"  # -1/0/+1 bidirectional spikes; a count in [-(2^(b-1)-1), 2^(b-1)-1] over 2^(b-1) steps

    @property
    def is_spike(self) -> bool:
        return self in (Encoding.BINARY, Encoding.TERNARY)


@dataclass(frozen=True)
class ActivationSpec:
    """The representation of the activation that enters a layer.

    ``bits`` is the width of the value (fp: 16/32; int: b; spikes: the bits of the integer spike *count* before
    unfolding). ``unfold`` is the number of virtual time steps the count is unfolded into (1 for fp/int); it may
    be fractional only for the analytic engine (the paper prints an averaged 8.3). ``firing_rate`` is spikes per
    element per step, counting -1 and +1 alike (seed 002's definition).
    """

    encoding: Encoding = Encoding.FP
    bits: int = 16
    unfold: float = 1
    firing_rate: float | None = None
    symmetric: bool = True
    clip_quantile: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "encoding", Encoding(self.encoding))
        if not 1 <= int(self.bits) <= 32:
            raise NeurosimError(f"activation bits = {self.bits} out of range; allowed: 1..32")
        if not self.unfold > 0:
            raise NeurosimError(f"unfold = {self.unfold} out of range; allowed: > 0")
        if self.firing_rate is not None and not 0.0 <= self.firing_rate <= 1.0:
            raise NeurosimError(f"firing_rate = {self.firing_rate} out of range; allowed: [0, 1]")
        if self.encoding.is_spike and self.firing_rate is None:
            raise NeurosimError("a spike-encoded activation needs a firing_rate in [0, 1]")

    @property
    def spike_bits(self) -> float:
        """Bits of one spike as the papers price it: 1.58 (ternary), 1 (binary), else the value width."""
        return {Encoding.TERNARY: 1.58, Encoding.BINARY: 1.0}.get(self.encoding, float(self.bits))

    @property
    def label(self) -> str:
        if self.encoding is Encoding.FP:
            return f"fp{self.bits}"
        if self.encoding is Encoding.INT:
            return f"int{self.bits}"
        return self.encoding.value


FP16 = ActivationSpec()


@dataclass
class Layer:
    """Base of every layer: a unique name, the decoder block it belongs to and its role in the block."""

    name: str
    block: int | None = None
    role: str = ""

    #: layers whose output width is free to differ from the input (set per subclass)
    kind: ClassVar[str] = "layer"

    @property
    def in_dim(self) -> int:
        raise NotImplementedError

    @property
    def out_dim(self) -> int:
        raise NotImplementedError

    def accepts(self, width: int) -> bool:
        return width == self.in_dim

    @property
    def params(self) -> int:
        """Number of stored weights (synapses)."""
        return 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": type(self).__name__}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, ActivationSpec):
                v = {k: (x.value if isinstance(x, Enum) else x) for k, x in dataclasses.asdict(v).items()}
            elif isinstance(v, Enum):
                v = v.value
            out[f.name] = v
        return out


@dataclass
class Embedding(Layer):
    """Token id -> a row of the embedding table (a memory read, no arithmetic)."""

    vocab: int = 0
    dim: int = 0
    w_bits: int = 16
    kind: ClassVar[str] = "embedding"

    @property
    def in_dim(self) -> int:
        return 1

    @property
    def out_dim(self) -> int:
        return self.dim

    @property
    def params(self) -> int:
        return self.vocab * self.dim


@dataclass
class Norm(Layer):
    """RMSNorm or LayerNorm over ``dim`` features; y = gamma * x / rms(x) (+ beta for LayerNorm)."""

    dim: int = 0
    norm: str = "rms"
    kind: ClassVar[str] = "norm"

    @property
    def in_dim(self) -> int:
        return self.dim

    @property
    def out_dim(self) -> int:
        return self.dim

    @property
    def params(self) -> int:
        return self.dim * (2 if self.norm == "layer" else 1)


@dataclass
class SpikeEncoder(Layer):
    """Two-step spike encoding (seed 002 sec. 4): rotate, quantize to integer counts per token, unfold to spikes.

    ``rotation``: "hadamard", "random" or "none"; ``gamma_sqp`` keeps the RMSNorm scale on the activation side.
    Its neurons integrate for ``spec.unfold`` steps per token (one neuron update each step).
    """

    dim: int = 0
    spec: ActivationSpec = FP16
    rotation: str = "hadamard"
    gamma_sqp: bool = True
    kind: ClassVar[str] = "encoder"

    @property
    def in_dim(self) -> int:
        return self.dim

    @property
    def out_dim(self) -> int:
        return self.dim


@dataclass
class Linear(Layer):
    """y = W x (a projection). Spike-driven when ``input.encoding`` is binary/ternary: W is read a column per spike
    and accumulated (theorems 2 and 4 of seed 002), so the work is spikes x fan-out accumulates."""

    in_features: int = 0
    out_features: int = 0
    w_bits: int = 16
    input: ActivationSpec = FP16
    bias: bool = False
    w_format: str = "int"  # int (RTN b-bit), binary (1-bit sign), ternary (1.58-bit absmean), fp
    kind: ClassVar[str] = "linear"

    def __post_init__(self) -> None:
        if not 1 <= int(self.w_bits) <= 32:
            raise NeurosimError(f"layer {self.name}: w_bits = {self.w_bits} out of range; allowed: 1..32")
        if self.w_format not in ("int", "binary", "ternary", "fp"):
            raise NeurosimError(f"layer {self.name}: w_format = {self.w_format!r}; allowed: int, binary, ternary, fp")

    @property
    def weight_bits_priced(self) -> float:
        """Weight bits as the papers price them (1.58 for ternary)."""
        return 1.58 if self.w_format == "ternary" else float(self.w_bits)

    @property
    def in_dim(self) -> int:
        return self.in_features

    @property
    def out_dim(self) -> int:
        return self.out_features

    @property
    def params(self) -> int:
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)

    @property
    def spiking(self) -> bool:
        return self.input.encoding.is_spike


@dataclass
class Readout(Linear):
    """The language-model head (hidden -> vocabulary logits); a Linear that ends the graph.

    ``tied_to`` names the embedding whose table it reuses (tied embeddings): its weights are not counted twice
    in the model's parameters, though a neuromorphic mapping still stores them as synapses."""

    tied_to: str = ""
    kind: ClassVar[str] = "readout"


@dataclass
class AttentionScore(Layer):
    """Scores S = Q K^T / sqrt(head_dim) against the KV cache: ``heads`` query heads share ``kv_heads`` K heads.

    Per token it does heads x head_dim multiply-accumulates per context position. Output width = ``heads``
    (one score per head per context position). ``kv_bits`` is the width at which the K cache is stored.
    """

    heads: int = 0
    kv_heads: int = 0
    head_dim: int = 0
    kv_bits: int = 16
    input: ActivationSpec = FP16
    kind: ClassVar[str] = "attention"

    @property
    def in_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def out_dim(self) -> int:
        return self.heads

    def accepts(self, width: int) -> bool:
        return width in (self.heads * self.head_dim, self.kv_heads * self.head_dim)


@dataclass
class AttentionValue(Layer):
    """O = P V: probabilities (``heads`` per context position) times the V cache; output heads x head_dim."""

    heads: int = 0
    kv_heads: int = 0
    head_dim: int = 0
    kv_bits: int = 16
    input: ActivationSpec = FP16
    kind: ClassVar[str] = "attention"

    @property
    def in_dim(self) -> int:
        return self.heads

    @property
    def out_dim(self) -> int:
        return self.heads * self.head_dim

    def accepts(self, width: int) -> bool:
        return width in (self.heads, self.kv_heads * self.head_dim)


@dataclass
class InputSpikes(Layer):
    """The input spikes of an explicit-weight SNN (a NIR graph's input, a recorded spike train): ``n`` channels,
    injected into the network, not computed by it. They are not neurons on the chip (no compartment state, no
    update, no soma spike): their only cost on the hardware is the messages that carry them to the synapse cores
    (see :mod:`neurosim.cost`). ``graded``: each event carries an integer payload of ``bits`` bits (Loihi 2's
    graded spikes); ``firing_rate``: events per channel per step, used when no recorded spikes are given."""

    n: int = 0
    firing_rate: float = 0.1
    graded: bool = False
    bits: int = 1
    kind: ClassVar[str] = "input"

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.firing_rate) <= 1.0:
            raise NeurosimError(f"layer {self.name}: firing_rate = {self.firing_rate} out of range; allowed: [0, 1]")
        if not 1 <= int(self.bits) <= 32:
            raise NeurosimError(f"layer {self.name}: bits = {self.bits} out of range; allowed: 1..32")

    @property
    def in_dim(self) -> int:
        return self.n

    @property
    def out_dim(self) -> int:
        return self.n


@dataclass
class LIF(Layer):
    """Leaky integrate-and-fire neurons (a spike gate): v <- decay*v + x; spike when v > threshold; reset.

    ``dv`` and ``du`` are Loihi's 12-bit decays (0..4096); ``threshold`` in the unit of the input.
    ``neuron`` names the dynamics when they come from NIR (lif, cuba_lif, if, li, cuba_li, i, threshold); the
    default "lif" is the neuron above. Per-neuron NIR parameters live beside the graph (see neurosim.interop).
    """

    n: int = 0
    threshold: float = 1.0
    dv: int = 0
    du: int = 4095
    reset: str = "zero"
    steps: int = 1
    firing_rate: float = 0.1
    neuron: str = "lif"
    kind: ClassVar[str] = "lif"

    @property
    def in_dim(self) -> int:
        return self.n

    @property
    def out_dim(self) -> int:
        return self.n


@dataclass
class Elementwise(Layer):
    """An elementwise or per-head op on ``dim`` features: silu, gelu, mul (gate x up), rotary, softmax, exp_decay."""

    dim: int = 0
    op: str = "mul"
    ops_per_element: float = 1.0
    kind: ClassVar[str] = "elementwise"

    @property
    def in_dim(self) -> int:
        return self.dim

    @property
    def out_dim(self) -> int:
        return self.dim

    def accepts(self, width: int) -> bool:
        if self.op == "rotary":
            return True  # rotary is applied to q (heads) and k (kv heads) alike
        return width == self.dim


@dataclass
class Residual(Layer):
    """x + f(x): one add per feature."""

    dim: int = 0
    kind: ClassVar[str] = "residual"

    @property
    def in_dim(self) -> int:
        return self.dim

    @property
    def out_dim(self) -> int:
        return self.dim


LAYER_TYPES: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (
        Embedding,
        Norm,
        SpikeEncoder,
        Linear,
        Readout,
        AttentionScore,
        AttentionValue,
        LIF,
        InputSpikes,
        Elementwise,
        Residual,
    )
}


def layer_from_dict(d: dict[str, Any], where: str = "graph") -> Layer:
    d = dict(d)
    tname = d.pop("type", None)
    cls = LAYER_TYPES.get(tname)  # type: ignore[arg-type]
    if cls is None:
        raise NeurosimError(f"{where}: unknown layer type {tname!r}; allowed: {', '.join(LAYER_TYPES)}")
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(d) - set(names)
    if unknown:
        raise NeurosimError(
            f"{where}: layer {d.get('name')!r} ({tname}) has unknown field(s) {sorted(unknown)}; "
            f"allowed: {', '.join(names)}"
        )
    hints = _field_hints(cls)
    for key, value in d.items():
        _check_field(where, f"layer {d.get('name')!r} field '{key}'", value, hints.get(key))
    for key in ("input", "spec"):
        if key in d and not isinstance(d[key], (dict, ActivationSpec)):
            raise NeurosimError(f"{where}: layer {d.get('name')!r} field '{key}' = {d[key]!r:.60}; allowed: a mapping "
                                "of activation fields (encoding, bits, unfold, firing_rate, symmetric, clip_quantile)")
        if key in d and isinstance(d[key], dict):
            spec_hints = _field_hints(ActivationSpec)
            for k, v in d[key].items():
                _check_field(where, f"layer {d.get('name')!r} field '{key}.{k}'", v, spec_hints.get(k))
            try:
                d[key] = ActivationSpec(**d[key])
            except TypeError as exc:
                raise NeurosimError(f"{where}: layer {d.get('name')!r} field '{key}': {exc}") from None
    return cls(**d)


def _field_hints(cls: type) -> dict[str, str]:
    """A dataclass's field annotations as written (``int``, ``float | None``, ...)."""
    return {f.name: str(f.type) for f in dataclasses.fields(cls)}


#: the scalar annotations a graph file's values are checked against (the others are checked by their classes)
_SCALARS: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}


def _check_field(where: str, what: str, value: Any, hint: str | None) -> None:
    """A value read from a graph file has its field's type (a number where a number goes, finite; text where text
    goes): a wrong one is one error naming the file, the layer and the field, not a failure deep in a run."""
    if hint is None:
        return
    parts = [h.strip() for h in hint.split("|")]
    if value is None and "None" in parts:
        return
    kinds = [_SCALARS[h] for h in parts if h in _SCALARS]
    if not kinds or len(kinds) != len([h for h in parts if h != "None"]):
        return  # an enum, a nested spec or a container: its own class checks it
    allowed = tuple(t for k in kinds for t in k)
    ok = isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)
    if ok and isinstance(value, float) and math.isnan(value):  # inf is a value (a threshold never crossed)
        ok = False
    if not ok:
        names = " or ".join(p if p != "float" else "a number (not NaN)" for p in parts)
        raise NeurosimError(f"{where}: {what} = {value!r:.60}; allowed: {names}")


def _check_meta(meta: dict[str, Any], where: str) -> None:
    """What a run reads from a graph's meta, checked where it is read: positive integer ``seq_len``/``batch``/
    ``local_window``, a positive ``spike_multiplier``, a ``convention`` mapping whose attention is a known kind."""
    for key in ("seq_len", "batch", "local_window"):
        v = meta.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
            raise NeurosimError(f"{where}: field 'meta.{key}' = {v!r:.60}; allowed: an integer > 0")
    v = meta.get("spike_multiplier")
    if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < float("inf")):
        raise NeurosimError(f"{where}: field 'meta.spike_multiplier' = {v!r:.60}; allowed: a number > 0")
    nir = meta.get("nir")
    if nir is not None:
        if not isinstance(nir, dict):
            raise NeurosimError(f"{where}: field 'meta.nir' = {nir!r:.60}; allowed: a mapping (as neurosim "
                                "import-nir writes it)")
        ports = nir.get("inputs")
        if ports is not None and not (isinstance(ports, dict) and all(
                isinstance(v, dict) and isinstance(v.get("to", []), list) for v in ports.values())):
            raise NeurosimError(f"{where}: field 'meta.nir.inputs' = {ports!r:.60}; allowed: a mapping port -> "
                                "{to: [layer, ...], ...} (as neurosim import-nir writes it)")
        rec = nir.get("recurrent_edges")
        if rec is not None and not (isinstance(rec, list) and all(
                isinstance(e, (list, tuple)) and len(e) == 2 and all(isinstance(n, str) for n in e) for e in rec)):
            raise NeurosimError(f"{where}: field 'meta.nir.recurrent_edges' = {rec!r:.60}; allowed: a list of "
                                "[source layer, target layer]")
        dt = nir.get("dt_s")
        if dt is not None and (isinstance(dt, bool) or not isinstance(dt, (int, float)) or not 0 < dt < float("inf")):
            raise NeurosimError(f"{where}: field 'meta.nir.dt_s' = {dt!r:.60}; allowed: a time step in seconds > 0")
        for key in ("params_file", "file"):
            if nir.get(key) is not None and not isinstance(nir[key], str):
                raise NeurosimError(f"{where}: field 'meta.nir.{key}' = {nir[key]!r:.60}; allowed: a file name")
    for key in ("spikes", "workload"):
        if meta.get(key) is not None and not isinstance(meta[key], str):
            raise NeurosimError(f"{where}: field 'meta.{key}' = {meta[key]!r:.60}; allowed: text")
    conv = meta.get("convention")
    if conv is not None:
        if not isinstance(conv, dict):
            raise NeurosimError(f"{where}: field 'meta.convention' = {conv!r:.60}; allowed: a mapping")
        att = conv.get("attention", "causal")
        if att not in ("full", "causal", "none"):
            raise NeurosimError(f"{where}: field 'meta.convention.attention' = {att!r:.60}; allowed: full, causal, "
                                "none")


@dataclass
class Graph:
    """An ordered set of layers and the edges between them (a DAG in execution order)."""

    name: str
    layers: dict[str, Layer] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def add(self, layer: Layer, after: str | list[str] | None = None) -> Layer:
        if layer.name in self.layers:
            raise NeurosimError(f"graph {self.name}: duplicate layer name {layer.name!r}")
        self.layers[layer.name] = layer
        for src in [after] if isinstance(after, str) else (after or []):
            self.connect(src, layer.name)
        return layer

    def connect(self, src: str, dst: str) -> None:
        for n in (src, dst):
            if n not in self.layers:
                raise NeurosimError(f"graph {self.name}: edge names unknown layer {n!r}")
        self.edges.append((src, dst))

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers.values())

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, name: str) -> Layer:
        return self.layers[name]

    def of_kind(self, *cls: type[Layer]) -> list[Layer]:
        return [layer for layer in self if isinstance(layer, cls)]

    def predecessors(self, name: str) -> list[str]:
        return list(self._adjacency()[1].get(name, ()))

    def successors(self, name: str) -> list[str]:
        return list(self._adjacency()[0].get(name, ()))

    def _adjacency(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        """(successors, predecessors) of every layer, in edge order; rebuilt when ``edges`` is another list or has
        grown or shrunk (edges are added by :meth:`connect` or by assigning a new list), so a walk over a large
        graph asks in constant time instead of scanning every edge."""
        key = (len(self.edges), self.edges[-1] if self.edges else None)
        kept = self.__dict__.get("_adj")
        if kept is None or kept[0] != key or kept[1] is not self.edges:
            succ: dict[str, list[str]] = {}
            pred: dict[str, list[str]] = {}
            for s, d in self.edges:
                succ.setdefault(s, []).append(d)
                pred.setdefault(d, []).append(s)
            kept = self.__dict__["_adj"] = (key, self.edges, succ, pred)
        return kept[2], kept[3]

    def to_networkx(self):
        import networkx as nx

        g = nx.DiGraph(name=self.name)
        for layer in self:
            g.add_node(layer.name, layer=layer)
        g.add_edges_from(self.edges)
        return g

    def check(self) -> None:
        """Shape check every edge and that the graph is acyclic and in execution order."""
        order = {n: i for i, n in enumerate(self.layers)}
        for src, dst in self.edges:
            a, b = self.layers[src], self.layers[dst]
            if order[src] >= order[dst]:
                raise NeurosimError(f"graph {self.name}: edge {src} -> {dst} goes backwards (graph must be a DAG)")
            if not b.accepts(a.out_dim):
                raise NeurosimError(
                    f"graph {self.name}: width mismatch on edge {src} -> {dst}: {src} gives {a.out_dim} "
                    f"features, {dst} ({type(b).__name__}) expects {b.in_dim}"
                )

    @property
    def params(self) -> int:
        """Model parameters (a tied lm_head is not counted again)."""
        return sum(layer.params for layer in self if not getattr(layer, "tied_to", ""))

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": GRAPH_FORMAT_VERSION,
            "name": self.name,
            "meta": self.meta,
            "layers": [layer.to_dict() for layer in self],
            "edges": [list(e) for e in self.edges],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "graph") -> Graph:
        if not isinstance(d, dict):
            raise NeurosimError(f"{where}: expected a mapping with 'name', 'layers', 'edges'")
        unknown = set(d) - {"version", "name", "meta", "layers", "edges"}
        if unknown:
            raise NeurosimError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: version, name, meta, layers, edges")
        version = d.get("version", GRAPH_FORMAT_VERSION)
        if version != GRAPH_FORMAT_VERSION:
            raise NeurosimError(f"{where}: field 'version' = {version!r}; allowed: {GRAPH_FORMAT_VERSION}")
        section = "meta"
        try:
            # a null seq_len or batch is one not given (the readers' defaults apply), not a value to read
            meta = {k: v for k, v in dict(d.get("meta") or {}).items() if not (k in ("seq_len", "batch") and v is None)}
            _check_meta(meta, where)
            g = cls(name=str(d.get("name", "graph")), meta=meta)
            layers, edges = d.get("layers"), d.get("edges")
            if not isinstance(layers, list) or not layers:
                raise NeurosimError(f"{where}: field 'layers' = {layers!r:.60}; allowed: a list of at least one layer")
            if edges is not None and not isinstance(edges, list):
                raise NeurosimError(f"{where}: field 'edges' = {edges!r:.60}; allowed: a list of [source, target]")
            for i, ld in enumerate(layers):
                section = f"layers[{i}]"
                g.add(layer_from_dict(ld, where))
            for i, e in enumerate(d.get("edges") or []):
                section = f"edges[{i}]"
                if not (isinstance(e, (list, tuple)) and len(e) == 2 and all(isinstance(n, str) for n in e)):
                    raise NeurosimError(f"{where}: field 'edges[{i}]' = {e!r}; allowed: [source layer, target layer]")
                g.connect(e[0], e[1])
            section = "layers"
            g.check()
        except NeurosimError as exc:  # a graph's own check names the graph; name the file too
            from neurosim.errors import in_file

            raise in_file(where, exc) from None
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:  # a damaged or hand-edited file
            why = (str(exc).splitlines() or [""])[0][:120] or type(exc).__name__
            raise NeurosimError(f"{where}: field '{section}': not a valid graph file ({type(exc).__name__}: {why})") \
                from None
        return g

    def to_yaml(self) -> str:
        import yaml

        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # the C dumper when libyaml is there: 10x faster
        return yaml.dump(self.to_dict(), Dumper=dumper, sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str, where: str = "graph") -> Graph:
        from neurosim.io import parse_yaml

        return cls.from_dict(parse_yaml(text, where), where)
