"""`neurosim reproduce sdllm`: every printed FLOPs/Power figure of seed 002, within 1.2 % and at print precision."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from neurosim.reproduce import (
    APPENDIX_TABLE,
    MAIN_TABLES,
    QKV_TABLE,
    at_print,
    decimals,
    figures_table,
    paper_table,
    read_rate,
    read_reference,
    reproduce_sdllm,
    summary,
)


@pytest.fixture(scope="module")
def cells() -> pd.DataFrame:
    return reproduce_sdllm()


def _row(cells: pd.DataFrame, scope: str, method: str) -> pd.Series:
    rows = cells[(cells["scope"] == scope) & (cells["method"] == method)]
    assert len(rows) == 1, (scope, method)
    return rows.iloc[0]


def test_all_59_cells_within_1_2_percent_and_115_of_118_figures_equal_at_print(cells):
    s = summary(cells)
    assert (s["cells"], s["figures"]) == (59, 118)
    assert s["cells_within_tolerance"] == 59, cells[["scope", "method", "rel_err_flops", "rel_err_power"]]
    assert s["figures_equal_at_print"] >= 115


def test_every_figure_not_equal_at_print_has_a_found_cause(cells):
    figures = figures_table(cells)
    assert len(figures) == 118
    assert figures["equal_at_print"].sum() == summary(cells)["figures_equal_at_print"]
    assert (figures.loc[figures["equal_at_print"], "cause"] == "").all()
    causes = figures.loc[~figures["equal_at_print"], "cause"]
    assert (causes != "").all()
    assert not causes.str.startswith("no cause found").any(), causes.tolist()


def test_equal_at_print_compares_the_printed_text_with_its_decimals(cells):
    assert decimals("0.100") == 3 and decimals("1.92") == 2 and decimals("7") == 0
    for _, c in cells.iterrows():
        for fig in ("flops", "power"):
            text = c[f"{fig}_printed"]
            assert c[f"{fig}_at_print"] == at_print(c[f"ours_{fig}"], decimals(text))
            assert bool(c[f"{fig}_equal_at_print"]) == (c[f"{fig}_at_print"] == text)


def test_at_print_rounds_half_up_on_the_decimal_value():
    assert at_print(5.05 * 0.9, 2) == "4.55"  # the float is just under 4.545; the paper's A1 prints 4.55
    assert at_print(0.0825, 3) == "0.083"
    assert at_print(0.099368, 3) == "0.099"
    assert at_print(31.769, 2) == "31.77"


def test_each_scope_belongs_to_one_paper_table():
    assert paper_table("model") is MAIN_TABLES
    assert paper_table("qkv") is QKV_TABLE
    assert all(paper_table(p) is APPENDIX_TABLE for p in ("q_proj", "o_proj", "down_proj"))
    assert not MAIN_TABLES.energy_from_printed_flops and MAIN_TABLES.rate == "as printed"
    assert QKV_TABLE.energy_from_printed_flops and QKV_TABLE.rate == "truncated"
    assert APPENDIX_TABLE.energy_from_printed_flops and APPENDIX_TABLE.rate == "as printed"


def test_tables_3_and_a1_price_the_printed_flops_the_main_tables_the_unrounded(cells):
    fp16_qkv = _row(cells, "qkv", "FP16")
    assert fp16_qkv["ours_power"] == pytest.approx(float(fp16_qkv["flops_at_print"]) * 4.6)
    assert fp16_qkv["ours_power_unrounded"] == pytest.approx(fp16_qkv["ours_flops"] * 4.6)
    a1 = cells[cells["scope"] == "q_proj"].iloc[0]
    assert a1["ours_power"] == pytest.approx(float(a1["flops_at_print"]) * 0.9)
    fp16 = cells[(cells["scope"] == "model") & (cells["method"] == "FP16") & (cells["model"] == "LLaMA2-7B")].iloc[0]
    assert fp16["ours_power"] == fp16["ours_power_unrounded"] == pytest.approx(fp16["ours_flops"] * 4.6)


def test_rates_read_per_table():
    ref = read_reference()
    sdllm_qkv = ref[(ref["scope"] == "qkv") & (ref["method"] == "SDLLM")].iloc[0]
    assert read_rate(ref, sdllm_qkv) == (pytest.approx(0.2230), "Table A1's q/k/v rate")
    clipped = ref[(ref["scope"] == "qkv") & ref["method"].str.contains("q=0.6")].iloc[0]
    rate, reading = read_rate(ref, clipped)
    assert rate == pytest.approx(0.1005) and "truncated" in reading
    model = ref[(ref["scope"] == "model") & (ref["method"] == "SDLLM")].iloc[0]
    assert read_rate(ref, model) == (pytest.approx(float(model["rate_printed"])), "as printed")
    assert read_rate(ref, ref[ref["method"] == "FP16"].iloc[0]) == (None, "")


def test_reproduce_cli_prints_both_counts_and_writes_the_flags(cli, tmp_path):
    from neurosim.commands.reproduce import summary_lines

    code, out, err = cli("reproduce", "sdllm", "--out-dir", str(tmp_path), "--format", "json")
    assert code == 0, err
    result = json.loads(out)  # --format json: one document (its table output is the same summary's lines)
    text = "\n".join(summary_lines(result["summary"], tmp_path))
    assert "59/59 cells within 1.2 %" in text
    equal = int(text.split("/118 printed figures equal at print precision")[0].split()[-1])
    assert equal >= 115 and result["files"] == [str(tmp_path / n) for n in ("sdllm_cells.csv", "sdllm_figures.csv",
                                                                            "sdllm.json", "README.md")]
    figures = pd.read_csv(tmp_path / "sdllm_figures.csv", keep_default_na=False)
    assert len(figures) == 118 and int(figures["equal_at_print"].sum()) == equal
    doc = json.loads((tmp_path / "sdllm.json").read_text())
    assert doc["summary"]["figures_equal_at_print"] == equal
    assert all("equal_at_print" in f for f in doc["figures"])
    cells_csv = pd.read_csv(tmp_path / "sdllm_cells.csv", keep_default_na=False)
    assert {"flops_equal_at_print", "power_equal_at_print"} <= set(cells_csv.columns)
    readme = (tmp_path / "README.md").read_text()
    assert f"{equal} of 118 printed figures equal at print precision" in readme
    for cause in figures.loc[~figures["equal_at_print"].astype(bool), "cause"]:
        assert cause.replace("|", "\\|") in readme
