"""The event-driven run of a small spiking network (Dense projections + fixed-point LIF populations), for
``neurosim lava-check``, ``simulate --mode exact`` on a graph file and ``make bench-peers`` (see :mod:`neurosim.snn`
for the network and the timing it must follow).

Populations are SimPy processes, and one event carries a *bundle*: a window of consecutive steps of a population
(its input, its spikes, u and v for every neuron at every step of the window, as arrays), never one event per
spike. A window ``[t0, t1)`` waits until every population it reads has finished the steps before ``t1 - 1`` (a
Dense projection delivers step ``t``'s spikes at step ``t + 1``); sources are recorded, so all their steps are there
from the start. Then:

* the populations of one depth that are on no cycle are one process and take all their steps in one window (a
  window is capped so that its input stays within :data:`WINDOW_ELEMENTS` values): the synaptic input of each
  incoming projection for the whole window is one integer product
  (:func:`~neurosim.neurons.dense_fixed_accumulate`: Lava's integer widths and wrap-around, through BLAS where that
  is exact) and their LIF recurrences are unrolled side by side in NumPy
  (:func:`~neurosim.neurons.lif_fixed_run_fed`, the functional engine's way too); where no sum can wrap and each
  Dense's shift is an exact scaling, the products go straight into the LIF's MSB-aligned input
  (:func:`~neurosim.neurons.scaled_dense_inputs`: the same integers, no int64 copies);
* a population on a cycle (a recurrent projection closes it) advances one step per event: its inputs from outside
  the cycle are still one product for all steps, and only the projections inside the cycle are accumulated step
  by step, event by event (the stored weight rows of the inputs that fired, times the payload when graded: an
  int64 sum, or an int32 dot product for graded messages, as Lava's Dense computes them), each step one literal
  fixed-point LIF step (:func:`~neurosim.neurons.lif_fixed_step`).

``window=1`` runs every population that literal way, step by step with event-by-event accumulation: a second,
independent computation of the same arithmetic, which the tests hold equal to the vectorized one and to the
functional engine (:func:`~neurosim.snn.run_functional`) at every step.
"""

from __future__ import annotations

import time

import numpy as np
import simpy

from neurosim.neurons import (
    FAST_INPUT_BOUND,
    FixedLifState,
    LifTrace,
    dense_fixed_accumulate,
    lif_fixed_run_fed,
    lif_fixed_step,
    wrap_int32,
)
from neurosim.snn import NetworkTrace, Projection, SpikingNetwork

#: the most input values (steps x neurons) one window of a population holds (64 MiB of int64)
WINDOW_ELEMENTS = 1 << 23


def _accumulate(stored_t: np.ndarray, weight_exp: int, graded: bool, idx: np.ndarray, payload: np.ndarray
                ) -> np.ndarray:
    """What a Dense sends for one step's events: the stored weight rows (``stored_t``: (in, out)) of the inputs
    that fired, summed (x payload when graded)."""
    if len(idx) == 0:
        return np.zeros(stored_t.shape[1], dtype=np.int64)
    rows = stored_t[idx]
    if graded:
        acc = wrap_int32(payload.astype(np.int64) @ rows)  # Lava: an int32 dot product
        return wrap_int32(acc << weight_exp) if weight_exp > 0 else acc >> -weight_exp
    acc = rows.sum(axis=0)  # Lava: an int64 sum of the selected columns
    acc = acc << weight_exp if weight_exp > 0 else acc >> -weight_exp
    return wrap_int32(acc)


def cycles(net: SpikingNetwork) -> dict[str, frozenset[str]]:
    """For each population on a cycle, the populations of its cycle (its strongly connected component, itself
    included); populations on no cycle are absent."""
    succ: dict[str, set[str]] = {n: set() for n in net.populations}
    for p in net.projections:
        if p.pre in succ:
            succ[p.pre].add(p.post)

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for m in succ[todo.pop()]:
                if m not in seen:
                    seen.add(m)
                    todo.append(m)
        return seen

    reaches = {n: reach(n) for n in net.populations}
    return {n: frozenset(m for m in reaches[n] if n in reaches[m]) for n in net.populations if n in reaches[n]}


