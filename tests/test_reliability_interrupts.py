"""Interrupt-safe writers (issue 14): every command that writes leaves, after SIGINT or SIGTERM at any moment, either
the old output or the complete new one, and no temporary file.

Each writer is run in a subprocess with ``NEUROSIM_PROGRESS=lines``; every write announces itself on stderr (``io:
writing PATH``, and with ``NEUROSIM_HOLD_WRITE=SECONDS:NAME`` it waits with the complete new file still under its
temporary name: ``io: holding PATH``). The tests signal on those lines, never after a fixed sleep:

* ``hold``: SIGINT while the new file waits under its temporary name: the old output must be intact, exit 130;
* ``writing``: SIGTERM the moment the write starts: the old output or the complete new one (all the files of a
  group together), exit 143 (or 0 when the command finished first).

``make interrupts`` (or ``NEUROSIM_LOOP=20``, see docs/reliability.md) runs them in a loop.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "examples" / "sweeps" / "tiny-bert.yaml")
EXE = str(Path(sys.executable).with_name("neurosim"))
OLD = b"old output\n"
VARIANTS = [pytest.param("hold", signal.SIGINT, id="SIGINT-holding"),
            pytest.param("writing", signal.SIGTERM, id="SIGTERM-writing")]
#: dot files a writer may leave (manifests and locks), as opposed to temporaries
KEPT_DOTFILES = {".neurosim-report", ".sweep.lock"}


def interrupt(args: list[str], cwd: Path, variant: str, sig: int, target: str, timeout_s: float = 900) -> tuple[int, str]:
    """Run ``neurosim ARGS`` and send ``sig`` on the first stderr line that says the write of a path containing
    ``target`` is under way (``variant``: ``hold`` or ``writing``); (exit code, stderr)."""
    env = {**os.environ, "NEUROSIM_PROGRESS": "lines"}
    if variant == "hold":
        env["NEUROSIM_HOLD_WRITE"] = f"300:{target}"
    proc = subprocess.Popen([EXE, *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    sign = "io: holding " if variant == "hold" else "io: writing "
    seen: list[str] = []
    timer = threading.Timer(timeout_s, proc.kill)
    timer.start()
    try:
        for line in proc.stderr:
            seen.append(line)
            if line.startswith(sign) and target in line:
                proc.send_signal(sig)
                break
        else:
            raise AssertionError(f"no {sign!r}{target} line (exit {proc.wait()}):\n{''.join(seen)[-3000:]}")
        rest = proc.stderr.read()
        code = proc.wait(timeout=timeout_s)
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, "".join(seen) + rest


def expect_exit(code: int, variant: str, sig: int, err: str) -> None:
    if variant == "hold":
        assert code == 128 + sig, err[-3000:]
        assert "interrupted: no output file was left half-written" in err
    else:  # 0: finished before the signal; 128 + sig: interrupted; -sig: the signal came after the command's work,
        # as the interpreter exited (no handler left), which a shell reports as 128 + sig too; the files are checked
        assert code in (0, 128 + sig, -sig), err[-3000:]


def no_temporaries(folder: Path) -> None:
    left = [str(p.relative_to(folder)) for p in folder.rglob(".*") if p.name not in KEPT_DOTFILES]
    assert left == [], f"temporaries left behind: {left}"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def old_files(folder: Path, *names: str) -> list[Path]:
    out = []
    for n in names:
        p = folder / n
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(OLD)
        out.append(p)
    return out


def complete_png(p: Path) -> bool:
    data = p.read_bytes()
    return data.startswith(b"\x89PNG\r\n\x1a\n") and data.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82")


@pytest.mark.parametrize("variant, sig", VARIANTS)
def test_map_out(tmp_path, variant, sig):
    (m,) = old_files(tmp_path, "m.json")
    code, err = interrupt(["map", TINY, "--hw", "loihi2", "--out", "m.json", "--heatmap", "h.png"], tmp_path, variant,
                          sig, "m.json")
    expect_exit(code, variant, sig, err)
    if variant == "hold" or m.read_bytes() == OLD:
        assert m.read_bytes() == OLD
    else:
        from neurosim.mapping import load_mapping

        assert load_mapping(m).hardware == "loihi2"
    if (tmp_path / "h.png").exists():
        assert complete_png(tmp_path / "h.png")
    no_temporaries(tmp_path)


@pytest.mark.parametrize("variant, sig", VARIANTS)
def test_simulate_out_and_save_run(tmp_path, variant, sig):
    out, run = old_files(tmp_path, "o.csv", "r.json")
    code, err = interrupt(["simulate", TINY, "--hw", "loihi2", "--tokens", "4", "--format", "csv", "--out", "o.csv",
                           "--save-run", "r.json"], tmp_path, variant, sig, "o.csv")
    expect_exit(code, variant, sig, err)
    if variant == "hold" or out.read_bytes() == OLD:
        assert out.read_bytes() == OLD and run.read_bytes() == OLD  # the two files go together
    else:
        import pandas as pd

        from neurosim.report.record import load_run

        assert len(pd.read_csv(out)) > 0 and load_run(run).tokens == 4
    no_temporaries(tmp_path)


@pytest.mark.parametrize("variant, sig", VARIANTS)
def test_report_out_dir(tmp_path, variant, sig, cli):
    rep = tmp_path / "rep"
    code, _, err = cli("report", TINY, "--hw", "loihi2", "--out-dir", str(rep))
    assert code == 0, err
    before = snapshot(rep)
    code, err = interrupt(["report", TINY, "--hw", "loihi2", "--set", "unfold=4", "--out-dir", "rep"], tmp_path,
                          variant, sig, "rep")
    expect_exit(code, variant, sig, err)
    after = snapshot(rep)
    if variant == "hold" or after == before:
        assert after == before
    else:  # the complete new report: every file its manifest lists, the page whole
        manifest = json.loads((rep / ".neurosim-report").read_text())
        assert sorted(manifest["files"]) == sorted(n for n in after if n != ".neurosim-report")
        assert (rep / "index.html").read_text().rstrip().endswith("</html>")
    no_temporaries(tmp_path)


@pytest.mark.parametrize("variant, sig", VARIANTS)
def test_reproduce_out_dir(tmp_path, variant, sig):
    names = ("sdllm_cells.csv", "sdllm_figures.csv", "sdllm.json", "README.md")
    files = old_files(tmp_path / "repro", *names)
    code, err = interrupt(["reproduce", "sdllm", "--out-dir", "repro"], tmp_path, variant, sig, "sdllm_cells.csv")
    if code == 2 and "cells outside" in err:  # the reproduction's own verdict, not an interrupt: all files written
        code = 0
    expect_exit(code, variant, sig, err)
    olds = [f.read_bytes() == OLD for f in files]
    assert all(olds) or not any(olds), dict(zip(names, olds))  # the four files go together
    if not any(olds):
        assert "summary" in json.loads((tmp_path / "repro" / "sdllm.json").read_text())
    assert variant != "hold" or all(olds)
    no_temporaries(tmp_path)


@pytest.mark.parametrize("variant, sig", VARIANTS)
def test_sweep_out_dir(tmp_path, variant, sig):
    pytest.importorskip("distributed", reason="sweeps need the 'sweep' extra")
    sweep = tmp_path / "s.yaml"
    sweep.write_text(json.dumps({"name": "interrupt", "run": {"seq_len": 8, "placement": "serpentine"},
                                 "points": [{"workload": TINY, "hardware": "loihi2", "w_bits": b} for b in (2, 4, 8)]}))
    (results,) = old_files(tmp_path / "out", "results.csv")
    code, err = interrupt(["sweep", "s.yaml", "--out-dir", "out", "--workers", "1"], tmp_path, variant, sig,
                          "points/")
    expect_exit(code, variant, sig, err)
    points = sorted((tmp_path / "out" / "points").glob("*.json"))
    rows = [json.loads(p.read_text()) for p in points]  # every point file is whole
    if variant == "hold":
        assert points == [] and results.read_bytes() == OLD
    if results.read_bytes() != OLD:
        import pandas as pd

        assert sorted(pd.read_csv(results)["point_id"]) == sorted(r["point_id"] for r in rows)
    no_temporaries(tmp_path)


@pytest.mark.parametrize("variant, sig", VARIANTS)
def test_export_nir_out(tmp_path, variant, sig):
    nir = pytest.importorskip("nir")
    (n,) = old_files(tmp_path, "n.nir")
    code, err = interrupt(["export-nir", TINY, "--out", "n.nir"], tmp_path, variant, sig, "n.nir")
    expect_exit(code, variant, sig, err)
    if variant == "hold" or n.read_bytes() == OLD:
        assert n.read_bytes() == OLD
    else:
        assert len(nir.read(str(n)).nodes) > 2
    no_temporaries(tmp_path)


@pytest.mark.parametrize("variant, sig", VARIANTS)
def test_import_nir_out(tmp_path, variant, sig):
    nir = pytest.importorskip("nir")
    import numpy as np

    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([4])}),
                            "fc": nir.Linear(weight=np.ones((3, 4), dtype=np.float32)),
                            "lif": nir.LIF(tau=np.ones(3), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3)),
                            "output": nir.Output(output_type={"output": np.array([3])})},
                     edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])
    nir.write(str(tmp_path / "in.nir"), g)
    graph, params = old_files(tmp_path, "g.yaml", "g.params.npz")
    code, err = interrupt(["import-nir", "in.nir", "--out", "g.yaml"], tmp_path, variant, sig, "g.params.npz")
    expect_exit(code, variant, sig, err)
    olds = [graph.read_bytes() == OLD, params.read_bytes() == OLD]
    assert all(olds) or not any(olds), olds  # the graph and its weights go together
    assert variant != "hold" or all(olds)
    if not any(olds):
        from neurosim.interop.nir_import import load_network

        assert "fc" in load_network(graph).params
    no_temporaries(tmp_path)


@pytest.mark.models
@pytest.mark.parametrize("variant, sig", VARIANTS)
def test_rates_plot_and_save(tmp_path, variant, sig):
    pytest.importorskip("tokenizers")
    pngs = old_files(tmp_path / "plots", "rate_by_layer.png", "count_hist.png")
    (saved,) = old_files(tmp_path, "r.yaml")
    code, err = interrupt(["rates", "minilm-l6", "--set", "layers=1", "--tokens", "8", "--plot", "plots", "--save",
                           "r.yaml"], tmp_path, variant, sig, "rate_by_layer.png")
    if code == 2 and "needs the" in err:
        pytest.skip(err.strip().splitlines()[-1])
    expect_exit(code, variant, sig, err)
    for p in pngs:
        assert p.read_bytes() == OLD or (variant != "hold" and complete_png(p))
    assert pngs[0].read_bytes() == OLD or variant != "hold"
    if saved.read_bytes() != OLD:
        from neurosim.workloads.rates_file import load_rates

        assert load_rates(saved).layers
    no_temporaries(tmp_path)
