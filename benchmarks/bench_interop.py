"""Ecosystem figures: snnTorch -> NIR -> neurosim spike agreement, and NeuroBench 2.3 beside our metrics.

Needs the 'interop' extra (CPU torch 2.13, snnTorch, nirtorch, neurobench --no-deps); prints what it measured.
"""

from __future__ import annotations

import time


def main() -> None:
    try:
        from neurosim.interop.roundtrip import VARIANTS, run
        from neurosim.metrics.neurobench_compare import Setup, compare
    except ImportError as exc:  # pragma: no cover
        print(f"skipped: {exc}")
        return
    try:
        import neurobench  # noqa: F401
        import snntorch  # noqa: F401
    except ImportError as exc:
        print(f"skipped: the 'interop' extra is not installed ({exc.name})")
        return
    print("snnTorch -> export_to_nir -> neurosim import + NIR simulation (forward Euler, dt = 1e-4 s), "
          "60 steps x 8 samples, 12 -> 24 -> 5 neurons, uniform(0, 1) input currents")
    print(f"{'variant':<16} {'agreement':>10} {'hidden':>8} {'output':>8} {'spikes snnTorch/neurosim':>26} {'s':>6}")
    for v in VARIANTS:
        t = time.perf_counter()
        rt = run(v, steps=60, batch=8)
        h, o = list(rt.reference)
        ref, ours = rt.spike_counts()
        print(f"{v:<16} {rt.agreement():>10.4f} {rt.agreement(h):>8.4f} {rt.agreement(o):>8.4f} "
              f"{f'{ref} / {ours}':>26} {time.perf_counter() - t:>6.2f}")
    import pandas as pd

    pd.set_option("display.width", 200)
    for title, s in (("binary input spikes", Setup()), ("50 % of the weights pruned to zero", Setup(prune=0.5)),
                     ("analog input currents", Setup(analog_input=True))):
        print(f"\nNeuroBench 2.3 vs neurosim, per sample ({title}; {s.steps} steps, batch {s.batch}, "
              f"{s.n_in}->{s.n_hidden}->{s.n_out} LIF):")
        print(compare(s).to_string(index=False, float_format=lambda v: f"{v:.6g}"))


if __name__ == "__main__":
    main()
