"""NIR -> neurosim: read a NIR graph and turn it into a :class:`Graph` plus the parameters the graph cannot hold.

What maps to what (1-D feature vectors only; a node's width is its feature count):

  Affine / Linear     -> Linear (bias for Affine; mapped and priced at ``w_bits`` (default 8, what a Loihi core
                         holds; the simulator keeps the file's float weights); input binary from spiking neurons)
  Scale               -> Elementwise(op="scale")
  LIF, CubaLIF, IF,   -> LIF(neuron=lif|cuba_lif|if|li|cuba_li|i|threshold): Loihi-style dv/du from dt/tau (the
  LI, CubaLI, I,         mean over neurons), reset "zero" (v_reset = 0), "value" (another v_reset) or "none"
  Threshold
  Flatten, nested Input/Output -> removed (identity on a flat vector); nested graphs are inlined as ``sub.node``
  top-level Input / Output     -> the graph's ports, listed in ``meta["nir"]["inputs"|"outputs"]``

NIR sums all edges that enter a node; so does neurosim (a layer with several predecessors adds them). An edge
that closes a cycle (recurrent weights, e.g. snnTorch's RLeaky) is delayed by one time step; it is kept out of
the graph's DAG and listed in ``meta["nir"]["recurrent_edges"]``.

Time: NIR states continuous-time dynamics and carries no time step; the importer takes ``dt`` (snnTorch exports
with dt = 1e-4 s) and states it, the reset mode and the discretisation in ``meta["nir"]``. One token of a run is
one time step: ``meta["seq_len"]`` is the number of steps per sample.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.errors import NeurosimError, missing_extra
from neurosim.graph import LIF, ActivationSpec, Elementwise, Encoding, Graph, Linear
from neurosim.neurons import (
    BIAS_EXP_MAX,
    BIAS_MANT_MAX,
    BIAS_MANT_MIN,
    VTH_MAX,
    VTH_SHIFT,
    WEIGHT_EXP_MIN,
)

#: NIR neuron node type -> LIF.neuron
NIR_NEURONS = {
    "LIF": "lif",
    "CubaLIF": "cuba_lif",
    "IF": "if",
    "LI": "li",
    "CubaLI": "cuba_li",
    "I": "i",
    "Threshold": "threshold",
}
SPIKING_NEURONS = ("lif", "cuba_lif", "if", "threshold")
SUPPORTED_NODES = ("Input", "Output", "NIRGraph", "Affine", "Linear", "Scale", "Flatten", *NIR_NEURONS)
_WHY_NOT = {
    "Conv1d": "convolutions are not a layer type of neurosim's graph",
    "Conv2d": "convolutions are not a layer type of neurosim's graph",
    "AvgPool2d": "pooling is not a layer type of neurosim's graph",
    "SumPool2d": "pooling is not a layer type of neurosim's graph",
    "Delay": "synaptic delays are not modelled",
}

DEFAULT_DT_S = 1e-4  # snnTorch's export_to_nir writes time constants with this dt

DISCRETISATION = (
    "forward Euler with step dt, per time step in graph order: every input edge is summed; "
    "CubaLIF/CubaLI update the synaptic current first, I += dt/tau_syn * (-I + w_in * x), then the membrane "
    "with the new current; LIF/LI: v += dt/tau * (v_leak - v + r * x); IF/I: v += dt * r * x; a spiking "
    "neuron fires when v > v_threshold (strict) and v is set to v_reset in the same step; Threshold: "
    "z = (x > threshold); recurrent (cycle-closing) edges carry the previous step's output"
)


def _nir():
    try:
        import nir
    except ImportError:
        raise missing_extra("reading NIR", "nir") from None
    return nir


@dataclass
class NirNetwork:
    """An imported NIR network: the neurosim graph (shapes, encodings, rates) and its parameters by layer.

    ``params[layer]`` holds 1-D/2-D float arrays: ``weight``, ``bias`` (Linear), ``scale`` (Elementwise), the
    NIR neuron parameters (``tau``, ``tau_mem``, ``tau_syn``, ``r``, ``v_leak``, ``v_threshold``, ``v_reset``,
    ``w_in``, ``threshold``), each broadcast to the layer's width.
    """

    graph: Graph
    params: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    @property
    def nir_meta(self) -> dict[str, Any]:
        return self.graph.meta["nir"]

    @property
    def dt_s(self) -> float:
        return float(self.nir_meta["dt_s"])

    @property
    def recurrent_edges(self) -> list[tuple[str, str]]:
        return [tuple(e) for e in self.nir_meta.get("recurrent_edges", [])]

    @property
    def inputs(self) -> dict[str, dict[str, Any]]:
        return self.nir_meta["inputs"]

    @property
    def outputs(self) -> dict[str, dict[str, Any]]:
        return self.nir_meta["outputs"]


# --- reading ----------------------------------------------------------------------------------------------------
def scan_node_types(path: str | Path) -> list[tuple[str, str]]:
    """(node path, NIR type) of every node in a NIR file, nested graphs included, read without building nodes."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise NeurosimError(f"{path}: file not found")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise NeurosimError(f"{path}: not a NIR file (NIR files are HDF5; this one does not open as HDF5)") from None
    found: list[tuple[str, str]] = []

    def walk(group, where: str) -> None:
        for name in group:
            node = group[name]
            t = node["type"][()] if "type" in node else b"?"
            t = t.decode() if isinstance(t, bytes) else str(t)
            found.append((f"{where}{name}", t))
            if t == "NIRGraph" and "nodes" in node:
                walk(node["nodes"], f"{where}{name}.")

    with f:
        try:
            if "node" not in f:
                raise NeurosimError(f"{path}: not a NIR file (no 'node' group at the top level)")
            root = f["node"]
            if "nodes" not in root:
                raise NeurosimError(f"{path}: the top-level NIR node is not a graph (no 'nodes')")
            walk(root["nodes"], "")
        except (RuntimeError, OSError, KeyError, ValueError, TypeError, AttributeError) as exc:  # a damaged file
            why = (str(exc).splitlines() or [""])[0] or type(exc).__name__
            raise NeurosimError(f"{path}: not a readable NIR file (HDF5 damaged: {why})") from None
    return found


