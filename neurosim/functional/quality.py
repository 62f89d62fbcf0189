"""The sentence-embedding quality of a spiking encoder: how close each passage's embedding stays to the
full-precision model's, per weight format and number of time steps T (``neurosim quality``, the encoder counterpart of
``neurosim ppl``; also the committed report ``reports/rates/spikingbert-minilm-l6.md``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from neurosim.errors import NeurosimError
from neurosim.functional.engine import run
from neurosim.functional.runs import Inputs, inputs
from neurosim.functional.text import load_text
from neurosim.graph import Linear

#: weight formats a quality run can ask for, as workload overrides (``--weights``)
WEIGHT_FORMATS = {
    "fp": ["w_format=fp", "w_bits=16"],
    "binary": ["w_format=binary", "w_bits=1"],
    "ternary": ["w_format=ternary", "w_bits=2"],
}
WEIGHT_LABELS = {"fp": "fp32", "binary": "1-bit", "ternary": "1.58-bit"}


def weight_sets(name: str) -> list[str]:
    """``--weights NAME`` as workload overrides: fp, binary, ternary, intN (RTN per channel), or workload."""
    if name == "workload":
        return []
    if name in WEIGHT_FORMATS:
        return list(WEIGHT_FORMATS[name])
    if name.startswith("int") and name[3:].isdigit() and 2 <= int(name[3:]) <= 16:
        return ["w_format=int", f"w_bits={int(name[3:])}"]
    raise NeurosimError(f"--weights {name!r}; allowed: workload, fp, binary, ternary, int2..int16")


def split_passages(text: str) -> list[str]:
    """The text's passages: its non-empty lines (the shipped text has one paragraph of prose or dialogue per line),
    white space collapsed; each is one input of the sentence encoder."""
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def sentence_ids(model, text: str, tokens: int | None, where: str = "text") -> list[np.ndarray]:
    """Token ids of the text's first passages (:func:`split_passages`), as many as fit in ``tokens`` (at least
    one; all when None)."""
    if tokens is not None and tokens < 1:
        raise NeurosimError(f"--tokens {tokens}; allowed: an integer >= 1")
    out: list[np.ndarray] = []
    total = 0
    for sent in split_passages(text):
        ids = model.encode(sent)
        if ids.size == 0:
            continue
        if out and tokens is not None and total + ids.size > tokens:
            break
        out.append(ids)
        total += int(ids.size)
    if not out:
        raise NeurosimError(f"{where}: no passage with a token in it")
    return out


def sentence_embedding(hidden: np.ndarray) -> np.ndarray:
    """all-MiniLM-L6-v2's sentence embedding: the mean of the last hidden states over every token of the
    sentence ([CLS] and [SEP] included, as sentence-transformers' mean pooling does), L2-normalized."""
    e = hidden.astype(np.float64).mean(axis=0)
    n = np.linalg.norm(e)
    return e / n if n > 0 else e


def embedding_quality(workload: str, steps: list[int] | None = None, weights: list[str] | None = None,
                      sets: list[str] | None = None, text: str | Path | None = None,
                      tokens: int | None = 512) -> tuple[Inputs, pd.DataFrame]:
    """Cosine similarity of each passage's spiking sentence embedding to the full-precision model's, per weight
    format and time-step count T (``unfold``), with the spikes each run fired.

    One row per (weights, T): ``cos_mean``/``cos_min`` over the passages, the overall firing rate, the spike
    count and its ratio to the fp-weight run at the same T (seed 003's spike-count ratio; NaN without an fp run).
    """
    from neurosim.functional.engine import plan_from_graph
    from neurosim.functional.forward import ForwardState
    from neurosim.workloads.builders import build_graph
    from neurosim.workloads.spec import load_workload

    base = inputs(workload, sets, text, tokens)
    if base.model.family != "bert":
        raise NeurosimError(f"workload {base.spec.name}: the embedding quality is for encoders (family bert); "
                            f"{base.model.name} is a causal LM: use neurosim ppl")
    raw, where = load_text(text)
    sents = sentence_ids(base.model, raw, tokens, where)
    ref = [sentence_embedding(run(base.graph, base.model, ids, fp=True).hidden) for ids in sents]
    steps = [int(base.spec.effective_unfold)] if not steps else list(dict.fromkeys(int(t) for t in steps))
    if any(t < 1 for t in steps):
        raise NeurosimError(f"--steps {min(steps)}; allowed: integers >= 1")
    rows = []
    for wname in list(dict.fromkeys(weights or ["workload"])):
        for T in steps:
            spec = load_workload(workload, [*(sets or []), *weight_sets(wname), f"unfold={T}"])
            graph = build_graph(spec)
            if not any(layer.spiking for layer in graph.of_kind(Linear)):
                raise NeurosimError(f"workload {spec.name}: no spike-driven layer (a_encoding = "
                                    f"{spec.a_encoding!r}); the quality check compares a spiking run with fp")
            state = ForwardState(base.model, plan_from_graph(graph))
            cos, spikes, updates, t0 = [], 0, 0, time.perf_counter()
            for ids, r in zip(sents, ref):
                res = run(graph, base.model, ids, state=state)
                cos.append(float(sentence_embedding(res.hidden) @ r))
                for name in res.plan.encoders:
                    st = res.stats.get(name)
                    if st is not None:
                        spikes += st.spikes
                        updates += st.neuron_updates
            rows.append({"weights": wname if wname != "workload" else spec.weight_format,
                         "w_label": WEIGHT_LABELS.get(spec.weight_format, f"int{spec.w_bits}"),
                         "steps": T, "cos_mean": float(np.mean(cos)), "cos_min": float(np.min(cos)),
                         "cos_median": float(np.median(cos)), "rate": spikes / updates if updates else float("nan"),
                         "spikes": int(spikes), "sentences": len(sents), "tokens": int(sum(s.size for s in sents)),
                         "seconds": time.perf_counter() - t0})
    df = pd.DataFrame(rows)
    fp = {int(r.steps): r.spikes for r in df.itertuples() if r.weights == "fp"}
    df["spikes_vs_fp"] = [r.spikes / fp[int(r.steps)] if int(r.steps) in fp and fp[int(r.steps)] else float("nan")
                          for r in df.itertuples()]
    return base, df
