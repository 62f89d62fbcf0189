"""The small explicit-weight spiking network (spike sources, Dense projections, fixed-point LIF populations) that
the functional, event-driven and Lava engines all take, and its reference run with :mod:`neurosim.neurons`.

This is the meeting point of the engines that are compared step by step: :func:`run_functional` below, Lava
(:mod:`neurosim.lava.backend`) and the event-driven simulator (:mod:`neurosim.engines.events.snn`) all take a
:class:`SpikingNetwork` and return a :class:`NetworkTrace` (per population: spikes, ``u`` and ``v`` at the end of
every step); :func:`run_engine` runs one of them by name. The network belongs to no engine: it sits below them
(see the import-linter contracts in ``pyproject.toml``), and nothing here imports Lava. Lowering a neurosim graph to
a network is :func:`neurosim.lava.lower.lower_graph`.

Timing follows Lava's: a source emits ``spikes[t]`` at step ``t``; a Dense projection delivers what it received at
step ``t`` to its population at step ``t + 1`` (step 0 receives nothing); a population's spikes at step ``t``
reach the next projection at step ``t``.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.errors import NeurosimError
from neurosim.neurons import DenseFixedParams, FixedLifParams, LifTrace, lif_fixed_run_fed


@dataclass
class SpikeSource:
    """Precomputed input spikes, ``spikes[t, i]`` (int32: 0/1, -1/0/+1 or graded payloads)."""

    name: str
    spikes: np.ndarray
    graded: bool = False
    message_bits: int = 0

    @property
    def n(self) -> int:
        return int(self.spikes.shape[1])


@dataclass
class Population:
    """A population of ``n`` fixed-point LIF neurons."""

    name: str
    n: int
    params: FixedLifParams
    origin: str = ""  # the graph layer it stands for


@dataclass
class Projection:
    """A Dense connection ``pre -> post`` (pre: a source or a population)."""

    name: str
    pre: str
    post: str
    dense: DenseFixedParams
    origin: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        out, inp = self.dense.weights.shape
        return int(out), int(inp)


@dataclass
class SpikingNetwork:
    """Sources, populations (in execution order) and the projections between them; a feed-forward DAG."""

    name: str
    sources: dict[str, SpikeSource] = field(default_factory=dict)
    populations: dict[str, Population] = field(default_factory=dict)
    projections: list[Projection] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return min((s.spikes.shape[0] for s in self.sources.values()), default=0)

    def width(self, node: str) -> int:
        if node in self.sources:
            return self.sources[node].n
        return self.populations[node].n

    def incoming(self, pop: str) -> list[Projection]:
        return [p for p in self.projections if p.post == pop]

    @property
    def recurrent(self) -> list[Projection]:
        """Projections from a population to itself or to one before it (they close a cycle; like every projection
        they deliver a step's spikes at the next step)."""
        order = {n: i for i, n in enumerate(self.populations)}
        return [p for p in self.projections if p.pre in order and order[p.pre] >= order[p.post]]

    def check(self) -> None:
        """Every projection joins known nodes with matching widths (a projection may go back to the population
        itself or an earlier one: recurrent, one step late like every projection)."""
        for p in self.projections:
            if p.pre not in self.sources and p.pre not in self.populations:
                raise NeurosimError(f"network {self.name}: projection {p.name} reads unknown node {p.pre!r}")
            if p.post not in self.populations:
                raise NeurosimError(f"network {self.name}: projection {p.name} feeds unknown population {p.post!r}")
            out, inp = p.shape
            if inp != self.width(p.pre) or out != self.populations[p.post].n:
                raise NeurosimError(
                    f"network {self.name}: projection {p.name} is {out}x{inp} but joins {p.pre} "
                    f"({self.width(p.pre)}) to {p.post} ({self.populations[p.post].n})"
                )
        if not self.populations:
            raise NeurosimError(f"network {self.name}: no LIF population to simulate")

    def levels(self) -> list[list[str]]:
        """Populations grouped by depth (1 + the deepest population feeding them), in execution order."""
        depth: dict[str, int] = {}
        for name in self.populations:
            pre = [depth[p.pre] for p in self.incoming(name) if p.pre in depth]
            depth[name] = 1 + max(pre, default=0)
        return [[n for n in self.populations if depth[n] == d] for d in sorted(set(depth.values()))]

    def components(self) -> list[set[str]]:
        """Connected components (sets of node names), in the order of their first population."""
        parent: dict[str, str] = {n: n for n in [*self.sources, *self.populations]}

        def find(x: str) -> str:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for p in self.projections:
            parent[find(p.pre)] = find(p.post)
        groups: dict[str, set[str]] = {}
        for n in self.populations:
            groups.setdefault(find(n), set()).add(n)
        for n in self.sources:
            groups.setdefault(find(n), set()).add(n)
        return [g for g in groups.values() if any(n in self.populations for n in g)]

    def summary(self) -> str:
        neurons = sum(p.n for p in self.populations.values())
        synapses = sum(int(np.prod(p.shape)) for p in self.projections)
        return (
            f"{len(self.sources)} source(s), {len(self.projections)} Dense projection(s), "
            f"{len(self.populations)} LIF population(s): {neurons} neurons, {synapses} synapses, {self.steps} steps"
        )


@dataclass
class NetworkTrace:
    """What one engine computed: per population, spikes and u, v at the end of every step."""

    engine: str
    populations: dict[str, LifTrace]
    wall_s: float = 0.0
    run_s: float | None = None  # time in the stepping loop only, where the engine can tell it apart


@dataclass
class Difference:
    """The first place two traces disagree."""

    population: str
    step: int
    neuron: int
    quantity: str
    a: int
    b: int

    def describe(self, engine_a: str, engine_b: str) -> str:
        return (
            f"first difference: population {self.population}, step {self.step}, neuron {self.neuron}, "
            f"{self.quantity}: {engine_a}={self.a} {engine_b}={self.b}"
        )


def first_difference(a: NetworkTrace, b: NetworkTrace) -> Difference | None:
    """The earliest step (then population, then u, v, spikes, then neuron) at which ``a`` and ``b`` differ."""
    best: Difference | None = None
    for name, ta in a.populations.items():
        tb = b.populations.get(name)
        if tb is None:
            raise NeurosimError(f"engine {b.engine} returned no trace for population {name}")
        for quantity in ("u", "v", "spikes"):
            xa = getattr(ta, quantity).astype(np.int64)
            xb = getattr(tb, quantity).astype(np.int64)
            if xa.shape != xb.shape:
                raise NeurosimError(
                    f"population {name}: {quantity} has shape {xa.shape} in {a.engine}, {xb.shape} in {b.engine}"
                )
            diff = np.argwhere(xa != xb)
            if diff.size == 0:
                continue
            step, neuron = (int(x) for x in diff[0][:2])
            if best is None or step < best.step:
                best = Difference(name, step, neuron, quantity, int(xa[step, neuron]), int(xb[step, neuron]))
    return best


# --------------------------------------------------------------------------------------------------------------
# the reference run


def run_functional(net: SpikingNetwork, steps: int | None = None) -> NetworkTrace:
    """Run the network with neurosim's neuron models, a layer of populations at a time over all steps.

    A feed-forward network lets every projection be computed for all steps at once (one matrix product) once its
    presynaptic spikes are known; populations at the same depth run side by side in one unrolled LIF loop, their
    products written straight into its MSB-aligned input where that is exact
    (:func:`~neurosim.neurons.lif_fixed_run_fed`, as the event-driven engine runs a level).
    """
    t0 = time.perf_counter()
    net.check()
    steps = net.steps if steps is None else steps
    if net.recurrent:
        return _run_stepwise(net, steps, t0)
    spikes: dict[str, np.ndarray] = {n: s.spikes[:steps] for n, s in net.sources.items()}
    traces: dict[str, LifTrace] = {}
    for level in net.levels():
        params = [net.populations[n].params for n in level]
        # step t receives the spikes of step t - 1: one view per presynaptic node, so a node feeding several
        # projections is converted for the products once
        delayed = {p.pre: spikes[p.pre][:max(steps - 1, 0)] for n in level for p in net.incoming(n)}
        runs = lif_fixed_run_fed([[(p.dense, delayed[p.pre]) for p in net.incoming(n)] for n in level],
                                 [net.populations[n].n for n in level], params, steps, min(steps, 1))
        for name, tr in zip(level, runs):
            traces[name] = tr
            spikes[name] = tr.spikes
    wall = time.perf_counter() - t0
    return NetworkTrace("functional", {n: traces[n] for n in net.populations}, wall, wall)


def _run_stepwise(net: SpikingNetwork, steps: int, t0: float) -> NetworkTrace:
    """A network with recurrent projections, one step at a time: every projection delivers the spikes of step
    ``t - 1`` (sources' and populations' alike) at step ``t``, then every population takes one fixed-point step."""
    from neurosim.neurons import FixedLifState, dense_fixed_accumulate, lif_fixed_step

    stored = {p.name: p.dense.stored_weights for p in net.projections}
    state = {n: FixedLifState.zeros(pop.n) for n, pop in net.populations.items()}
    traces = {n: LifTrace(np.zeros((steps, pop.n), dtype=bool), np.zeros((steps, pop.n), dtype=np.int32),
                          np.zeros((steps, pop.n), dtype=np.int32)) for n, pop in net.populations.items()}
    last: dict[str, np.ndarray] = {}
    for t in range(steps):
        a_in = {n: np.zeros(pop.n, dtype=np.int64) for n, pop in net.populations.items()}
        if t:
            for p in net.projections:
                a_in[p.post] += dense_fixed_accumulate(p.dense, last[p.pre], stored[p.name])
        now = {n: s.spikes[t] for n, s in net.sources.items()}
        for name, pop in net.populations.items():
            fired = lif_fixed_step(state[name], a_in[name], pop.params)
            tr = traces[name]
            tr.spikes[t], tr.u[t], tr.v[t] = fired, state[name].u, state[name].v
            now[name] = fired.astype(np.int32)
        last = now
    wall = time.perf_counter() - t0
    return NetworkTrace("functional", traces, wall, wall)


#: engine name -> (module, function) that runs a network: ``function(net, steps)`` returns a NetworkTrace (or a
#: mapping population -> LifTrace). The engines sit above this module, so they are named here and imported only
#: when asked for: lava-nc stays unimported until the Lava engine runs, and no import goes upward.
ENGINES: dict[str, tuple[str, str]] = {
    "functional": (__name__, "run_functional"),
    "lava": ("neurosim.lava.backend", "run_lava"),
    "events": ("neurosim.engines.events.snn", "simulate_snn"),
}


def run_engine(engine: str, net: SpikingNetwork, steps: int | None = None) -> NetworkTrace:
    """Run ``net`` on a named engine of :data:`ENGINES` (``functional``, ``lava`` or ``events``) for ``steps``
    steps (default: as many as the sources hold); the trace is labelled with the engine's name."""
    if engine not in ENGINES:
        raise NeurosimError(f"engine {engine!r} is not allowed; allowed: {', '.join(ENGINES)}")
    steps = net.steps if steps is None else steps
    module, name = ENGINES[engine]
    # every engine is part of the package: an import error here is a bug and is not hidden (the Lava backend
    # names its optional extra itself when lava-nc is missing)
    run = getattr(importlib.import_module(module), name)
    t0 = time.perf_counter()
    out = run(net, steps)
    if not isinstance(out, NetworkTrace):
        out = NetworkTrace(engine, dict(out))
    out.engine = engine
    out.wall_s = out.wall_s or time.perf_counter() - t0
    return out


# --------------------------------------------------------------------------------------------------------------
# networks as graph files: the graph YAML + <stem>.params.npz that `neurosim import-nir --out` writes, plus the
# recorded input spikes (<stem>.spikes.npz), so that map / simulate / estimate / report take them like any workload

#: what an explicit-weight SNN graph may hold (a Linear is one Dense projection, a LIF one population)
SNN_LAYERS = ("InputSpikes", "Linear", "LIF")
_LIF_KEYS = ("du", "dv", "vth", "bias_mant", "bias_exp")


def params_path_for(graph_path: str | Path) -> Path:
    """``NET.yaml`` -> ``NET.params.npz`` (the name import-nir writes beside the graph)."""
    p = Path(graph_path)
    return p.with_name(p.name.rsplit(".", 1)[0] + ".params.npz")


def spikes_path_for(graph_path: str | Path) -> Path:
    """``NET.yaml`` -> ``NET.spikes.npz`` (recorded input spikes, one (steps, n) array per InputSpikes layer)."""
    p = Path(graph_path)
    return p.with_name(p.name.rsplit(".", 1)[0] + ".spikes.npz")


def _mantissas(dense: DenseFixedParams) -> tuple[np.ndarray, int]:
    """(integer weights m, exponent e) with Lava's synaptic input = (sum of m x input) x 2^e exactly (the shift
    applies to the sum, arithmetic for e < 0, as Lava's Dense does)."""
    drop = 8 - int(dense.num_weight_bits) + int(dense.sign_mode == "mixed")
    return dense.stored_weights >> drop, int(dense.weight_exp) + drop


def _rate(spikes: np.ndarray) -> float:
    return float(np.count_nonzero(spikes)) / spikes.size if spikes.size else 0.0


def network_to_graph(net: SpikingNetwork, trace: NetworkTrace | None = None):
    """The graph (InputSpikes, Linear, LIF layers), its parameters (``layer/key`` arrays), the recorded input
    spikes of a network and its recurrent edges (``[projection, population]``: a projection back to its own or an
    earlier population is a Linear after its source whose edge into the population closes a cycle, kept out of
    the graph's DAG as import-nir keeps NIR's recurrent edges). Firing rates in the graph are the ones measured by ``trace`` (default: a functional run),
    so an analytic estimate or a statistical run of the file matches the network's activity."""
    from neurosim.graph import LIF, ActivationSpec, Encoding, Graph, InputSpikes, Linear

    net.check()
    trace = trace if trace is not None else run_functional(net)
    spikes = {n: s.spikes for n, s in net.sources.items()}
    spikes.update({n: tr.spikes for n, tr in trace.populations.items()})
    g = Graph(name=net.name)
    params: dict[str, np.ndarray] = {}
    for name, src in net.sources.items():
        g.add(InputSpikes(name, n=src.n, firing_rate=_rate(src.spikes), graded=bool(src.graded),
                          bits=max(1, int(src.message_bits)) if src.graded else 1))
    recurrent = {p.name for p in net.recurrent}

    def add_projection(proj: Projection) -> None:
        out, inp = proj.shape
        m, e = _mantissas(proj.dense)
        g.add(Linear(proj.name, in_features=inp, out_features=out, w_bits=int(proj.dense.num_weight_bits),
                     input=ActivationSpec(Encoding.BINARY, bits=1, unfold=1, firing_rate=_rate(spikes[proj.pre]))),
              after=proj.pre)
        params[f"{proj.name}/weight"] = m.astype(np.int32)
        params[f"{proj.name}/weight_exp"] = np.array(e)
        params[f"{proj.name}/sign_mode"] = np.array(proj.dense.sign_mode)

    for name, pop in net.populations.items():
        forward = [p for p in net.incoming(name) if p.name not in recurrent]
        for proj in forward:
            add_projection(proj)
        lp = pop.params
        g.add(LIF(name, n=pop.n, threshold=float(lp.vth), dv=lp.dv, du=lp.du, reset="zero", steps=1,
                  firing_rate=_rate(spikes[name]), neuron="lif"), after=[p.name for p in forward])
        for k in _LIF_KEYS:
            params[f"{name}/{k}"] = np.asarray(getattr(lp, k))
        for proj in net.projections:  # recurrent projections out of this population: after it, delivered back
            if proj.name in recurrent and proj.pre == name:
                add_projection(proj)
    steps = net.steps
    g.meta.update({
        "source": "snn",
        "seq_len": int(steps),
        "batch": 1,
        "convention": {"attention": "none", "kv_width": "grouped", "lm_head": False, "nonlinear": True,
                       "attention_as_spiking": False},
        "spike_multiplier": 1.0,
        "snn": {"time": "one token of a run = one time step (Lava's timing: a projection delivers step t's spikes "
                        "to its population at step t + 1)",
                "arithmetic": "Loihi fixed point (lava-nc 0.10 PyLifModelBitAcc / PyDenseModelBitAcc)"},
    })
    g.check()
    return g, params, {n: np.asarray(s.spikes, dtype=np.int32) for n, s in net.sources.items()}, \
        sorted([p.name, p.post] for p in net.recurrent)


def save_network_files(net: SpikingNetwork, graph_path: str | Path, trace: NetworkTrace | None = None
                       ) -> tuple[Path, Path, Path]:
    """Write ``NET.yaml`` (the graph), ``NET.params.npz`` (weights and neuron parameters) and ``NET.spikes.npz``
    (the recorded input spikes) atomically; `neurosim map/simulate/estimate NET.yaml` take them."""
    from neurosim.io import atomic_path, write_text_atomic

    graph_path = Path(graph_path)
    g, params, spikes, recurrent = network_to_graph(net, trace)
    ppath, spath = params_path_for(graph_path), spikes_path_for(graph_path)
    # import-nir's keys, so both readers find the parameters and the edges that close a cycle (one step late)
    g.meta["nir"] = {"params_file": ppath.name, "recurrent_edges": recurrent}
    g.meta["spikes"] = spath.name
    with atomic_path(ppath, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **params)
    with atomic_path(spath, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **spikes)
    write_text_atomic(graph_path, g.to_yaml())
    return graph_path, ppath, spath


def with_input_layers(graph):
    """A graph whose spike inputs are layers: each input port of an imported NIR graph (``meta.nir.inputs``) that
    feeds spike-driven Linear layers becomes an :class:`~neurosim.graph.InputSpikes` layer of the port's name,
    first in execution order (the mapper places it, the simulator sends its spikes; injected, it costs only
    messages). Graphs without such ports come back unchanged (the same object)."""
    from neurosim.graph import Graph, InputSpikes, Linear

    ports = (graph.meta.get("nir") or {}).get("inputs") or {}  # checked where a graph file is read (Graph)
    add = []
    for port, spec in ports.items():
        if port in graph.layers:
            continue
        to = [c for c in spec.get("to", []) if isinstance(c, str) and c in graph.layers]
        lin = [graph[c] for c in to if isinstance(graph[c], Linear) and graph[c].spiking]
        if not lin or len(lin) != len(to):
            continue
        width = {layer.in_features for layer in lin}
        if len(width) != 1:
            raise NeurosimError(f"graph {graph.name}: input {port} feeds layers of different widths {sorted(width)}")
        rate = float(np.mean([float(layer.input.firing_rate or 0.0) for layer in lin]))
        add.append((InputSpikes(port, n=width.pop(), firing_rate=rate), [layer.name for layer in lin]))
    if not add:
        return graph
    g = Graph(name=graph.name, meta=dict(graph.meta))
    for layer, _ in add:
        g.add(layer)
    for layer in graph:
        g.add(layer)
    for layer, to in add:
        for c in to:
            g.connect(layer.name, c)
    for a, b in graph.edges:
        g.connect(a, b)
    g.check()
    return g


def is_snn_graph(graph) -> bool:
    """A graph file of an explicit-weight network: its parameters file is named and every layer is an InputSpikes,
    Linear or LIF layer."""
    meta = graph.meta.get("nir") or {}
    return bool(meta.get("params_file")) and all(type(layer).__name__ in SNN_LAYERS for layer in graph)


def _npz(path: Path, what: str) -> dict[str, np.ndarray]:
    import zipfile
    import zlib

    if not path.is_file():  # the graph file and the field that name it come first (a hostile name is a name)
        raise NeurosimError(f"{what} not found beside the graph: {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, KeyError, NotImplementedError, zipfile.BadZipFile, zlib.error) as exc:
        raise NeurosimError(f"{path}: not a readable .npz ({str(exc).splitlines()[0] if str(exc) else 'bad file'})") \
            from None


def load_graph_arrays(graph, graph_path: str | Path) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """(parameters by layer, recorded input spikes by InputSpikes layer) of a graph file, from the files its meta
    names (``meta.nir.params_file``, ``meta.spikes``; recorded spikes are optional)."""
    graph_path = Path(graph_path)
    meta = graph.meta.get("nir") or {}
    if not meta.get("params_file"):
        raise NeurosimError(f"{graph_path}: no weights (meta.nir.params_file is not set): a graph file runs in "
                            "exact mode only with its parameters file beside it")
    params: dict[str, dict[str, np.ndarray]] = {}
    from neurosim.io import sibling

    ppath = sibling(graph_path, meta["params_file"], f"{graph_path}: meta.nir.params_file")
    for key, v in _npz(ppath, f"{graph_path}: meta.nir.params_file: parameters file").items():
        layer, _, k = key.rpartition("/")
        params.setdefault(layer, {})[k] = v
    spikes = {}
    if graph.meta.get("spikes"):
        spikes = _npz(sibling(graph_path, graph.meta["spikes"], f"{graph_path}: meta.spikes"),
                      f"{graph_path}: meta.spikes: recorded input spikes file")
    return params, spikes


def _int_param(p: dict[str, np.ndarray], key: str, default, where: str):
    if key not in p:
        return default
    v = np.asarray(p[key])
    if v.dtype.kind == "f" and not np.all(v == np.round(v)):
        raise NeurosimError(f"{where}: {key} must be an integer (Loihi fixed point); got {v.reshape(-1)[0]!r}")
    v = v.astype(np.int64)
    return int(v) if v.ndim == 0 or v.size == 1 else v


def _check_nir_input_scale(layer, p: dict[str, np.ndarray], dt_s, where: str) -> None:
    """A NIR neuron's dynamics, discretised at ``dt`` (``nir_import.DISCRETISATION``), scale each step's input by
    ``r dt / tau`` (LIF), ``w_in dt / tau_syn`` and ``r dt / tau_mem`` (CubaLIF) or ``r dt`` (IF), and pull v
    towards ``v_leak``; Loihi's CUBA neuron adds its input unscaled and has no leak potential. Exact mode runs
    Loihi's arithmetic, so a population whose NIR dynamics it would not reproduce is refused, with the scale and
    how to fix it (snnTorch exports with ``r = tau / dt``, ``w_in = tau_syn / dt``: scale 1)."""
    if dt_s is None:
        return
    if isinstance(dt_s, bool) or not isinstance(dt_s, (int, float)) or not 0 < dt_s < float("inf"):
        raise NeurosimError(f"{where}: meta.nir.dt_s = {dt_s!r:.60}; allowed: a time step in seconds > 0")
    dt = float(dt_s)

    def one(key: str) -> float | None:
        return float(np.asarray(p[key], dtype=np.float64).reshape(-1)[0]) if key in p and np.size(p[key]) else None

    r, w_in = one("r"), one("w_in")
    tau, tau_syn = one("tau") if "tau" in p else one("tau_mem"), one("tau_syn")
    scales = []
    if layer.neuron == "if" and r is not None:
        scales.append(("r dt", r * dt, f"r = {r:g}, dt = {dt:g} s", "r = 1 / dt"))
    elif layer.neuron in ("lif", "cuba_lif") and r is not None and tau:
        name = "r dt / tau" + ("_mem" if layer.neuron == "cuba_lif" else "")
        scales.append((name, r * dt / tau, f"r = {r:g}, tau = {tau:g} s, dt = {dt:g} s", "r = tau / dt"))
    if layer.neuron == "cuba_lif" and tau_syn:
        w = 1.0 if w_in is None else w_in
        scales.append(("w_in dt / tau_syn", w * dt / tau_syn, f"w_in = {w:g}, tau_syn = {tau_syn:g} s, dt = {dt:g} s",
                       "w_in = tau_syn / dt"))
    for name, scale, values, fix in scales:
        if not np.isclose(scale, 1.0, rtol=1e-3):
            at = dt / scale if scale else float("inf")  # the time step at which this scale would be 1
            raise NeurosimError(f"{where}: the NIR dynamics scale each step's input by {name} = {scale:.6g} ({values}); "
                                f"Loihi adds it unscaled, so exact mode would not run this network: if the file was "
                                f"exported at another time step, import it with that one (`import-nir --dt {at:.6g}` "
                                f"makes the scale 1); else export with {fix} (snnTorch's convention) with the scale "
                                f"folded into integer weights, or give du, dv and vth in the parameters file")
    if "v_leak" in p and np.any(np.asarray(p["v_leak"]) != 0):
        raise NeurosimError(f"{where}: v_leak is not 0; Loihi's neuron decays towards 0 and has no leak potential: "
                            "give the population a bias (bias_mant, bias_exp) in the parameters file instead")


def network_from_graph(graph, params: dict[str, dict[str, np.ndarray]], spikes: dict[str, np.ndarray] | None = None,
                       steps: int | None = None, seed: int = 0) -> SpikingNetwork:
    """The fixed-point network a graph file describes: each InputSpikes layer a source (its recorded spikes, or
    seeded draws at its firing rate), each Linear a Dense projection (integer weights ``m``, ``weight_exp`` e: the
    input is (sum of m x spike) x 2^e, as ``lava_weights_for`` places it), each LIF a population (``du``, ``dv``,
    ``vth``, ``bias_mant``, ``bias_exp`` from the parameters file, else the layer's du, dv and threshold)."""
    import zlib

    from neurosim.graph import LIF, InputSpikes, Linear
    from neurosim.neurons import lava_weights_for, sign_mode_of

    spikes = dict(spikes or {})
    bad = [layer for layer in graph if type(layer).__name__ not in SNN_LAYERS]
    if bad:
        raise NeurosimError(f"graph {graph.name}: layer {bad[0].name} ({type(bad[0]).__name__}) is not part of an "
                            f"explicit-weight SNN; allowed: {', '.join(SNN_LAYERS)}")
    back: dict[str, list[str]] = {}
    for a, b in (graph.meta.get("nir") or {}).get("recurrent_edges") or []:
        back.setdefault(a, []).append(b)
    if steps is None:
        recorded = [len(spikes[n]) for n in graph.layers if n in spikes]
        steps = min(recorded) if recorded else int(graph.meta.get("seq_len", 1))
    steps = int(steps)
    if steps < 1:
        raise NeurosimError(f"graph {graph.name}: {steps} time steps; allowed: >= 1")
    net = SpikingNetwork(graph.name, meta={"graph": graph.name})
    dt_s = (graph.meta.get("nir") or {}).get("dt_s")
    for layer in graph:
        where = f"layer {layer.name} ({type(layer).__name__})"
        p = params.get(layer.name, {})
        if isinstance(layer, InputSpikes):
            if int(layer.n) < 1:
                raise NeurosimError(f"{where}: n = {layer.n}; allowed: an integer >= 1 (input neurons)")
            s = spikes.get(layer.name)
            if s is None:
                rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(layer.name.encode())])
                s = (rng.random((steps, layer.n)) < layer.firing_rate).astype(np.int32)
                if layer.graded:
                    s = s * rng.integers(1, (1 << min(layer.bits, 16)), (steps, layer.n), dtype=np.int32)
            s = np.asarray(s)
            if s.ndim != 2 or s.shape[1] != layer.n or s.shape[0] < steps:
                raise NeurosimError(f"{where}: recorded spikes have shape {s.shape}; expected ({steps}+, {layer.n})")
            if s.dtype.kind not in "iub" and not np.all(s == np.round(s)):
                raise NeurosimError(f"{where}: recorded spikes must be integers (0/1, or payloads when graded)")
            net.sources[layer.name] = SpikeSource(layer.name, s[:steps].astype(np.int32), bool(layer.graded),
                                                  int(layer.bits) if layer.graded else 0)
        elif isinstance(layer, Linear):
            preds = graph.predecessors(layer.name)
            outs = graph.successors(layer.name) + back.get(layer.name, [])
            succ = [s for s in outs if s in graph.layers and isinstance(graph[s], LIF)]
            if not preds:
                port = next((name for name, spec in ((graph.meta.get("nir") or {}).get("inputs") or {}).items()
                             if layer.name in (spec.get("to") or [])), None)
                if port is not None and not layer.spiking:
                    raise NeurosimError(
                        f"{where}: reads the network's input '{port}' as fp32 values (`import-nir --input fp`, the "
                        f"default); exact mode runs Loihi's cores, whose inputs are spikes: import the file with "
                        f"`--input binary` (spikes drawn at `--input-rate`, or recorded ones with `--spikes FILE`)")
            if layer.bias:
                raise NeurosimError(f"{where}: a bias on a projection has no Loihi Dense equivalent; give the "
                                    "population a bias (bias_mant, bias_exp) instead (`import-nir --quantize` "
                                    "moves it there)")
            if len(preds) != 1 or len(succ) != 1 or len(outs) != 1:
                raise NeurosimError(f"{where}: a projection reads one source or population and feeds one LIF layer; "
                                    f"it has {len(preds)} input(s) and {len(outs)} output(s)")
            if "weight" not in p:
                raise NeurosimError(f"{where}: no 'weight' in the parameters file")
            w = np.asarray(p["weight"])
            if w.shape != (layer.out_features, layer.in_features):
                raise NeurosimError(f"{where}: weight has shape {w.shape}; expected "
                                    f"({layer.out_features}, {layer.in_features})")
            if w.dtype.kind == "f" and not np.all(w == np.round(w)):
                raise NeurosimError(f"{where}: weights are not integers; exact mode runs Loihi's fixed-point "
                                    "arithmetic: quantize them (integer weights and an integer threshold; "
                                    "`import-nir --quantize` does it per population)")
            if not 1 <= int(layer.w_bits) <= 8:
                raise NeurosimError(f"{where}: w_bits = {layer.w_bits}; Loihi's Dense holds 1..8-bit weights")
            m = w.astype(np.int64)
            mode = str(p["sign_mode"]) if "sign_mode" in p else sign_mode_of(m)
            try:
                w8, wexp = lava_weights_for(m, int(layer.w_bits), mode, _int_param(p, "weight_exp", 0, where))
            except NeurosimError as exc:
                raise NeurosimError(f"{where}: {exc}") from None
            src = net.sources.get(preds[0])
            dense = DenseFixedParams(w8, num_weight_bits=int(layer.w_bits), weight_exp=wexp, sign_mode=mode,
                                     num_message_bits=src.message_bits if src is not None and src.graded else 0,
                                     where=where)
            net.projections.append(Projection(layer.name, preds[0], succ[0], dense, layer.name))
        else:  # LIF
            if layer.neuron not in ("lif", "cuba_lif", "if"):
                raise NeurosimError(f"{where}: neuron = {layer.neuron!r}, which Loihi's CUBA LIF cannot express; "
                                    "allowed: lif, cuba_lif, if")
            if layer.reset != "zero":
                raise NeurosimError(f"{where}: reset = {layer.reset!r}; Loihi's LIF resets v to zero; allowed: zero")
            if int(layer.steps) != 1:
                raise NeurosimError(f"{where}: steps = {layer.steps}; allowed: 1 (a population of an SNN takes one "
                                    "time step per token)")
            # the graph holds one threshold and one decay per population (a NIR file's per-neuron values,
            # averaged); Loihi's LIF takes one value per population, so values that differ are refused, not averaged
            for key, given in (("v_threshold", "vth"), ("threshold", "vth"), ("tau", "dv"), ("tau_mem", "dv"),
                               ("tau_syn", "du")):
                v = np.asarray(p[key], dtype=np.float64).reshape(-1) if key in p and given not in p else None
                if v is not None and v.size and not np.all(v == v[0]):
                    raise NeurosimError(f"{where}: {key} differs across the population ({np.nanmin(v):g} .. "
                                        f"{np.nanmax(v):g}); Loihi's LIF takes one value per population: split it "
                                        f"into populations of equal {key}, or give '{given}' in the parameters file")
            if not ({"du", "dv"} & set(p)):
                _check_nir_input_scale(layer, p, dt_s, where)
            thr = layer.threshold
            if "vth" not in p and float(thr) != round(float(thr)):
                raise NeurosimError(f"{where}: threshold = {thr} must be an integer (Loihi's vth) or given as 'vth' "
                                    "in the parameters file")
            values = {"du": _int_param(p, "du", layer.du, where),
                      "dv": _int_param(p, "dv", 0 if layer.neuron == "if" else layer.dv, where),
                      "vth": _int_param(p, "vth", round(float(thr)), where),
                      "bias_mant": _int_param(p, "bias_mant", 0, where),
                      "bias_exp": _int_param(p, "bias_exp", 0, where)}
            net.populations[layer.name] = Population(layer.name, layer.n, FixedLifParams(**values, where=where),
                                                     layer.name)
    net.check()
    return net


def load_network_files(graph_path: str | Path, steps: int | None = None, seed: int = 0):
    """(graph, network) of a graph file with its parameters (and recorded spikes, when written)."""
    from neurosim.graph import Graph
    from neurosim.io import load_yaml

    graph_path = Path(graph_path)
    g = with_input_layers(Graph.from_dict(load_yaml(graph_path), str(graph_path)))
    params, spikes = load_graph_arrays(g, graph_path)
    try:
        return g, network_from_graph(g, params, spikes, steps, seed)
    except NeurosimError as exc:
        from neurosim.errors import in_file

        raise in_file(str(graph_path), exc) from None