def check_supported(types: list[tuple[str, str]], where: str) -> None:
    bad = [(n, t) for n, t in types if t not in SUPPORTED_NODES]
    if bad:
        name, t = bad[0]
        why = _WHY_NOT.get(t, "not a NIR node type neurosim knows")
        more = f" (and {len(bad) - 1} more: {', '.join(f'{n} ({t})' for n, t in bad[1:4])})" if len(bad) > 1 else ""
        raise NeurosimError(
            f"{where}: unsupported NIR node '{name}' of type {t} ({why}){more}; "
            f"supported: {', '.join(SUPPORTED_NODES)}"
        )


#: copies of a NIR file's arrays an import holds at once (HDF5 read, NIR nodes, neurosim's parameters, the graph)
NIR_COPIES = 4


def array_bytes(path: str | Path) -> int:
    """Bytes of every array (HDF5 dataset) in a NIR file, from its metadata: nothing is read."""
    import h5py

    total = 0

    def add(_name, obj) -> None:
        nonlocal total
        if isinstance(obj, h5py.Dataset):
            total += int(obj.size or 0) * int(obj.dtype.itemsize)

    try:
        with h5py.File(path, "r") as f:
            f.visititems(add)
    except (RuntimeError, OSError, KeyError, ValueError, TypeError) as exc:
        why = (str(exc).splitlines() or [""])[0] or type(exc).__name__
        raise NeurosimError(f"{path}: not a readable NIR file (HDF5 damaged: {why})") from None
    return total


def check_nir_fits(path: str | Path) -> None:
    """The resource guard of an import: refuse, before reading any array, a NIR file whose arrays will not fit the
    memory limit (``--max-memory``, else this machine's available memory; :mod:`neurosim.machine`)."""
    from neurosim.machine import fmt_bytes, memory_limit, process_rss

    nbytes = array_bytes(path)
    need = process_rss() + NIR_COPIES * nbytes
    limit, where = memory_limit()
    if need > limit:
        raise NeurosimError(f"{path}: its arrays hold {fmt_bytes(nbytes)}; importing them needs about "
                            f"{fmt_bytes(need)} of memory; the limit is {fmt_bytes(limit)} ({where}); import a "
                            "smaller network or raise the limit with --max-memory")


