"""Two revisions of neurosim side by side: a part of ``bench_events.py`` run alternately with each, in fresh processes.

This machine's speed moves by a factor of 1.5 within minutes (it is shared), so a speed change is only believable
as a ratio of runs taken close together. Each round runs the part once with the base revision and once with the
head (the order alternating from round to round, so neither side always runs second), each in its own process, as a
first run of that process; the figure of each side is the median over the rounds, and the ratio head / base is
printed with every round's own ratio.

A revision's ``neurosim`` and ``benchmarks`` folders are taken with ``git archive`` (``--head worktree``: the
working tree as it is); the built-in workload and hardware files are the installed ones (the working tree's), so
two revisions are compared on the same inputs. The LLaMA2-7B mapping is built once with the head revision and
saved (``--mapping`` reuses a saved one); it is not part of any figure.

    python benchmarks/ab.py [--base HEAD] [--head worktree] [--part prefill|decode|exact|exact-rate] [--rounds 3]
                            [--mapping PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: figure -> (the part of bench_events.py that measures it, what is timed, how to read it from the part's JSON line)
FIGURES = {
    "prefill": ("prefill", "LLaMA2-7B 1024-token prefill, first run of its process (s)", lambda d: d["wall_s"]),
    "decode": ("decode", "LLaMA2-7B decode token, sync, first run of its process (s)", lambda d: d["sync"]["wall_s"]),
    "exact": ("exact", "SmolLM2 exact token, warm (s)", lambda d: d["one_token"]["wall_s"]),
    "exact-rate": ("exact", ("SmolLM2 exact, 64 tokens: simulated accumulates per second of the cores' products "
                             "and the simulation"), lambda d: d["64_tokens"]["acs_per_s"]),
}


def checkout(rev: str, into: Path) -> Path:
    """``neurosim/`` and ``benchmarks/`` of ``rev`` (``worktree``: this checkout) under ``into``; the folder to
    put first on the path."""
    if rev == "worktree":
        return ROOT
    try:
        blob = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "neurosim", "benchmarks"], check=True,
                              capture_output=True).stdout
    except subprocess.CalledProcessError as e:
        raise SystemExit(f"--base/--head {rev!r}: git archive failed: {e.stderr.decode().strip()}") from None
    into.mkdir(parents=True)
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(into, filter="data")
    return into


def run_part(tree: Path, part: str, mapping: str) -> dict:
    args = [sys.executable, str(tree / "benchmarks" / "bench_events.py"), "--part", part]
    if part in ("prefill", "decode", "map"):
        args.append(mapping)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    p = subprocess.run(args, check=False, capture_output=True, text=True, env=env, cwd=tree)
    if p.returncode != 0:
        raise SystemExit(f"part {part} of {tree} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="HEAD", help="a git revision (default HEAD)")
    ap.add_argument("--head", default="worktree", help="a git revision, or worktree (default)")
    ap.add_argument("--part", default="prefill", choices=list(FIGURES), help="the figure compared")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mapping", default=None, help="a saved LLaMA2-7B hala-point mapping (built when missing)")
    a = ap.parse_args()
    if a.rounds < 1:
        raise SystemExit(f"--rounds {a.rounds}; allowed: an integer >= 1")
    part, what, read = FIGURES[a.part]
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"base": checkout(a.base, Path(tmp) / "base"), "head": checkout(a.head, Path(tmp) / "head")}
        mapping = a.mapping or str(Path(tmp) / "llama2-7b-hala-point.json")
        if part != "exact" and not Path(mapping).exists():
            run_part(trees["head"], "map", mapping)
        got: dict[str, list[float]] = {"base": [], "head": []}
        for r in range(a.rounds):
            for side in (("base", "head") if r % 2 == 0 else ("head", "base")):
                got[side].append(float(read(run_part(trees[side], part, mapping))))
            print(f"round {r + 1}: base {got['base'][-1]:.4g}, head {got['head'][-1]:.4g}, "
                  f"head / base {got['head'][-1] / got['base'][-1]:.3f}", flush=True)
    base, head = statistics.median(got["base"]), statistics.median(got["head"])
    print(f"{what}: base ({a.base}) median {base:.4g}, head ({a.head}) median {head:.4g}; "
          f"head / base {head / base:.3f} (per round: "
          + ", ".join(f"{h / b:.3f}" for b, h in zip(got["base"], got["head"])) + ")")


if __name__ == "__main__":
    main()