def levels(net: SpikingNetwork, on_cycle: dict[str, frozenset[str]]) -> list[list[str]]:
    """The populations on no cycle grouped by depth (1 + the deepest population outside its own cycle that feeds
    them), in execution order: a group never reads itself, even where a projection goes back to an earlier
    population without closing a cycle."""
    depth: dict[str, int] = {}

    def of(name: str) -> int:
        if name not in depth:
            own = on_cycle.get(name, frozenset())
            depth[name] = 1 + max((of(p.pre) for p in net.incoming(name)
                                   if p.pre in net.populations and p.pre not in own), default=0)
        return depth[name]

    flat = [n for n in net.populations if n not in on_cycle]
    return [[n for n in flat if of(n) == d] for d in sorted({of(n) for n in flat})]


def simulate_snn(net: SpikingNetwork, steps: int | None = None, window: int | None = None) -> NetworkTrace:
    """Run ``net`` (a :class:`~neurosim.snn.SpikingNetwork`) for ``steps`` steps as bundles of events; return a
    :class:`~neurosim.snn.NetworkTrace` with every population's spikes, u and v at the end of each step.

    ``window``: the most steps one bundle of a population on no cycle holds (None: as many as
    :data:`WINDOW_ELEMENTS` allow; 1: the literal step-by-step run, event-by-event accumulation everywhere)."""
    t0 = time.perf_counter()
    net.check()
    steps = net.steps if steps is None else int(steps)
    literal = window == 1
    on_cycle = cycles(net)
    env = simpy.Environment()
    spikes: dict[str, np.ndarray] = {n: np.asarray(s.spikes[:steps]) for n, s in net.sources.items()}
    traces: dict[str, LifTrace] = {}

    def trace(name: str) -> LifTrace:
        """The record of a population, made when a window does not cover the whole run."""
        if name not in traces:
            n = net.populations[name].n
            traces[name] = LifTrace(np.zeros((steps, n), dtype=bool), np.zeros((steps, n), dtype=np.int32),
                                    np.zeros((steps, n), dtype=np.int32))
            spikes[name] = traces[name].spikes
        return traces[name]

    finished = {n: steps for n in net.sources} | {n: 0 for n in net.populations}
    waiting: dict[str, list[tuple[int, simpy.Event]]] = {n: [] for n in net.populations}
    stored_t: dict[str, np.ndarray] = {}

    def until(node: str, need: int) -> simpy.Event | None:
        """An event for when ``node`` has finished its first ``need`` steps (None: it has)."""
        if finished[node] >= need:
            return None
        ev = env.event()
        waiting[node].append((need, ev))
        return ev

    def finish(node: str, upto: int) -> None:
        finished[node] = upto
        ready = [ev for need, ev in waiting[node] if need <= upto]
        waiting[node] = [(need, ev) for need, ev in waiting[node] if need > upto]
        for ev in ready:
            ev.succeed()

    def deliver(proj: Projection, a: int, b: int, into: np.ndarray) -> None:
        """Add what ``proj`` delivers at steps ``a..b-1`` to ``into``, all at once (step t gets the spikes of step
        t - 1)."""
        lo = max(a, 1)
        if b > lo:
            into[lo - a:] += dense_fixed_accumulate(proj.dense, spikes[proj.pre][lo - 1:b - 1])

    def step_input(proj: Projection, t: int) -> np.ndarray:
        """What ``proj`` delivers at step ``t``, event by event (the inputs that fired at step ``t - 1``)."""
        w = stored_t.get(proj.name)
        if w is None:
            w = stored_t[proj.name] = np.ascontiguousarray(proj.dense.stored_weights.T)
        if t == 0:
            return np.zeros(w.shape[1], dtype=np.int64)
        s = spikes[proj.pre][t - 1]
        idx = np.flatnonzero(s)
        return _accumulate(w, proj.dense.weight_exp, proj.dense.graded, idx, s[idx])

    def wait(pres: list[str], need: int):
        evs = [ev for ev in (until(p, need) for p in pres) if ev is not None]
        if evs:
            yield simpy.AllOf(env, evs)

    def cyclic(name: str):
        """A population on a cycle (or, ``literal``, any population): one step per event."""
        pop = net.populations[name]
        incoming = net.incoming(name)
        tr = trace(name)
        state = FixedLifState.zeros(pop.n)
        inner = [p for p in incoming if literal or p.pre in on_cycle[name]]
        outer = [p for p in incoming if p not in inner]
        yield from wait([p.pre for p in outer], steps - 1)
        a_outer = np.zeros((steps, pop.n), dtype=np.int64)
        for p in outer:
            deliver(p, 0, steps, a_outer)
        for t in range(steps):
            yield from wait([p.pre for p in inner], t)
            a = a_outer[t]
            for p in inner:
                a = a + step_input(p, t)
            fired = lif_fixed_step(state, a, pop.params)
            tr.spikes[t], tr.u[t], tr.v[t] = fired, state.u, state.v
            finish(name, t + 1)
            yield env.timeout(1)

    def level(names: list[str]):
        """Populations of one depth on no cycle, side by side: one bundle of a window of steps for all of them (a
        product per projection, one unrolled LIF loop)."""
        pops = [net.populations[n] for n in names]
        incoming = {n: net.incoming(n) for n in names}
        pres = sorted({p.pre for n in names for p in incoming[n]})
        states = [FixedLifState.zeros(pop.n) for pop in pops]
        width = max(sum(pop.n for pop in pops), *(p.shape[1] for n in names for p in incoming[n]))
        size = max(1, min(steps, window or steps, WINDOW_ELEMENTS // max(width, 1)))
        for a in range(0, steps, size):
            b = min(steps, a + size)
            yield from wait(pres, b - 1)
            # the window's products straight into the LIF's aligned input where that is exact (one view of each
            # presynaptic node's spikes: step t gets those of step t - 1), else the integer path
            lo = max(a, 1)
            delayed = {name: spikes[name][lo - 1:max(b - 1, lo - 1)] for name in pres}
            runs = lif_fixed_run_fed([[(p.dense, delayed[p.pre]) for p in incoming[n]] for n in names],
                                     [pop.n for pop in pops], [pop.params for pop in pops], b - a,
                                     min(lo - a, b - a), states)
            for n, run in zip(names, runs):
                if a == 0 and b == steps:  # one window: its arrays are the record
                    traces[n], spikes[n] = run, run.spikes
                else:
                    tr = trace(n)
                    tr.spikes[a:b], tr.u[a:b], tr.v[a:b] = run.spikes, run.u, run.v
                finish(n, b)
            yield env.timeout(b - a)

    for name in net.populations:
        if literal or name in on_cycle:
            env.process(cyclic(name))
    for names in levels(net, on_cycle):
        if not literal:
            env.process(level(names))
    env.run()
    stalled = [n for n, done in finished.items() if done < steps]
    if stalled:
        raise RuntimeError(f"event-driven SNN run stalled: {', '.join(stalled)} did not finish (a dependency cycle)")
    wall = time.perf_counter() - t0
    return NetworkTrace("events", {n: trace(n) for n in net.populations}, wall, wall)


def prepare(net: SpikingNetwork) -> None:
    """Derive every projection's weight operand once (stored weights, the BLAS operand its inputs need: the
    aligned-input one where the Dense alone qualifies for it, else the integer path's): the setup of a run, as
    building and compiling are Lava's; :func:`simulate_snn` would otherwise do it on first use."""
    from neurosim.neurons import product_dtype

    for p in net.projections:
        pre = net.sources.get(p.pre)
        peak = float(np.abs(pre.spikes).max(initial=0)) if pre is not None and p.dense.graded else 1.0
        aligned = p.dense.aligned_bound(peak)
        if aligned is not None and aligned <= FAST_INPUT_BOUND:
            _ = p.dense.scaled_operand
        else:
            p.dense.product_operand(product_dtype(peak * p.dense.row_sum_bound))