def read_nir(path: str | Path):
    """Read a NIR file with the ``nir`` package after checking every node type is one neurosim imports and that its
    arrays fit in memory."""
    nir = _nir()
    check_supported(scan_node_types(path), str(path))
    check_nir_fits(path)
    try:
        return nir.read(str(path))
    except (AssertionError, ValueError, KeyError, TypeError, OSError, RuntimeError, AttributeError,
            IndexError) as exc:  # what nir (and h5py under it) raises on bad files
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NeurosimError(f"{path}: NIR file does not load: {msg}") from None


# --- flattening nested graphs -----------------------------------------------------------------------------------
def _is(node, tname: str) -> bool:
    return type(node).__name__ == tname


def _flatten(graph, prefix: str = "") -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Inline nested NIR graphs: nodes named ``sub.node``; edges into/out of a subgraph land on its Input/Output."""
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    for name, node in graph.nodes.items():
        full = f"{prefix}{name}"
        if _is(node, "NIRGraph"):
            sub_nodes, sub_edges = _flatten(node, f"{full}.")
            nodes.update(sub_nodes)
            edges += sub_edges
        else:
            nodes[full] = node

    def port(name: str, kind: str) -> str:
        node = graph.nodes[name]
        if not _is(node, "NIRGraph"):
            return f"{prefix}{name}"
        ports = [k for k, n in node.nodes.items() if _is(n, kind)]
        if len(ports) != 1:
            raise NeurosimError(
                f"NIR subgraph '{prefix}{name}' has {len(ports)} {kind} nodes; neurosim inlines subgraphs with one"
            )
        return f"{prefix}{name}.{ports[0]}"

    for a, b in graph.edges:
        edges.append((port(a, "Output"), port(b, "Input")))
    return nodes, edges


def _contract(nodes: dict[str, Any], edges: list[tuple[str, str]], identity: set[str]):
    """Remove identity nodes, joining each predecessor to each successor (order of edges kept)."""
    for x in [n for n in nodes if n in identity]:
        preds = [a for a, b in edges if b == x]
        succs = [b for a, b in edges if a == x]
        edges = [e for e in edges if x not in e]
        for p in preds:
            for s in succs:
                if (p, s) not in edges:
                    edges.append((p, s))
        del nodes[x]
    return nodes, edges


def _order(compute: list[str], edges: list[tuple[str, str]], roots: list[str]) -> tuple[list[str], set]:
    """Reverse post-order of a DFS from the input consumers; edges to a node on the DFS stack close a cycle."""
    adj: dict[str, list[str]] = {n: [] for n in compute}
    for a, b in edges:
        adj[a].append(b)
    state: dict[str, int] = {}
    post: list[str] = []
    back: set[tuple[str, str]] = set()

    def visit(u: str) -> None:
        stack = [(u, iter(adj[u]))]
        state[u] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                post.append(node)
                stack.pop()
            elif state.get(nxt, 0) == 0:
                state[nxt] = 1
                stack.append((nxt, iter(adj[nxt])))
            elif state[nxt] == 1:
                back.add((node, nxt))

    for r in roots + compute:
        if state.get(r, 0) == 0:
            visit(r)
    return post[::-1], back


# --- conversion -------------------------------------------------------------------------------------------------
def _vec(x: Any, n: int, name: str, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    if np.isnan(a).any():  # inf is a value (a time constant or threshold never reached); NaN is not
        raise NeurosimError(f"NIR node '{name}': {what} holds NaN ({int(np.isnan(a).sum())} of {a.size} values); "
                            "allowed: numbers")
    if a.size == 1:
        return np.full(n, float(a[0]))
    if a.size != n:
        raise NeurosimError(f"NIR node '{name}': {what} has {a.size} values for {n} neurons")
    return a


def _width(node) -> int | None:
    for attr in ("v_threshold", "threshold", "r", "scale"):
        v = getattr(node, attr, None)
        if v is not None and np.asarray(v).size > 1:
            return int(np.asarray(v).size)
    return None


def _decay(dt: float, tau: np.ndarray) -> int:
    """Loihi's 12-bit decay for a time constant: round(4096 * dt / tau), clipped to 0..4096 (mean over neurons)."""
    with np.errstate(divide="ignore"):
        d = 4096.0 * dt / np.asarray(tau, dtype=np.float64)
    return int(np.clip(np.round(np.nanmean(d)), 0, 4096))


