"""neurosim -> NIR: write the layers NIR can express; name every other layer in the NIR graph's metadata.

Expressed: Linear/Readout (NIR Linear, or Affine with a bias), Residual (NIR Scale of ones with two incoming
edges: NIR sums what enters a node), Elementwise "scale", LIF layers (NIR LIF/CubaLIF/IF/LI/CubaLI/I/Threshold
by ``LIF.neuron``). Not expressed (no NIR node): Embedding, Norm, SpikeEncoder (per-token quantise-and-unfold),
AttentionScore/AttentionValue (products of two activations), other Elementwise ops (softmax, SiLU, GELU, gating
products, rotary).

A non-expressed layer is not bridged over: where an expressed layer feeds it, the NIR graph gets an Output node
``<src>__to__<dst>``; where it feeds an expressed layer, an Input node ``<src>__out``. The metadata
``neurosim_not_exported`` maps every such layer to the reason, so nothing disappears silently.

Weights: an imported NIR network (or any graph given ``params``) is written with its real parameters; a
workload graph carries shapes only, so its weights are written as zeros and the metadata says
``neurosim_weights: placeholder-zeros``. LIF layers without NIR parameters get them from Loihi's decays:
tau = 4096 dt / dv, r = tau / dt (so the Euler step is v <- v (1 - dv/4096) + x), v_leak = 0, v_reset = 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neurosim.errors import NeurosimError
from neurosim.graph import (
    LIF,
    AttentionScore,
    AttentionValue,
    Elementwise,
    Embedding,
    Graph,
    Linear,
    Norm,
    Residual,
    SpikeEncoder,
)
from neurosim.interop.nir_import import DEFAULT_DT_S, _nir

#: the largest placeholder weight count written by default (zeros, float32): 64 M weights = 256 MB in memory
MAX_PLACEHOLDER_WEIGHTS = 64_000_000


def why_not_expressible(layer) -> str | None:
    """None if NIR can express the layer, else the reason it cannot."""
    if isinstance(layer, (Linear, Residual, LIF)):
        return None
    if isinstance(layer, Elementwise):
        return None if layer.op == "scale" else f"Elementwise op '{layer.op}': NIR has no node for it"
    if isinstance(layer, Embedding):
        return "Embedding (a table look-up by token id): NIR has no embedding node"
    if isinstance(layer, Norm):
        return f"Norm ({layer.norm}): NIR has no normalisation node"
    if isinstance(layer, SpikeEncoder):
        return ("SpikeEncoder (per-token quantisation to spike counts, then unfolding): not a NIR neuron; the "
                "nearest, IF with subtractive reset, does not exist in NIR")
    if isinstance(layer, (AttentionScore, AttentionValue)):
        return f"{type(layer).__name__}: a product of two activations against the KV cache; NIR has no attention node"
    return f"{type(layer).__name__}: no NIR node"


def _neuron_node(nir, layer: LIF, p: dict[str, np.ndarray] | None, dt: float):
    n = layer.n
    if p:
        get = {k: np.asarray(v, dtype=np.float32) for k, v in p.items()}
    else:
        thr = np.full(n, layer.threshold, np.float32)
        tau = np.full(n, np.inf if layer.dv == 0 else 4096.0 * dt / layer.dv, np.float32)
        tau_syn = np.full(n, 4096.0 * dt / max(layer.du, 1), np.float32)
        get = {"tau": tau, "tau_mem": tau, "tau_syn": tau_syn, "r": tau / dt if layer.dv else np.full(n, 1 / dt, np.float32),
               "v_leak": np.zeros(n, np.float32), "v_threshold": thr, "v_reset": np.zeros(n, np.float32),
               "w_in": np.ones(n, np.float32), "threshold": thr}
    kind = layer.neuron
    if kind == "lif" and not p and layer.dv == 0:
        kind = "if"
    if kind == "lif":
        return nir.LIF(tau=get["tau"], r=get["r"], v_leak=get["v_leak"], v_threshold=get["v_threshold"],
                       v_reset=get["v_reset"])
    if kind == "cuba_lif":
        return nir.CubaLIF(tau_syn=get["tau_syn"], tau_mem=get["tau_mem"], r=get["r"], v_leak=get["v_leak"],
                           v_threshold=get["v_threshold"], v_reset=get["v_reset"], w_in=get["w_in"])
    if kind == "if":
        return nir.IF(r=get["r"], v_threshold=get["v_threshold"], v_reset=get["v_reset"])
    if kind == "li":
        return nir.LI(tau=get["tau"], r=get["r"], v_leak=get["v_leak"])
    if kind == "cuba_li":
        return nir.CubaLI(tau_syn=get["tau_syn"], tau_mem=get["tau_mem"], r=get["r"], v_leak=get["v_leak"],
                          w_in=get["w_in"])
    if kind == "i":
        return nir.I(r=get["r"])
    if kind == "threshold":
        return nir.Threshold(threshold=get["threshold"])
    raise NeurosimError(f"layer {layer.name}: LIF.neuron = {kind!r}; allowed: lif, cuba_lif, if, li, cuba_li, i, threshold")


def to_nir(graph: Graph, params: dict[str, dict[str, np.ndarray]] | None = None, dt_s: float | None = None,
           max_placeholder_weights: int = MAX_PLACEHOLDER_WEIGHTS):
    """Build a ``nir.NIRGraph`` of the expressible part of ``graph`` (see the module docstring)."""
    nir = _nir()
    nmeta = graph.meta.get("nir", {})
    dt = float(dt_s or nmeta.get("dt_s") or DEFAULT_DT_S)
    placeholder = 0
    if params is None:
        placeholder = sum(layer.in_features * layer.out_features for layer in graph.of_kind(Linear))
        if placeholder > max_placeholder_weights:
            raise NeurosimError(
                f"graph {graph.name}: {placeholder:,} placeholder weights (zeros) exceed the limit of "
                f"{max_placeholder_weights:,}; export fewer blocks (e.g. --set layers=1) or raise --max-weights"
            )
    skipped = {layer.name: why for layer in graph if (why := why_not_expressible(layer))}
    nodes: dict = {}
    edges: list[tuple[str, str]] = []
    for layer in graph:
        if layer.name in skipped:
            continue
        p = (params or {}).get(layer.name)
        if isinstance(layer, Linear):
            w = np.asarray(p["weight"], np.float32) if p else np.zeros((layer.out_features, layer.in_features), np.float32)
            if layer.bias:
                b = np.asarray(p["bias"], np.float32) if p and "bias" in p else np.zeros(layer.out_features, np.float32)
                nodes[layer.name] = nir.Affine(weight=w, bias=b)
            else:
                nodes[layer.name] = nir.Linear(weight=w)
        elif isinstance(layer, Residual):
            nodes[layer.name] = nir.Scale(scale=np.ones(layer.dim, np.float32))
        elif isinstance(layer, Elementwise):
            s = np.asarray(p["scale"], np.float32) if p else np.ones(layer.dim, np.float32)
            nodes[layer.name] = nir.Scale(scale=s)
        else:
            nodes[layer.name] = _neuron_node(nir, layer, p, dt)

    ports_in = nmeta.get("inputs") or {}
    ports_out = nmeta.get("outputs") or {}
    has_pred = {b for _, b in graph.edges}
    for name, spec in ports_in.items():
        shape = np.asarray(spec.get("shape") or [graph[spec["to"][0]].in_dim])
        nodes[name] = nir.Input(input_type={"input": shape})
        edges += [(name, dst) for dst in spec["to"]]
    if not ports_in:  # a workload graph: every expressed layer without a predecessor reads a graph input
        for layer in graph:
            if layer.name not in skipped and layer.name not in has_pred:
                nodes[f"{layer.name}__in"] = nir.Input(input_type={"input": np.asarray([layer.in_dim])})
                edges.append((f"{layer.name}__in", layer.name))
    for src, dst in graph.edges:
        s_ok, d_ok = src not in skipped, dst not in skipped
        if s_ok and d_ok:
            edges.append((src, dst))
        elif s_ok and not d_ok:
            out = f"{src}__to__{dst}"
            nodes[out] = nir.Output(output_type={"output": np.asarray([graph[src].out_dim])})
            edges.append((src, out))
        elif d_ok and not s_ok:
            inp = f"{src}__out"
            if inp not in nodes:
                nodes[inp] = nir.Input(input_type={"input": np.asarray([graph[src].out_dim])})
            edges.append((inp, dst))
    edges += [tuple(e) for e in nmeta.get("recurrent_edges", [])]
    has_succ = {a for a, _ in graph.edges}
    if ports_out:
        for name, spec in ports_out.items():
            nodes[name] = nir.Output(output_type={"output": np.asarray([graph[spec["from"][0]].out_dim])})
            edges += [(src, name) for src in spec["from"]]
    else:
        for layer in graph:
            if layer.name not in skipped and layer.name not in has_succ:
                nodes[f"{layer.name}__out"] = nir.Output(output_type={"output": np.asarray([layer.out_dim])})
                edges.append((layer.name, f"{layer.name}__out"))
    if not any(type(n).__name__ not in ("Input", "Output") for n in nodes.values()):
        raise NeurosimError(f"graph {graph.name}: no layer NIR can express; not exported: {', '.join(skipped)}")
    metadata = {
        "neurosim_graph": graph.name,
        "neurosim_dt_s": dt,
        "neurosim_weights": "real" if params is not None else "placeholder-zeros",
        "neurosim_not_exported": skipped,
        "neurosim_note": "layers in neurosim_not_exported have no NIR node; their inputs leave the graph at Output "
                         "nodes '<src>__to__<dst>' and their outputs re-enter at Input nodes '<src>__out'",
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=True)


def export_nir(graph: Graph, path: str | Path, params: dict[str, dict[str, np.ndarray]] | None = None,
               dt_s: float | None = None, max_placeholder_weights: int = MAX_PLACEHOLDER_WEIGHTS):
    """Write ``graph`` as a NIR file (atomically); returns the NIR graph written."""
    from neurosim.io import atomic_path

    nir = _nir()
    ng = to_nir(graph, params, dt_s, max_placeholder_weights)
    with atomic_path(path, suffix=".nir") as tmp:
        nir.write(str(tmp), ng)
    return ng
