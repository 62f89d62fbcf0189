"""A Lava process that records a LIF population's spikes, u and v every step and writes them to a file at the end.

Why not Lava's ``Monitor``: a monitor holds one probe, so a population needs three monitor processes, and
``Monitor.get_data`` brings the record back through the runtime one number per message, which for a
1536-neuron population over 1000 steps takes minutes. This recorder reads the same values at the same point of
the step (``s_out`` in the spiking phase, ``u`` and ``v`` through reference ports in post-management, after the
reset, as ``Monitor`` does) and saves them with NumPy when the last step is done.

Importing this module imports Lava; :mod:`neurosim.lava.backend` imports it lazily.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyRefPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, RefPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


class TraceRecorder(AbstractProcess):
    """Records ``s_in`` (connect a LIF's ``s_out``) and the Vars behind ``u_ref``/``v_ref`` for ``num_steps`` steps
    into ``path`` (an ``.npz`` with ``spikes``, ``u``, ``v`` of shape (num_steps, n))."""

    def __init__(self, *, n: int, num_steps: int, path: str) -> None:
        super().__init__(n=n, num_steps=num_steps, path=path)
        self.s_in = InPort(shape=(n,))
        self.u_ref = RefPort(shape=(n,))
        self.v_ref = RefPort(shape=(n,))


@implements(proc=TraceRecorder, protocol=LoihiProtocol)
@requires(CPU)
class PyTraceRecorderModel(PyLoihiProcessModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32)
    u_ref: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.int32)
    v_ref: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.int32)

    def __init__(self, proc_params) -> None:
        super().__init__(proc_params)
        n, steps = proc_params["n"], proc_params["num_steps"]
        self._spikes = np.zeros((steps, n), dtype=bool)
        self._u = np.zeros((steps, n), dtype=np.int64)
        self._v = np.zeros((steps, n), dtype=np.int64)

    def run_spk(self) -> None:
        self._spikes[self.time_step - 1] = self.s_in.recv() != 0

    def post_guard(self) -> bool:
        return True

    def run_post_mgmt(self) -> None:
        t = self.time_step - 1
        self._u[t] = self.u_ref.read()
        self._v[t] = self.v_ref.read()
        if self.time_step == self.proc_params["num_steps"]:
            np.savez(self.proc_params["path"], spikes=self._spikes, u=self._u, v=self._v)