def _reset_mode(v_reset: np.ndarray) -> str:
    return "zero" if np.all(v_reset == 0) else "value"


def from_nir(
    nir_graph,
    name: str = "nir",
    dt_s: float = DEFAULT_DT_S,
    steps: int = 1,
    batch: int = 1,
    firing_rate: float = 0.1,
    input_encoding: str = "fp",
    input_rate: float = 0.1,
    w_bits: int = 8,
    source: str = "",
) -> NirNetwork:
    """Turn an in-memory ``nir.NIRGraph`` into a :class:`NirNetwork` (see the module docstring for the mapping)."""
    if not dt_s > 0:
        raise NeurosimError(f"dt = {dt_s} out of range; allowed: > 0 seconds")
    if not 1 <= int(w_bits) <= 32:
        raise NeurosimError(f"w_bits = {w_bits} out of range; allowed: 1..32")
    if input_encoding not in ("fp", "binary"):
        raise NeurosimError(f"input encoding {input_encoding!r}; allowed: fp, binary")
    nodes, edges = _flatten(nir_graph)
    check_supported([(n, type(v).__name__) for n, v in nodes.items()], source or name)
    top_in = [n for n in nir_graph.nodes if _is(nir_graph.nodes[n], "Input")]
    top_out = [n for n in nir_graph.nodes if _is(nir_graph.nodes[n], "Output")]
    identity = {n for n, v in nodes.items() if type(v).__name__ in ("Input", "Output", "Flatten")} - set(top_in) - set(top_out)
    nodes, edges = _contract(dict(nodes), list(edges), identity)
    compute = [n for n in nodes if n not in top_in and n not in top_out]
    comp_edges = [(a, b) for a, b in edges if a in compute and b in compute]
    consumers = {i: [b for a, b in edges if a == i and b in compute] for i in top_in}
    producers = {o: [a for a, b in edges if b == o and a in compute] for o in top_out}
    roots = [c for i in top_in for c in consumers[i]]
    order, back = _order(compute, comp_edges, roots)
    forward = [e for e in comp_edges if e not in back]

    def in_shape(i: str) -> list[int]:
        t = nodes[i].input_type.get("input") if nodes[i].input_type else None
        return [int(x) for x in np.asarray(t).reshape(-1)] if t is not None else []

    width: dict[str, int] = {}
    neuron_of: dict[str, str] = {}
    params: dict[str, dict[str, np.ndarray]] = {}
    g = Graph(name=name)
    reset_modes: dict[str, str] = {}
    for n in order:
        node = nodes[n]
        t = type(node).__name__
        preds = [a for a, b in forward if b == n]
        from_input = [i for i in top_in if n in consumers[i]]
        pred_w = [width[p] for p in preds if p in width] + [int(np.prod(in_shape(i))) for i in from_input if in_shape(i)]
        if t in ("Affine", "Linear"):
            w = np.asarray(node.weight, dtype=np.float64)
            if w.ndim != 2:
                raise NeurosimError(f"NIR node '{n}' ({t}): weight of rank {w.ndim}; neurosim imports 2-D weights only")
            spiking_in = bool(preds) and all(neuron_of.get(p) in SPIKING_NEURONS for p in preds) and not from_input
            if from_input and not preds:
                spiking_in = input_encoding == "binary"
            rate = input_rate if from_input else firing_rate
            spec = (ActivationSpec(Encoding.BINARY, bits=1, unfold=1, firing_rate=rate) if spiking_in
                    else ActivationSpec(Encoding.FP, bits=32))
            p = {"weight": w}
            if t == "Affine":
                p["bias"] = np.asarray(node.bias, dtype=np.float64).reshape(-1)
            # an Affine whose bias is all zero is a Linear (nothing is added: no bias to count, and Loihi's Dense,
            # which has none, runs it)
            has_bias = t == "Affine" and not np.all(p["bias"] == 0)
            g.add(Linear(n, None, "nir", in_features=w.shape[1], out_features=w.shape[0], w_bits=int(w_bits),
                         input=spec, bias=has_bias, w_format="fp" if w_bits >= 16 else "int"))
            width[n] = w.shape[0]
            params[n] = p
            continue
        n_w = _width(node) or (pred_w[0] if pred_w else None)
        if n_w is None:
            raise NeurosimError(f"NIR node '{n}' ({t}): cannot tell its width (scalar parameters and no input)")
        width[n] = n_w
        if t == "Scale":
            g.add(Elementwise(n, None, "nir", dim=n_w, op="scale", ops_per_element=1.0))
            params[n] = {"scale": _vec(node.scale, n_w, n, "scale")}
            continue
        neuron = NIR_NEURONS[t]
        neuron_of[n] = neuron
        p = {k: _vec(getattr(node, k), n_w, n, k)
             for k in ("tau", "tau_mem", "tau_syn", "r", "v_leak", "v_threshold", "v_reset", "w_in", "threshold")
             if getattr(node, k, None) is not None}
        params[n] = p
        thr = p.get("v_threshold", p.get("threshold"))
        tau_mem = p.get("tau", p.get("tau_mem"))
        dv = 0 if neuron in ("if", "i") else 4096 if neuron == "threshold" else _decay(dt_s, tau_mem)
        du = _decay(dt_s, p["tau_syn"]) if "tau_syn" in p else 4095
        reset = _reset_mode(p["v_reset"]) if "v_reset" in p else "none"
        reset_modes[n] = {"zero": "to v_reset = 0", "value": "to v_reset (per neuron, non-zero)",
                          "none": "none (no spikes)" if neuron not in SPIKING_NEURONS else "none (stateless)"}[reset]
        g.add(LIF(n, None, "nir", n=n_w, threshold=float(np.mean(thr)) if thr is not None else float("inf"),
                  dv=dv, du=du, reset=reset, steps=1,
                  firing_rate=firing_rate if neuron in SPIKING_NEURONS else 0.0, neuron=neuron))
    for a, b in forward:
        g.connect(a, b)
    g.check()
    nir_version = getattr(_nir(), "__version__", "")
    g.meta.update({
        "source": "nir",
        "seq_len": int(steps),
        "batch": int(batch),
        "convention": {"attention": "none", "kv_width": "grouped", "lm_head": False, "nonlinear": True,
                       "attention_as_spiking": False},
        "spike_multiplier": 1.0,
        "nir": {
            "file": source,
            "nir_package": nir_version,
            "dt_s": float(dt_s),
            "time": "one token of a run = one NIR time step of dt seconds; neuron state carries from step to step; "
                    "seq_len = time steps per sample",
            "discretisation": DISCRETISATION,
            "reset": reset_modes,
            "weights": f"float in the file and the params file (the NIR simulator runs them as they are); the graph "
                       f"maps and prices them at {int(w_bits)} bits (import option w_bits)",
            "decays": "LIF.dv/du = round(4096 * dt / tau) (mean over neurons); exact values in the params file",
            "firing_rate": f"assumed {firing_rate} for every spiking layer (import option), input: "
                           + (f"binary spikes at {input_rate}" if input_encoding == "binary" else "fp32 values"),
            "inputs": {i: {"shape": in_shape(i), "to": consumers[i]} for i in top_in},
            "outputs": {o: {"from": producers[o]} for o in top_out},
            "recurrent_edges": sorted([list(e) for e in back]),
            "params_file": None,
        },
    })
    return NirNetwork(graph=g, params=params)


