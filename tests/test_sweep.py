"""Design-space sweeps: the spec, a real Dask cluster on loopback killed half-way and resumed, bad input."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from neurosim.errors import NeurosimError
from neurosim.sweep.plot import pareto_mask
from neurosim.sweep.spec import load_sweep, sweep_from_dict

pytest.importorskip("distributed", reason="sweeps need the 'sweep' extra: pip install 'neurosim[sweep]'")

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "examples" / "sweeps" / "tiny-24.yaml"
BIN = Path(sys.executable).parent


def test_unknown_keys_are_errors_that_name_them(tmp_path, cli):
    with pytest.raises(NeurosimError, match="unknown key 'encodng'"):
        sweep_from_dict({"workloads": ["minilm-l6"], "hardware": ["loihi2"], "encodng": {}})
    with pytest.raises(NeurosimError, match="unknown key 'encoding.wbits'"):
        sweep_from_dict({"workloads": ["minilm-l6"], "hardware": ["loihi2"], "encoding": {"wbits": [4]}})
    with pytest.raises(NeurosimError, match="unknown key 'run.seq'"):
        sweep_from_dict({"workloads": ["minilm-l6"], "hardware": ["loihi2"], "run": {"seq": 4}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("workloads: [minilm-l6]\nhardware: [loihi2]\nmappings: [output]\n")
    code, _, err = cli("sweep", str(bad), "--out-dir", str(tmp_path / "out"))
    assert code == 2 and "unknown key 'mappings'" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_unknown_engine_and_bad_values_are_named():
    base = {"workloads": ["minilm-l6"], "hardware": ["loihi2"]}
    assert [p.engine for p in sweep_from_dict({**base, "engine": ["analytic", "events"]}).expand()] == [
        "analytic", "events"]
    with pytest.raises(NeurosimError, match="unknown engine 'spice'; allowed: analytic, events"):
        sweep_from_dict({**base, "engine": ["spice"]})
    with pytest.raises(NeurosimError, match=r"encoding.w_bits.*out of range"):
        sweep_from_dict({**base, "encoding": {"w_bits": [0]}})
    with pytest.raises(NeurosimError, match=r"field 'events.tokens' = 0: .*greater than 0"):
        sweep_from_dict({**base, "events": {"tokens": 0}})
    with pytest.raises(NeurosimError, match=r"field 'events.context' = -1: .*greater than or equal to 0"):
        sweep_from_dict({**base, "events": {"context": -1}})
    with pytest.raises(NeurosimError, match="unknown key 'events.token'"):
        sweep_from_dict({**base, "events": {"token": 4}})


def test_events_settings_are_part_of_every_point_id():
    """The events settings time every point (the simulator is the one latency model), so changing them re-runs
    analytic points too (was: analytic points kept their id, timed by a separate first-order model)."""
    base = {"workloads": ["minilm-l6"], "hardware": ["loihi2"], "engine": ["analytic", "events"]}
    a = sweep_from_dict(base)
    b = sweep_from_dict({**base, "events": {"tokens": 1, "context": 127, "seed": 3}})
    (pa, pe), (qa, qe) = a.expand(), b.expand()
    assert a.point_id(pa) != b.point_id(qa)  # analytic points are re-timed with the new settings
    assert a.point_id(pe) != b.point_id(qe)  # events points are re-run with the new settings
    assert a.point_id(pa) == sweep_from_dict(base).point_id(pa)  # and ids stay stable otherwise


def test_product_and_listed_points_have_stable_distinct_ids():
    spec = load_sweep(TINY)
    points = spec.expand()
    assert len(points) == 24
    ids = [spec.point_id(p) for p in points]
    assert len(set(ids)) == 24 and ids == [load_sweep(TINY).point_id(p) for p in load_sweep(TINY).expand()]
    listed = sweep_from_dict({"points": [{"workload": "minilm-l6", "hardware": "loihi2", "w_bits": 4},
                                         {"workload": "minilm-l6", "hardware": "loihi2", "w_bits": 8}]})
    assert [p.w_bits for p in listed.expand()] == [4, 8]


def test_pareto_mask_keeps_only_undominated_points():
    x = [1.0, 2.0, 3.0, 2.0, float("nan")]
    y = [5.0, 3.0, 1.0, 4.0, 0.0]
    assert pareto_mask(x, y).tolist() == [True, True, True, False, False]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_scheduler_that_does_not_answer_is_a_clear_error_and_nothing_is_lost(tmp_path, cli):
    out = tmp_path / "out"
    (out / "points").mkdir(parents=True)
    (out / "points" / "keep.json").write_text('{"point_id": "keep", "index": 0}')
    before = sorted(p.name for p in out.rglob("*"))
    code, _, err = cli("sweep", str(TINY), "--out-dir", str(out), "--scheduler", f"tcp://127.0.0.1:{_free_port()}",
                       "--timeout", "2")
    assert code == 2 and "no Dask scheduler answered" in err and "nothing was run" in err
    assert sorted(p.name for p in out.rglob("*")) == before


def _start(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=ROOT,
                            start_new_session=True)


def _stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)


def _wait_until(done, what: str, timeout_s: float, poll_s: float = 0.05) -> None:
    """Poll ``done()`` until it is true; fail naming ``what`` after ``timeout_s`` seconds (a generous bound: the
    test waits for an event, never for a fixed time)."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        time.sleep(poll_s)


