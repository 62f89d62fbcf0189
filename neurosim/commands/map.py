"""`neurosim map WORKLOAD --hw NAME`: partition, place and route a spiking LM onto a hardware model, and report it."""

from __future__ import annotations

import sys

import typer

from neurosim.commands._common import FORMAT_HELP
from neurosim.defaults import DEFAULTS


def map_cmd(
    workload: str = typer.Argument(..., help="built-in workload name (see `neurosim list`), a workload .yaml, or "
                                   "your own model: a LLaMA GGUF file or a model folder (config.json + safetensors)"),
    hw_name: str | None = typer.Option(None, "--hw", help="hardware model (see `neurosim hw list`) or a hardware "
                                       ".yaml (required; loihi2 when omitted is deprecated)"),
    strategy: str = typer.Option(DEFAULTS.strategy, "--strategy",
                                 help="output (cores own output neurons; spikes multicast) or input (fan-in split; "
                                      "partial sums to accumulator cores)"),
    placement: str = typer.Option(DEFAULTS.placement, "--placement", help="locality (lower traffic x hops) or serpentine"),
    mapping_file: str | None = typer.Option(None, "--mapping",
                                            help="a user placement (YAML/JSON: {placement: {layer: [[chip,x,y,slot],"
                                                 " ...]}}) or a mapping saved with --out"),
    input_chunk: int = typer.Option(1024, "--input-chunk", help="fan-in chunk width of input-split"),
    split_fan_in: bool = typer.Option(True, "--split-fan-in/--no-split-fan-in",
                                      help="let output-split cut a fan-in above the core's limit into chunks"),
    kv_cache: str = typer.Option("cores", "--kv-cache", help="where the KV cache lives: cores (neuro-core SRAM) or "
                                                             "none (not mapped)"),
    convention: str = typer.Option(DEFAULTS.convention, "--convention",
                                   help="which layers the graph has: real (the model as it is; default) or paper"),
    sets: list[str] = typer.Option([], "--set", help="override a workload field: --set w_bits=6"),
    hw_sets: list[str] = typer.Option([], "--hw-set", help="override a hardware figure: "
                                                           "--hw-set core.synapse_memory.value='192 KiB'"),
    out: str | None = typer.Option(None, "--out", "-o", help="write the mapping to this file (JSON, or YAML by "
                                   "suffix)"),
    heatmap: str | None = typer.Option(None, "--heatmap", help="write a mesh heatmap PNG here"),
    rates: str | None = typer.Option(None, "--rates", help="measured rates (a `neurosim rates --save` file): the "
                                     "traffic the mapper weighs is the measured one"),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP + "; csv: one row per layer"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress display (there is none when stderr is not "
                                                            "a terminal)"),
) -> None:
    """Map a workload onto a hardware model: cores and chips used, per-core utilization, per-layer placement,
    spikes, messages and hops per token, link load; optional mapping file and heatmap."""
    from neurosim.api import map as map_workload
    from neurosim.commands._common import check_format, json_document

    check_format(fmt)
    if hw_name is None:
        from neurosim.commands._vocabulary import deprecated

        deprecated("`neurosim map` without --hw maps onto loihi2; give `--hw loihi2` (--hw is required, as in "
                   "simulate and report)")
        hw_name = "loihi2"
    from neurosim.report.progress import steps

    with steps("map", quiet=quiet) as step:
        res = map_workload(workload, hw_name, strategy=strategy, placement=placement, mapping=mapping_file,
                           input_chunk=input_chunk, split_fan_in=split_fan_in, kv_cache=kv_cache, sets=sets,
                           hw_sets=hw_sets, convention=convention, rates=rates, save=out, heatmap=heatmap,
                           progress=step)
    rep, m = res.report, res.mapping
    s = rep["summary"]
    if fmt == "json":
        body = res.to_dict()
        body["files"] = {"mapping": out, "heatmap": heatmap}
        sys.stdout.write(json_document(body))
        return
    if fmt == "csv":
        sys.stdout.write(layers_with_total(rep).to_csv(index=False))
        return
    _print_table(rep, m, out, heatmap, fmt)
    del s


