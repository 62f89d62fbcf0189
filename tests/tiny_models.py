"""A tiny random LLaMA-style model shared by the functional and event-driven tests."""

import numpy as np

from neurosim.functional.models.smollm2 import LlamaBlock, LlamaModel

#: the workload spec of :func:`tiny_model` (spike-driven, SDLLM's encoding)
TINY_SPEC = {"name": "tiny-llama", "family": "llama", "w_bits": 4, "a_encoding": "ternary", "a_bits": 4, "unfold": 8,
             "firing_rate": 0.2, "seq_len": 16,
             "model": {"layers": 2, "d_model": 48, "ffn": 96, "heads": 4, "kv_heads": 2, "vocab": 64,
                       "tied_embeddings": True}}
#: Kapoho Point with cores that take 32 inputs and 1 KiB: layers are cut into several pieces, and fan-ins above 32 are
#: split into chunks whose partial sums meet on accumulator cores
SMALL_CORES = ["core.max_fan_in.value=32", "core.synapse_memory.value=1 KiB"]


def tiny_model(seed: int = 0) -> LlamaModel:
    rng = np.random.default_rng(seed)
    d, f, h, kv, hd, v = 48, 96, 4, 2, 12, 64

    def mat(o, i):
        return (rng.standard_normal((o, i)) / np.sqrt(i)).astype(np.float32)

    blocks = [LlamaBlock(attn_norm=(1 + 0.1 * rng.standard_normal(d)).astype(np.float32), q=mat(h * hd, d),
                         k=mat(kv * hd, d), v=mat(kv * hd, d), o=mat(d, h * hd),
                         ffn_norm=(1 + 0.1 * rng.standard_normal(d)).astype(np.float32), gate=mat(f, d),
                         up=mat(f, d), down=mat(d, f)) for _ in range(2)]
    embed = rng.standard_normal((v, d)).astype(np.float32)
    return LlamaModel(name="tiny", layers=2, d_model=d, ffn=f, heads=h, kv_heads=kv, head_dim=hd, vocab=v,
                      rope_theta=10000.0, norm_eps=1e-5, embed=embed, blocks=blocks,
                      final_norm=np.ones(d, dtype=np.float32), lm_head=embed)
