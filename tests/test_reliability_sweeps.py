"""Sweeps under faults (issue 14): two sweeps on one result folder (the second stops with one line: a lock file),
a worker killed mid-point (its point runs again on another worker), a point that raises (recorded with its error,
the sweep exits non-zero, the next run retries it)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytest.importorskip("distributed", reason="sweeps need the 'sweep' extra: pip install 'neurosim[sweep]'")

from test_sweep import BIN, TINY, _start, _stop, _wait_until

TINY_BERT = str(TINY.parent / "tiny-bert.yaml")


def sweep_file(path: Path, bits: list[int], throttle_s: float = 0.0, workload: str = TINY_BERT) -> Path:
    path.write_text(yaml.safe_dump({"name": path.stem, "run": {"seq_len": 8, "placement": "serpentine",
                                                               "throttle_s": throttle_s},
                                    "points": [{"workload": workload, "hardware": "loihi2", "w_bits": b}
                                               for b in bits]}))
    return path


def points_in(out: Path) -> list[dict]:
    """The finished points: a writer's temporary (``.<id>.json.XXXX.json``, matched by pathlib's glob and empty while
    it is written) is not one, as for the sweep itself."""
    return [json.loads(p.read_text()) for p in sorted((out / "points").glob("*.json")) if not p.name.startswith(".")]


def test_a_second_sweep_on_the_same_folder_stops_with_one_line(tmp_path, cli):
    first_spec = sweep_file(tmp_path / "first.yaml", [2, 3, 4, 5], throttle_s=1.5)
    out = tmp_path / "results"
    log = tmp_path / "first.log"
    first = _start([str(BIN / "neurosim"), "sweep", str(first_spec), "--out-dir", str(out), "--workers", "1"], log)
    try:  # the first sweep holds the folder once it says what it will run (after taking the lock)
        _wait_until(lambda: "to run on" in log.read_text() or first.poll() is not None, "the first sweep started",
                    timeout_s=300)
        assert first.poll() is None, log.read_text()
        second = sweep_file(tmp_path / "second.yaml", [8, 16])
        code, _, err = cli("sweep", str(second), "--out-dir", str(out), "--workers", "1")
        assert code == 2 and err.count("\n") == 1, err
        assert "another sweep is writing there (pid " in err and ".sweep.lock" in err and "nothing was run" in err
        assert first.wait(300) == 0, log.read_text()
    finally:
        _stop(first)
    rows = pd.read_csv(out / "results.csv")
    assert sorted(rows["w_bits"]) == [2, 3, 4, 5]  # the first sweep's points only: nothing mixed in
    # the lock goes with its holder: the second sweep runs now
    code, _, err = cli("sweep", str(second), "--out-dir", str(out), "--workers", "1")
    assert code == 0, err
    assert sorted(pd.read_csv(out / "results.csv")["w_bits"]) == [2, 3, 4, 5, 8, 16]


def test_a_worker_killed_mid_point_is_retried_on_another(tmp_path):
    """A scheduler and two workers without nannies (so a killed worker stays dead); points take >= 2 s, so once the
    first is written both workers are in the middle of one; SIGKILL one: its point runs again on the other."""
    spec = sweep_file(tmp_path / "s.yaml", [2, 3, 4, 5, 6, 7], throttle_s=2.0)
    sched_file = tmp_path / "scheduler.json"
    procs = [_start([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(sched_file)], tmp_path / "scheduler.log")]
    workers = []
    try:
        _wait_until(lambda: sched_file.exists() and sched_file.stat().st_size > 0, "the scheduler file",
                    timeout_s=120, poll_s=0.1)
        for i in range(2):
            w = _start([str(BIN / "dask"), "worker", "--scheduler-file", str(sched_file), "--nthreads", "1",
                        "--no-nanny", "--no-dashboard", "--name", f"w{i}"], tmp_path / f"worker{i}.log")
            workers.append(w)
            procs.append(w)
        from dask.distributed import Client

        with Client(scheduler_file=str(sched_file), timeout=30) as c:
            c.wait_for_workers(2, timeout=60)
            address = c.scheduler.address
        out = tmp_path / "results"
        sweep = _start([str(BIN / "neurosim"), "sweep", str(spec), "--out-dir", str(out), "--scheduler", address],
                       tmp_path / "sweep.log")
        procs.append(sweep)
        _wait_until(lambda: len(points_in(out)) >= 1 or sweep.poll() is not None, "the first point", timeout_s=300)
        assert sweep.poll() is None, (tmp_path / "sweep.log").read_text()
        os.killpg(workers[1].pid, signal.SIGKILL)  # mid-point: no chance to finish or report
        workers[1].wait(10)
        assert sweep.wait(600) == 0, (tmp_path / "sweep.log").read_text()
        rows = pd.read_csv(out / "results.csv")
        assert sorted(rows["w_bits"]) == [2, 3, 4, 5, 6, 7] and rows["point_id"].is_unique
        assert (rows["status"] == "ok").all() and not (out / "failed").exists()
    finally:
        for p in reversed(procs):
            _stop(p)


def test_a_point_that_raises_is_recorded_with_its_error_and_retried_next_run(tmp_path, cli):
    late = tmp_path / "late.yaml"  # a workload file that does not exist yet
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"name": "faults", "run": {"seq_len": 8, "placement": "serpentine"}, "points": [
        {"workload": TINY_BERT, "hardware": "loihi2", "w_bits": 4},
        {"workload": str(late), "hardware": "loihi2", "w_bits": 4}]}))
    out = tmp_path / "results"
    code, stdout, err = cli("sweep", str(spec), "--out-dir", str(out), "--workers", "1")
    assert code == 2 and err.strip().splitlines()[-1].startswith("error: 1 of 2 points failed"), err
    assert f"{out / 'failed'}" in err and "late.yaml" in err
    (failed,) = list((out / "failed").glob("*.json"))
    rec = json.loads(failed.read_text())
    assert rec["status"] == "failed" and "late.yaml" in rec["error"] and rec["traceback"]
    rows = pd.read_csv(out / "results.csv")
    assert sorted(rows["status"]) == ["failed", "ok"]
    assert "late.yaml" in rows.loc[rows["status"] == "failed", "error"].iloc[0]
    assert "1 ok, 0 infeasible, 1 failed" in stdout
    late.write_text((TINY.parent / "tiny-bert.yaml").read_text())  # fixed: the next run retries the failed point
    code, stdout, err = cli("sweep", str(spec), "--out-dir", str(out), "--workers", "1")
    assert code == 0, err
    assert "ran 1 points, 0 failed, 1 were already done" in stdout
    assert not list((out / "failed").glob("*.json"))
    assert (pd.read_csv(out / "results.csv")["status"] == "ok").all()



def test_a_writers_temporary_in_points_is_not_a_finished_point(tmp_path):
    """Found by make interrupts: pathlib's glob("*.json") matches a writer's temporary (``.<id>.json.XXXX.json``);
    consolidating on SIGTERM counted a point whose write the interrupt then undid."""
    from neurosim.sweep.runner import ResultStore

    store = ResultStore(tmp_path)
    store.write_point("aaaa", {"point_id": "aaaa", "status": "ok"})
    (store.points_dir / ".bbbb.json.x1y2.json").write_text(json.dumps({"point_id": "bbbb", "status": "ok"}))
    assert store.done_ids() == {"aaaa"}
    assert [r["point_id"] for r in store.rows()] == ["aaaa"]
