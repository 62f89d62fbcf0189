"""A functional trace: what a run did, layer by layer, in the shape the metrics read.

Any engine that produces real values (the NIR simulator today, the functional engine later) can fill one.
Arrays are ``[steps, batch, features]``; a connection layer carries its weight matrix ``[out, in]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class LayerTrace:
    """One layer's recorded activity. ``kind``: "connection" (a weight matrix), "neuron" (spiking or not) or
    "other"; ``spiking`` says whether a neuron layer emits spikes; ``membrane_changes`` counts the (step, sample,
    neuron) whose membrane differs from the step before (the first step counts every neuron)."""

    name: str
    kind: str
    inputs: np.ndarray | None = None
    outputs: np.ndarray | None = None
    weight: np.ndarray | None = None
    spiking: bool = False
    membrane_changes: int | None = None


@dataclass
class Trace:
    batch: int
    steps: int
    layers: list[LayerTrace] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[LayerTrace]:
        return [lt for lt in self.layers if lt.kind == kind]


def trace_from_nirsim(net, res) -> Trace:
    """A :class:`Trace` from a recorded :func:`neurosim.interop.nirsim.simulate` run (``record=True``)."""
    from neurosim.graph import LIF, Linear
    from neurosim.interop.nir_import import SPIKING_NEURONS

    if not res.layer_outputs:
        raise ValueError("the simulation was not recorded: call simulate(..., record=True)")
    out = Trace(batch=res.batch, steps=res.steps)
    for layer in net.graph:
        if isinstance(layer, Linear):
            out.layers.append(LayerTrace(layer.name, "connection", res.layer_inputs[layer.name],
                                         res.layer_outputs[layer.name], weight=net.params[layer.name]["weight"]))
        elif isinstance(layer, LIF):
            out.layers.append(LayerTrace(layer.name, "neuron", res.layer_inputs[layer.name],
                                         res.layer_outputs[layer.name], spiking=layer.neuron in SPIKING_NEURONS,
                                         membrane_changes=res.membrane_changes.get(layer.name)))
        else:
            out.layers.append(LayerTrace(layer.name, "other", res.layer_inputs[layer.name],
                                         res.layer_outputs[layer.name]))
    return out
