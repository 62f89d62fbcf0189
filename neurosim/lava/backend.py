"""Run a :class:`SpikingNetwork` in Lava (lava-nc 0.10) with its bit-accurate Loihi 2 models.

Sources become ``RingBuffer`` processes, projections ``Dense`` (with ``num_weight_bits``, ``weight_exp``, the sign
mode and ``num_message_bits``), populations ``LIF``; a :class:`~neurosim.lava.procs.recorder.TraceRecorder` per
population records ``s_out``, ``u`` and ``v`` every step (Lava's ``Monitor`` does the same but returns its record
one number per message, minutes for a real layer). The network runs with ``Loihi2SimCfg(select_tag="fixed_pt")``,
which picks ``PyDenseModelBitAcc`` and ``PyLifModelBitAcc``. Lava compiles only the processes connected to the one
it runs, so each connected component runs on its own.

Lava is imported here only; a missing Lava raises :class:`ModelPackageMissing` with the install hint.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.errors import ModelPackageMissing
from neurosim.neurons import LifTrace
from neurosim.snn import NetworkTrace, SpikingNetwork

LAVA_HINT = (
    "lava-nc is not installed in this environment; it supports Python 3.10 only: run `make lava-env` to create "
    ".venv-lava, or `python3.10 -m venv .venv-lava && .venv-lava/bin/pip install -e '.[lava,dev]' 'numpy<2'`, "
    "then use .venv-lava/bin/neurosim"
)


def lava_available() -> bool:
    """Whether lava-nc can be imported here (it needs Python 3.10 and numpy < 2)."""
    try:
        import_lava()
    except ModelPackageMissing:
        return False
    return True


def import_lava() -> dict[str, Any]:
    """Lava's classes used here, or :class:`ModelPackageMissing` with the install hint."""
    try:
        from lava.magma.core.run_conditions import RunSteps
        from lava.magma.core.run_configs import Loihi2SimCfg
        from lava.proc.dense.process import Dense
        from lava.proc.io.source import RingBuffer
        from lava.proc.lif.process import LIF
        from lava.utils.weightutils import SignMode

        from neurosim.lava.procs.recorder import TraceRecorder
    except ImportError as exc:
        raise ModelPackageMissing(f"{LAVA_HINT} ({exc})") from None
    return {"RunSteps": RunSteps, "Loihi2SimCfg": Loihi2SimCfg, "Dense": Dense, "RingBuffer": RingBuffer,
            "LIF": LIF, "SignMode": SignMode, "TraceRecorder": TraceRecorder}


def run_lava(net: SpikingNetwork, steps: int | None = None) -> NetworkTrace:
    """Run ``net`` for ``steps`` steps in Lava's Loihi 2 simulation and record every population's u, v, spikes.

    ``wall_s`` counts building, compiling, starting, running and reading back; ``run_s`` only Lava's stepping.
    """
    lava = import_lava()
    t_start = time.perf_counter()
    net.check()
    steps = net.steps if steps is None else steps
    traces: dict[str, LifTrace] = {}
    run_s = 0.0
    with tempfile.TemporaryDirectory(prefix="neurosim-lava-") as tmp:
        for k, component in enumerate(net.components()):
            run_s += _run_component(lava, net, component, steps, Path(tmp) / f"c{k}", traces)
    ordered = {name: traces[name] for name in net.populations}
    return NetworkTrace("lava", ordered, time.perf_counter() - t_start, run_s)


def _run_component(lava: dict[str, Any], net: SpikingNetwork, component: set[str], steps: int, tmp: Path,
                   traces: dict[str, LifTrace]) -> float:
    """Build, run and read back one connected component; returns the seconds spent stepping."""
    sign_modes = {"mixed": lava["SignMode"].MIXED, "excitatory": lava["SignMode"].EXCITATORY,
                  "inhibitory": lava["SignMode"].INHIBITORY}
    procs: dict[str, Any] = {}
    for name, src in net.sources.items():
        if name in component:
            procs[name] = lava["RingBuffer"](data=np.ascontiguousarray(src.spikes[:steps].T.astype(np.int32)))
    for name, pop in net.populations.items():
        if name in component:
            p = pop.params
            procs[name] = lava["LIF"](
                shape=(pop.n,), du=p.du, dv=p.dv, vth=p.vth,
                bias_mant=np.broadcast_to(np.asarray(p.bias_mant), (pop.n,)).astype(np.int32),
                bias_exp=np.broadcast_to(np.asarray(p.bias_exp), (pop.n,)).astype(np.int32),
                name=name,
            )
    for proj in net.projections:
        if proj.post not in component:
            continue
        d = proj.dense
        dense = lava["Dense"](
            weights=d.weights.astype(np.int32), num_message_bits=d.num_message_bits,
            num_weight_bits=d.num_weight_bits, weight_exp=d.weight_exp, sign_mode=sign_modes[d.sign_mode],
            name=proj.name,
        )
        procs[proj.pre].s_out.connect(dense.s_in)
        dense.a_out.connect(procs[proj.post].a_in)
    tmp.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for name in net.populations:
        if name not in component:
            continue
        lif = procs[name]
        files[name] = tmp / f"pop{len(files)}.npz"
        rec = lava["TraceRecorder"](n=net.populations[name].n, num_steps=steps, path=str(files[name]))
        lif.s_out.connect(rec.s_in)
        rec.u_ref.connect_var(lif.u)
        rec.v_ref.connect_var(lif.v)
    root = procs[next(n for n in net.populations if n in component)]
    cfg = lava["Loihi2SimCfg"](select_tag="fixed_pt")
    try:
        root.create_runtime(run_cfg=cfg)
        t0 = time.perf_counter()
        root.run(condition=lava["RunSteps"](num_steps=steps), run_cfg=cfg)
        run_s = time.perf_counter() - t0
    finally:
        root.stop()
    for name, path in files.items():
        with np.load(path, allow_pickle=False) as rec:
            traces[name] = LifTrace(rec["spikes"].astype(bool), rec["u"].astype(np.int32), rec["v"].astype(np.int32))
    return run_s
