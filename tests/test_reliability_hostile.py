"""A report that cannot be turned against its reader (issue 14): every string from a user file is escaped in HTML
and Markdown, and a report page runs no script and fetches nothing (checked in headless Chromium); YAML is loaded
safely, NumPy files without pickle, and a user file cannot make neurosim read or write outside its folders."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "examples" / "sweeps" / "tiny-bert.yaml"
NAME = "<img src=x onerror=alert(1)>"
PAYLOADS = (NAME, "<script>alert(2)</script>", "<iframe src=https://neurosim.invalid/f>", "<svg onload=alert(3)>",
            "<img src=https://neurosim.invalid/p.png>")
RAW = ("<img src=x", "<img src=https", "<script", "<iframe", "<svg onload")


def hostile_inputs(folder: Path) -> tuple[Path, Path]:
    """A workload named ``<img src=x onerror=alert(1)>`` (its description, source, method and notes hostile too) and
    a hardware model whose name, description, notes and figure sources are."""
    import yaml

    w = yaml.safe_load(TINY.read_text())
    w.update(name=NAME, description=PAYLOADS[1], source=PAYLOADS[4], method=PAYLOADS[3],
             notes=[PAYLOADS[2], "[a link](javascript:alert(4)) | a pipe"])
    (folder / "w.yaml").write_text(yaml.safe_dump(w))
    hw = {"version": 1, "name": "<img src=x onerror=alert(5)>", "extends": "loihi2", "description": PAYLOADS[1],
          "notes": [PAYLOADS[2]],
          "core": {"max_neurons": {"value": 8192, "source": PAYLOADS[0], "assumption": PAYLOADS[3]}}}
    (folder / "hw.yaml").write_text(yaml.safe_dump(hw))
    return folder / "w.yaml", folder / "hw.yaml"


def assert_escaped(text: str, where: str) -> None:
    for raw in RAW:
        assert raw not in text, f"{where}: raw {raw!r}"


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory):
    from neurosim.cli import main

    folder = tmp_path_factory.mktemp("hostile")
    w, hw = hostile_inputs(folder)
    assert main(["report", str(w), "--hw", str(hw), "--mode", "statistical", "--tokens", "2", "--out-dir",
                 str(folder / "rep"), "--save-run", str(folder / "a.json")]) == 0
    assert main(["report", str(TINY), "--hw", "loihi2", "--out-dir", str(folder / "rep2"), "--save-run",
                 str(folder / "b.json")]) == 0
    assert main(["compare", str(folder / "a.json"), str(folder / "b.json"), "--out-dir", str(folder / "cmp"),
                 "--label", PAYLOADS[1], "--label", NAME]) == 0
    return folder


def test_every_user_string_is_escaped_in_the_html(hostile_report):
    for page in ("rep/index.html", "cmp/index.html"):
        text = (hostile_report / page).read_text(encoding="utf-8")
        assert_escaped(text, page)
        assert "&lt;img src=x onerror=alert(1)&gt;" in text  # shown, as text
        assert "Content-Security-Policy" in text and "default-src 'none'" in text


@pytest.mark.browser
def test_a_hostile_report_runs_no_script_and_fetches_nothing_in_chromium(hostile_report):
    pytest.importorskip("websocket", reason="websocket-client (the dev extra) drives Chromium over DevTools")
    from neurosim.report.browser import check_page, find_chromium

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium on this machine (make browser installs it)")
    for page in ("rep/index.html", "cmp/index.html"):
        check = check_page(hostile_report / page, chromium=chromium)
        assert check.dialogs == [], f"{page}: a script ran: {check.dialogs}"
        assert check.requests == [], f"{page}: the page fetched {check.requests}"
        assert check.active_elements == 0, f"{page}: {check.active_elements} elements could run script"
        assert check.console_errors == [], check.console_errors
        assert not check.broken_images


@pytest.mark.browser
def test_the_browser_check_sees_a_script_that_runs(tmp_path):
    """Not vacuous: the same payload unescaped (and no policy) opens a dialog and counts as active."""
    pytest.importorskip("websocket")
    from neurosim.report.browser import check_page, find_chromium

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium on this machine")
    page = tmp_path / "bad.html"
    page.write_text(f"<html><body><h1>{NAME}</h1><script>alert('ran')</script></body></html>")
    check = check_page(page, chromium=chromium)
    assert check.dialogs and check.active_elements >= 2


@pytest.mark.parametrize("args", [
    ["estimate", "{w}", "--format", "md"],
    ["hw", "show", "{hw}", "--format", "md"],
    ["simulate", "{w}", "--hw", "{hw}", "--tokens", "2", "--format", "md"],
    ["report", "{w}", "--hw", "{hw}", "--format", "md"],
])
def test_markdown_output_shows_user_text_as_text(args, tmp_path, cli):
    w, hw = hostile_inputs(tmp_path)
    code, out, err = cli(*[a.format(w=w, hw=hw) for a in args])
    assert code == 0, err
    assert_escaped(out, " ".join(args[:2]))
    assert "](javascript:" not in out
    for line in out.splitlines():  # a pipe inside a name does not add a table column
        if line.startswith("|") and "a pipe" in line:
            assert "\\|" in line


def test_yaml_is_loaded_safely(tmp_path, cli):
    """A YAML tag that would run code is refused in one line; nothing runs."""
    marker = tmp_path / "PWNED"
    for i, text in enumerate([f"!!python/object/apply:os.system ['touch {marker}']\n",
                              f"name: !!python/object/apply:os.system ['touch {marker}']\n"]):
        for kind, argv in (("workload", ["estimate", "{f}"]), ("hardware", ["hw", "show", "{f}"]),
                           ("sweep", ["sweep", "{f}", "--out-dir", str(tmp_path / "o"), "--dry-run"])):
            f = tmp_path / f"{kind}{i}.yaml"
            f.write_text(text)
            code, _, err = cli(*[a.format(f=f) for a in argv])
            assert code == 2 and str(f) in err and err.count("\n") == 1, (kind, err)
    assert not marker.exists()


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ.get('NEUROSIM_TEST_PWNED', '/nonexistent/PWNED')}",))


def test_numpy_files_are_read_without_pickle(tmp_path, cli, monkeypatch):
    """A graph's parameters file holding a pickled object (that would run a command when unpickled) is refused."""
    from test_snn_graphs import chain_net

    from neurosim.snn import save_network_files

    marker = tmp_path / "PWNED"
    monkeypatch.setenv("NEUROSIM_TEST_PWNED", str(marker))
    save_network_files(chain_net(width=16, layers=1, steps=4), tmp_path / "n.yaml")
    with open(tmp_path / "n.params.npz", "wb") as f:  # one object array in an .npz
        import zipfile

        with zipfile.ZipFile(f, "w") as z, z.open("fc0/weight.npy", "w") as member:
            np.lib.format.write_array(member, np.array([_Evil()], dtype=object), allow_pickle=True)
    assert pickle.dumps(_Evil())  # the object really pickles to a command
    code, _, err = cli("simulate", str(tmp_path / "n.yaml"), "--hw", "loihi2", "--mode", "exact")
    assert code == 2 and "n.params.npz" in err and err.count("\n") == 1, err
    assert not marker.exists()


