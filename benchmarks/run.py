"""Run every benchmark script in this folder (bench_*.py) and print their figures."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

here = Path(__file__).parent
only = sys.argv[1:]
for script in sorted(here.glob("bench_*.py")):
    if only and not any(o in script.stem for o in only):
        continue
    print(f"== {script.stem}")
    runpy.run_path(str(script), run_name="__main__")
