"""Run one validation network in SANA-FE and write what it measured as JSON (the SANA-FE side of ``make validate``).

This script runs under SANA-FE's own environment (``.venv-sanafe/bin/python``, ``pip install sanafe==2.2.9``), not
neurosim's: it imports only the standard library, NumPy and ``sanafe``, and neurosim calls it in a subprocess
(:mod:`neurosim.validate.compare`). Nothing of SANA-FE is copied into neurosim; this file only *uses* its public
Python API (``sanafe.load_loihi``, ``sanafe.Network``, ``NeuronGroup.connect_neurons_dense``,
``Neuron.map_to_core``, ``sanafe.SpikingChip``, ``SpikingChip.sim``).

Input: a ``.npz`` written by :func:`neurosim.validate.networks.write_exchange` holding

* ``spec``: a JSON document ``{"name", "steps", "groups": [...], "projections": [...]}``; a group is
  ``{"name", "kind": "input" | "lif", "n", "threshold", "reset", "leak_decay", "input_decay"}``, a projection
  ``{"name", "pre", "post"}``;
* ``spikes__<group>``: an input group's spikes, ``(steps, n)`` of 0/1;
* ``weights__<projection>``: integer weights ``(post n, pre n)`` (neurosim's ``(out, in)`` order);
* ``cores__<group>``: the global SANA-FE core index of every neuron of the group (tile x 4 + core in tile).

Output: ``{"energy_pJ": {synapse, dendrite, soma, network, total}, "sim_time_ns", "spikes_per_step",
"spike_ids", ...}``: energy by component, simulated time, every group's spikes (per step, and as ``t * n + neuron``
ids), plus the architecture file's figures and its SHA-256 so the report can cite exactly what ran.

Usage: ``.venv-sanafe/bin/python sanafe_runner.py NET.npz OUT.json [--timing detailed|simple]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sys
import time
from importlib.resources import files

PJ_PER_J = 1e12
NS_PER_S = 1e9


def _arch_file():
    """The Loihi architecture file SANA-FE ships (``sanafe/examples/loihi.yaml``, = the repository's
    ``arch/loihi.yaml``), calibrated against Loihi silicon (Boyle et al., IEEE TCAD 2025)."""
    return files("sanafe.examples").joinpath("loihi.yaml")


def _arch_figures(text: str) -> dict[str, float]:
    """The per-event figures of the architecture file (read as ``key: value`` lines; no YAML parser needed)."""
    keys = ("energy_message_in", "latency_message_in", "energy_access_neuron", "latency_access_neuron",
            "energy_update_neuron", "latency_update_neuron", "energy_spike_out", "latency_spike_out",
            "energy_process_spike", "latency_process_spike", "energy_message_out", "latency_message_out",
            "energy_north_hop", "latency_north_hop", "energy_east_hop", "latency_east_hop", "link_buffer_size")
    out: dict[str, float] = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(":")
        if key in keys and key not in out:  # the first unit of each kind: loihi_lif, loihi_dense_synapse, ...
            try:
                out[key] = float(value.split("#")[0])
            except ValueError:
                continue
    return out


def build(sanafe, np, data, spec):
    """The SANA-FE network of ``spec`` on the shipped Loihi architecture, every neuron on its given core."""
    arch = sanafe.load_loihi()
    cores = arch.cores()
    net = sanafe.Network()
    groups = {}
    for g in spec["groups"]:
        name, n = g["name"], int(g["n"])
        where = data[f"cores__{name}"]
        if g["kind"] == "input":
            grp = net.create_neuron_group(name, n, log_spikes=True)
            # SANA-FE's input unit keeps one spike train per unit: each input neuron of a core gets its own
            # loihi_inputs[k] (the architecture file has 1024 of them a core)
            slot: dict[int, int] = {}
            for i, nrn in enumerate(grp):
                c = int(where[i])
                k = slot.get(c, 0)
                slot[c] = k + 1
                nrn.set_attributes(soma_hw_name=f"loihi_inputs[{k}]")
        else:
            attrs = {"threshold": float(g["threshold"]), "reset": float(g.get("reset", 0.0)),
                     "leak_decay": float(g.get("leak_decay", 1.0)), "input_decay": float(g.get("input_decay", 0.0))}
            grp = net.create_neuron_group(name, n, model_attributes=attrs, soma_hw_name="loihi_lif",
                                          default_synapse_hw_name="loihi_dense_synapse", log_spikes=True)
        groups[name] = grp
    for p in spec["projections"]:
        w = np.asarray(data[f"weights__{p['name']}"], dtype=np.float64)  # (post, pre)
        # SANA-FE's dense connection takes a (pre, post) matrix flattened row-major
        groups[p["pre"]].connect_neurons_dense(groups[p["post"]], {"weight": w.T.ravel().tolist()})
        del w
    for g in spec["groups"]:
        where = data[f"cores__{g['name']}"]
        for i, nrn in enumerate(groups[g["name"]]):
            nrn.map_to_core(cores[int(where[i])])
    return arch, net


def run(npz_path: str, out_path: str, timing: str = "detailed") -> dict:
    import numpy as np
    import sanafe

    data = np.load(npz_path, allow_pickle=False)
    spec = json.loads(str(data["spec"]))
    steps = int(spec["steps"])
    t0 = time.perf_counter()
    arch, net = build(sanafe, np, data, spec)
    chip = sanafe.SpikingChip(arch)
    chip.load(net)
    del net

    def set_inputs() -> None:
        for g in spec["groups"]:
            if g["kind"] != "input":
                continue
            spikes = np.asarray(data[f"spikes__{g['name']}"], dtype=bool)
            for i, mn in enumerate(chip.mapped_neuron_groups[g["name"]]):
                mn.set_attributes(model_attributes={"spikes": spikes[:, i].tolist()})

    set_inputs()
    build_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    res = chip.sim(steps, timing_model=timing, spike_trace=True)
    sim_s = time.perf_counter() - t1
    # the same run under SANA-FE's other timing model (its analytic "simple" one: per core the larger of neuron
    # and message processing, the slowest core, plus the barrier), to show what the detailed NoC model adds
    other = "simple" if timing == "detailed" else "detailed"
    chip.reset()
    set_inputs()
    other_ns = float(chip.sim(steps, timing_model=other)["sim_time"]) * NS_PER_S
    size = {g["name"]: int(g["n"]) for g in spec["groups"]}
    per_step: dict[str, list[int]] = {g["name"]: [0] * steps for g in spec["groups"]}
    ids: dict[str, list[int]] = {g["name"]: [] for g in spec["groups"]}  # t * n + neuron, for every spike
    for t, step in enumerate(res.get("spike_trace") or []):
        for nid in step:
            group, _, offset = str(nid).rpartition(".")
            if group in per_step and t < steps:
                per_step[group][t] += 1
                ids[group].append(t * size[group] + int(offset))
    text = _arch_file().read_text(encoding="utf-8")
    e = res["energy"]
    out = {
        "simulator": "SANA-FE",
        "version": _version(),
        "network": spec["name"],
        "timing_model": timing,
        "steps": int(res["timesteps_executed"]),
        "energy_pJ": {k: float(e[k]) * PJ_PER_J for k in ("synapse", "dendrite", "soma", "network", "total")},
        "sim_time_ns": float(res["sim_time"]) * NS_PER_S,
        f"sim_time_ns_{other}": other_ns,
        "synaptic_events": int(res["spikes"]),
        "messages": int(res["packets_sent"]),
        "neurons_updated": int(res["neurons_updated"]),
        "neurons_fired": int(res["neurons_fired"]),
        "spikes_per_step": per_step,
        "spike_ids": ids,
        "cores_used": len({int(c) for g in spec["groups"] for c in data[f"cores__{g['name']}"]}),
        "arch_file": "sanafe/examples/loihi.yaml (= SANA-FE arch/loihi.yaml)",
        "arch_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "arch_figures": _arch_figures(text),
        "build_s": build_s,
        "sim_s": sim_s,
        "peak_rss_GB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
    }
    tmp = f"{out_path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
    os.replace(tmp, out_path)
    return out


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("sanafe")
    except Exception:  # noqa: BLE001 (metadata missing: say so rather than fail the run)
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("network", help="exchange .npz written by neurosim.validate.networks")
    ap.add_argument("out", help="JSON file to write")
    ap.add_argument("--timing", default="detailed", choices=("detailed", "simple"))
    args = ap.parse_args(argv)
    out = run(args.network, args.out, args.timing)
    print(f"{out['network']}: total {out['energy_pJ']['total'] / 1e6:.3f} uJ, sim time "
          f"{out['sim_time_ns'] / 1e6:.3f} ms, {out['cores_used']} cores, peak RSS {out['peak_rss_GB']:.2f} GB",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
