"""`neurosim quality`: how close a spiking encoder's sentence embeddings stay to the full-precision model's, per
weight format and number of time steps T (the encoder counterpart of `neurosim ppl`)."""

from __future__ import annotations

import sys

import typer

from neurosim.commands._common import FORMAT_HELP


def quality_cmd(
    workload: str = typer.Argument(..., help="encoder workload with a real model: spikingbert-minilm-l6, minilm-l6 "
                                   "(or .yaml)"),
    steps: list[int] = typer.Option([], "--steps", "-T", help="time steps T (the workload's unfold); repeat for a "
                                    "curve: -T 8 -T 16 -T 32 (default: the workload's)"),
    weights: list[str] = typer.Option([], "--weights", help="weight format: workload (default), fp, binary (1-bit), "
                                      "ternary (1.58-bit), int2..int16; repeat to compare"),
    text: str | None = typer.Option(None, "--text", help="UTF-8 text file (default: the shipped public-domain text); "
                                    "one passage per non-empty line"),
    tokens: int = typer.Option(512, "--tokens", help="use the text's first passages, up to N tokens"),
    sets: list[str] = typer.Option([], "--set", help="override a workload field for every run, e.g. --set lif.leak=0.9"),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
) -> None:
    """Cosine similarity of each passage's sentence embedding (mean-pooled last hidden states, L2-normalized) to the
    non-spiking full-precision model's, for each weight format and T, with the spikes fired and their ratio to the
    fp-weight run at the same T (seed 003's spike-count ratio)."""
    from neurosim.commands._common import check_format, json_document, print_frame
    from neurosim.functional.quality import embedding_quality

    check_format(fmt)
    inp, df = embedding_quality(workload, steps or None, weights or None, sets, text, tokens)
    passages, n_tok = int(df["sentences"].iloc[0]), int(df["tokens"].iloc[0])
    reference = f"{inp.model.name} in floating point, no spikes (the same passages)"
    if fmt == "json":
        out = {"workload": inp.spec.name, "model": inp.model.name, "text": inp.text_where, "passages": passages,
               "tokens": n_tok, "reference": reference, "embedding": "mean pooling over every token, L2-normalized",
               "runs": df.drop(columns=["sentences", "tokens"]).to_dict(orient="records")}
        sys.stdout.write(json_document(out))
        return
    if fmt == "csv":
        print_frame(df, "csv")
        return
    cols = ["weights", "w_label", "steps", "cos_mean", "cos_min", "rate", "spikes", "spikes_vs_fp"]
    print_frame(df[cols], fmt, title=f"{inp.spec.name} on {inp.model.name}: sentence-embedding cosine to the fp "
                f"model, {passages} passages ({n_tok} tokens)")
    line = (f"text: {inp.text_where}; reference: {reference}; spikes_vs_fp: spikes / the fp-weight run's at the same "
            "T (seed 003: 1.06 for 1.58-bit on MRPC)")
    from neurosim.commands._common import md_text

    sys.stdout.write(("\n- " + md_text(line) if fmt == "md" else line) + "\n")


def register(app: typer.Typer) -> None:
    app.command("quality")(quality_cmd)
