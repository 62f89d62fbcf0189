"""Profile the event-driven engine on the peer-benchmark networks: where its time goes (cProfile).

Two paths are profiled on each network: ``simulate_snn`` (the event-driven SNN engine alone, what ``lava-check``
and ``make bench-peers`` time) and ``simulate --mode exact`` on the network's graph file (the run pipeline:
functional spikes, the mapped event simulation that counts and times them, the verification). The top lines by
cumulative and by own time are printed; ``docs/performance.md`` keeps them.

    python benchmarks/profile_snn.py [dense-1024 dense-4096 chain3-1024x100 ...] [--top N] [--hw loihi2]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is first imported (inside the functions below)

ROOT = Path(__file__).resolve().parents[1]
NETWORKS = ("dense-1024", "dense-4096", "chain3-1024x100")


def peer_network(name: str):
    """A peer-benchmark network (:mod:`neurosim.validate.networks`; ``chain3-1024x100``: the chain at 100 steps)."""
    from neurosim.validate.networks import chain, network

    if name == "chain3-1024x100":
        return chain("chain3-1024x100", steps=100)
    return network(name)


def _top(pr: cProfile.Profile, key: str, n: int) -> str:
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats(key).print_stats(n)
    lines = [ln for ln in s.getvalue().splitlines() if re.match(r"\s+\d", ln) or "ncalls" in ln]
    return "\n".join(re.sub(r"\S*/(site-packages|neurosim|benchmarks)/", r"\1/", ln) for ln in lines)


def profile(label: str, fn, top: int) -> None:
    t0 = time.perf_counter()
    fn()
    plain = time.perf_counter() - t0
    pr = cProfile.Profile()
    pr.enable()
    fn()
    pr.disable()
    print(f"== {label}: {plain:.3f} s unprofiled")
    print("-- by cumulative time")
    print(_top(pr, "cumulative", top))
    print("-- by own time")
    print(_top(pr, "tottime", max(5, top // 2)))
    print(flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("networks", nargs="*", default=list(NETWORKS), help=f"default: {' '.join(NETWORKS)}")
    ap.add_argument("--top", type=int, default=14, help="lines of each listing (default 14)")
    ap.add_argument("--hw", default="loihi2", help="hardware model of the exact-mode run (default loihi2)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from neurosim.pipeline import run_workload
    from neurosim.snn import run_engine, save_network_files

    with tempfile.TemporaryDirectory() as tmp:
        for name in args.networks:
            net = peer_network(name).spiking_network()
            print(f"# {name}: {net.summary()}")
            graph = Path(tmp) / f"{name}.yaml"
            save_network_files(net, graph)
            profile(f"{name} simulate_snn", lambda net=net: run_engine("events", net), args.top)
            profile(f"{name} simulate --mode exact", lambda g=graph: run_workload(str(g), args.hw, mode="exact"),
                    args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
