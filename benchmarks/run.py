"""Run every benchmark script in this folder (bench_*.py), each in its own process, and print their figures.

A benchmark that fails (or exits non-zero, e.g. outputs that are not identical) does not stop the others; the
summary at the end names them and the exit status is 1. ``python benchmarks/run.py [NAME ...]`` runs the benchmarks
whose names contain one of the NAMEs.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

here = Path(__file__).parent


def main(only: list[str]) -> int:
    results = []
    for script in sorted(here.glob("bench_*.py")):
        if only and not any(o in script.stem for o in only):
            continue
        print(f"== {script.stem}", flush=True)
        t = time.perf_counter()
        rc = subprocess.run([sys.executable, str(script)], check=False).returncode
        results.append((script.stem, rc, time.perf_counter() - t))
    print("== summary")
    for name, rc, wall in results:
        print(f"  {name}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in {wall:.0f} s")
    return 1 if any(rc for _, rc, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
