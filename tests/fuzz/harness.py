"""One fuzz case through the CLI entry point, in-process (``neurosim.cli.main(argv)``), and what came of it.

A case is a folder of input files and a command line that reads them. The only acceptable outcomes are a result
(exit 0) or a refusal: exit 2 with exactly one line on stderr, ``error: ...``, that names the fuzzed file. Anything
else is a failure: an exception that escaped the CLI (a traceback), a run past the per-case time limit (a hang),
another exit code, a refusal that does not name the file or takes more than one line, a refusal of a valid file
(one the format allows, as the strategies generate them), or a file written outside the case folder's own outputs
(a hostile input must not make neurosim write anywhere else, nor run code).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

#: what a case may end in; every other outcome kind is a failure
ACCEPTED = ("result", "refused")
#: a hostile YAML tag would create this file if a loader ran code
SENTINEL = "PWNED"


class Hang(BaseException):
    """Raised by the per-case timer inside the running command (a BaseException, so no ``except Exception``
    swallows it)."""


@dataclass
class Case:
    """A fuzz case: input files (name -> bytes, or a special: ``dir``, ``fifo``, ``link:TARGET``), the command line
    (file names relative to the case folder) and the fuzzed files a refusal must name."""

    fmt: str
    kind: str  # valid | mutated | hostile
    files: dict[str, bytes | str]
    argv: list[str]
    inputs: tuple[str, ...]
    note: str = ""


@dataclass
class Outcome:
    kind: str  # result | refused | traceback | hang | unnamed | multiline | badexit | refused-valid | wrote-outside
    code: int | None
    detail: str
    seconds: float
    stderr: str = ""


@dataclass
class Tally:
    """Cases tried and outcomes per kind for one format (what ``make fuzz`` prints)."""

    fmt: str
    tried: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[Case, Outcome]] = field(default_factory=list)
    seconds: float = 0.0
    slowest: float = 0.0

    def add(self, case: Case, out: Outcome) -> None:
        self.tried += 1
        self.by_outcome[out.kind] = self.by_outcome.get(out.kind, 0) + 1
        self.by_kind[case.kind] = self.by_kind.get(case.kind, 0) + 1
        self.seconds += out.seconds
        self.slowest = max(self.slowest, out.seconds)
        if out.kind not in ACCEPTED:
            self.failures.append((case, out))

    @property
    def failed(self) -> int:
        return len(self.failures)

    def count(self, kind: str) -> int:
        return self.by_outcome.get(kind, 0)


def write_case(case: Case, folder: Path) -> None:
    """Materialise ``case`` in an empty ``folder``."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name, content in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content == "dir":
            path.mkdir()
        elif content == "fifo":
            os.mkfifo(path)
        elif content.startswith("link:"):
            path.symlink_to(content[5:])
        else:
            raise ValueError(f"unknown special file {content!r}")


def _snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def run_case(case: Case, folder: Path, timeout_s: float = 60.0) -> Outcome:
    """Run ``case`` in ``folder`` (emptied first) through ``neurosim.cli.main``, with ``timeout_s`` seconds before
    the run counts as a hang."""
    from neurosim.cli import main

    write_case(case, folder)
    before = _snapshot(folder)
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()

    def alarm(_signum, _frame):
        raise Hang

    old = signal.signal(signal.SIGALRM, alarm)
    os.chdir(folder)
    t0 = time.perf_counter()
    code: int | None = None
    try:
        # the timer fires again every 5 s in case a handler swallowed the first Hang
        signal.setitimer(signal.ITIMER_REAL, timeout_s, 5.0)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(case.argv))
    except Hang:
        return Outcome("hang", None, f"still running after {timeout_s:g} s", time.perf_counter() - t0,
                       err.getvalue())
    except BaseException as exc:  # noqa: BLE001 - the point of the harness: whatever escaped the CLI
        frames = traceback.format_exception(type(exc), exc, exc.__traceback__)
        where = [f.strip().splitlines()[0] for f in frames if f.strip().startswith("File ")][-2:]
        detail = f"{type(exc).__name__}: {str(exc)[:300]} | " + " | ".join(where)
        return Outcome("traceback", None, detail, time.perf_counter() - t0, err.getvalue())
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        os.chdir(cwd)
        _close_figures()
    seconds = time.perf_counter() - t0
    return classify(case, code, err.getvalue(), seconds, folder, before)


def classify(case: Case, code: int | None, stderr: str, seconds: float, folder: Path, before: set[str]) -> Outcome:
    """The outcome of a finished run (see the module docstring)."""
    if (folder / SENTINEL).exists() or Path(SENTINEL).exists():
        return Outcome("wrote-outside", code, "a hostile YAML tag ran code", seconds, stderr)
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    if code == 0:
        return Outcome("result", 0, "", seconds, stderr)
    if code != 2:
        return Outcome("badexit", code, (lines or [""])[-1][:300], seconds, stderr)
    if len(lines) != 1 or not lines[0].startswith("error: "):
        return Outcome("multiline", code, " / ".join(lines)[:400], seconds, stderr)
    line = lines[0]
    if not any(name in line for name in case.inputs):
        return Outcome("unnamed", code, line[:400], seconds, stderr)
    if case.kind == "valid":  # a file as the format defines it must be read, not refused
        return Outcome("refused-valid", code, line[:400], seconds, stderr)
    return Outcome("refused", code, line[:400], seconds, stderr)


def _close_figures() -> None:
    """Matplotlib keeps figures a failed command left open; close them so a long run does not grow."""
    import sys

    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")


def save_failure(case: Case, outcome: Outcome, folder: Path) -> Path:
    """Keep a failing case (its files, command line and outcome) for reproduction."""
    write_case(case, folder)
    (folder / "FAILURE.txt").write_text(
        f"format: {case.fmt} ({case.kind}{', ' + case.note if case.note else ''})\n"
        f"outcome: {outcome.kind} (exit {outcome.code})\n"
        f"detail: {outcome.detail}\n"
        f"reproduce: cd {folder} && neurosim {' '.join(case.argv)}\n"
        f"stderr:\n{outcome.stderr[-4000:]}\n", encoding="utf-8")
    return folder
