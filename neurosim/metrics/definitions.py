"""NeuroBench-compatible metrics (NeuroBench 2.3, ``neurobench/metrics``), one tiny class each.

Every class states NeuroBench's definition (``definition``), what neurosim counts instead (``ours``) and, from
those two, why the numbers can differ (``difference``). ``from_trace`` follows NeuroBench's definition on
recorded values; ``from_counters`` computes the closest figure from a counter table (any engine), where the
analytic engine's counts are expectations from firing rates, not measurements.

Normalisation: like NeuroBench, per sample (a sample = one sequence of ``steps`` time steps / ``seq_len``
tokens), i.e. totals divided by the batch size.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from neurosim.graph import LIF, AttentionScore, AttentionValue, Embedding, Graph, Linear, Norm, SpikeEncoder
from neurosim.metrics.trace import Trace

_SYNAPTIC_KINDS = ("linear", "readout", "attention")
_NEURON_KINDS = ("lif", "encoder")


class Metric:
    name: ClassVar[str] = ""
    definition: ClassVar[str] = ""
    ours: ClassVar[str] = ""
    difference: ClassVar[str] = ""


class SynapticOperations(Metric):
    name = "synaptic_operations"
    definition = (
        "NeuroBench SynapticOperations: for every call of a connection layer (Linear/Conv, once per time step), "
        "binarise the input (x != 0 -> 1) and the weights (w != 0 -> 1) and count the products: an operation is "
        "counted only where both the input and the weight are non-zero. The call is an AC (Effective_ACs) when "
        "every input value is in {-1, 0, 1}, else a MAC (Effective_MACs). Dense = every input x every weight "
        "(in x out per call). Bias adds are not counted. All three are per sample (divided by the batch).")
    ours = (
        "neurosim counts 'ac' = spikes x fan-out (every weight in the column of a spiking input is read and added, "
        "zero or not: the hardware does not skip a stored zero) and 'mac' = in x out per token for non-spike "
        "inputs (zeros in the input are not skipped); dense = dense_macs(graph).")
    difference = (
        "Equal when no weight is exactly zero and, for MACs, no non-spike input is exactly zero. With pruned or "
        "ternary weights NeuroBench's effective count is lower by the zero-weight fraction of the columns hit; "
        "with ReLU-sparse fp inputs its Effective_MACs are lower by the zero-input fraction.")

    @staticmethod
    def from_trace(trace: Trace) -> dict[str, float]:
        macs = acs = dense = 0.0
        for lt in trace.of_kind("connection"):
            x = lt.inputs  # [T, B, in]
            col_nnz = np.count_nonzero(lt.weight, axis=0).astype(np.float64)  # weights per input column
            eff = np.count_nonzero(x, axis=1).astype(np.float64) @ col_nnz  # [T]: per call
            spiking = np.all((x == 0) | (x == 1) | (x == -1), axis=(1, 2))
            acs += float(eff[spiking].sum())
            macs += float(eff[~spiking].sum())
            dense += float(x.shape[0] * x.shape[1] * lt.weight.size)
        b = trace.batch
        return {"effective_macs": macs / b, "effective_acs": acs / b, "dense": dense / b}

    @staticmethod
    def from_counters(graph: Graph, counters: pd.DataFrame, batch: int | None = None) -> dict[str, float]:
        from neurosim.engines.analytic import dense_macs

        b = batch or int(graph.meta.get("batch", 1))
        syn = counters[counters["kind"].isin(_SYNAPTIC_KINDS)]
        acs = float(syn.loc[syn["action"] == "ac", "count"].sum())
        macs = float(syn.loc[syn["action"] == "mac", "count"].sum())
        return {"effective_macs": macs / b, "effective_acs": acs / b, "dense": dense_macs(graph, batch=b) / b}


class ActivationSparsity(Metric):
    name = "activation_sparsity"
    definition = (
        "NeuroBench ActivationSparsity: over the outputs of every spiking-neuron layer (and ReLU/Sigmoid), all "
        "time steps and samples: 1 - (non-zero outputs / all outputs). ActivationSparsityByLayer: the same per "
        "layer.")
    ours = ("neurosim: 1 - spikes / neuron updates over LIF layers and spike encoders (one update per neuron per "
            "step, a -1 and a +1 spike both count), overall and per layer; from the analytic engine this is "
            "1 - firing rate, an expectation.")
    difference = ("Equal on the same spikes. Spike encoders have no NeuroBench counterpart module (NeuroBench "
                  "would see them only if written as snnTorch neurons).")

    @staticmethod
    def from_trace(trace: Trace) -> dict[str, Any]:
        nz = total = 0
        by_layer: dict[str, float] = {}
        for lt in trace.of_kind("neuron"):
            if not lt.spiking:
                continue
            n, t = int(np.count_nonzero(lt.outputs)), int(lt.outputs.size)
            nz += n
            total += t
            by_layer[lt.name] = 1.0 - n / t if t else 0.0
        return {"activation_sparsity": 1.0 - nz / total if total else 0.0, "by_layer": by_layer}

    @staticmethod
    def from_counters(graph: Graph, counters: pd.DataFrame) -> dict[str, Any]:
        neu = counters[counters["kind"].isin(_NEURON_KINDS)]
        piv = neu.pivot_table(index="layer", columns="action", values="count", aggfunc="sum", fill_value=0.0)
        by_layer: dict[str, float] = {}
        spikes = updates = 0.0
        for layer in graph:
            if layer.name not in piv.index:
                continue
            if isinstance(layer, LIF) and layer.neuron not in ("lif", "cuba_lif", "if", "threshold"):
                continue
            s = float(piv.at[layer.name, "spike"]) if "spike" in piv.columns else 0.0
            u = float(piv.at[layer.name, "neuron_update"]) if "neuron_update" in piv.columns else 0.0
            if u:
                by_layer[layer.name] = 1.0 - s / u
                spikes += s
                updates += u
        return {"activation_sparsity": 1.0 - spikes / updates if updates else 0.0, "by_layer": by_layer}


class MembraneUpdates(Metric):
    name = "membrane_updates"
    definition = (
        "NeuroBench MembraneUpdates: per spiking-neuron layer, every neuron on the first step plus, on each later "
        "step, the neurons whose membrane potential after the step differs from before it; summed over layers, "
        "per sample.")
    ours = "neurosim 'neuron_update': every neuron of a LIF layer or spike encoder, every time step (dense)."
    difference = (
        "Ours is the upper bound (Loihi updates every neuron every step); NeuroBench skips neurons whose "
        "membrane did not change (no input, no leak: e.g. at rest). snnTorch applies its reset one step late, "
        "so its before/after pair is not the NIR one: on the same spikes the two can differ by the neurons that "
        "spiked.")

    @staticmethod
    def from_trace(trace: Trace) -> float:
        return sum(lt.membrane_changes or 0 for lt in trace.of_kind("neuron")) / trace.batch

    @staticmethod
    def from_counters(graph: Graph, counters: pd.DataFrame, batch: int | None = None) -> float:
        b = batch or int(graph.meta.get("batch", 1))
        return float(counters.loc[counters["action"] == "neuron_update", "count"].sum()) / b


class ConnectionSparsity(Metric):
    name = "connection_sparsity"
    definition = "NeuroBench ConnectionSparsity: zero weights / all weights of the connection layers (Linear, Conv, RNN)."
    ours = "neurosim: the same over Linear weights, when the weights are known (imported NIR or a real model)."
    difference = "Equal. A workload carries shapes, not weights: the figure is then not available (None)."

    @staticmethod
    def from_weights(weights: list[np.ndarray]) -> float | None:
        total = sum(w.size for w in weights)
        if not total:
            return None
        return sum(int(w.size - np.count_nonzero(w)) for w in weights) / total


class Footprint(Metric):
    name = "footprint"
    definition = ("NeuroBench Footprint: bytes of every parameter and buffer of the torch model at its storage "
                  "dtype (float32 = 4 bytes), neuron constants and state buffers included.")
    ours = ("neurosim: bytes of the stored model at its stored widths: Linear weights x w_bits / 8 (ternary "
            "stored in 2 bits), biases at 32 bits, embedding tables at their w_bits, norm scales at 16 bits; "
            "neuron state and constants are not included (they live in neuron-state memory, counted by the "
            "mapper).")
    difference = ("Equal for a float32 model without neuron buffers; NeuroBench adds the snnTorch neurons' "
                  "buffers (beta, threshold, membrane) and counts weights at 32 bits even when quantised.")

    @staticmethod
    def from_graph(graph: Graph) -> float:
        total = 0.0
        for layer in graph:
            if isinstance(layer, Linear):
                total += layer.in_features * layer.out_features * layer.w_bits / 8
                total += layer.out_features * 4 if layer.bias else 0
            elif isinstance(layer, Embedding):
                total += layer.params * layer.w_bits / 8
            elif isinstance(layer, Norm):
                total += layer.params * 2
        return total


METRICS: list[type[Metric]] = [SynapticOperations, ActivationSparsity, MembraneUpdates, ConnectionSparsity, Footprint]


def metrics_from_counters(graph: Graph, counters: pd.DataFrame, batch: int | None = None,
                          weights: list[np.ndarray] | None = None) -> dict[str, Any]:
    """All NeuroBench-compatible figures from any engine's counter table (per sample where NeuroBench is)."""
    syn = SynapticOperations.from_counters(graph, counters, batch)
    act = ActivationSparsity.from_counters(graph, counters)
    return {
        **syn,
        "activation_sparsity": act["activation_sparsity"],
        "activation_sparsity_by_layer": act["by_layer"],
        "membrane_updates": MembraneUpdates.from_counters(graph, counters, batch),
        "connection_sparsity": ConnectionSparsity.from_weights(weights or []),
        "footprint_bytes": Footprint.from_graph(graph),
        "spike_encoders": [layer.name for layer in graph if isinstance(layer, SpikeEncoder)],
        "attention_layers": [layer.name for layer in graph if isinstance(layer, (AttentionScore, AttentionValue))],
    }


def metrics_from_trace(trace: Trace, graph: Graph | None = None) -> dict[str, Any]:
    """All NeuroBench-compatible figures from a recorded trace, following NeuroBench's definitions."""
    syn = SynapticOperations.from_trace(trace)
    act = ActivationSparsity.from_trace(trace)
    weights = [lt.weight for lt in trace.of_kind("connection")]
    return {
        **syn,
        "activation_sparsity": act["activation_sparsity"],
        "activation_sparsity_by_layer": act["by_layer"],
        "membrane_updates": MembraneUpdates.from_trace(trace),
        "connection_sparsity": ConnectionSparsity.from_weights(weights),
        "footprint_bytes": Footprint.from_graph(graph) if graph is not None else None,
    }
