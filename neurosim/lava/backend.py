"""Run a :class:`SpikingNetwork` in Lava (lava-nc 0.10) with its bit-accurate Loihi 2 models.

Sources become ``RingBuffer`` processes, projections ``Dense`` (with ``num_weight_bits``, ``weight_exp``, the sign
mode and ``num_message_bits``), populations ``LIF``; one ``Monitor`` per probed quantity (a Lava monitor holds one
probe) records ``u``, ``v`` and ``s_out`` of every population each step. The network runs with
``Loihi2SimCfg(select_tag="fixed_pt")``, which picks ``PyDenseModelBitAcc`` and ``PyLifModelBitAcc``.
Lava compiles only the processes connected to the one it runs, so each connected component runs on its own.

Lava is imported here only; a missing Lava raises :class:`ModelPackageMissing` with the install hint.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from neurosim.errors import ModelPackageMissing
from neurosim.functional.neurons import LifTrace
from neurosim.lava.network import NetworkTrace, SpikingNetwork

LAVA_HINT = (
    "lava-nc is not installed in this environment; it supports Python 3.10 only: run `make lava-env` to create "
    ".venv-lava, or `python3.10 -m venv .venv-lava && .venv-lava/bin/pip install -e '.[lava,dev]' 'numpy<2'`, "
    "then use .venv-lava/bin/neurosim"
)


def lava_available() -> bool:
    """Whether lava-nc can be imported here (it needs Python 3.10 and numpy < 2)."""
    try:
        _import_lava()
    except ModelPackageMissing:
        return False
    return True


def _import_lava() -> dict[str, Any]:
    try:
        from lava.magma.core.run_conditions import RunSteps
        from lava.magma.core.run_configs import Loihi2SimCfg
        from lava.proc.dense.process import Dense
        from lava.proc.io.source import RingBuffer
        from lava.proc.lif.process import LIF
        from lava.proc.monitor.process import Monitor
        from lava.utils.weightutils import SignMode
    except ImportError as exc:
        raise ModelPackageMissing(f"{LAVA_HINT} ({exc})") from None
    return {"RunSteps": RunSteps, "Loihi2SimCfg": Loihi2SimCfg, "Dense": Dense, "RingBuffer": RingBuffer,
            "LIF": LIF, "Monitor": Monitor, "SignMode": SignMode}


def run_lava(net: SpikingNetwork, steps: int | None = None) -> NetworkTrace:
    """Run ``net`` for ``steps`` steps in Lava's Loihi 2 simulation and record every population's u, v, spikes.

    ``wall_s`` counts building, compiling, starting and running; ``run_s`` only Lava's stepping.
    """
    lava = _import_lava()
    t_start = time.perf_counter()
    net.check()
    steps = net.steps if steps is None else steps
    sign_modes = {"mixed": lava["SignMode"].MIXED, "excitatory": lava["SignMode"].EXCITATORY,
                  "inhibitory": lava["SignMode"].INHIBITORY}
    traces: dict[str, LifTrace] = {}
    run_s = 0.0
    for component in net.components():
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
        monitors: dict[tuple[str, str], Any] = {}
        for name in net.populations:
            if name not in component:
                continue
            lif = procs[name]
            for quantity, target in (("u", lif.u), ("v", lif.v), ("spikes", lif.s_out)):
                mon = lava["Monitor"]()
                mon.probe(target, steps)
                monitors[(name, quantity)] = mon
        root = procs[next(n for n in net.populations if n in component)]
        cfg = lava["Loihi2SimCfg"](select_tag="fixed_pt")
        try:
            root.create_runtime(run_cfg=cfg)
            t0 = time.perf_counter()
            root.run(condition=lava["RunSteps"](num_steps=steps), run_cfg=cfg)
            run_s += time.perf_counter() - t0
            recorded: dict[tuple[str, str], np.ndarray] = {}
            for (name, quantity), mon in monitors.items():
                data = mon.get_data()
                per_var = next(iter(data.values()))
                recorded[(name, quantity)] = np.asarray(next(iter(per_var.values())))
        finally:
            root.stop()
        for name in net.populations:
            if name in component:
                traces[name] = LifTrace(
                    spikes=recorded[(name, "spikes")].astype(bool),
                    u=recorded[(name, "u")].astype(np.int64).astype(np.int32),
                    v=recorded[(name, "v")].astype(np.int64).astype(np.int32),
                )
    return NetworkTrace("lava", traces, time.perf_counter() - t_start, run_s)
