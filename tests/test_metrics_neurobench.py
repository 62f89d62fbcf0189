"""NeuroBench 2.3's own SynapticOperations and ActivationSparsity beside ours, on the same snnTorch network."""

from __future__ import annotations

import pytest

pytest.importorskip("torch", reason="needs the 'interop' extra: pip install 'neurosim[interop]' (CPU torch 2.13)")
pytest.importorskip("snntorch", reason="needs the 'interop' extra")
pytest.importorskip("nirtorch", reason="needs the 'interop' extra")
pytest.importorskip("neurobench", reason="needs the 'interop' extra (neurobench==2.3.*)")

from neurosim.metrics.neurobench_compare import Setup, build_snntorch_net, compare


def _rows(s: Setup):
    df = compare(s)
    print("\n" + df.to_string())
    return {r.metric: r for r in df.itertuples()}


def test_spiking_input_equal_where_definitions_are_equal(tmp_path):
    s = Setup()
    r = {k: v for k, v in compare(s, nir_path=tmp_path / "nb.nir").set_index("metric").iterrows()}
    for key in ("effective_acs", "effective_macs", "dense", "activation_sparsity", "connection_sparsity"):
        assert r[key]["trace_equal"], key
        assert r[key]["analytic_equal"], key  # no zero weights: spikes x fan-out = NeuroBench's effective ACs
    assert r["effective_acs"]["neurobench"] > 0 and r["effective_macs"]["neurobench"] == 0
    # membrane updates: ours from the analytic counts is the dense count (every neuron, every step)
    assert r["membrane_updates"]["analytic_equal"]
    assert r["membrane_updates"]["neurosim_trace"] <= r["membrane_updates"]["neurobench"]


def test_pruned_weights_lower_neurobench_effective_acs_not_ours():
    rows = _rows(Setup(prune=0.5))
    acs = rows["effective_acs"]
    assert acs.trace_equal  # NeuroBench's definition, recomputed from our trace, is exact
    assert acs.neurosim_analytic > 1.8 * acs.neurobench  # ours reads every weight of a spiking column
    assert rows["connection_sparsity"].trace_equal and rows["activation_sparsity"].trace_equal


def test_analog_input_makes_macs_and_footprint_difference_is_neuron_buffers():
    s = Setup(analog_input=True)
    rows = _rows(s)
    assert rows["effective_macs"].neurobench > 0
    assert rows["effective_macs"].trace_equal and rows["effective_macs"].analytic_equal
    net = build_snntorch_net(s)
    buffers = sum(b.numel() * b.element_size() for b in net.buffers())
    fp = rows["footprint_bytes"]
    assert fp.neurobench == fp.neurosim_trace + buffers  # NeuroBench adds the neurons' beta/threshold buffers
