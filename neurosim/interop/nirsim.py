"""A NumPy simulator of imported NIR networks, with the discretisation stated in ``nir_import.DISCRETISATION``.

It runs the network time step by time step (vectorised over the batch and the neurons, never a loop over
spikes), and can record what the metrics need: each layer's summed input and output per step and, for stateful
neurons, how many membranes changed in the step (NeuroBench's membrane-update definition).

This is the NIR semantics, not a framework's: snnTorch's Leaky with ``reset_mechanism="zero"`` exported at its
dt gives the same update (beta = 1 - dt/tau, r = tau/dt); its default subtractive reset has no NIR equivalent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurosim.errors import NeurosimError
from neurosim.graph import LIF, Elementwise, Linear
from neurosim.interop.nir_import import SPIKING_NEURONS, NirNetwork


@dataclass
class SimResult:
    """Outputs by output port ``[T, B, n]``; with ``record``: per-layer inputs/outputs ``[T, B, n]`` and
    membrane changes per layer (count of (step, sample, neuron) whose v differs from the step before)."""

    outputs: dict[str, np.ndarray]
    layer_inputs: dict[str, np.ndarray] = field(default_factory=dict)
    layer_outputs: dict[str, np.ndarray] = field(default_factory=dict)
    membrane_changes: dict[str, int] = field(default_factory=dict)
    steps: int = 0
    batch: int = 0

    def firing_rates(self, net: NirNetwork) -> dict[str, float]:
        """Spikes per neuron per step of every spiking layer (needs ``record=True``)."""
        return {name: float(np.count_nonzero(out)) / out.size for name, out in self.layer_outputs.items()
                if getattr(net.graph[name], "neuron", "") in SPIKING_NEURONS and out.size}


def _inputs_by_port(net: NirNetwork, x) -> dict[str, np.ndarray]:
    ports = list(net.inputs)
    if isinstance(x, dict):
        unknown = set(x) - set(ports)
        if unknown:
            raise NeurosimError(f"input port(s) {sorted(unknown)} not in the network; ports: {', '.join(ports)}")
        arrays = {k: np.asarray(v, dtype=np.float64) for k, v in x.items()}
    else:
        if len(ports) != 1:
            raise NeurosimError(f"the network has {len(ports)} input ports ({', '.join(ports)}); pass a dict")
        arrays = {ports[0]: np.asarray(x, dtype=np.float64)}
    for k, a in arrays.items():
        if a.ndim == 2:
            arrays[k] = a[:, None, :]
        elif a.ndim != 3:
            raise NeurosimError(f"input '{k}': expected [steps, batch, features], got shape {a.shape}")
        if not np.all(np.isfinite(arrays[k])):
            raise NeurosimError(f"input '{k}': contains NaN or Inf")
    return arrays


def simulate(net: NirNetwork, x, record: bool = False, dtype=np.float64) -> SimResult:
    """Run ``x`` (``[T, B, features]`` or ``{port: array}``) through the network; see the module docstring."""
    xin = _inputs_by_port(net, x)
    steps, batch = next(iter(xin.values())).shape[:2]
    g = net.graph
    order = [layer.name for layer in g]
    preds = {n: g.predecessors(n) for n in order}
    rec_preds = {n: [a for a, b in net.recurrent_edges if b == n] for n in order}
    port_into = {n: [i for i, spec in net.inputs.items() if n in spec["to"]] for n in order}
    for i, spec in net.inputs.items():
        shape = [int(s) for s in spec.get("shape", [])]
        if shape and int(np.prod(shape)) != xin[i].shape[2]:
            raise NeurosimError(f"input '{i}': {xin[i].shape[2]} features; the network expects {int(np.prod(shape))}")

    coeff: dict[str, dict[str, np.ndarray]] = {}
    state: dict[str, dict[str, np.ndarray]] = {}
    dt = net.dt_s
    for name in order:
        layer = g[name]
        p = {k: np.asarray(v, dtype=dtype) for k, v in net.params.get(name, {}).items()}
        if isinstance(layer, LIF):
            c = dict(p, dt=np.asarray(dt, dtype))
            if "tau" in p:
                c["a_mem"] = dtype(dt) / p["tau"]
            if "tau_mem" in p:
                c["a_mem"] = dtype(dt) / p["tau_mem"]
            if "tau_syn" in p:
                c["a_syn"] = dtype(dt) / p["tau_syn"]
            coeff[name] = c
            n = layer.n
            state[name] = {"v": np.zeros((batch, n), dtype), "i": np.zeros((batch, n), dtype)}
        else:
            coeff[name] = p
            if isinstance(layer, Linear):
                coeff[name]["wt"] = np.ascontiguousarray(p["weight"].T)

    prev: dict[str, np.ndarray] = {n: np.zeros((batch, g[n].out_dim), dtype) for n in order}
    out_steps: dict[str, list[np.ndarray]] = {o: [] for o in net.outputs}
    rec_in: dict[str, list[np.ndarray]] = {n: [] for n in order} if record else {}
    rec_out: dict[str, list[np.ndarray]] = {n: [] for n in order} if record else {}
    changes = {n: 0 for n in order if isinstance(g[n], LIF) and g[n].neuron != "threshold"}

    for t in range(steps):
        cur: dict[str, np.ndarray] = {}
        for name in order:
            layer = g[name]
            s = None
            for p_ in preds[name]:
                s = cur[p_] if s is None else s + cur[p_]
            for p_ in rec_preds[name]:
                s = prev[p_] if s is None else s + prev[p_]
            for i in port_into[name]:
                s = xin[i][t].astype(dtype) if s is None else s + xin[i][t]
            if s is None:
                s = np.zeros((batch, layer.in_dim), dtype)
            c = coeff[name]
            if isinstance(layer, Linear):
                y = s @ c["wt"]
                if "bias" in c:
                    y = y + c["bias"]
            elif isinstance(layer, Elementwise):
                y = s * c["scale"]
            else:
                y = _neuron_step(layer, c, state.get(name), s, changes, t)
            cur[name] = y
            if record:
                rec_in[name].append(s)
                rec_out[name].append(y)
        for o, spec in net.outputs.items():
            srcs = spec["from"]
            val = cur[srcs[0]]
            for src in srcs[1:]:
                val = val + cur[src]
            out_steps[o].append(val)
        prev = cur
    outputs = {o: np.stack(v) if v else np.zeros((steps, batch, 0), dtype) for o, v in out_steps.items()}
    res = SimResult(outputs=outputs, steps=steps, batch=batch, membrane_changes=changes)
    if record:
        res.layer_inputs = {n: np.stack(v) for n, v in rec_in.items()}
        res.layer_outputs = {n: np.stack(v) for n, v in rec_out.items()}
    return res


def _neuron_step(layer: LIF, c: dict[str, np.ndarray], st: dict[str, np.ndarray] | None, x: np.ndarray,
                 changes: dict[str, int], t: int) -> np.ndarray:
    kind = layer.neuron
    if kind == "threshold":
        return (x > c["threshold"]).astype(x.dtype)
    v_old = st["v"]
    if kind in ("cuba_lif", "cuba_li"):
        st["i"] = st["i"] + c["a_syn"] * (c["w_in"] * x - st["i"])
        drive = st["i"]
    else:
        drive = x
    if kind in ("lif", "li", "cuba_lif", "cuba_li"):
        v = v_old + c["a_mem"] * (c["v_leak"] - v_old + c["r"] * drive)
    elif kind in ("if", "i"):
        v = v_old + c["dt"] * c["r"] * drive
    else:
        raise NeurosimError(f"layer {layer.name}: neuron {kind!r} has no NIR dynamics; allowed: lif, cuba_lif, "
                            "if, li, cuba_li, i, threshold")
    if kind in SPIKING_NEURONS:
        z = v > c["v_threshold"]
        v = np.where(z, c["v_reset"], v)
        out = z.astype(x.dtype)
    else:
        out = v
    if t == 0:
        changes[layer.name] += v.size
    else:
        changes[layer.name] += int(np.count_nonzero(v != v_old))
    st["v"] = v
    return out
