"""Profile the event-driven engine at LM scale: a LLaMA2-7B decode token and the 1024-token prefill (cProfile).

The mapping of LLaMA2-7B onto hala-point is built once (or read from ``--mapping``) and not profiled; each part is
run once unprofiled (its wall time) and once under cProfile; ``docs/performance.md`` keeps the top lines. The
profiled run reuses the plan and geometry the first run built (``plan_for``), unless ``--cold`` (then it builds
them again, as a first run in a process does).

    python benchmarks/profile_lm.py [decode] [prefill] [--top N] [--mapping PATH] [--cold]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from profile_snn import _top

LLAMA, HALA = "sdllm-llama2-7b", "hala-point"
PARTS = {"decode": (1, 1023, 1), "prefill": (1024, 0, 64)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("parts", nargs="*", default=list(PARTS), choices=list(PARTS))
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--mapping", default=None, help="a saved mapping (built and saved there when missing)")
    ap.add_argument("--no-profile", action="store_true", help="wall time only")
    ap.add_argument("--cold", action="store_true", help="profile a run that builds the plan and geometry again")
    a = ap.parse_args()
    from neurosim.engines.events.engine import simulate
    from neurosim.engines.events.sim import SimConfig
    from neurosim.pipeline import resolve

    if a.mapping and not Path(a.mapping).exists():
        resolve(LLAMA, HALA).mapping.save(a.mapping)
    r = resolve(LLAMA, HALA, mapping_file=a.mapping) if a.mapping else resolve(LLAMA, HALA)
    for part in a.parts:
        tokens, context, block = PARTS[part]
        cfg = SimConfig("statistical", tokens, context, block, True, 0)
        t0 = time.perf_counter()
        simulate(r.graph, r.mapping, r.hw, cfg)
        print(f"== {part}: {time.perf_counter() - t0:.2f} s unprofiled", flush=True)
        if a.no_profile:
            continue
        if a.cold:
            from neurosim.engines.events import plan as plan_mod

            plan_mod._last_plan.clear()
        pr = cProfile.Profile()
        pr.enable()
        simulate(r.graph, r.mapping, r.hw, cfg)
        pr.disable()
        print("-- by cumulative time")
        print(_top(pr, "cumulative", a.top))
        print("-- by own time")
        print(_top(pr, "tottime", a.top))
        print(flush=True)


if __name__ == "__main__":
    main()
