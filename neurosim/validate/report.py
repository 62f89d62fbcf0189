"""Write ``reports/calibration/``: the neurosim / SANA-FE comparison as Markdown tables, JSON and a figure.

The text is generated from the measured rows (:func:`neurosim.validate.compare.compare`) and says, per network,
what was compared, the measured figures, which targets hold and which do not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.io import write_json_atomic, write_text_atomic

RESULTS = "results.json"
FIGURE = "ratios.png"
TARGET_TEXT = ("total dynamic energy within 12 %, simulated time within 25 %, each component (synapse, soma, "
               "network) within 25 % of SANA-FE's, at the same prices")


def load_results(out: str | Path) -> list[dict[str, Any]]:
    """The rows of an earlier run (so a run of some networks keeps the others)."""
    p = Path(out) / RESULTS
    if not p.is_file():
        return []
    return list(json.loads(p.read_text(encoding="utf-8")).get("networks", []))


def _uJ(pj: float) -> str:
    return f"{pj * 1e-6:,.3f}"


def _ratio(r: float | None, ok: bool | None) -> str:
    if r is None:
        return "n/a"
    return f"{r:.3f}" + ("" if ok is None else (" ok" if ok else " **out**"))


#: why a network misses a target, when it does (the analysis behind the measured figures; nothing is tuned)
WHY = {
    "graded-256x4b": ("neurosim sends one message and counts one synaptic op per synapse for each graded event, "
                      "also on Loihi (1-bit messages); SANA-FE, like Loihi 1, carries a 4-bit value bit-serially: "
                      "one message and one synaptic op per set bit (1 + 1 + 2 + ... bits: about 2 per event for "
                      "payloads 1..15). The issue's core model asks for the payload in one message only where the "
                      "hardware has graded spikes (Loihi 2), so this is neurosim's count to fix, not a price."),
    "fanin-8192": ("the networks differ in structure: SANA-FE does not check Loihi's 4096 input axons a core and "
                   "keeps all 8192 on the population's core (every synaptic op serialised there), where neurosim "
                   "splits the fan-in over 8 synapse cores and sends their partial sums to an accumulator core (on "
                   "Loihi's 1-bit messages a partial sum travels as one message per bit, and the partial-sum "
                   "stage's neurons are updated too): more network and soma energy, a shorter step."),
}
NOT_RUN = {
    "recurrent-1024": ("neurosim's explicit-weight networks are feed-forward for now (a recurrent projection is "
                       "refused when the network is written and in exact mode); the network is defined here and "
                       "runs as soon as they are supported (SANA-FE runs recurrent connections natively)."),
}
#: SANA-FE's detailed timing model, in words (sanafe 2.2.9 src/schedule.cpp, schedule_handle_message)
SANAFE_NOC = ("SANA-FE's detailed model delays a sending core when the messages in flight on the links of a route "
              "exceed (hops + 1) x 16, by the excess times the mean processing time of the messages in flight, and "
              "delays each message by the messages on its route times that mean over (hops + 1) (its "
              "src/schedule.cpp); the messages counted are those to every receiver whose path shares the links, as "
              "if one receiver took them one after another")


def time_why(row: dict[str, Any]) -> str:
    """Why a network's simulated time is out of target while SANA-FE's simple model agrees (from the row)."""
    return (f"neurosim's step has back-pressure from finite link buffers (`chip.link_buffer`, 16 messages a link, "
            f"(hops + 1) x 16 a route): a sending core that meets a full route waits, and the wait holds back its "
            f"later messages. Here a sending core sends each spike to every synapse core of the next layer in turn "
            f"(one message per destination core), the receivers drain side by side and none sits idle while the "
            f"sender waits, so the step stays the slowest receiver's work. {SANAFE_NOC}; its extra time grows with "
            f"the number of receivers a core feeds side by side at the same load (the fan-out probe below), which "
            f"finite buffers do not do. Against SANA-FE's analytic (simple) timing model, which has no network model, neurosim's "
            f"time is within the target (last column).")


def network_section(row: dict[str, Any]) -> str:
    if "error" in row:
        return (f"## {row['network']}: {row['title']}\n\nWhat it tests: {row['tests']}.\n\n"
                f"**Not compared**: {row['error']}. {NOT_RUN.get(row['network'], '')}\n")
    ns, sf, r, ok = row["neurosim"], row["sanafe"], row["ratios"], row["within"]
    lines = [f"## {row['network']}: {row['title']}", "", f"What it tests: {row['tests']}.", ""]
    lines += ["| | neurosim | SANA-FE | neurosim / SANA-FE |", "|---|---:|---:|---:|"]
    for c in ("synapse", "soma", "network"):
        lines.append(f"| {c} energy (uJ) | {_uJ(ns['energy_pJ'][c])} | {_uJ(sf['energy_pJ'][c])} | "
                     f"{_ratio(r[c], ok.get(c))} |")
    lines.append(f"| **total dynamic energy (uJ)** | {_uJ(ns['energy_pJ']['total'])} | "
                 f"{_uJ(sf['energy_pJ']['total'])} | {_ratio(r['total'], ok.get('total'))} |")
    lines.append(f"| **simulated time (ms)** | {ns['time_ns'] * 1e-6:,.3f} | {sf['time_ns'] * 1e-6:,.3f} | "
                 f"{_ratio(r['time'], ok.get('time'))} |")
    if sf.get("time_ns_simple"):
        lines.append(f"| simulated time, SANA-FE's simple timing model (ms) | {ns['time_ns'] * 1e-6:,.3f} | "
                     f"{sf['time_ns_simple'] * 1e-6:,.3f} | {r['time_simple']:.3f} (reference) |")
    c = ns["counts"]
    lines.append(f"| synaptic ops | {c.get('synapse_read', 0):,.0f} | {sf['synaptic_events']:,} | |")
    lines.append(f"| messages | {c.get('message', 0):,.0f} | {sf['messages']:,} | |")
    lines.append(f"| neuron updates | {c.get('neuron_update', 0):,.0f} | {sf['neurons_updated']:,} (active ones, inputs included) | |")
    sp = row["spikes"]
    lines.append(f"| population spikes | {sp['neurosim_total']:,} | {sp['sanafe_total']:,} | |")
    lines.append(f"| cores (tiles) | {row['cores']} ({row['tiles']}) | {sf['cores_used']} (same placement) | |")
    lines.append("")
    extra = []
    pk = row.get("sanafe_packed")
    if pk:
        kib = ", ".join(f"{k} {v:,.0f} KiB" for k, v in pk["synapse_KiB_per_core"].items())
        extra.append(f"On SANA-FE's own packing (1024 neurons a core: {pk['cores_used']} cores, synapses a core: "
                     f"{kib}, over Loihi's 128 KiB, which neurosim refuses) SANA-FE gives "
                     f"{_uJ(pk['energy_pJ']['total'])} uJ ({_uJ(pk['energy_pJ']['network'])} uJ network, "
                     f"{pk['messages']:,} messages) and {pk['time_ns'] * 1e-6:,.3f} ms: fewer messages (one per "
                     f"spike per destination core, and fewer cores) and all synaptic ops of the layer on one core.")
    if sf.get("slices", 1) > 1:
        extra.append(f"SANA-FE ran this network in {sf['slices']} slices of its output population (same inputs, "
                     f"same cores) to stay within its memory budget (`--sanafe-memory-gb`; it needs about 0.7 KB "
                     f"a synapse, {row['synapses']:,} synapses here, on a 24 GB machine shared with other work). "
                     f"Energies add exactly (every synaptic op, update and message belongs to one slice); the "
                     f"simulated time is the slowest slice's, a lower bound of the whole layer's (each slice's "
                     f"input cores send only that slice's messages).")
    extra.append(f"Barrier: {row['barrier_ns']:g} ns (SANA-FE's entry for {row['tiles']} tiles), the same on both "
                 f"sides. SANA-FE peak memory {sf['peak_rss_GB']:.1f} GB; wall time neurosim "
                 f"{row['wall_s']['neurosim']:.0f} s, SANA-FE {row['wall_s']['sanafe']:.0f} s"
                 + (" (SANA-FE's outputs of an earlier run of the same input files, `--reuse-sanafe`)." if
                    sf.get("reused") else "."))
    if ns.get("steps_back_pressure") is not None:
        extra.append(f"Steps of neurosim's run bound by back-pressure (a sender waiting at a full route): "
                     f"{ns['steps_back_pressure']} of {ns['time_steps']}.")
    misses = [k for k, v in ok.items() if v is False]
    if misses:
        why = []
        if row["network"] in WHY and any(k != "time" for k in misses):
            why.append(WHY[row["network"]])
        if "time" in misses and r.get("time_simple") is not None and abs(r["time_simple"] - 1) <= 0.25:
            why.append(time_why(row))
        extra.append(f"**Out of target: {', '.join(misses)}.** " + (" ".join(why) or "Not analysed yet."))
    lines += extra + [""]
    return "\n".join(lines)


def summary_table(rows: list[dict[str, Any]]) -> str:
    head = ("| network | total | time | synapse | soma | network | all targets | time vs SANA-FE simple |\n"
            "|---|---:|---:|---:|---:|---:|:---:|---:|")
    body = []
    for row in rows:
        if "error" in row:
            body.append(f"| {row['network']} | not compared: see below | | | | | no | |")
            continue
        r, ok = row["ratios"], row["within"]
        good = all(v for v in ok.values() if v is not None)
        body.append(f"| {row['network']} | {_ratio(r['total'], ok['total'])} | {_ratio(r['time'], ok['time'])} | "
                    f"{_ratio(r['synapse'], ok['synapse'])} | {_ratio(r['soma'], ok['soma'])} | "
                    f"{_ratio(r['network'], ok['network'])} | {'yes' if good else 'no'} | "
                    f"{_ratio(r.get('time_simple'), None)} |")
    return head + "\n" + "\n".join(body)


def targets_text(rows: list[dict[str, Any]], probes: list[dict[str, Any]] = ()) -> list[str]:
    """The issue's must-show lines, from the measured rows (``probes``: the fan-out probe's rows)."""
    done = [r for r in rows if "error" not in r]
    energy_ok = [r["network"] for r in done if r["within"]["total"] and all(r["within"][c] for c in COMPONENTS)]
    time_ok = [r["network"] for r in done if r["within"]["time"]]
    out = [(f"- Total dynamic energy within 12 % and every component within 25 %: {len(energy_ok)} of "
           f"{len(rows)} networks ({', '.join(energy_ok) or 'none'})."),
           (f"- Simulated time within 25 % of SANA-FE's (detailed model): {len(time_ok)} of {len(rows)} "
           f"({', '.join(time_ok) or 'none'})."),
           (f"- Output spikes identical to SANA-FE's (per neuron and step where it ran whole): "
           f"{', '.join(r['network'] for r in done if r['spikes']['identical']) or 'none'}.")]
    chain = next((r for r in done if r["network"].startswith("chain")), None)
    if chain:
        out.append(f"- The 3-layer chain's network energy: {_uJ(chain['neurosim']['energy_pJ']['network'])} uJ "
                   f"against SANA-FE's {_uJ(chain['sanafe']['energy_pJ']['network'])} uJ (ratio "
                   f"{chain['ratios']['network']:.3f}; the issue measured 852 uJ against SANA-FE's 23 uJ before "
                   f"the core model landed, on its own chain and placement).")
    held = [r["network"] for r in done if r["neurosim"].get("steps_back_pressure")]
    slow = [r["network"] for r in done if r["within"]["time"] is False and r.get("ratios", {}).get("time_simple")
            and abs(r["ratios"]["time_simple"] - 1) <= TARGETS_TIME]
    fan = sorted((r for r in probes if "error" not in r), key=_receivers)
    if fan:
        grow = [r["sanafe"]["time_ns"] / r["sanafe"]["time_ns_simple"] for r in fan]
        top = int(np.argmax(grow))
        out.append(f"- Back-pressure (finite link buffers, `chip.link_buffer`) bound steps of "
                   f"{', '.join(held) if held else 'none of these networks'}: each sending core interleaves its "
                   f"messages over its receiving cores, which drain side by side. The time gaps "
                   f"({', '.join(slow) or 'none'}) are SANA-FE's detailed-model congestion heuristic: on the fan-out "
                   f"probe (same work per receiver) it adds {grow[0] - 1:+.0%} over its simple model with "
                   f"{_receivers(fan[0])} receiving core(s) and {grow[top] - 1:+.0%} with {_receivers(fan[top])}, "
                   f"while neurosim stays within {max(abs(r['ratios']['time_simple'] - 1) for r in fan):.1%} of the "
                   f"simple model (see the probe's section).")
    out += [f"- Not compared: {', '.join(r['network'] for r in rows if 'error' in r)}." if any(
        "error" in r for r in rows) else "- Every network was compared.", ""]
    return out


COMPONENTS = ("synapse", "soma", "network")
#: the issue's time target (|neurosim / SANA-FE - 1|), as neurosim.validate.compare.TARGETS["time"]
TARGETS_TIME = 0.25


def figure(rows: list[dict[str, Any]], path: Path) -> None:
    from neurosim.io import pyplot

    plt = pyplot()
    import numpy as np

    rows = [row for row in rows if "error" not in row]
    keys = ["total", "time", "synapse", "soma", "network"]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(rows) + 2), 4.2))
    width = 0.8 / len(keys)
    for i, k in enumerate(keys):
        vals = [row["ratios"][k] if row["ratios"][k] is not None else np.nan for row in rows]
        ax.bar(x + (i - 2) * width, vals, width, label=k)
    ax.axhspan(0.88, 1.12, color="green", alpha=0.12, label="total: +-12 %")
    ax.axhspan(0.75, 1.25, color="grey", alpha=0.08, label="time, components: +-25 %")
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_xticks(x, [row["network"] for row in rows], rotation=20, ha="right")
    ax.set_yscale("log")  # a ratio: 0.5 and 2 are as far from 1
    ax.set_yticks([0.25, 0.5, 0.75, 1, 1.25, 2, 4, 8], ["0.25", "0.5", "0.75", "1", "1.25", "2", "4", "8"])
    ax.set_ylabel("neurosim / SANA-FE (log scale)")
    ax.set_title("neurosim (loihi-sanafe) vs SANA-FE 2.2.9, same networks, prices and placement")
    ax.legend(fontsize=7, ncol=4, loc="upper left")
    fig.tight_layout()
    from neurosim.io import atomic_path

    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def _receivers(row: dict[str, Any]) -> int:
    """Receiving cores of a fan-out probe (its population's cores)."""
    g = row.get("group_cores") or {}
    return int(g.get("lif", row["cores"] - g.get("in", 1)))


def probe_section(probes: list[dict[str, Any]]) -> list[str]:
    """The fan-out probe: the same load on every receiving core, 1..k of them fed side by side."""
    done = sorted((r for r in probes if "error" not in r), key=_receivers)
    if not done:
        return []
    lines = ["## Back-pressure: the fan-out probe", "",
             ("1024 inputs firing 20 % (on one core, or two where a core's fan-out runs out) feed k receiving cores of "
              "256 neurons each; every spike goes to every receiver (one message per core), so each receiver has the "
              "same work whatever k. With finite link buffers (credit flow control) the sender waits when a route is "
              "full, but receivers that drain side by side stay busy, so the step stays one receiver's work for "
              "every k; a message-by-message simulation of such a sender agrees (`tests/test_events_backpressure.py`)"
              ". neurosim's back-pressure (`chip.link_buffer` = 16 messages a link, from SANA-FE's "
              "`arch/loihi.yaml`) follows that model."),
             "",
             ("| receiving cores | sending cores | SANA-FE detailed (ms) | SANA-FE simple (ms) | detailed / simple | "
              "neurosim (ms) | neurosim / detailed | neurosim / simple | neurosim steps bound by back-pressure |"),
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in done:
        sf, ns = r["sanafe"], r["neurosim"]
        simple = sf.get("time_ns_simple") or float("nan")
        lines.append(f"| {_receivers(r)} | {r.get('group_cores', {}).get('in', 'n/a')} | "
                     f"{sf['time_ns'] * 1e-6:,.3f} | {simple * 1e-6:,.3f} | {sf['time_ns'] / simple:.3f} | "
                     f"{ns['time_ns'] * 1e-6:,.3f} | {r['ratios']['time']:.3f} | "
                     f"{_ratio(r['ratios'].get('time_simple'), None)} | "
                     f"{ns.get('steps_back_pressure', 'n/a')} of {ns.get('time_steps', 'n/a')} |")
    grow = {id(r): r["sanafe"]["time_ns"] / r["sanafe"]["time_ns_simple"] for r in done}
    lo, top = done[0], max(done, key=lambda r: grow[id(r)])
    lines += ["", (f"SANA-FE's detailed model takes {grow[id(lo)] - 1:+.0%} over its simple model with "
                   f"{_receivers(lo)} receiving core(s), up to {grow[id(top)] - 1:+.0%} with {_receivers(top)}, for "
                   f"the same work per receiver; its simple model and neurosim stay flat. {SANAFE_NOC}. That "
                   f"heuristic, not the buffer depth, is what the calibration networks' time gaps measure; neurosim "
                   f"does not imitate it. Where a core does feed its receivers one after another (pieces or routes "
                   f"over consecutive element ranges, e.g. an input core holding several fan-in chunks), neurosim's "
                   f"back-pressure lengthens the step: the sender waits on one receiver while the next sits idle "
                   f"(`tests/test_events_backpressure.py`)."), ""]
    return lines


def write_report(rows: list[dict[str, Any]], out: str | Path) -> Path:
    out = Path(out)
    write_json_atomic(out / RESULTS, {"targets": TARGET_TEXT, "networks": rows})
    probes = [r for r in rows if r.get("probe")]
    every = rows
    rows = [r for r in rows if not r.get("probe")]
    figure(rows, out / FIGURE)
    from neurosim.validate.bounds import HALA_POINT_SOURCE, firing_at_power, saturation

    text = [
        "# Calibrated against silicon: neurosim vs SANA-FE (issue 12)",
        "",
        "Generated by `make validate` (`python -m neurosim.validate.compare`); do not edit by hand.",
        "",
        "SANA-FE 2.2.9 (Boyle et al., IEEE TCAD 2025) ships a Loihi model calibrated on Loihi silicon "
        "(`arch/loihi.yaml`). Each network below runs in SANA-FE and in neurosim's `simulate --mode exact` with the "
        "same prices (neurosim's `loihi-sanafe` hardware model carries SANA-FE's figures; its `calibration` field "
        "says so in every run's JSON) and the same placement: every neuron sits on the core neurosim's mapper put it "
        "on. Targets: " + TARGET_TEXT + ".",
        "",
        "![neurosim / SANA-FE per network](" + FIGURE + ")",
        "",
        summary_table(rows),
        "",
        *targets_text(rows, probes),
        ("Components: synapse = SANA-FE's synapse + dendrite energy vs neurosim's compute + memory (the synaptic op); "
        "soma = SANA-FE's soma (neuron access, update, spike) vs neurosim's neuron (update, spike); network = "
        "SANA-FE's axon out + axon in + hops vs neurosim's messages + hops + barrier tokens. Static energy is "
        "left out (SANA-FE reports none)."),
        "",
        "## Core counts: where neurosim is right and SANA-FE is not",
        "",
        ("A Loihi core holds 128 KiB of synapses. SANA-FE does not check it: it would take a 1024 -> 1024 layer of "
        "4-bit weights (512 KiB) on one core, and a 4096 -> 4096 layer (8 MiB) on four. neurosim refuses such a "
        "mapping and spreads the layer over as many cores as its synapses need (256 neurons a core for a 1024-input "
        "layer, 64 for a 4096-input one). The comparison gives SANA-FE neurosim's legal placement, so both simulators "
        "see the same cores and count the same messages; dense-1024's section also gives SANA-FE's figures on its "
        "own packing (more neurons a core: fewer messages, and a core's synaptic ops serialised on fewer cores). "
        "SANA-FE does not check the 4096 input axons a core either: fanin-8192 runs there with all 8192 axons on "
        "the population's core, where neurosim splits the fan-in over several cores and adds the partial sums."),
        "",
    ]
    text += [network_section(row) for row in rows]
    text += probe_section(probes)
    text += ["## Commands to rerun", "", "```", "make validate   # all networks; creates .venv-sanafe when missing",
             ".venv/bin/python -m neurosim.validate.compare NETWORK ...   # some networks",
             (".venv/bin/python -m neurosim.validate.compare --reuse-sanafe   # SANA-FE's outputs kept where its "
             "inputs are unchanged"), "```", "",
             "What `make validate` runs per network (from the repository root):", ""]
    for row in every:
        if "error" in row:
            continue
        text += [f"- {row['network']}:", "", "  ```"] + [f"  {c}" for c in row["commands"]] + ["  ```", ""]
    from neurosim.hardware import load_hardware

    hp = load_hardware("hala-point")
    sat = saturation(hp)
    ratios = sat.ratios()
    cross = firing_at_power(hp, 2600.0)
    text += [
        "## Published peaks as bounds: Hala Point",
        "",
        (f"`hala-point` driven at saturation (every one of its {sat.cores:,} cores' synapse and soma units busy "
        f"every step, from the model's own figures; see `neurosim/validate/bounds.py`) against {HALA_POINT_SOURCE}:"),
        "",
        "| peak | model | published | model / published |",
        "|---|---:|---:|---:|",
        f"| synaptic ops/s | {sat.synaptic_ops_per_s:.3g} | 3.8e+14 | {ratios['synaptic_ops_per_s']:.3f} |",
        f"| neuron ops/s | {sat.neuron_ops_per_s:.3g} | 2.4e+14 | {ratios['neuron_ops_per_s']:.3f} |",
        f"| power (W) | {sat.power_W:,.0f} | 2,600 | {ratios['power_W']:.3f} |",
        "",
        f"The model does not exceed the published peaks at saturation; its op rates are about a tenth of them "
        f"(it times Loihi 2 with Loihi's per-op latencies, borrowed), and its power comes to "
        f"{ratios['power_W']:.0%} of the published maximum ({sat.static_W:.0f} W of it static). If the saturated "
        f"neurons also fire and each spike sends a message, the model reaches 2,600 W when "
        + (f"{cross:.0%} of the updates fire" if cross is not None else "(never, up to every update firing)")
        + f" and {saturation(hp, 1.0).power_W:,.0f} W when all do: above the published maximum, because Loihi's "
        "14 nm per-event energies (111 pJ a message, 52 pJ a neuron update) are borrowed for an Intel 4 chip "
        "(`neurosim hw show loihi2` lists which figures are borrowed).",
        "",
    ]
    return write_text_atomic(out / "README.md", "\n".join(text))