def import_nir(path: str | Path, name: str | None = None, **kwargs: Any) -> NirNetwork:
    """Read a NIR file and convert it; every unsupported node is named in the error."""
    from neurosim.errors import in_file

    path = Path(path)
    nir_graph = read_nir(path)
    try:
        return from_nir(nir_graph, name=name or path.stem, source=str(path), **kwargs)
    except NeurosimError as exc:  # a node's error names the file it is in
        raise in_file(str(path), exc) from None


def quantize_for_loihi(net: NirNetwork) -> NirNetwork:
    """Integer weights and thresholds, as a Loihi deployment of a float network gets them (``import-nir --quantize``).

    Per spiking population, first the scale its NIR dynamics put on each step's input (``r dt / tau`` for LIF,
    ``r dt`` for IF, ``(w_in dt / tau_syn) (r dt / tau_mem)`` for CubaLIF, per neuron) is folded into the rows of its
    incoming weights, and ``r`` (and ``w_in``) set so that the scale is 1, as Loihi adds its input unscaled (the same
    dynamics: the state is linear in the input). Then one scale ``s``: the weights (recurrent ones included) are
    multiplied so that the largest magnitude fills the projections' weight width (``2^(w_bits - 1) - 1``, at most 8
    bits: Loihi's Dense) and rounded; the threshold (and ``v_leak``, ``v_reset`` and an Affine's bias, kept as
    they are otherwise) is multiplied by the same ``s`` and Loihi's ``vth`` is it rounded (at least 1). ``vth`` has
    17 bits: a threshold far above the weights is reached with a negative weight exponent (the sum of weight x spike
    shifted right, down to Loihi's lowest), then with fewer weight levels. A neuron's state is
    linear in its input weights and threshold (the decays do not depend on them), so the scaled network spikes as
    the float one does except where rounding moves a sum across the threshold. A Linear that feeds no spiking
    population keeps its floats. The scales are stated in ``meta.nir.quantized``."""
    g, params = net.graph, {k: dict(v) for k, v in net.params.items()}
    back = [tuple(e) for e in net.recurrent_edges]
    feeds: dict[str, list[str]] = {}  # spiking population -> the Linear layers that feed it
    for layer in g:
        if not isinstance(layer, Linear):
            continue
        outs = [b for b in g.successors(layer.name) + [b for a, b in back if a == layer.name]
                if isinstance(g[b], LIF) and g[b].neuron in SPIKING_NEURONS]
        if len(outs) > 1:
            raise NeurosimError(f"layer {layer.name}: feeds {len(outs)} spiking populations ({', '.join(outs)}); "
                                "--quantize scales a projection with the population it feeds: give each its own")
        if outs:
            feeds.setdefault(outs[0], []).append(layer.name)
    scales: dict[str, dict[str, Any]] = {}
    new_layers: dict[str, Any] = {}
    dt = net.dt_s
    for pop, lins in feeds.items():
        p = params[pop]
        key = "v_threshold" if "v_threshold" in p else "threshold"
        if key not in p:
            continue
        fold = _fold_input_scale(g[pop].neuron, p, dt)  # per neuron; p's r / w_in now make the scale 1
        for n in lins:
            params[n]["weight"] = params[n]["weight"] * fold[:, None]
            if "bias" in params[n]:
                params[n]["bias"] = params[n]["bias"] * fold
        biggest = max(float(np.abs(params[n]["weight"]).max(initial=0.0)) for n in lins)
        bits = min(8, min(int(g[n].w_bits) for n in lins))
        top = (1 << (bits - 1)) - 1
        theta = float(np.max(p[key]))
        if not biggest > 0 or top < 1 or not theta > 0:
            continue
        s = top / biggest
        # Loihi's vth is 17 bits: a threshold far above the weights is reached through the weight exponent (the
        # sum of weight x spike shifted right, down to Loihi's lowest exponent), then through fewer weight levels
        e, e_min = 0, WEIGHT_EXP_MIN + (8 - bits + 1)
        while theta * s * 2.0**e > VTH_MAX and e > e_min:
            e -= 1
        if theta * s * 2.0**e > VTH_MAX:
            s = VTH_MAX / (theta * 2.0**e)
        for n in lins:
            params[n]["weight"] = np.round(params[n]["weight"] * s)
            params[n]["weight_exp"] = np.array(e)
            if "bias" in params[n]:
                params[n]["bias"] = params[n]["bias"] * s
        p[key] = p[key] * s  # the float dynamics of the integer weights (the NIR simulator's view)
        for k in ("v_leak", "v_reset"):
            if k in p:
                p[k] = p[k] * s
        vth = np.maximum(np.round(p[key] * 2.0**e), 1.0)
        if np.all(vth == vth[0]):
            p["vth"] = np.array(int(vth[0]))  # Loihi's one threshold a population (with the weights' shift)
        new_layers[pop] = dataclasses.replace(g[pop], threshold=float(np.mean(p[key])))
        scales[pop] = {"scale": float(s), "weight_exp": e, "input_scale_folded": [float(fold.min()), float(fold.max())],
                       "weights_from": lins, "max_abs_weight": int(max(np.abs(params[n]["weight"]).max() for n in lins))}
        biased = [n for n in lins if g[n].bias]
        if biased:
            scales[pop]["bias"] = _bias_to_population(g[pop], p, [params[n]["bias"] for n in biased], e, net.dt_s,
                                                      biased)
            for n in biased:  # the float bias stays in the parameters for the NIR view (nirsim); Loihi adds it in v
                new_layers[n] = dataclasses.replace(g[n], bias=False)
    if not scales:
        return NirNetwork(graph=g, params=params)
    weights = (f"quantized for Loihi (import option --quantize): per spiking population, its incoming weights scaled "
               f"to fill their width and rounded, its threshold scaled by the same factor and rounded "
               f"(meta.nir.quantized); {g.meta['nir']['weights']}")
    return NirNetwork(graph=_with_layers(g, new_layers, quantized=scales, weights=weights), params=params)


