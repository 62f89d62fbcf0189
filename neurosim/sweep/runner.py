"""Run a sweep on Dask and keep every finished point, so an interrupted sweep resumes where it stopped.

Storage (``DIR``):
  points/<id>.json   one file per finished point, written atomically the moment it finishes (the truth);
  results.csv        the consolidated table (one row per point id), rebuilt atomically from points/ every few
                     seconds, at the end and on interruption; results.parquet beside it;
  failed/<id>.json   a point that raised: its axes, status ``failed`` and the error (one line, and the traceback's
                     last lines); in results.csv too. Not a finished point: the next run tries it again (and
                     removes the file when it succeeds);
  sweep.yaml         the spec that was run (for the record);
  pareto.png         energy per token against latency and against the quality proxy, Pareto fronts marked;
  .sweep.lock        held (an OS file lock) while a sweep writes here: a second sweep on the same folder stops with
                     one line instead of mixing its results in; the OS drops the lock when the holder dies.

A point's id hashes its axis values and the shared run settings; points already in points/ are not run again.
A killed sweep (even SIGKILL) loses at most the points in flight. A worker killed mid-point: the Dask scheduler
runs its point again on another worker (up to ``distributed.scheduler.allowed-failures`` times, 3 by default;
then the point fails with KilledWorker). A point that cannot be mapped (the model does not fit the hardware) is a
finished point with status ``infeasible``; a point that fails any other way (a mistyped workload, a bad setting, a
crashed worker) is recorded with its error in failed/, counted and named, the sweep exits non-zero, and the next
run tries it again.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from neurosim.errors import NeurosimError, missing_extra
from neurosim.io import atomic_path, write_json_atomic, write_text_atomic
from neurosim.sweep.spec import AXES, SweepSpec

CONSOLIDATE_EVERY_S = 2.0
LOCK = ".sweep.lock"


def _entries(folder: Path) -> list[Path]:
    """The point files of a folder: ``<id>.json``, never a writer's temporary (``.<id>.json.XXXX.json``, which
    pathlib's glob matches: counting one would record a point that an interrupt then removes)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))


class ResultStore:
    """The results folder: one JSON per point plus a consolidated table."""

    def __init__(self, out_dir: str | Path):
        self.dir = Path(out_dir)
        self.points_dir = self.dir / "points"
        self.failed_dir = self.dir / "failed"

    def done_ids(self) -> set[str]:
        if not self.points_dir.is_dir():
            return set()
        return {p.stem for p in _entries(self.points_dir)}

    def write_point(self, point_id: str, row: dict[str, Any]) -> None:
        write_json_atomic(self.points_dir / f"{point_id}.json", row)
        (self.failed_dir / f"{point_id}.json").unlink(missing_ok=True)  # an earlier failure, now retried

    def write_failure(self, point_id: str, row: dict[str, Any]) -> None:
        write_json_atomic(self.failed_dir / f"{point_id}.json", row)

    @staticmethod
    def _read(folder: Path) -> list[dict[str, Any]]:
        out = []
        for p in _entries(folder):
            try:
                out.append(json.loads(p.read_text(encoding="utf-8")))
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue  # never half-written (atomic), but skip anything foreign
        return out

    def rows(self) -> list[dict[str, Any]]:
        """Finished points, then the failed points not finished since."""
        done = self._read(self.points_dir)
        ids = {r.get("point_id") for r in done}
        return done + [r for r in self._read(self.failed_dir) if r.get("point_id") not in ids]

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold ``.sweep.lock`` while writing: a second sweep on this folder is refused in one line (who holds it,
        since when) instead of mixing its results in. The OS drops the lock when the holder ends, even killed."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not a POSIX system: no lock
            yield
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / LOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                who = " ".join(os.pread(fd, 200, 0).decode("utf-8", "replace").split()) or "another process"
                raise NeurosimError(f"--out-dir {self.dir}: another sweep is writing there ({who}; lock "
                                    f"{path}); wait for it to finish or give another --out-dir; nothing was run "
                                    "and no result was touched") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
            yield
        finally:
            os.close(fd)  # releases the lock

    def consolidate(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows())
        if df.empty:
            return df
        df = df.drop_duplicates("point_id", keep="last").sort_values("index", kind="stable").reset_index(drop=True)
        with atomic_path(self.dir / "results.csv") as tmp:
            df.to_csv(tmp, index=False)
        with atomic_path(self.dir / "results.parquet") as tmp:
            df.to_parquet(tmp, index=False)
        return df


@dataclass
class SweepOutcome:
    total: int
    skipped: int
    ran: int = 0
    failed: list[str] = field(default_factory=list)
    results: pd.DataFrame = field(default_factory=pd.DataFrame)
    plot: Path | None = None


def open_client(scheduler: str | None, workers: int, timeout_s: float):
    """A Dask client: to the scheduler at ``scheduler`` or to a new local cluster of ``workers`` processes."""
    try:
        import pyarrow  # noqa: F401  (results.parquet)
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise missing_extra("neurosim sweep", "sweep") from None
    if scheduler:
        try:
            return Client(scheduler, timeout=timeout_s), None
        except (OSError, TimeoutError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise NeurosimError(
                f"--scheduler {scheduler}: no Dask scheduler answered within {timeout_s:g} s ({first}); start one "
                "with `dask scheduler` (and `dask worker ADDRESS`), or leave --scheduler out for a local cluster; "
                "nothing was run and no result was touched"
            ) from None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster), cluster


