"""Real integer weights and real spike trains of a workload's spike-driven layers, for engines that take an explicit
network (``neurosim lava-check --weights real``).

One functional run on real text gives, for every spike-driven projection, the integer weight matrix its cores store
(quantized as the run quantized it: LIF thresholds folded in, rotations applied) and, for every spike source, the
spikes of every time step: a LIF population's own per-step spikes (seed 003's dynamics, recomputed from the input
current the run held), or an SDLLM encoder's counts unfolded front-first. Tokens follow one another: token ``i``
occupies steps ``i*T .. i*T + T - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurosim.errors import NeurosimError
from neurosim.functional.encoders import unfold
from neurosim.functional.engine import plan_from_graph, run
from neurosim.functional.forward import ForwardState
from neurosim.functional.lif import LifConfig, rate_code
from neurosim.graph import Graph


@dataclass
class RealData:
    """Integer weights (linear -> out x in, int64) and spike trains (source -> steps x width, int32)."""

    weights: dict[str, np.ndarray] = field(default_factory=dict)
    trains: dict[str, np.ndarray] = field(default_factory=dict)
    tokens: int = 0
    text: str = ""

    @property
    def steps(self) -> int:
        return min((t.shape[0] for t in self.trains.values()), default=0)


def real_data(graph: Graph, model, ids: np.ndarray) -> RealData:
    """Run ``ids`` through ``model`` as ``graph`` declares and keep every spike-driven layer's integer weights and
    every spike source's per-step spikes (see the module docstring)."""
    currents: dict[str, list[np.ndarray]] = {}
    records: dict[str, object] = {}
    counts: dict[str, list[np.ndarray]] = {}

    def on_encoder(name: str, a: np.ndarray) -> None:
        currents.setdefault(name, []).append(np.array(a, dtype=np.float32))

    def on_linear(rec) -> None:
        records.setdefault(rec.layer, rec)
        if not any(c is rec.counts for c in counts.get(rec.encoder, [])):
            counts.setdefault(rec.encoder, []).append(rec.counts)

    state = ForwardState(model, plan_from_graph(graph), on_linear=on_linear, on_encoder=on_encoder)
    res = run(graph, model, ids, on_linear=on_linear, on_encoder=on_encoder, state=state)
    out = RealData(tokens=int(res.tokens))
    for name, rec in records.items():
        out.weights[name] = np.asarray(rec.weight.int_weight, dtype=np.int64)
    for enc, cfg in state.plan.encoders.items():
        if isinstance(cfg, LifConfig):
            if enc not in currents:
                continue
            a = np.concatenate(currents[enc], axis=0)
            trains = rate_code(a, state.lif_threshold(enc, a.shape[-1]), cfg, trains=True, where=enc).trains
        else:
            if enc not in counts:
                continue
            trains = unfold(np.concatenate(counts[enc], axis=0), cfg.steps)
        out.trains[enc] = np.ascontiguousarray(trains.transpose(1, 0, 2)).reshape(-1, trains.shape[-1]).astype(np.int32)
    if not out.weights:
        raise NeurosimError(f"graph {graph.name}: the run had no spike-driven layer (nothing to take real data from)")
    return out