def _with_layers(g: Graph, replaced: dict[str, Any], **nir_meta: Any) -> Graph:
    """A copy of ``g`` with the layers named in ``replaced`` swapped for their new versions (same edges) and
    ``meta.nir`` updated with ``nir_meta``."""
    out = Graph(name=g.name, meta=dict(g.meta))
    for layer in g:
        out.add(replaced.get(layer.name, layer))
    for a, b in g.edges:
        out.connect(a, b)
    out.meta["nir"] = dict(out.meta["nir"], **nir_meta)
    return out


def _bias_to_population(pop, p: dict[str, np.ndarray], biases: list[np.ndarray], e: int, dt: float,
                        names: list[str]) -> str:
    """Loihi's Dense has no bias: the incoming projections' biases (scaled with their weights) become the
    population's ``bias_mant << bias_exp``, added to v every step in the units of ``u`` (the synaptic sum shifted by
    the weight exponent ``e``, then by 6 bits). For CubaLIF the bias reaches v through the current in NIR; Loihi adds
    it to v, so the steady state's value is used (the bias / (dt / tau_syn)), and the first tau_syn / dt steps
    differ. What was done, in words."""
    total = np.sum(biases, axis=0) * 2.0**e * (1 << VTH_SHIFT)
    how = f"the biases of {', '.join(names)} added to v each step as bias_mant << bias_exp"
    if pop.neuron == "cuba_lif":
        if "tau_syn" in p:
            total = total * p["tau_syn"] / dt
        how += " (CubaLIF: at the current's steady state, as Loihi adds a bias to v, not to the current)"
    big = float(np.abs(total).max(initial=0.0))
    exp = max(0, int(np.ceil(np.log2(big / BIAS_MANT_MAX)))) if big > BIAS_MANT_MAX else 0
    if exp > BIAS_EXP_MAX:
        raise NeurosimError(f"layer {pop.name}: bias {big:.4g} (in Loihi's v units) needs bias_exp {exp}; allowed: "
                            f"0..{BIAS_EXP_MAX}")
    p["bias_mant"] = np.clip(np.round(total / 2.0**exp), BIAS_MANT_MIN, BIAS_MANT_MAX).astype(np.int64)
    p["bias_exp"] = np.array(exp)
    return how


