"""Side by side: NeuroBench 2.3's own metrics on an snnTorch model, and ours on the same network imported via NIR.

The network (Linear -> Leaky -> Linear -> Leaky, reset to zero, so NIR's semantics and snnTorch's agree) is built
in snnTorch, exported with snnTorch's ``export_to_nir``, imported with neurosim, simulated with the NIR simulator
(same input spikes) and counted twice: from the recorded trace (NeuroBench's definitions) and by the analytic
engine fed the measured firing rates (neurosim's counts). Needs the ``interop`` extra (torch, snnTorch,
NeuroBench); imported only by the test and the benchmark script.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from neurosim.errors import ModelPackageMissing


def _require():
    try:
        import neurobench  # noqa: F401
        import snntorch  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        raise ModelPackageMissing(
            f"the NeuroBench comparison needs torch, snntorch and neurobench ({exc.name} missing): "
            "pip install 'neurosim[interop]' (CPU torch 2.13) && pip install --no-deps 'neurobench==2.3.*'"
        ) from None


@dataclass
class Setup:
    n_in: int = 20
    n_hidden: int = 32
    n_out: int = 6
    steps: int = 25
    batch: int = 4
    input_rate: float = 0.3
    prune: float = 0.0  # fraction of weights set to exactly zero
    analog_input: bool = False  # uniform (0, 1) currents instead of spikes: the first layer does MACs
    seed: int = 0


def build_snntorch_net(s: Setup):
    """An snnTorch SNN whose dynamics NIR expresses exactly (zero reset on Leaky)."""
    _require()
    import snntorch as snn
    import torch

    torch.manual_seed(s.seed)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(s.n_in, s.n_hidden)
            self.lif1 = snn.Leaky(beta=torch.full((s.n_hidden,), 0.9), threshold=torch.full((s.n_hidden,), 0.5),
                                  init_hidden=True, reset_mechanism="zero")
            self.fc2 = torch.nn.Linear(s.n_hidden, s.n_out, bias=False)
            self.lif2 = snn.Leaky(beta=torch.full((s.n_out,), 0.8), threshold=torch.full((s.n_out,), 0.5),
                                  init_hidden=True, output=True, reset_mechanism="zero")

        def forward(self, x):
            return self.lif2(self.fc2(self.lif1(self.fc1(x))))

    net = Net()
    with torch.no_grad():
        net.fc2.weight.mul_(2.0)
        if s.prune > 0:
            g = torch.Generator().manual_seed(s.seed + 1)
            for lin in (net.fc1, net.fc2):
                lin.weight[torch.rand(lin.weight.shape, generator=g) < s.prune] = 0.0
    return net


def input_spikes(s: Setup) -> np.ndarray:
    """Input ``[batch, steps, n_in]`` (NeuroBench's layout): binary spikes, or analog currents."""
    rng = np.random.default_rng(s.seed + 2)
    if s.analog_input:
        return rng.uniform(0.05, 1.0, (s.batch, s.steps, s.n_in)).astype(np.float32)
    return (rng.random((s.batch, s.steps, s.n_in)) < s.input_rate).astype(np.float32)


def run_neurobench(net, x: np.ndarray) -> dict[str, float]:
    """NeuroBench 2.3's Benchmark with its own metric classes on the torch model."""
    _require()
    import torch
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, Footprint
    from neurobench.metrics.workload import ActivationSparsity, MembraneUpdates, SynapticOperations
    from neurobench.models import SNNTorchModel
    from torch.utils.data import DataLoader, TensorDataset

    data = TensorDataset(torch.from_numpy(x), torch.zeros(x.shape[0]))
    loader = DataLoader(data, batch_size=x.shape[0], shuffle=False)
    bench = Benchmark(SNNTorchModel(net), loader, [], [],
                      [[Footprint, ConnectionSparsity], [SynapticOperations, ActivationSparsity, MembraneUpdates]])
    r = bench.run(quiet=True)
    syn = r["SynapticOperations"]
    return {
        "effective_macs": float(syn["Effective_MACs"]),
        "effective_acs": float(syn["Effective_ACs"]),
        "dense": float(syn["Dense"]),
        "activation_sparsity": float(r["ActivationSparsity"]),
        "membrane_updates": float(r["MembraneUpdates"]),
        "connection_sparsity": float(r["ConnectionSparsity"]),
        "footprint_bytes": float(r["Footprint"]),
    }


def run_neurosim(net, x: np.ndarray, s: Setup, nir_path=None) -> tuple[dict, dict, object, object]:
    """Export with snnTorch's NIR export, import, simulate; (trace metrics, analytic metrics, network, result)."""
    _require()
    import torch
    from snntorch.export_nir import export_to_nir

    from neurosim.engines.analytic import count_graph
    from neurosim.interop.nir_import import from_nir, import_nir, with_rates
    from neurosim.interop.nirsim import simulate
    from neurosim.metrics.definitions import metrics_from_counters, metrics_from_trace
    from neurosim.metrics.trace import trace_from_nirsim

    ng = export_to_nir(net, torch.zeros(s.n_in))
    kw = {"dt_s": 1e-4, "steps": s.steps, "batch": s.batch, "input_rate": s.input_rate, "w_bits": 32,
          "input_encoding": "fp" if s.analog_input else "binary"}
    if nir_path is not None:
        import nir

        nir.write(str(nir_path), ng)
        nnet = import_nir(nir_path, **kw)
    else:
        nnet = from_nir(ng, name="snntorch", **kw)
    res = simulate(nnet, np.transpose(x, (1, 0, 2)), record=True)
    traced = metrics_from_trace(trace_from_nirsim(nnet, res), nnet.graph)
    rates = res.firing_rates(nnet)
    measured_in = float(x.mean(dtype=np.float64))
    calibrated = with_rates(nnet, rates, input_rate=measured_in)
    counters = count_graph(calibrated.graph)
    weights = [p["weight"] for p in nnet.params.values() if "weight" in p]
    analytic = metrics_from_counters(calibrated.graph, counters, weights=weights)
    return traced, analytic, nnet, res


def _same(key: str, theirs: float, ours: float | None) -> bool:
    """Equal to float precision; NeuroBench rounds connection sparsity to 4 decimals, so compare it rounded."""
    if ours is None:
        return False
    if key == "connection_sparsity":
        return round(ours, 4) == theirs
    return bool(np.isclose(theirs, ours, rtol=1e-9, atol=1e-12))


def compare(s: Setup | None = None, nir_path=None) -> pd.DataFrame:
    """One row per metric: NeuroBench's figure, ours from the trace, ours from the analytic counts."""
    s = s or Setup()
    net = build_snntorch_net(s)
    x = input_spikes(s)
    nb = run_neurobench(net, x)
    traced, analytic, _, _ = run_neurosim(net, x, s, nir_path)
    rows = []
    for key in ("effective_acs", "effective_macs", "dense", "activation_sparsity", "membrane_updates",
                "connection_sparsity", "footprint_bytes"):
        a, t, c = nb[key], traced.get(key), analytic.get(key)
        rows.append({"metric": key, "neurobench": a, "neurosim_trace": t, "neurosim_analytic": c,
                     "trace_equal": _same(key, a, t), "analytic_equal": _same(key, a, c)})
    return pd.DataFrame(rows)
