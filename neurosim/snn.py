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
from typing import Any

import numpy as np

from neurosim.errors import NeurosimError
from neurosim.neurons import DenseFixedParams, FixedLifParams, LifTrace, dense_fixed_run, lif_fixed_run_many


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

    def check(self) -> None:
        """Every projection joins known nodes with matching widths, and pre comes before post."""
        order = {n: i for i, n in enumerate(self.populations)}
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
            if p.pre in order and order[p.pre] >= order[p.post]:
                raise NeurosimError(f"network {self.name}: projection {p.name} goes backwards; the network must be a DAG")
        if not self.populations:
            raise NeurosimError(f"network {self.name}: no LIF population to simulate")

    def levels(self) -> list[list[str]]:
        """Populations grouped by depth (1 + the deepest population feeding them), in execution order."""
        depth: dict[str, int] = {}
        for name in self.populations:
            pre = [depth[p.pre] for p in self.incoming(name) if p.pre in self.populations]
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
    presynaptic spikes are known; populations at the same depth run side by side in one unrolled LIF loop.
    """
    t0 = time.perf_counter()
    net.check()
    steps = net.steps if steps is None else steps
    spikes: dict[str, np.ndarray] = {n: s.spikes[:steps] for n, s in net.sources.items()}
    traces: dict[str, LifTrace] = {}
    for level in net.levels():
        a_ins = []
        for name in level:
            a_in = np.zeros((steps, net.populations[name].n), dtype=np.int64)
            for proj in net.incoming(name):
                a_in += dense_fixed_run(proj.dense, spikes[proj.pre])
            a_ins.append(a_in)
        for name, tr in zip(level, lif_fixed_run_many(a_ins, [net.populations[n].params for n in level])):
            traces[name] = tr
            spikes[name] = tr.spikes
    wall = time.perf_counter() - t0
    return NetworkTrace("functional", {n: traces[n] for n in net.populations}, wall, wall)


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
    try:
        run = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise NeurosimError(f"engine {engine!r}: this build lacks {module}.{name}(network, steps); run with another "
                            f"of {', '.join(e for e in ENGINES if e != engine)}") from None
    t0 = time.perf_counter()
    out = run(net, steps)
    if not isinstance(out, NetworkTrace):
        out = NetworkTrace(engine, dict(out))
    out.engine = engine
    out.wall_s = out.wall_s or time.perf_counter() - t0
    return out