def _fold_input_scale(neuron: str, p: dict[str, np.ndarray], dt: float) -> np.ndarray:
    """The factor a population's NIR dynamics put on each step's input, per neuron (see :func:`quantize_for_loihi`);
    ``p``'s ``r`` (and ``w_in``) are set so that the factor becomes 1."""
    n = len(next(iter(p.values()))) if p else 0
    one = np.ones(n)
    r = p.get("r")
    if neuron == "if" and r is not None:
        p["r"] = one / dt
        return r * dt
    if neuron == "lif" and r is not None and "tau" in p:
        fold, p["r"] = r * dt / p["tau"], p["tau"] / dt
        return fold
    if neuron == "cuba_lif":
        fold = one
        if r is not None and "tau_mem" in p:
            fold, p["r"] = r * dt / p["tau_mem"], p["tau_mem"] / dt
        if "tau_syn" in p:
            fold = fold * p.get("w_in", one) * dt / p["tau_syn"]
            p["w_in"] = p["tau_syn"] / dt
        return fold
    return one


# --- saving beside the graph ------------------------------------------------------------------------------------
def params_path_for(graph_path: str | Path) -> Path:
    p = Path(graph_path)
    return p.with_name(p.name.rsplit(".", 1)[0] + ".params.npz")


def save_network(net: NirNetwork, graph_path: str | Path, spikes: dict[str, np.ndarray] | None = None
                 ) -> tuple[Path, Path]:
    """Write the graph as YAML and its parameters as ``<stem>.params.npz`` beside it (both atomically); with
    ``spikes`` (input port -> (steps, n) integer array) also the recorded input spikes as ``<stem>.spikes.npz``,
    named by ``meta.spikes`` (what ``simulate --mode exact`` feeds the network)."""
    from neurosim.io import atomic_paths

    graph_path = Path(graph_path)
    ppath = params_path_for(graph_path)
    net.graph.meta["nir"]["params_file"] = ppath.name
    flat = {f"{layer}/{k}": v for layer, p in net.params.items() for k, v in p.items()}
    spath = None
    if spikes is not None:
        spath = graph_path.with_name(graph_path.name.rsplit(".", 1)[0] + ".spikes.npz")
        for port, arr in spikes.items():
            spec = net.inputs.get(port)
            if spec is None:
                raise NeurosimError(f"recorded spikes for {port!r}, which is not an input of the network; inputs: "
                                    f"{', '.join(net.inputs)}")
            a = np.asarray(arr)
            width = int(np.prod(spec.get("shape") or [a.shape[-1]]))
            if a.ndim != 2 or a.shape[1] != width or (a.dtype.kind == "f" and not np.all(a == np.round(a))):
                raise NeurosimError(f"recorded spikes for input {port!r}: shape {a.shape}, {a.dtype}; expected "
                                    f"(steps, {width}) integers (0/1 spikes or graded payloads)")
        net.graph.meta["spikes"] = spath.name
    # the graph and its arrays together: an interrupt leaves all the old files or all the new ones
    with atomic_paths(ppath, spath, graph_path, suffixes=(".npz", ".npz", None)) as (ptmp, stmp, gtmp):
        np.savez_compressed(ptmp, **flat)
        if stmp is not None:
            np.savez_compressed(stmp, **{k: np.asarray(v).astype(np.int32) for k, v in spikes.items()})
        gtmp.write_text(net.graph.to_yaml(), encoding="utf-8")
    return graph_path, ppath