def test_sweep_on_a_loopback_dask_cluster_killed_half_way_resumes_exactly(tmp_path):
    """A real scheduler and two workers (separate processes on 127.0.0.1); the sweep is SIGKILLed once 6 points are
    written (not after a fixed time), then run again: every one of the 24 points appears exactly once."""
    spec = yaml.safe_load(TINY.read_text())
    spec["workloads"] = [str(TINY.parent / "tiny-bert.yaml")]
    spec["run"]["throttle_s"] = 0.6  # the 18 points left after the 6th take >= 5.4 s on 2 workers: still running
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(spec))
    sched_file = tmp_path / "scheduler.json"
    procs = [_start([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(sched_file)], tmp_path / "scheduler.log")]
    try:
        _wait_until(lambda: sched_file.exists() and sched_file.stat().st_size > 0, "the scheduler file",
                    timeout_s=120, poll_s=0.1)
        for i in range(2):
            procs.append(_start([str(BIN / "dask"), "worker", "--scheduler-file", str(sched_file), "--nthreads", "1",
                                 "--nworkers", "1", "--no-dashboard", "--name", f"w{i}"], tmp_path / f"worker{i}.log"))
        from dask.distributed import Client

        with Client(scheduler_file=str(sched_file), timeout=30) as c:
            c.wait_for_workers(2, timeout=60)
            address = c.scheduler.address
        assert address.startswith("tcp://127.0.0.1:")
        out = tmp_path / "results"
        cmd = [str(BIN / "neurosim"), "sweep", str(sweep_file), "--out-dir", str(out), "--scheduler", address]
        first = _start(cmd, tmp_path / "first.log")

        def points_written() -> int:  # finished points: not a writer's temporary (.<id>.json.XXXX.json)
            if not (out / "points").is_dir():
                return 0
            return sum(not p.name.startswith(".") for p in (out / "points").glob("*.json"))

        try:
            _wait_until(lambda: points_written() >= 6 or first.poll() is not None, "6 points written", timeout_s=300)
            assert first.poll() is None, (points_written(), (tmp_path / "first.log").read_text())
            os.killpg(first.pid, signal.SIGKILL)  # no chance to clean up
            first.wait(10)
        finally:
            _stop(first)
        done_at_kill = points_written()  # SIGKILL may leave a temporary behind; the sweep does not count it
        assert 6 <= done_at_kill < 24, (done_at_kill, (tmp_path / "first.log").read_text())
        second = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert second.returncode == 0, second.stderr + second.stdout
        assert f"{done_at_kill} already done" in second.stdout + second.stderr
        assert f"ran {24 - done_at_kill} points" in second.stdout
        df = pd.read_csv(out / "results.csv")
        ids = [load_sweep(sweep_file).point_id(p) for p in load_sweep(sweep_file).expand()]
        assert sorted(df["point_id"]) == sorted(ids)  # every point exactly once
        assert df["point_id"].is_unique and (df["status"] == "ok").all()
        assert df["worker"].nunique() == 2  # both workers took part
        assert (df["energy_per_token_uJ"] > 0).all() and (df["latency_ns_per_token"] > 0).all()
        assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / "results.parquet").exists()
    finally:
        for p in reversed(procs):
            _stop(p)


def test_a_mistyped_workload_is_a_failed_point_and_the_sweep_exits_non_zero(tmp_path, cli):
    """Only a mapping that does not fit the hardware is 'infeasible' (a finished point); any other error (here a
    mistyped workload) fails its point: counted and named in one line, recorded with its error in failed/ and
    results.csv (status 'failed'; not a finished point: the next run retries it), exit code 2."""
    sweep = tmp_path / "typo.yaml"
    sweep.write_text(yaml.safe_dump({"name": "typo", "run": {"seq_len": 16, "placement": "serpentine"}, "points": [
        {"workload": str(TINY.parent / "tiny-bert.yaml"), "hardware": "loihi2"},
        {"workload": "minilm-l6x", "hardware": "loihi2"},
        {"workload": "spikingbert-4l", "hardware": "loihi2", "w_bits": 8}]}))
    out = tmp_path / "out"
    code, stdout, err = cli("sweep", str(sweep), "--out-dir", str(out), "--workers", "1")
    assert code == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: 1 of 3 points failed") and "workload=minilm-l6x" in last, err
    assert "unknown workload 'minilm-l6x'" in last and "Traceback" not in err
    assert "ran 2 points, 1 failed" in stdout
    df = pd.read_csv(out / "results.csv")
    assert list(df["workload"].str.rsplit("/", n=1).str[-1]) == ["tiny-bert.yaml", "minilm-l6x", "spikingbert-4l"]
    assert list(df["status"]) == ["ok", "failed", "infeasible"]  # the mistyped point is recorded with its error
    assert "unknown workload 'minilm-l6x'" in df["error"].iloc[1]
    assert "needs" in df["error"].iloc[2] and "neuro cores" in df["error"].iloc[2]  # the mapper's capacity message
    assert len(list((out / "points").glob("*.json"))) == 2  # finished points only: the failed one is retried
    assert len(list((out / "failed").glob("*.json"))) == 1


