"""Sweep throughput: the 24-point tiny sweep on a local Dask cluster of 2 processes (points per second)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path


def main() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        print("skipped: the 'sweep' extra is not installed")
        return
    from neurosim.sweep.runner import run_sweep
    from neurosim.sweep.spec import load_sweep

    spec = load_sweep(Path(__file__).resolve().parents[1] / "examples" / "sweeps" / "tiny-24.yaml")
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        res = run_sweep(spec, d, workers=2, echo=lambda m: None)
        wall = time.perf_counter() - t
        t = time.perf_counter()
        again = run_sweep(spec, d, workers=2, echo=lambda m: None)
        resume = time.perf_counter() - t
    per_point = res.results["elapsed_s"].median()
    print(f"tiny-24 sweep on LocalCluster(2 processes): {res.ran} points in {wall:.1f} s wall "
          f"(cluster start included), median {per_point:.2f} s per point on a worker; "
          f"re-run with everything done: {again.ran} run, {again.skipped} skipped in {resume:.1f} s")


if __name__ == "__main__":
    main()