@pytest.mark.parametrize("field, value", [("params_file", "../../../../etc/passwd"), ("params_file", "/etc/passwd"),
                                          ("params_file", "sub/n.params.npz"), ("spikes", "../outside.npz")])
def test_a_graph_file_cannot_point_neurosim_outside_its_folder(tmp_path, cli, field, value):
    import yaml
    from test_snn_graphs import chain_net

    from neurosim.snn import save_network_files

    save_network_files(chain_net(width=16, layers=1, steps=4), tmp_path / "n.yaml")
    g = yaml.safe_load((tmp_path / "n.yaml").read_text())
    if field == "params_file":
        g["meta"]["nir"]["params_file"] = value
    else:
        g["meta"]["spikes"] = value
    (tmp_path / "n.yaml").write_text(yaml.safe_dump(g))
    code, _, err = cli("simulate", str(tmp_path / "n.yaml"), "--hw", "loihi2", "--mode", "exact")
    assert code == 2 and f"meta.{'nir.' if field == 'params_file' else ''}{field}" in err and "no folders" in err, err


def test_names_inside_user_files_never_become_paths(tmp_path, cli):
    """Layer and graph names that look like paths (from a NIR file, a graph file) stay names: a report and an import
    write only inside the directory and beside the file they were given."""
    nir = pytest.importorskip("nir")
    n = 4
    evil = "../../../escaped"
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([n])}),
                            evil: nir.Linear(weight=np.ones((n, n), dtype=np.float32)),
                            "/tmp/abs": nir.LIF(tau=np.ones(n), r=np.ones(n), v_leak=np.zeros(n),
                                                v_threshold=np.ones(n)),
                            "output": nir.Output(output_type={"output": np.array([n])})},
                     edges=[("input", evil), (evil, "/tmp/abs"), ("/tmp/abs", "output")])
    work = tmp_path / "a" / "b" / "c"
    work.mkdir(parents=True)
    nir.write(str(work / "in.nir"), g)
    before = {p for p in tmp_path.rglob("*")}
    code, _, err = cli("import-nir", str(work / "in.nir"), "--out", str(work / "g.yaml"), "--name", evil)
    if code == 0:
        code, _, err = cli("report", str(work / "g.yaml"), "--hw", "loihi2", "--out-dir", str(work / "rep"))
    assert code in (0, 2) and "Traceback" not in err, err
    new = {p for p in tmp_path.rglob("*")} - before
    assert all(p == work / "rep" or work in p.parents for p in new), sorted(map(str, new))
    assert not (tmp_path / "escaped").exists() and not Path("/tmp/abs").exists()
    if (work / "rep" / "index.html").exists():
        assert_escaped((work / "rep" / "index.html").read_text(), "graph report")
        json.loads((work / "rep" / "run.json").read_text())


def test_names_that_look_like_formulas_or_hold_control_characters_are_drawn_as_text(tmp_path, cli, capsys):
    """A workload named ``a$\\frac{$b`` with a control character: matplotlib would parse ``$...$`` as a formula and
    fail (found by make fuzz: `compare` refused a valid run record, blaming the record); every figure draws it as
    written, and no warning about missing glyphs reaches stderr."""
    import yaml

    w = yaml.safe_load(TINY.read_text())
    w["name"] = "a$\\frac{$b_\x15\x8b"
    (tmp_path / "w.yaml").write_text(yaml.safe_dump(w))
    code, _, err = cli("report", str(tmp_path / "w.yaml"), "--hw", "loihi2", "--out-dir", str(tmp_path / "rep"),
                       "--save-run", str(tmp_path / "a.json"))
    assert code == 0, err
    code, _, err = cli("report", str(TINY), "--hw", "loihi2", "--out-dir", str(tmp_path / "rep2"), "--save-run",
                       str(tmp_path / "b.json"))
    assert code == 0, err
    code, _, err = cli("compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--out-dir",
                       str(tmp_path / "cmp"))
    assert code == 0, err
    assert "Glyph" not in err and (tmp_path / "cmp" / "compare_energy.png").stat().st_size > 0