def layers_with_total(rep):
    """The per-layer table and its ``total`` row: cores, chips and traffic of the whole mapping (the summary's)."""
    from neurosim.commands._common import with_total

    s = rep["summary"]
    return with_total(rep["layers"], "layer", {"cores": s["cores"], "chips": s["chips"],
                                               "spikes_per_token": s["spikes_per_token"],
                                               "messages_per_token": s["messages_per_token"],
                                               "hops_onchip_per_token": s["hops_onchip_per_token"],
                                               "hops_chip_per_token": s["hops_chip_per_token"]})


def _print_table(rep, m, out, heatmap, fmt: str = "table") -> None:
    import pandas as pd

    from neurosim.commands._common import human, print_frame, print_lines

    s = rep["summary"]
    layers = rep["layers"]
    shown = layers[layers["placement"] != "host"].drop(columns=["note"])
    print_frame(shown, fmt, title=f"{s['workload']} on {s['hardware']}: per-layer placement and traffic per token",
                human_cols=("neurons", "spikes_per_token", "messages_per_token", "hops_onchip_per_token",
                            "hops_chip_per_token"))
    util = pd.DataFrame([{"per core": k.replace("_utilization", ""), **{q: f"{v:.1%}" for q, v in s[k].items()}}
                         for k in ("memory_utilization", "neuron_utilization", "fan_in_utilization",
                                   "fan_out_utilization")])
    print_frame(util, fmt, title="utilization per used core (min / median / max)")
    print_frame(rep["payloads"], fmt, title="traffic per token by payload",
                human_cols=("messages_per_token", "hops_onchip_per_token", "hops_chip_per_token"))
    roles = ", ".join(f"{v} {k}" for k, v in s["pieces_by_role"].items())
    lines = [
        f"strategy {s['strategy']}, placement {s['placement']}",
        (f"chips used: {s['chips']} of {s['chips_in_system']}; cores used: {s['cores']} of {s['cores_in_system']} "
        f"({roles})"),
        (f"cores the weights need at their bits ({m.hw.core.synapse_memory.text()} a core): "
        f"{s['cores_min_for_weights']}; used / needed = {s['cores_over_min']:.2f}x"),
        (f"per token: spikes {human(s['spikes_per_token'])}, messages {human(s['messages_per_token'])}, hops "
        f"{human(s['hops_per_token'])} ({human(s['hops_onchip_per_token'])} on-chip, "
        f"{human(s['hops_chip_per_token'])} chip-to-chip)"),
        (f"link load per token: max {human(s['max_link_load_per_token'])}, mean "
        f"{human(s['mean_link_load_per_token'])} messages on an on-chip link; max "
        f"{human(s['max_chip_link_load_per_token'])} on a chip-to-chip link; network-bound throughput "
        f"{human(s['network_bound_tokens_per_s'])} tokens/s"),
    ]
    if "serpentine_hops_per_token" in s:
        lines.append(f"hops per token: serpentine {human(s['serpentine_hops_per_token'])} -> locality-aware "
                     f"{human(s['locality_hops_per_token'])} ({s['hops_saved_vs_serpentine']:.1%} fewer)")
    lines += [f"note: {n}" for n in rep["notes"]]
    notes = layers[layers["note"] != ""][["layer", "note"]].drop_duplicates("note")
    lines += [f"note ({r.layer}): {r.note}" for r in notes.itertuples()][:8]
    if out:
        lines.append(f"mapping written to {out}")
    if heatmap:
        lines.append(f"heatmap written to {heatmap}")
    print_lines(lines, fmt)


def register(app: typer.Typer) -> None:
    app.command("map")(map_cmd)
