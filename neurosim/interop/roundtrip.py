"""Round trip with snnTorch: build a network there, export it with snnTorch's own NIR export, import it with
neurosim, simulate it with the NIR simulator, and compare the output spikes with snnTorch's, step by step.

Where the semantics agree (``Leaky`` with ``reset_mechanism="zero"``: v <- beta v + x, fire when v > thr, reset
to 0; NIR LIF with tau = dt / (1 - beta), r = tau / dt under forward Euler) the spikes must be identical. Where
they do not, the agreement is measured, and why it differs is said:

* ``Leaky`` default ``reset_mechanism="subtract"``: snnTorch subtracts the threshold; NIR can only reset to
  v_reset, and snnTorch's exporter writes v_reset = 0 regardless;
* ``Synaptic`` and ``RLeaky`` with ``reset_mechanism="zero"``: snnTorch zeroes the whole next step's membrane
  after a spike (that step's input is lost), where NIR resets and then integrates the next input.

Needs the ``interop`` extra (torch, snnTorch); imported only by tests and benchmark scripts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim.errors import ModelPackageMissing

VARIANTS = ("leaky-zero", "leaky-subtract", "synaptic-zero", "rleaky-zero")


def _torch():
    try:
        import snntorch  # noqa: F401
        import torch
    except ImportError as exc:
        raise ModelPackageMissing(f"the snnTorch round trip needs torch and snntorch ({exc.name} missing): "
                                  "pip install 'neurosim[interop]'") from None
    return torch


@dataclass
class RoundTrip:
    variant: str
    steps: int
    batch: int
    reference: dict[str, np.ndarray]  # snnTorch's spikes by neuron layer name, [T, B, n]
    ours: dict[str, np.ndarray]  # neurosim's, same names (NIR node names)

    def agreement(self, layer: str | None = None) -> float:
        """Fraction of (step, sample, neuron) whose spike (0/1) is the same in both."""
        names = [layer] if layer else list(self.reference)
        same = sum(int(np.sum(self.reference[n] == self.ours[n])) for n in names)
        return same / sum(self.reference[n].size for n in names)

    def spike_counts(self) -> tuple[int, int]:
        return (int(sum(v.sum() for v in self.reference.values())), int(sum(v.sum() for v in self.ours.values())))


def build(variant: str, n_in: int = 12, n_hidden: int = 24, n_out: int = 5, seed: int = 0):
    """The snnTorch network of a variant; returns (module, names of its spiking layers in NIR)."""
    torch = _torch()
    import snntorch as snn

    if variant not in VARIANTS:
        raise ValueError(f"variant {variant!r}; allowed: {', '.join(VARIANTS)}")
    torch.manual_seed(seed)
    reset = "subtract" if variant == "leaky-subtract" else "zero"
    beta_h, thr_h = torch.full((n_hidden,), 0.9), torch.full((n_hidden,), 1.0)
    beta_o, thr_o = torch.full((n_out,), 0.85), torch.full((n_out,), 0.7)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(n_in, n_hidden)
            if variant == "rleaky-zero":
                self.lif1 = snn.RLeaky(beta=beta_h, threshold=thr_h, linear_features=n_hidden, init_hidden=True,
                                       reset_mechanism=reset)
            else:
                self.lif1 = snn.Leaky(beta=beta_h, threshold=thr_h, init_hidden=True, reset_mechanism=reset)
            self.fc2 = torch.nn.Linear(n_hidden, n_out)
            if variant == "synaptic-zero":
                self.lif2 = snn.Synaptic(alpha=torch.full((n_out,), 0.7), beta=beta_o, threshold=thr_o,
                                         init_hidden=True, output=True, reset_mechanism=reset)
            else:
                self.lif2 = snn.Leaky(beta=beta_o, threshold=thr_o, init_hidden=True, output=True,
                                      reset_mechanism=reset)

        def forward(self, x):
            h = self.lif1(self.fc1(x))
            return self.lif2(self.fc2(h))

    net = Net()
    with torch.no_grad():
        net.fc2.weight.mul_(2.0)
    hidden = "lif1.lif" if variant == "rleaky-zero" else "lif1"
    return net, (hidden, "lif2")


def run(variant: str, steps: int = 60, batch: int = 8, seed: int = 0, nir_path=None) -> RoundTrip:
    """snnTorch forward step by step vs export -> (file) -> import -> NIR simulation, on the same input."""
    torch = _torch()
    from snntorch import utils as snn_utils
    from snntorch.export_nir import export_to_nir

    from neurosim.interop.nir_import import from_nir, import_nir
    from neurosim.interop.nirsim import simulate

    net, (hidden, out) = build(variant, seed=seed)
    n_in = net.fc1.in_features
    x = torch.from_numpy(np.random.default_rng(seed + 10).uniform(0.0, 1.0, (steps, batch, n_in)).astype(np.float32))
    snn_utils.reset(net)
    ref_h, ref_o = [], []
    with torch.no_grad():
        for t in range(steps):
            h = net.lif1(net.fc1(x[t]))
            h = h[0] if isinstance(h, tuple) else h
            o = net.lif2(net.fc2(h))
            ref_h.append(h.numpy().copy())
            ref_o.append(o[0].numpy().copy())
    graph = export_to_nir(net, torch.zeros(n_in))
    if nir_path is not None:
        import nir

        nir.write(str(nir_path), graph)
        nnet = import_nir(nir_path, dt_s=1e-4, steps=steps, batch=batch)
    else:
        nnet = from_nir(graph, name=f"snntorch-{variant}", dt_s=1e-4, steps=steps, batch=batch)
    res = simulate(nnet, x.numpy().astype(np.float64), record=True)
    return RoundTrip(variant, steps, batch,
                     reference={hidden: np.stack(ref_h), out: np.stack(ref_o)},
                     ours={hidden: res.layer_outputs[hidden], out: res.layer_outputs[out]})
