"""neurosim's event-driven engine beside Lava and SANA-FE on the same spiking networks, in one run (``make bench-peers``).

Each simulator runs each network in its own process, in its own environment: Lava 0.10 (``.venv-lava``,
``Loihi2SimCfg(select_tag="fixed_pt")``, the bit-accurate Loihi models), SANA-FE 2.2.9 (``.venv-sanafe``, its
shipped Loihi architecture, ``detailed`` timing) and neurosim (this interpreter: the event-driven SNN engine,
``simulate_snn``, and the functional engine beside it). Rounds are interleaved (every simulator on every network,
then again) and each figure is the minimum over the rounds (the ratios also as medians); every LIF population's spikes at every step must be
identical across all of them (and equal to a functional-engine run in this process) before any ratio is trusted
(exit 1 otherwise).

Printed for each: events/s of the run (synaptic events, i.e. delivered spikes x fan-out, counted once from the
spikes and divided by each simulator's run time), run time, setup time, and the peak memory of the whole process
tree (the sum of the resident sets of the worker and its children, sampled every 20 ms with psutil, which the dev
extra installs). What each time covers:

* Lava: run = its ``run`` call (the stepping loop, recording spikes, u and v as ``lava-check`` does); setup =
  building, compiling and starting the processes plus reading the recorded spikes back;
* SANA-FE: run = ``SpikingChip.sim``; setup = building the network, loading it on the chip, setting the inputs;
* neurosim: run = ``simulate_snn`` (and ``run_functional``); setup = building the network and deriving the Dense
  operands (``neurosim.engines.events.snn.prepare``).

Placement: SANA-FE packs 1024 neurons a core (its own default); placement changes its timing and energy, not the
spikes nor, much, its speed. BLAS is held to one thread in every worker (``OPENBLAS_NUM_THREADS=1``).

    python benchmarks/bench_peers.py [--rounds 3] [--networks dense-1024 dense-4096 chain3-1024x100]
                                     [--no-sanafe-4096] [--skip lava|sanafe] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHONS = {"lava": ROOT / ".venv-lava" / "bin" / "python", "sanafe": ROOT / ".venv-sanafe" / "bin" / "python",
           "neurosim": Path(sys.executable)}
SIMULATORS = ("lava", "sanafe", "neurosim")
NETWORKS = ("dense-1024", "dense-4096", "chain3-1024x100")
#: SANA-FE's own packing: neurons a core (its Loihi's max_neurons_supported)
SANAFE_PER_CORE = 1024
WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# --- the networks (neurosim side) -----------------------------------------------------------------------------
def netdef(name: str):
    """A network of ``neurosim/validate/networks.py`` (``chain3-1024x100``: its 3 x 1024 chain at 100 steps)."""
    from neurosim.validate.networks import chain, network

    if name == "chain3-1024x100":
        return chain("chain3-1024x100", steps=100)
    return network(name)


def packed_cores(nd) -> dict:
    """Every group filled into consecutive SANA-FE cores, :data:`SANAFE_PER_CORE` neurons a core."""
    import numpy as np

    out, nxt = {}, 0
    for g in nd.groups:
        out[g.name] = nxt + np.arange(g.n) // SANAFE_PER_CORE
        nxt = int(out[g.name][-1]) + 1
    return out


def synaptic_events(nd, spikes: dict) -> int:
    """Delivered spikes x fan-out over every projection (steps 0 .. T-2: step t's spikes arrive at t + 1)."""
    import numpy as np

    total = 0
    for p in nd.projections:
        pre = nd.group(p.pre).spikes if nd.group(p.pre).kind == "input" else spikes[p.pre]
        total += int((np.asarray(pre)[: nd.steps - 1] != 0).sum()) * int(p.weight.shape[0])
    return total


# --- the workers (one process each, in the simulator's own environment) ---------------------------------------
def _save_spikes(path: str, spikes: dict) -> None:
    import numpy as np

    np.savez_compressed(path, **{k: np.asarray(v, dtype=bool) for k, v in spikes.items()})


def worker_neurosim(args: argparse.Namespace) -> dict:
    from neurosim.engines.events.snn import prepare, simulate_snn
    from neurosim.snn import run_functional

    nd = netdef(args.network)
    t0 = time.perf_counter()
    net = nd.spiking_network()
    prepare(net)
    setup_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    ev = simulate_snn(net)
    run_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    fn = run_functional(net)
    functional_s = time.perf_counter() - t2
    same = all((fn.populations[n].spikes == ev.populations[n].spikes).all() for n in net.populations)
    _save_spikes(args.spikes, {n: tr.spikes for n, tr in ev.populations.items()})
    return {"setup_s": setup_s, "run_s": run_s, "functional_s": functional_s, "functional_same": bool(same)}


def worker_lava(args: argparse.Namespace) -> dict:
    from neurosim.lava.backend import run_lava

    net = netdef(args.network).spiking_network()
    tr = run_lava(net)
    _save_spikes(args.spikes, {n: t.spikes for n, t in tr.populations.items()})
    return {"setup_s": tr.wall_s - tr.run_s, "run_s": tr.run_s}


def worker_sanafe(args: argparse.Namespace) -> dict:
    """SANA-FE on the exchange file neurosim's validation writes; the network is built with the validation
    runner's ``build`` (``neurosim/validate/sanafe_runner.py``, which imports only NumPy and sanafe)."""
    import importlib.util

    import numpy as np
    import sanafe

    spec_ = importlib.util.spec_from_file_location("sanafe_runner", ROOT / "neurosim/validate/sanafe_runner.py")
    runner = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(runner)
    data = np.load(args.exchange, allow_pickle=False)
    spec = json.loads(str(data["spec"]))
    steps = int(spec["steps"])
    t0 = time.perf_counter()
    arch, net = runner.build(sanafe, np, data, spec)
    chip = sanafe.SpikingChip(arch)
    chip.load(net)
    del net
    for g in spec["groups"]:
        if g["kind"] == "input":
            s = np.asarray(data[f"spikes__{g['name']}"], dtype=bool)
            for i, mn in enumerate(chip.mapped_neuron_groups[g["name"]]):
                mn.set_attributes(model_attributes={"spikes": s[:, i].tolist()})
    setup_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    res = chip.sim(steps, timing_model=args.sanafe_timing, spike_trace=True)
    run_s = time.perf_counter() - t1
    size = {g["name"]: int(g["n"]) for g in spec["groups"] if g["kind"] == "lif"}
    spikes = {name: np.zeros((steps, n), dtype=bool) for name, n in size.items()}
    for t, fired in enumerate(res.get("spike_trace") or []):
        for nid in fired:
            group, _, offset = str(nid).rpartition(".")
            if group in spikes and t < steps:
                spikes[group][t, int(offset)] = True
    _save_spikes(args.spikes, spikes)
    return {"setup_s": setup_s, "run_s": run_s, "synaptic_events_sanafe": int(res["spikes"])}


def worker(args: argparse.Namespace) -> int:
    out = {"lava": worker_lava, "sanafe": worker_sanafe, "neurosim": worker_neurosim}[args.worker](args)
    Path(args.out).write_text(json.dumps(out))
    return 0


# --- the parent: interleaved rounds, process-tree memory, the comparison --------------------------------------
def run_worker(sim: str, network: str, tmp: Path, exchange: Path | None, timing: str) -> dict:
    """One simulator on one network in a fresh process; its figures plus the tree's peak memory and spikes."""
    import numpy as np
    import psutil

    out, spikes = tmp / f"{sim}-{network}.json", tmp / f"{sim}-{network}.spikes.npz"
    cmd = [str(PYTHONS[sim]), __file__, "--worker", sim, "--network", network, "--out", str(out),
           "--spikes", str(spikes), "--sanafe-timing", timing]
    if exchange is not None:
        cmd += ["--exchange", str(exchange)]
    env = {**os.environ, **WORKER_ENV, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    root, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            rss = 0
            for p in tree:
                try:
                    rss += p.memory_info().rss
                except psutil.Error:
                    pass
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.02)
    log = proc.stdout.read() if proc.stdout else ""
    if proc.returncode:
        tail = " | ".join(log.strip().splitlines()[-3:])
        raise RuntimeError(f"{sim} on {network} failed (exit {proc.returncode}): {tail}")
    res = json.loads(out.read_text())
    res["peak_bytes"] = peak
    res["wall_s"] = time.perf_counter() - t0
    with np.load(spikes) as z:
        res["spikes"] = {k: z[k] for k in z.files}
    return res


def available(sim: str) -> str | None:
    """None when the simulator's environment can run, else why not."""
    py = PYTHONS[sim]
    if not py.exists():
        make = {"lava": "make lava-env", "sanafe": "make sanafe-env"}.get(sim, "make env")
        return f"{py} missing ({make})"
    probe = {"lava": "import lava.magma, neurosim", "sanafe": "import sanafe, numpy", "neurosim": "import neurosim"}
    r = subprocess.run([str(py), "-c", probe[sim]], capture_output=True, text=True, check=False,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    return None if r.returncode == 0 else (r.stderr.strip().splitlines() or ["?"])[-1]


def _first_difference(a: dict, b: dict) -> str | None:
    import numpy as np

    for name, sa in a.items():
        sb = b.get(name)
        if sb is None:
            return f"population {name} missing"
        if sa.shape != sb.shape:
            return f"population {name}: shape {sa.shape} vs {sb.shape}"
        diff = np.argwhere(sa != sb)
        if diff.size:
            return f"population {name}: first difference at step {diff[0][0]}, neuron {diff[0][1]}"
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; figures are the minimum (default 3)")
    ap.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=NETWORKS)
    ap.add_argument("--no-sanafe-4096", action="store_true",
                    help="skip SANA-FE on dense-4096 (about 13.7 GB and several minutes a round)")
    ap.add_argument("--skip", nargs="*", default=[], choices=("lava", "sanafe"), help="peers not to run")
    ap.add_argument("--sanafe-timing", default="detailed", choices=("detailed", "simple"))
    ap.add_argument("--json", help="also write every figure to this JSON file")
    ap.add_argument("--worker", choices=SIMULATORS, help=argparse.SUPPRESS)
    ap.add_argument("--network", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--spikes", help=argparse.SUPPRESS)
    ap.add_argument("--exchange", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args)
    os.environ.update(WORKER_ENV)
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from neurosim.snn import run_functional

    sims = []
    for sim in SIMULATORS:
        why = None if sim not in args.skip else "skipped (--skip)"
        why = why or available(sim)
        if why:
            print(f"bench-peers: {sim}: not run: {why}")
        else:
            sims.append(sim)
    if "neurosim" not in sims:
        return 1
    figures: dict[tuple[str, str], list[dict]] = {}
    spikes_ref: dict[str, dict] = {}
    events: dict[str, int] = {}
    mismatches: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmpdir:
        tmp = Path(tmpdir)
        exchanges: dict[str, Path] = {}
        for name in args.networks:
            nd = netdef(name)
            ref = run_functional(nd.spiking_network())  # the reference every simulator's spikes must equal
            spikes_ref[name] = {n: tr.spikes for n, tr in ref.populations.items()}
            events[name] = synaptic_events(nd, spikes_ref[name])
            print(f"{name}: {nd.title}, {nd.synapses:,} synapses, {events[name]:.3g} synaptic events", flush=True)
            if "sanafe" in sims:
                exchanges[name] = nd.write_exchange(tmp / f"{name}.sanafe.npz", packed_cores(nd))
        for r in range(args.rounds):
            for name in args.networks:
                for sim in sims:
                    if sim == "sanafe" and name == "dense-4096" and args.no_sanafe_4096:
                        continue
                    res = run_worker(sim, name, tmp, exchanges.get(name) if sim == "sanafe" else None,
                                     args.sanafe_timing)
                    diff = _first_difference(spikes_ref[name], res.pop("spikes"))
                    if sim == "neurosim" and not res.get("functional_same", True):
                        diff = "events and functional engines differ"
                    res["identical"] = diff is None
                    if diff:
                        mismatches.append(f"{sim} on {name}, round {r + 1}: {diff}")
                    figures.setdefault((name, sim), []).append(res)
                    print(f"  round {r + 1} {name} {sim}: run {res['run_s']:.3f} s, setup {res['setup_s']:.2f} s, "
                          f"peak {res['peak_bytes'] / 2**20:.0f} MiB{'' if diff is None else ', SPIKES DIFFER'}",
                          flush=True)
    rows = []
    for name in args.networks:
        for sim in sims:
            runs = figures.get((name, sim))
            if not runs:
                continue
            best = {k: min(r[k] for r in runs) for k in ("run_s", "setup_s")}
            row = {"network": name, "simulator": sim, "events": events[name], "run_s": best["run_s"],
                   "setup_s": best["setup_s"], "peak_bytes": max(r["peak_bytes"] for r in runs),
                   "identical": all(r["identical"] for r in runs), "rounds": len(runs),
                   "run_s_all": [r["run_s"] for r in runs]}
            if sim == "neurosim":
                row["functional_s"] = min(r["functional_s"] for r in runs)
            rows.append(row)
    print()
    print("| network | simulator | events/s | run (s) | setup (s) | peak memory (MiB) | spikes |")
    print("|---|---|---:|---:|---:|---:|---|")
    for row in rows:
        label = "neurosim events" if row["simulator"] == "neurosim" else row["simulator"]
        print(f"| {row['network']} | {label} | {row['events'] / row['run_s']:.3g} | {row['run_s']:.3f} | "
              f"{row['setup_s']:.2f} | {row['peak_bytes'] / 2**20:.0f} | "
              f"{'identical' if row['identical'] else 'DIFFER'} |")
        if row["simulator"] == "neurosim":
            print(f"| {row['network']} | neurosim functional | {row['events'] / row['functional_s']:.3g} | "
                  f"{row['functional_s']:.3f} | (same) | (same) | identical |")
    print()
    by = {(r["network"], r["simulator"]): r for r in rows}
    for name in args.networks:
        ours = by.get((name, "neurosim"))
        if ours is None:
            continue
        parts = []
        for peer in ("lava", "sanafe"):
            theirs = by.get((name, peer))
            if theirs is None:
                continue
            med = statistics.median(theirs["run_s_all"]) / statistics.median(ours["run_s_all"])
            parts.append(f"x{theirs['run_s'] / ours['run_s']:.1f} {peer}'s events/s (median x{med:.1f}; "
                         f"functional x{theirs['run_s'] / ours['functional_s']:.1f}), "
                         f"memory {ours['peak_bytes'] / theirs['peak_bytes']:.3f} of {peer}'s")
        print(f"{name}: neurosim events engine " + "; ".join(parts))
    for m in mismatches:
        print(f"SPIKES DIFFER: {m}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "mismatches": mismatches,
                                               "numpy": np.__version__, "rounds": args.rounds}, indent=1))
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
