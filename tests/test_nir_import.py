"""NIR in and out without any SNN framework: hand-built NIR graphs, hand-worked dynamics, bad files."""

from __future__ import annotations

import numpy as np
import pytest

nir = pytest.importorskip("nir", reason="needs the 'nir' package (pip install 'neurosim[nir]')")

from neurosim.engines.analytic import count_graph
from neurosim.errors import NeurosimError
from neurosim.graph import LIF, Linear
from neurosim.interop.nir_export import export_nir, to_nir
from neurosim.interop.nir_import import from_nir, import_nir, load_network, save_network
from neurosim.interop.nirsim import simulate


def _lif(n, tau=1e-3, thr=1.0, r=None):
    tau_a = np.full(n, tau)
    return nir.LIF(tau=tau_a, r=np.full(n, tau / 1e-4) if r is None else np.full(n, r), v_leak=np.zeros(n),
                   v_threshold=np.full(n, thr), v_reset=np.zeros(n))


def _recurrent_net() -> nir.NIRGraph:
    """input -> affine -> [subgraph: lif <-> w_rec] -> linear -> LI -> output, plus a Threshold branch."""
    rng = np.random.default_rng(0)
    sub = nir.NIRGraph(
        nodes={"in": nir.Input(input_type={"input": np.array([5])}), "lif": _lif(5),
               "w_rec": nir.Linear(weight=rng.normal(0, 0.3, (5, 5))),
               "out": nir.Output(output_type={"output": np.array([5])})},
        edges=[("in", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "out")],
    )
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([3])}),
            "fc": nir.Affine(weight=rng.normal(0, 1.0, (5, 3)), bias=np.full(5, 0.05)),
            "rec": sub,
            "ro": nir.Linear(weight=rng.normal(0, 1.0, (2, 5))),
            "li": nir.LI(tau=np.full(2, 5e-4), r=np.full(2, 1.0), v_leak=np.zeros(2)),
            "thr": nir.Threshold(threshold=np.full(2, 0.2)),
            "output": nir.Output(output_type={"output": np.array([2])}),
            "spikes": nir.Output(output_type={"output": np.array([2])}),
        },
        edges=[("input", "fc"), ("fc", "rec"), ("rec", "ro"), ("ro", "li"), ("li", "output"), ("ro", "thr"),
               ("thr", "spikes")],
    )


def test_lif_matches_hand_worked_euler_steps():
    # tau = 1 ms, dt = 0.1 ms: v <- 0.9 v + x (r = tau/dt); threshold 1, reset to 0
    g = nir.NIRGraph.from_list(nir.Linear(weight=np.eye(1)), _lif(1))
    net = from_nir(g, dt_s=1e-4)
    x = np.array([0.5, 0.5, 0.5, 0.0, 0.2]).reshape(5, 1, 1)
    res = simulate(net, x, record=True)
    # v: 0.5, 0.95, 1.355 -> spike, reset 0; 0.0; 0.2
    assert res.outputs["output"][:, 0, 0].tolist() == [0, 0, 1, 0, 0]
    assert net.graph["lif"].dv == round(4096 * 0.1)
    assert net.graph.meta["nir"]["dt_s"] == 1e-4
    assert "forward Euler" in net.graph.meta["nir"]["discretisation"]
    assert net.graph.meta["nir"]["reset"]["lif"] == "to v_reset = 0"


def test_nested_recurrent_graph_is_inlined_with_a_delayed_back_edge():
    net = from_nir(_recurrent_net(), dt_s=1e-4, steps=20)
    names = [layer.name for layer in net.graph]
    assert {"fc", "rec.lif", "rec.w_rec", "ro", "li", "thr"} == set(names)
    assert net.recurrent_edges == [("rec.w_rec", "rec.lif")]
    assert ("rec.w_rec", "rec.lif") not in net.graph.edges  # the DAG keeps forward edges only
    assert net.graph["li"].neuron == "li" and net.graph["thr"].neuron == "threshold"
    assert net.graph["rec.w_rec"].input.encoding.is_spike and not net.graph["fc"].input.encoding.is_spike
    counters = count_graph(net.graph)  # maps and counts like any workload
    assert counters["count"].sum() > 0
    x = np.random.default_rng(1).uniform(0, 1, (20, 2, 3))
    res = simulate(net, x, record=True)
    assert res.outputs["output"].shape == (20, 2, 2) and res.outputs["spikes"].shape == (20, 2, 2)
    # the recurrent input at step t is w_rec applied to the spikes of step t-1
    s = res.layer_outputs["rec.lif"]
    fc = res.layer_outputs["fc"]
    w = net.params["rec.w_rec"]["weight"]
    assert np.allclose(res.layer_inputs["rec.lif"][1:], fc[1:] + s[:-1] @ w.T)
    assert np.allclose(res.layer_inputs["rec.lif"][0], fc[0])


