"""``python -m fuzz`` (run from ``tests/``, as ``make fuzz`` does): every format, N cases each, the figures.

    python -m fuzz --examples 10000 --jobs 2 --timeout 60 --keep fuzz-failures --json fuzz.json
    python -m fuzz --format workload --examples 500

Each format runs in its own process (at most --jobs at once) with its address space capped (--memory-gib), so a
hostile input that allocates without bound fails there (a MemoryError escaping the CLI counts as a traceback)
instead of taking the machine. Exit status 1 when any case failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from fuzz.formats import FORMATS


def _one(args) -> int:
    import resource

    from fuzz.run import fuzz_format, summary

    if args.memory_gib:
        cap = int(args.memory_gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    t = fuzz_format(args.format, args.examples, args.timeout, args.seed,
                    Path(args.keep) if args.keep else None)
    data = summary(t)
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    else:
        print(json.dumps(data, indent=1))
    return 0 if t.failed == 0 else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.splitlines()[0])
    p.add_argument("--format", choices=sorted(FORMATS), help="one format (default: every format)")
    p.add_argument("--only", default=None, help="comma-separated formats to run (default: every format)")
    p.add_argument("--examples", type=int, default=10_000, help="cases per format (default 10000)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds before a case counts as a hang")
    p.add_argument("--jobs", type=int, default=2, help="formats run at once, each in its own process")
    p.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random)")
    p.add_argument("--keep", default=None, help="save failing cases here (files, command line, outcome)")
    p.add_argument("--json", default=None, help="write the figures as JSON here")
    p.add_argument("--memory-gib", type=float, default=8.0, help="address-space cap of each format's process")
    args = p.parse_args(argv)
    if args.format:
        return _one(args)
    from fuzz.run import table

    out_dir = Path(args.json).with_suffix("") if args.json else Path(os.environ.get("TMPDIR", "/tmp")) / \
        f"neurosim-fuzz-{os.getpid()}"
    out_dir.mkdir(parents=True, exist_ok=True)
    # the slowest formats first (a compare writes its plots, a graph or NIR file runs a network): with --jobs
    # workers the run ends sooner
    slow = ("run-record", "graph", "text", "nir")
    pending = sorted(FORMATS, key=lambda f: (f not in slow, slow.index(f) if f in slow else 0, f))
    if args.only:
        unknown = sorted(set(args.only.split(",")) - set(FORMATS))
        if unknown:
            p.error(f"--only: unknown format(s) {', '.join(unknown)}; allowed: {', '.join(sorted(FORMATS))}")
        pending = [f for f in pending if f in args.only.split(",")]
    running: dict[str, subprocess.Popen] = {}
    t0 = time.perf_counter()
    results: dict[str, dict] = {}
    while pending or running:
        while pending and len(running) < max(args.jobs, 1):
            name = pending.pop(0)
            cmd = [sys.executable, "-m", "fuzz", "--format", name, "--examples", str(args.examples), "--timeout",
                   str(args.timeout), "--json", str(out_dir / f"{name}.json"), "--memory-gib", str(args.memory_gib)]
            if args.seed is not None:
                cmd += ["--seed", str(args.seed)]
            if args.keep:
                cmd += ["--keep", args.keep]
            running[name] = subprocess.Popen(cmd, cwd=Path(__file__).resolve().parents[1])
            print(f"fuzz: {name} started ({args.examples} cases)", flush=True)
        for name, proc in list(running.items()):
            if proc.poll() is None:
                continue
            del running[name]
            path = out_dir / f"{name}.json"
            if path.exists():
                results[name] = json.loads(path.read_text())
            else:
                results[name] = {"format": name, "tried": 0, "valid": 0, "mutated": 0, "hostile": 0, "results": 0,
                                 "refusals": 0, "tracebacks": 0, "hangs": 0, "other failures": 1, "seconds": 0,
                                 "slowest s": 0, "failures": [{"kind": "crash", "detail": f"exit {proc.returncode}"}]}
            r = results[name]
            print(f"fuzz: {name} done: {r['tried']} tried, {r['tracebacks']} tracebacks, {r['hangs']} hangs, "
                  f"{r['other failures']} other failures ({r['seconds']} s)", flush=True)
        time.sleep(0.5)
    rows = [results[n] for n in sorted(results)]
    total = {c: sum(r[c] for r in rows) for c in ("tried", "valid", "mutated", "hostile", "results", "refusals",
                                                    "tracebacks", "hangs", "other failures")}
    total.update({"format": "all", "seconds": round(time.perf_counter() - t0, 1),
                  "slowest s": max((r["slowest s"] for r in rows), default=0)})
    print()
    print(table(rows + [total]))
    for r in rows:
        for f in r.get("failures", [])[:5]:
            print(f"  {r['format']}: {f['kind']}: {f.get('detail', '')[:200]}")
    if args.json:
        Path(args.json).write_text(json.dumps({"formats": rows, "total": total}, indent=1) + "\n",
                                   encoding="utf-8")
    failed = total["tracebacks"] + total["hangs"] + total["other failures"]
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
