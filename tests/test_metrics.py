"""NeuroBench-compatible metrics on hand-worked traces and on analytic counters."""

from __future__ import annotations

import numpy as np
import pytest

from neurosim.engines.analytic import count_graph, dense_macs
from neurosim.graph import SpikeEncoder
from neurosim.metrics import (
    ActivationSparsity,
    ConnectionSparsity,
    Footprint,
    LayerTrace,
    MembraneUpdates,
    SynapticOperations,
    Trace,
    metrics_from_counters,
)
from neurosim.metrics.definitions import METRICS
from neurosim.workloads import build_graph, load_workload


def test_effective_ops_count_only_nonzero_input_and_weight_pairs():
    w = np.array([[1.0, 0.0], [2.0, 3.0]])  # column 0 has 2 non-zero weights, column 1 has 1
    x = np.array([[[1.0, 0.0]], [[0.5, 1.0]], [[0.0, -1.0]]])  # [T=3, B=1, in=2]
    tr = Trace(batch=1, steps=3, layers=[LayerTrace("fc", "connection", inputs=x, weight=w)])
    ops = SynapticOperations.from_trace(tr)
    # step 0: spike on input 0 -> 2 ACs; step 1: 0.5 is not in {-1,0,1} -> a MAC call: 2 + 1; step 2: -1 -> 1 AC
    assert ops == {"effective_macs": 3.0, "effective_acs": 3.0, "dense": 12.0}


def test_activation_sparsity_and_membrane_updates_from_a_trace():
    spikes = np.zeros((4, 2, 5))
    spikes[0, 0, :2] = 1
    spikes[3, 1, 4] = 1
    tr = Trace(batch=2, steps=4, layers=[
        LayerTrace("lif", "neuron", outputs=spikes, spiking=True, membrane_changes=30),
        LayerTrace("li", "neuron", outputs=np.ones((4, 2, 3)), spiking=False, membrane_changes=24),
    ])
    act = ActivationSparsity.from_trace(tr)
    assert act["activation_sparsity"] == pytest.approx(1 - 3 / 40)  # non-spiking LI outputs are not activations
    assert act["by_layer"] == {"lif": pytest.approx(1 - 3 / 40)}
    assert MembraneUpdates.from_trace(tr) == (30 + 24) / 2


def test_connection_sparsity_and_footprint():
    assert ConnectionSparsity.from_weights([np.array([[0.0, 1.0], [0.0, 0.0]]), np.ones(4)]) == 3 / 8
    assert ConnectionSparsity.from_weights([]) is None
    g = build_graph(load_workload("spikingbert-4l", ["layers=1"]))
    # ternary weights stored in 2 bits: 4 d^2 + 2 d ffn weights; BERT's biases (4 d + ffn + d) at 32 bits;
    # embedding at 16 bits; 3 LayerNorms (gamma, beta)
    d, ffn, vocab = 768, 3072, 30522
    expect = (4 * d * d + 2 * d * ffn) * 2 / 8 + (5 * d + ffn) * 4 + vocab * d * 2 + 3 * 2 * d * 2
    assert Footprint.from_graph(g) == expect


def test_metrics_from_analytic_counters_follow_the_firing_rates():
    spec = load_workload("spikingbert-4l", ["layers=1", "seq_len=16", "batch=2"])
    g = build_graph(spec)
    c = count_graph(g)
    m = metrics_from_counters(g, c)
    assert m["dense"] == dense_macs(g) / 2
    assert m["effective_acs"] == pytest.approx(c.loc[c.action == "ac", "count"].sum() / 2)
    enc = [layer for layer in g if isinstance(layer, SpikeEncoder)]
    assert set(m["activation_sparsity_by_layer"]) == {e.name for e in enc}
    assert m["activation_sparsity"] == pytest.approx(1 - spec.firing_rate)
    assert m["membrane_updates"] == pytest.approx(sum(e.dim * e.spec.unfold * 16 for e in enc))
    assert m["connection_sparsity"] is None  # a workload has shapes, not weights


def test_every_metric_states_its_definition_and_the_difference():
    for cls in METRICS:
        assert cls.definition and cls.ours and cls.difference, cls.__name__
