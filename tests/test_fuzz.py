"""The fuzzer's short run (issue 14; ``make fuzz`` runs the long budget: 10,000 cases per format): every input
format, valid, mutated and hostile files through the CLI in-process; the only acceptable outcomes are a result or
exit 2 with one line naming the file. ``NEUROSIM_FUZZ_EXAMPLES`` sets the cases per format (default 200, with a
fixed seed so ``make test`` runs the same cases every time; ``make fuzz`` draws new ones)."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("hypothesis")

from fuzz.formats import FORMATS
from fuzz.run import fuzz_format

EXAMPLES = int(os.environ.get("NEUROSIM_FUZZ_EXAMPLES", "200"))
#: formats whose readers need an optional extra or a real-model package
NEEDS = {"nir": "nir", "graph": "nir", "rates": "tokenizers", "text": "tokenizers"}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_generated_input_gives_a_result_or_one_line_naming_the_file(fmt, tmp_path):
    if NEEDS.get(fmt):
        pytest.importorskip(NEEDS[fmt])
    tally = fuzz_format(fmt, EXAMPLES, timeout_s=300.0, seed=14, keep=tmp_path / "failures")
    assert tally.tried >= min(EXAMPLES, 20), f"{fmt}: only {tally.tried} cases were generated"
    assert tally.failed == 0, "\n".join(f"{o.kind} ({c.kind} {c.note}): {o.detail}  [{tmp_path / 'failures'}]"
                                        for c, o in tally.failures[:10])