def test_save_load_and_export_round_trip_give_identical_spikes(tmp_path):
    net = from_nir(_recurrent_net(), dt_s=1e-4, steps=20)
    x = np.random.default_rng(2).uniform(0, 1, (20, 3, 3))
    ref = simulate(net, x)
    gp, pp = save_network(net, tmp_path / "net.yaml")
    assert pp.name == "net.params.npz"
    back = load_network(gp)
    assert np.array_equal(simulate(back, x).outputs["spikes"], ref.outputs["spikes"])
    export_nir(back.graph, tmp_path / "again.nir", params=back.params)
    again = import_nir(tmp_path / "again.nir", dt_s=1e-4)
    out = simulate(again, x)
    assert np.array_equal(out.outputs["spikes"], ref.outputs["spikes"])
    assert np.allclose(out.outputs["output"], ref.outputs["output"], rtol=1e-5, atol=1e-6)  # float32 on disk


def test_export_of_a_workload_names_every_layer_it_could_not_express(tmp_path):
    from neurosim.workloads import build_graph, load_workload

    g = build_graph(load_workload("spikingbert-4l", ["layers=1"]))
    ng = export_nir(g, tmp_path / "bert.nir")
    skipped = ng.metadata["neurosim_not_exported"]
    kept = {k for k, n in ng.nodes.items() if type(n).__name__ not in ("Input", "Output")}
    assert kept | set(skipped) == {layer.name for layer in g}  # nothing dropped silently
    assert "blk0.attn_score" in skipped and "embed" in skipped and "blk0.attn_norm" in skipped
    assert "attention" in skipped["blk0.attn_score"] and "normalisation" in skipped["blk0.attn_norm"]
    assert "blk0.q_proj" in kept and ng.metadata["neurosim_weights"] == "placeholder-zeros"
    # the file reads back with the nir package, metadata included
    back = nir.read(str(tmp_path / "bert.nir"))
    assert "blk0.attn_score" in back.metadata["neurosim_not_exported"]
    # where an expressed layer fed an attention score, the NIR graph has an Output port saying so
    assert "blk0.q_proj__to__blk0.attn_score" in back.nodes


def test_export_refuses_huge_placeholder_weights():
    from neurosim.workloads import build_graph, load_workload

    g = build_graph(load_workload("sdllm-llama2-7b"))
    with pytest.raises(NeurosimError, match="placeholder weights"):
        to_nir(g)


def test_unsupported_node_is_named(tmp_path, cli):
    g = nir.NIRGraph.from_list(nir.Linear(weight=np.ones((3, 4))), nir.Delay(delay=np.ones(3)), _lif(3))
    nir.write(str(tmp_path / "bad.nir"), g)
    with pytest.raises(NeurosimError, match=r"unsupported NIR node 'delay' of type Delay"):
        import_nir(tmp_path / "bad.nir")
    code, _, err = cli("import-nir", str(tmp_path / "bad.nir"))
    assert code == 2 and "Delay" in err and "Traceback" not in err
    (tmp_path / "junk.nir").write_text("not hdf5")
    code, _, err = cli("import-nir", str(tmp_path / "junk.nir"))
    assert code == 2 and "not a NIR file" in err


def test_a_nan_parameter_is_one_line_naming_the_file_and_node(tmp_path, cli):
    """Found by make fuzz: a NaN time constant reached int() as a ValueError traceback."""
    bad = _lif(3)
    bad.tau[1] = np.nan
    nir.write(str(tmp_path / "nan.nir"), nir.NIRGraph.from_list(nir.Linear(weight=np.ones((3, 4))), bad))
    code, _, err = cli("import-nir", str(tmp_path / "nan.nir"))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "nan.nir: NIR node" in err and "tau" in err and "NaN (1 of 3 values)" in err, err


def test_import_nir_cli_writes_graph_and_params(tmp_path, cli):
    nir.write(str(tmp_path / "net.nir"), _recurrent_net())
    code, out, err = cli("import-nir", str(tmp_path / "net.nir"), "--out", str(tmp_path / "g.yaml"), "--steps", "10")
    assert code == 0, err
    assert "dt = 0.0001 s" in out and "forward Euler" in out and "rec.w_rec -> rec.lif" in out
    net = load_network(tmp_path / "g.yaml")
    assert net.graph.meta["seq_len"] == 10
    assert isinstance(net.graph["ro"], Linear) and isinstance(net.graph["rec.lif"], LIF)
    code, out, err = cli("export-nir", str(tmp_path / "g.yaml"), "--out", str(tmp_path / "back.nir"))
    assert code == 0 and "weights real" in out


def test_missing_nir_extra_is_a_one_line_error_with_its_install_command(cli, tmp_path, monkeypatch):
    """A missing optional extra (simulated: importing ``nir`` fails) is one line naming the extra and its install
    command, exit code 2, no traceback."""
    import builtins

    real_import = builtins.__import__

    def failing_import(name, *args, **kwargs):
        if name == "nir" or name.startswith("nir."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    path = tmp_path / "net.nir"
    nir.write(str(path), _recurrent_net())
    monkeypatch.setattr(builtins, "__import__", failing_import)
    code, out, err = cli("import-nir", str(path))
    assert code == 2 and out == ""
    assert err == "error: reading NIR needs the 'nir' extra: pip install 'neurosim[nir]'\n"