def test_missing_sweep_extra_is_a_one_line_error_naming_the_extra(tmp_path, cli, monkeypatch):
    """A missing optional extra is one line with its install command, before anything is written (an import of
    pyarrow or dask.distributed that fails is simulated)."""
    import builtins

    real_import = builtins.__import__

    def failing_import(name, *args, **kwargs):
        if name in ("pyarrow", "dask.distributed"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", failing_import)
    out = tmp_path / "out"
    code, _, err = cli("sweep", str(TINY), "--out-dir", str(out))
    assert code == 2
    assert err == "error: neurosim sweep needs the 'sweep' extra: pip install 'neurosim[sweep]'\n"
    assert not out.exists()


def test_events_engine_points_count_like_the_analytic_ones_and_time_by_simulation(tmp_path):
    """A 4-point sweep on a LocalCluster: tiny spiking BERT (1024 tokens) on Loihi 2 with both engines, and a model
    that does not fit Loihi 2 with both. The events point's counts agree with the analytic point's within 1 %
    (same graph, same mapping, spikes drawn from the same rates); its latency and throughput are the simulator's."""
    from neurosim.pipeline import run_workload
    from neurosim.sweep.evaluate import point_sets
    from neurosim.sweep.runner import run_sweep

    tiny = str(TINY.parent / "tiny-bert.yaml")
    spec = sweep_from_dict({
        "name": "engines",
        "points": [{"workload": tiny, "hardware": "loihi2", "engine": "analytic"},
                   {"workload": tiny, "hardware": "loihi2", "engine": "events"},
                   {"workload": "spikingbert-4l", "hardware": "loihi2", "w_bits": 8, "engine": "analytic"},
                   {"workload": "spikingbert-4l", "hardware": "loihi2", "w_bits": 8, "engine": "events"}],
        "run": {"seq_len": 1024, "placement": "serpentine"},
        "events": {"tokens": None, "context": 0, "sync": True, "seed": 0},
    })
    out = tmp_path / "out"
    res = run_sweep(spec, out, workers=2, echo=lambda m: None)
    assert res.ran == 4 and not res.failed
    df = pd.read_csv(out / "results.csv")
    assert list(df["engine"]) == ["analytic", "events", "analytic", "events"]
    an, ev = df.iloc[0], df.iloc[1]
    assert an["status"] == ev["status"] == "ok" and an["tokens"] == ev["tokens"] == 1024
    for col in ("acs", "spikes", "messages", "hops_onchip", "energy_paper_per_token_uJ"):
        assert ev[col] == pytest.approx(an[col], rel=0.01), col
    assert ev["acs"] != an["acs"]  # drawn spikes, not the expectation
    # infeasible points are reported alike by both engines, with the mapper's reason
    bad = df.iloc[2:]
    assert (bad["status"] == "infeasible").all() and bad["error"].str.contains("needs .* neuro cores").all()
    assert bad["error"].iloc[0] == bad["error"].iloc[1]
    # latency and throughput come from the simulator (the same run, simulated directly), not the analytic model
    sim = run_workload(tiny, "loihi2", tokens=1024, seed=0, sync=True, strategy="output", placement="serpentine",
                       sets=point_sets(spec.points[1].model_dump(), spec.run.model_dump()))
    assert ev["latency_ns_per_token"] == pytest.approx(sim.timing.latency_per_token_ns, rel=1e-9)
    assert ev["throughput_tokens_per_s"] == pytest.approx(sim.timing.throughput_tokens_per_s, rel=1e-9)
    assert ev["energy_static_J"] == pytest.approx(sim.static_pj * 1e-12, rel=1e-9)
    # one latency model: the analytic point is timed by the same simulation (was: a separate first-order model
    # that differed from it by more than 5 %)
    assert ev["latency_source"] == an["latency_source"] == "events simulated (sync)"
    assert an["latency_ns_per_token"] == ev["latency_ns_per_token"]
    assert an["throughput_tokens_per_s"] == ev["throughput_tokens_per_s"]
    assert an["energy_static_J"] == pytest.approx(ev["energy_static_J"], rel=1e-12)
    assert ev["barriers"] == pytest.approx(sim.action_totals()["barrier"]) and ev["sim_s"] > 0
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = run_sweep(spec, out, workers=1, echo=lambda m: None)  # resume: nothing left to run
    assert again.skipped == 4 and again.ran == 0 and len(pd.read_csv(out / "results.csv")) == 4
