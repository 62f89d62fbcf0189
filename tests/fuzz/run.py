"""Drive the fuzzer: hypothesis generates cases of one format, the harness runs each through the CLI, a tally counts
the outcomes. ``python -m fuzz`` (from ``tests/``; ``make fuzz``) runs every format and prints the figures."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed

from fuzz.formats import FORMATS
from fuzz.harness import ACCEPTED, Tally, run_case, save_failure

COLUMNS = ("format", "tried", "valid", "mutated", "hostile", "results", "refusals", "tracebacks", "hangs",
           "other failures", "seconds", "slowest s")


def fuzz_format(name: str, examples: int, timeout_s: float = 60.0, seed: int | None = None,
                keep: Path | None = None) -> Tally:
    """Run ``examples`` generated cases of format ``name``; failures are counted (not raised, so every example
    runs) and, with ``keep``, saved there for reproduction."""
    fmt = FORMATS[name]
    tally = Tally(name)
    strategy = fmt.strategy()
    work = Path(tempfile.mkdtemp(prefix=f"neurosim-fuzz-{name}-"))
    t0 = time.perf_counter()

    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def one(case) -> None:
        out = run_case(case, work / "case", timeout_s)
        tally.add(case, out)
        if out.kind not in ACCEPTED and keep is not None and tally.failed <= 200:
            save_failure(case, out, keep / name / f"{tally.failed:03d}-{out.kind}")

    if seed is not None:
        one = hypothesis_seed(seed)(one)
    try:
        one()
    except Exception as exc:  # noqa: BLE001 - the generator itself failed: a failure of the run, with the count so far
        from fuzz.harness import Case, Outcome

        tally.failures.append((Case(name, "harness", {}, [], ()),
                               Outcome("harness", None, f"{type(exc).__name__}: {str(exc)[:300]}", 0.0)))
    tally.seconds = time.perf_counter() - t0
    return tally


def row(t: Tally) -> dict:
    other = t.failed - t.count("traceback") - t.count("hang")
    return {"format": t.fmt, "tried": t.tried, "valid": t.by_kind.get("valid", 0),
            "mutated": t.by_kind.get("mutated", 0), "hostile": t.by_kind.get("hostile", 0),
            "results": t.count("result"), "refusals": t.count("refused"), "tracebacks": t.count("traceback"),
            "hangs": t.count("hang"), "other failures": other, "seconds": round(t.seconds, 1),
            "slowest s": round(t.slowest, 2)}


def summary(t: Tally) -> dict:
    """A tally as JSON: its row and the first failures (kind and detail)."""
    return {**row(t), "failures": [{"kind": o.kind, "case": c.kind, "note": c.note, "argv": c.argv,
                                    "detail": o.detail} for c, o in t.failures[:50]]}


def table(rows: list[dict]) -> str:
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in COLUMNS}
    lines = ["  ".join(c.rjust(widths[c]) if c != "format" else c.ljust(widths[c]) for c in COLUMNS)]
    for r in rows:
        lines.append("  ".join(str(r[c]).rjust(widths[c]) if c != "format" else str(r[c]).ljust(widths[c])
                               for c in COLUMNS))
    return "\n".join(lines)


def save_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
