"""Benchmark: `estimate` of sdllm-qwen2.5-14b with its per-layer table, in-process and through the CLI.

Targets (issue 2): under 1 s in-process, under 3 s wall for the CLI. Prints medians of repeated runs.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path


def main(repeats: int = 5) -> None:
    from neurosim.estimate import estimate

    estimate("sdllm-qwen2.5-14b")  # warm the imports and file cache
    inproc = []
    for _ in range(repeats):
        t = time.perf_counter()
        est = estimate("sdllm-qwen2.5-14b")
        inproc.append(time.perf_counter() - t)
    exe = Path(sys.executable).with_name("neurosim")
    cli = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([str(exe), "estimate", "sdllm-qwen2.5-14b", "--format", "json"], check=True,
                       stdout=subprocess.DEVNULL)
        cli.append(time.perf_counter() - t)
    m_in, m_cli = statistics.median(inproc), statistics.median(cli)
    print(f"estimate sdllm-qwen2.5-14b: {len(est.layers)} layer rows, {est.totals['flops_T']:.2f} T, "
          f"{est.totals['energy_J']:.2f} J")
    print(f"in-process median {m_in:.3f} s over {repeats} (target < 1 s): {'met' if m_in < 1 else 'MISSED'}")
    print(f"CLI wall median {m_cli:.3f} s over {repeats} (target < 3 s): {'met' if m_cli < 3 else 'MISSED'}")


if __name__ == "__main__":
    main()
