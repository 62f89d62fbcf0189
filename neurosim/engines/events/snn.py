"""The event-driven run of a small spiking network (Dense projections + fixed-point LIF populations), step by step,
for ``neurosim lava-check`` (see :mod:`neurosim.snn` for the network and the timing it must follow).

Each source and each population is a SimPy process that advances one algorithmic time step per event. At step
``t`` a source emits the nonzero entries of ``spikes[t]`` as one message bundle (indices and payloads, never one
event per spike); a Dense projection accumulates, event by event, the stored weight columns of the inputs that
fired (times the payload for graded spikes), with Lava's integer widths, and delivers the sum to its population's
inbox for step ``t + 1``; a population adds its inbox (int32) and takes one literal fixed-point LIF step
(:func:`~neurosim.neurons.lif_fixed_step`), then emits its own spikes. The functional reference
(:func:`~neurosim.snn.run_functional`) instead multiplies whole spike trains at once with a fast
unrolled LIF, so agreement checks both.
"""

from __future__ import annotations

import time

import numpy as np
import simpy

from neurosim.neurons import FixedLifState, LifTrace, lif_fixed_step, wrap_int32
from neurosim.snn import NetworkTrace, SpikingNetwork


def _accumulate(stored: np.ndarray, weight_exp: int, graded: bool, idx: np.ndarray, payload: np.ndarray) -> np.ndarray:
    """What a Dense sends for one step's events: the columns of the inputs that fired (x payload when graded)."""
    if len(idx) == 0:
        return np.zeros(stored.shape[0], dtype=np.int64)
    cols = stored[:, idx]
    if graded:
        acc = wrap_int32(cols @ payload.astype(np.int64))  # Lava: an int32 dot product
        return wrap_int32(acc << weight_exp) if weight_exp > 0 else acc >> -weight_exp
    acc = cols.sum(axis=1)  # Lava: an int64 sum of the selected columns
    acc = acc << weight_exp if weight_exp > 0 else acc >> -weight_exp
    return wrap_int32(acc)


def simulate_snn(net: SpikingNetwork, steps: int | None = None) -> NetworkTrace:
    """Run ``net`` (a :class:`~neurosim.snn.SpikingNetwork`) for ``steps`` steps, event by event; return a
    :class:`~neurosim.snn.NetworkTrace` with every population's spikes, u and v at the end of each step."""
    t0 = time.perf_counter()
    net.check()
    steps = net.steps if steps is None else int(steps)
    env = simpy.Environment()
    outgoing: dict[str, list] = {}
    for proj in net.projections:
        outgoing.setdefault(proj.pre, []).append(proj)
    stored = {p.name: p.dense.stored_weights for p in net.projections}
    inbox = {name: np.zeros((steps + 1, pop.n), dtype=np.int64) for name, pop in net.populations.items()}
    traces = {name: LifTrace(np.zeros((steps, pop.n), dtype=bool), np.zeros((steps, pop.n), dtype=np.int32),
                             np.zeros((steps, pop.n), dtype=np.int32)) for name, pop in net.populations.items()}
    events = [0]

    def emit(node: str, t: int, values: np.ndarray) -> None:
        """One bundle: the nonzero entries of this step's output, to every projection reading ``node``."""
        idx = np.nonzero(values)[0]
        for proj in outgoing.get(node, []):
            events[0] += 1
            if t + 1 <= steps:
                inbox[proj.post][t + 1] += _accumulate(stored[proj.name], proj.dense.weight_exp, proj.dense.graded,
                                                       idx, values[idx])

    def source(name: str):
        spikes = net.sources[name].spikes
        for t in range(steps):
            emit(name, t, np.asarray(spikes[t]))
            yield env.timeout(1)

    def population(name: str):
        pop = net.populations[name]
        state = FixedLifState.zeros(pop.n)
        tr = traces[name]
        for t in range(steps):
            fired = lif_fixed_step(state, inbox[name][t], pop.params)
            tr.spikes[t], tr.u[t], tr.v[t] = fired, state.u, state.v
            emit(name, t, fired.astype(np.int64))
            yield env.timeout(1)

    for name in net.sources:
        env.process(source(name))
    for name in net.populations:
        env.process(population(name))
    env.run()
    wall = time.perf_counter() - t0
    return NetworkTrace("events", traces, wall, wall)