def run_sweep(spec: SweepSpec, out_dir: str | Path, scheduler: str | None = None, workers: int = 2,
              timeout_s: float = 10.0, echo=None, quiet: bool = False) -> SweepOutcome:
    """Run every point of ``spec`` not already in ``out_dir``; see the module docstring. ``quiet``: no progress
    (neither the bar on a terminal nor a line per point)."""
    from neurosim.sweep.evaluate import evaluate_point

    echo = echo or (lambda msg: print(msg, file=sys.stderr))
    points = spec.expand()
    ids = [spec.point_id(p) for p in points]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise NeurosimError(f"sweep {spec.name}: point {points[ids.index(dup)].model_dump()} is listed twice")
    from neurosim.sweep.evaluate import check_rates

    check_rates([p.model_dump() for p in points], spec.run.model_dump(), spec.base_dir)  # before anything runs
    client, cluster = open_client(scheduler, workers, timeout_s)  # fails before anything is written
    from dask.distributed import as_completed  # the 'sweep' extra: open_client said so if it is missing
    store = ResultStore(out_dir)
    locked = store.lock()
    try:
        locked.__enter__()
    except BaseException:
        client.close()
        if cluster is not None:
            cluster.close()
        raise
    try:
        store.dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(store.dir / "sweep.yaml", _spec_yaml(spec))
        done = store.done_ids()
        todo = [(i, p, pid) for i, (p, pid) in enumerate(zip(points, ids)) if pid not in done]
        outcome = SweepOutcome(total=len(points), skipped=len(points) - len(todo))
        workers_now = len(client.scheduler_info().get("workers", {}))
        echo(f"sweep {spec.name}: {len(points)} points, {outcome.skipped} already done in {store.dir}, "
             f"{len(todo)} to run on {client.scheduler.address} ({workers_now} workers)")
        run, events = spec.run.model_dump(), spec.events.model_dump()
        futures = {client.submit(evaluate_point, p.model_dump(), run, spec.base_dir, events, pure=False): (i, p, pid)
                   for i, p, pid in todo}
        last = time.monotonic()
        with _progress(len(todo), echo, quiet) as advance:
            for fut in as_completed(futures):
                i, p, pid = futures.pop(fut)
                try:
                    row = fut.result()
                except Exception as exc:  # noqa: BLE001 - a failed point is recorded, counted, named, retried next run
                    outcome.failed.append(_failure(p, pid, exc))
                    store.write_failure(pid, {"point_id": pid, "index": i, **p.model_dump(), "status": "failed",
                                              "error": _first_line(exc), "traceback": _trace(fut, exc),
                                              "finished_at": time.time()})
                    advance(f"{_axes(p)}: FAILED ({_first_line(exc)[:80]})")
                    continue
                store.write_point(pid, {"point_id": pid, "index": i, **p.model_dump(), **row,
                                        "finished_at": time.time()})
                outcome.ran += 1
                advance(_label(p, row))
                if time.monotonic() - last > CONSOLIDATE_EVERY_S:
                    store.consolidate()
                    last = time.monotonic()
    finally:
        try:
            df = store.consolidate() if store.dir.is_dir() else pd.DataFrame()
        finally:
            locked.__exit__(None, None, None)
            client.close()
            if cluster is not None:
                cluster.close()
    outcome.results = df
    if not df.empty:
        from neurosim.sweep.plot import plot_pareto

        outcome.plot = plot_pareto(df, store.dir / "pareto.png", title=spec.name)
    return outcome


def _spec_yaml(spec: SweepSpec) -> str:
    import yaml

    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)


def _axes(p) -> str:
    return " ".join(f"{k}={v}" for k, v in p.model_dump().items() if k in AXES and v is not None)


def _first_line(exc: BaseException) -> str:
    """An error as one line: the message of a NeurosimError, else the exception type and its first line."""
    text = (str(exc).strip().splitlines() or [""])[0]
    return text if isinstance(exc, NeurosimError) else f"{type(exc).__name__}: {text}".rstrip(": ")


def _trace(fut, exc: BaseException) -> str:
    """The last lines of a failed point's traceback (from the worker when Dask kept it)."""
    import traceback

    try:
        tb = fut.traceback()
    except Exception:  # noqa: BLE001 - a lost worker leaves none
        tb = exc.__traceback__
    return "".join(traceback.format_exception(type(exc), exc, tb)[-6:])[-4000:]


def _failure(p, pid: str, exc: BaseException) -> str:
    """One line naming a failed point (its axes and id) and its error."""
    return f"point {pid} ({_axes(p)}): {_first_line(exc)}"


def _label(p, row: dict[str, Any]) -> str:
    axes = _axes(p)
    if row.get("status") != "ok":
        return f"{axes}: {row.get('status')} ({row.get('error', '')[:80]})"
    return f"{axes}: {row['energy_per_token_uJ']:.4g} uJ/token, {row['latency_ns_per_token']:.4g} ns/token"


class _progress:
    """A rich progress bar on a terminal; one plain line per point otherwise (logs, CI)."""

    def __init__(self, total: int, echo, quiet: bool = False):
        self.total, self.echo, self.n, self.quiet = total, echo, 0, quiet
        self.bar = None

    def __enter__(self):
        from rich.console import Console

        console = Console(stderr=True)
        if console.is_terminal and self.total and not self.quiet:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                TextColumn("{task.description}"), console=console)
            self.bar.start()
            self.task = self.bar.add_task("", total=self.total)
        return self.advance

    def advance(self, label: str) -> None:
        self.n += 1
        if self.bar is not None:
            self.bar.update(self.task, advance=1, description=label[:70])
        elif not self.quiet:
            self.echo(f"[{self.n}/{self.total}] {label}")

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