def load_network(graph_path: str | Path) -> NirNetwork:
    """Load a graph written by :func:`save_network` (or ``neurosim import-nir --out``) with its parameters."""
    from neurosim.io import load_yaml

    graph_path = Path(graph_path)
    g = Graph.from_dict(load_yaml(graph_path), str(graph_path))
    meta = g.meta.get("nir")
    if not meta or not meta.get("params_file"):
        raise NeurosimError(f"{graph_path}: not an imported NIR network (no meta.nir.params_file)")
    import zipfile
    import zlib

    from neurosim.io import sibling

    ppath = sibling(graph_path, meta["params_file"], f"{graph_path}: meta.nir.params_file")
    if not ppath.is_file():
        raise NeurosimError(f"{graph_path}: parameters file {ppath} not found (written beside the graph by import-nir)")
    params: dict[str, dict[str, np.ndarray]] = {}
    try:
        with np.load(ppath, allow_pickle=False) as z:  # plain arrays only: a pickled object is refused
            for key in z.files:
                layer, _, k = key.rpartition("/")
                params.setdefault(layer, {})[k] = z[key]
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        why = (str(exc).splitlines() or [""])[0] or type(exc).__name__
        raise NeurosimError(f"{ppath}: not a readable parameters file (.npz): {why}") from None
    return NirNetwork(graph=g, params=params)


def with_rates(net: NirNetwork, rates: dict[str, float], input_rate: float | None = None) -> NirNetwork:
    """A copy whose spiking layers and spike-driven Linear inputs carry measured firing rates (e.g. from nirsim)."""
    replaced: dict[str, Any] = {}
    for layer in net.graph:
        if isinstance(layer, LIF) and layer.name in rates:
            replaced[layer.name] = dataclasses.replace(layer, firing_rate=float(rates[layer.name]))
        elif isinstance(layer, Linear) and layer.input.encoding.is_spike:
            preds = net.graph.predecessors(layer.name)
            r = float(np.mean([rates[p] for p in preds if p in rates])) if any(p in rates for p in preds) else None
            if r is None and input_rate is not None:
                r = input_rate
            if r is not None:
                replaced[layer.name] = dataclasses.replace(layer, input=dataclasses.replace(layer.input, firing_rate=r))
    g = _with_layers(net.graph, replaced, firing_rate="measured by the NIR simulator (neurosim.interop.nirsim)")
    return NirNetwork(graph=g, params=net.params)
