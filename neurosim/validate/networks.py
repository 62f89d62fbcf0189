"""The fixed set of SNNs that ``make validate`` runs in SANA-FE and in neurosim (issue 12, build item 5).

Every network is Dense projections into Loihi LIF populations, driven by random binary input spikes (p = 0.2) or,
for the graded case, random 4-bit payloads; weights are zero-mean 4-bit integers (uniform in [-7, 7]) so a
1024-input projection of 256 neurons fills one Loihi core's 128 KiB of synapses. Seeds are fixed: the networks,
their spikes and so the reference figures are the same on every run.

The neuron is Loihi's fixed-point LIF with the current cleared every step (``du = 4095``: ``u`` = this step's
synaptic input) and a leak on the voltage (``dv``): v <- trunc(v (4096 - dv) / 4096) + input, fire when
v > threshold, reset to 0. SANA-FE's ``leaky_integrate_fire`` computes exactly this with ``input_decay = 0``,
``leak_decay = (4096 - dv) / 4096``, ``reset = 0`` (its potential is quantized to 1/64 of a weight, the same
resolution as Lava's 6-bit-shifted state), so both simulators fire the same neurons at the same steps (checked
per step by the comparison). Thresholds are part of each network's definition, chosen so it fires 5-30 %; they are
not fitted to any figure.

Timing is Lava's (= SANA-FE's): an input emits ``spikes[t]`` at step ``t`` and its projection delivers it at step
``t + 1``.

A graded input (Loihi 2's graded spikes) has no counterpart in SANA-FE (binary spike messages only, as Loihi 1):
SANA-FE runs its bit-serial equivalent, ``bits`` binary inputs per channel (bit ``k`` of the payload, weights
``w << k``), which is how Loihi 1 carries a multi-bit value.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neurosim.errors import NeurosimError

#: SANA-FE's Loihi: tiles are numbered column-major on the 8 x 4 mesh (tile = x * 4 + y), 4 cores a tile
SANAFE_MESH_HEIGHT = 4
SANAFE_CORES_PER_TILE = 4


@dataclass
class Group:
    """A population (``kind='lif'``) or the network's input spikes (``kind='input'``)."""

    name: str
    kind: str
    n: int
    threshold: int = 0  # Loihi vth (the neuron fires when v > threshold, in weight units)
    dv: int = 0  # voltage leak, 12-bit (v *= (4096 - dv) / 4096 each step)
    spikes: np.ndarray | None = None  # input: (steps, n) 0/1, or payloads when graded
    bits: int = 1  # payload bits of a graded input (1 = binary)


@dataclass
class Proj:
    """A Dense projection ``pre -> post`` with integer weights ``(post n, pre n)`` of ``w_bits`` bits."""

    name: str
    pre: str
    post: str
    weight: np.ndarray
    w_bits: int = 4


@dataclass
class NetDef:
    """One validation network: what it is, its groups (inputs first, then populations in order) and projections."""

    name: str
    title: str
    steps: int
    groups: list[Group]
    projections: list[Proj]
    what_it_tests: str = ""
    notes: list[str] = field(default_factory=list)

    def group(self, name: str) -> Group:
        for g in self.groups:
            if g.name == name:
                return g
        raise NeurosimError(f"network {self.name}: no group {name!r}")

    @property
    def synapses(self) -> int:
        return sum(int(p.weight.size) for p in self.projections)

    @property
    def recurrent(self) -> list[Proj]:
        """Projections from a population to itself or to an earlier one (one-step delay like any other)."""
        order = {g.name: i for i, g in enumerate(self.groups)}
        return [p for p in self.projections if order[p.pre] >= order[p.post]]

    # --- neurosim ---------------------------------------------------------------------------------------------
    def spiking_network(self):
        """The network as :class:`neurosim.snn.SpikingNetwork` (Lava's Dense and LIF parameters)."""
        from neurosim.neurons import DenseFixedParams, FixedLifParams, lava_weights_for
        from neurosim.snn import Population, Projection, SpikeSource, SpikingNetwork

        net = SpikingNetwork(self.name, meta={"validation": self.title})
        for g in self.groups:
            if g.kind == "input":
                graded = g.bits > 1
                net.sources[g.name] = SpikeSource(g.name, np.asarray(g.spikes, dtype=np.int32), graded=graded,
                                                  message_bits=g.bits if graded else 0)
            else:
                net.populations[g.name] = Population(g.name, g.n, FixedLifParams(du=4095, dv=g.dv, vth=g.threshold,
                                                                                  where=f"{self.name}.{g.name}"))
        for p in self.projections:
            w, wexp = lava_weights_for(p.weight, p.w_bits, "mixed")
            pre = self.group(p.pre)
            msg_bits = pre.bits if (pre.kind == "input" and pre.bits > 1) else 0
            net.projections.append(Projection(p.name, p.pre, p.post,
                                              DenseFixedParams(w, p.w_bits, wexp, "mixed", num_message_bits=msg_bits,
                                                               where=f"{self.name}.{p.name}")))
        return net

    # --- SANA-FE ------------------------------------------------------------------------------------------------
    def sanafe_groups(self) -> tuple[list[dict], dict[str, np.ndarray], list[dict], dict[str, np.ndarray]]:
        """(groups, spikes, projections, weights) as SANA-FE runs them: a graded input becomes ``bits`` binary
        inputs per channel (channel-major: channel i, bit k is input ``i * bits + k``) with weights ``w << k``."""
        groups, spikes, projs, weights = [], {}, [], {}
        for g in self.groups:
            if g.kind == "input":
                s = np.asarray(g.spikes, dtype=np.int64)
                if g.bits > 1:
                    s = ((s[:, :, None] >> np.arange(g.bits)) & 1).reshape(s.shape[0], -1)
                groups.append({"name": g.name, "kind": "input", "n": int(s.shape[1])})
                spikes[g.name] = s.astype(np.uint8)
            else:
                groups.append({"name": g.name, "kind": "lif", "n": g.n, "threshold": float(g.threshold),
                               "reset": 0.0, "leak_decay": (4096 - g.dv) / 4096, "input_decay": 0.0})
        for p in self.projections:
            w = np.asarray(p.weight, dtype=np.int64)
            bits = self.group(p.pre).bits if self.group(p.pre).kind == "input" else 1
            if bits > 1:
                w = (w[:, :, None] << np.arange(bits)).reshape(w.shape[0], -1)
            projs.append({"name": p.name, "pre": p.pre, "post": p.post})
            weights[p.name] = w
        return groups, spikes, projs, weights

    def output_slices(self, cores: dict[str, np.ndarray], k: int) -> list[tuple[NetDef, dict[str, np.ndarray]]]:
        """The network cut into ``k`` runs by its last population's cores (whole cores per slice, same inputs,
        same placement), for a simulator that cannot hold the whole network: every synaptic op, neuron update
        and message belongs to exactly one slice (an input spike's message to a core goes with that core)."""
        last = self.groups[-1]
        feeds = [p for p in self.projections if p.post == last.name]
        if last.kind != "lif" or any(p.pre == last.name for p in self.projections) or any(
                self.group(p.pre).kind != "input" for p in feeds):
            raise NeurosimError(f"network {self.name}: only a last population fed by inputs alone can be sliced")
        where = np.asarray(cores[last.name])
        order = sorted(set(where.tolist()), key=lambda c: int(np.argmax(where == c)))
        out = []
        for i, chunk in enumerate(np.array_split(np.asarray(order), k)):
            keep = np.isin(where, chunk)
            groups = [g if g is not last else Group(last.name, "lif", int(keep.sum()), last.threshold, last.dv)
                      for g in self.groups]
            projs = [p if p.post != last.name else Proj(p.name, p.pre, p.post, p.weight[keep], p.w_bits)
                     for p in self.projections]
            part = NetDef(f"{self.name}.slice{i}", self.title, self.steps, groups, projs, self.what_it_tests)
            out.append((part, {**cores, last.name: where[keep]}))
        return out

    def write_exchange(self, path: str | Path, cores: dict[str, np.ndarray]) -> Path:
        """The ``.npz`` the SANA-FE runner reads; ``cores[group]``: the SANA-FE core of each of the group's
        neurons as neurosim placed them (a graded input's bit inputs sit on their channel's core)."""
        groups, spikes, projs, weights = self.sanafe_groups()
        arrays: dict[str, np.ndarray] = {}
        for g in groups:
            where = np.asarray(cores[g["name"]], dtype=np.int64)
            src = self.group(g["name"])
            if src.kind == "input" and src.bits > 1:
                where = np.repeat(where, src.bits)
            if len(where) != g["n"]:
                raise NeurosimError(f"network {self.name}: {len(where)} core entries for group {g['name']} of "
                                    f"{g['n']} neurons")
            arrays[f"cores__{g['name']}"] = where
        for name, s in spikes.items():
            arrays[f"spikes__{name}"] = s
        for name, w in weights.items():
            arrays[f"weights__{name}"] = w
        spec = {"name": self.name, "steps": self.steps, "groups": groups, "projections": projs}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, spec=json.dumps(spec), **arrays)
        return path


# --- the fixed set ---------------------------------------------------------------------------------------------
def _weights(rng: np.random.Generator, out: int, inp: int, lim: int = 7) -> np.ndarray:
    """Zero-mean integer weights, uniform in [-lim, lim]."""
    return rng.integers(-lim, lim + 1, size=(out, inp)).astype(np.int64)


def _spikes(rng: np.random.Generator, steps: int, n: int, p: float = 0.2) -> np.ndarray:
    return (rng.random((steps, n)) < p).astype(np.int32)


def dense(name: str, n_in: int, n_out: int, steps: int, threshold: int, dv: int, seed: int, title: str,
          tests: str) -> NetDef:
    rng = np.random.default_rng(seed)
    return NetDef(name, title, steps,
                  [Group("in", "input", n_in, spikes=_spikes(rng, steps, n_in)),
                   Group("lif", "lif", n_out, threshold=threshold, dv=dv)],
                  [Proj("fc", "in", "lif", _weights(rng, n_out, n_in))], tests)


def chain(name: str = "chain3-1024", width: int = 1024, layers: int = 3, steps: int = 200, threshold: int = 60,
          dv: int = 256, seed: int = 3) -> NetDef:
    rng = np.random.default_rng(seed)
    groups = [Group("in", "input", width, spikes=_spikes(rng, steps, width))]
    projs = []
    pre = "in"
    for i in range(1, layers + 1):
        groups.append(Group(f"l{i}", "lif", width, threshold=threshold, dv=dv))
        projs.append(Proj(f"fc{i}", pre, f"l{i}", _weights(rng, width, width)))
        pre = f"l{i}"
    return NetDef(name, f"3-layer chain, {width} wide, {steps} steps", steps, groups, projs,
                  "spikes crossing the network between populations: messages and hops between layer cores")


def recurrent(name: str = "recurrent-1024", n: int = 1024, steps: int = 100, threshold: int = 60, dv: int = 256,
              seed: int = 4) -> NetDef:
    rng = np.random.default_rng(seed)
    return NetDef(name, f"recurrent population, {n} neurons, {steps} steps", steps,
                  [Group("in", "input", n, spikes=_spikes(rng, steps, n)),
                   Group("rec", "lif", n, threshold=threshold, dv=dv)],
                  [Proj("fc", "in", "rec", _weights(rng, n, n)),
                   Proj("rc", "rec", "rec", _weights(rng, n, n, lim=3))],
                  "a population feeding itself (one-step delay): two projections into one population")


def fan_in_split(name: str = "fanin-8192", n_in: int = 8192, n_out: int = 256, steps: int = 100,
                 threshold: int = 120, dv: int = 256, seed: int = 5) -> NetDef:
    rng = np.random.default_rng(seed)
    return NetDef(name, f"fan-in {n_in} -> {n_out} (above the core's 4096 axons), {steps} steps", steps,
                  [Group("in", "input", n_in, spikes=_spikes(rng, steps, n_in)),
                   Group("lif", "lif", n_out, threshold=threshold, dv=dv)],
                  [Proj("fc", "in", "lif", _weights(rng, n_out, n_in))],
                  "a fan-in above Loihi's 4096 input axons per core, which neurosim must split")


def graded(name: str = "graded-256x4b", channels: int = 256, bits: int = 4, n_out: int = 1024, steps: int = 100,
           threshold: int = 240, dv: int = 256, seed: int = 6, p: float = 0.2) -> NetDef:
    rng = np.random.default_rng(seed)
    active = rng.random((steps, channels)) < p
    payload = rng.integers(1, 1 << bits, size=(steps, channels))
    return NetDef(name, f"graded {bits}-bit input, {channels} channels -> {n_out}, {steps} steps", steps,
                  [Group("in", "input", channels, spikes=(active * payload).astype(np.int32), bits=bits),
                   Group("lif", "lif", n_out, threshold=threshold, dv=dv)],
                  [Proj("fc", "in", "lif", _weights(rng, n_out, channels))],
                  "graded spikes (a payload per event): one message per event with its payload on Loihi 2; "
                  "on Loihi (binary messages) one per set bit, as SANA-FE runs it")


def small(name: str = "small-64x32") -> NetDef:
    """The small case ``make test`` runs when SANA-FE is installed (seconds)."""
    return dense(name, 64, 32, 20, threshold=12, dv=256, seed=7, title="Dense+LIF 64 -> 32, 20 steps",
                 tests="the harness end to end (make test)")


NETWORKS: dict[str, Callable[[], NetDef]] = {
    "dense-1024": lambda: dense("dense-1024", 1024, 1024, 200, threshold=60, dv=256, seed=1,
                                title="Dense+LIF 1024 -> 1024, 200 steps",
                                tests="one fused Dense+LIF layer: synaptic ops, neuron updates, input messages"),
    "dense-4096": lambda: dense("dense-4096", 4096, 4096, 50, threshold=120, dv=256, seed=2,
                                title="Dense+LIF 4096 -> 4096, 50 steps",
                                tests="a layer at the fan-in limit spread over many cores (128 KiB each)"),
    "chain3-1024": chain,
    "recurrent-1024": recurrent,
    "fanin-8192": fan_in_split,
    "graded-256x4b": graded,
}


def fanout(k: int, steps: int = 20) -> NetDef:
    """The fan-out probe: dense-1024's input core feeding ``k`` receiving cores of 256 neurons each (every input
    spike goes to all of them, one message per core), the same load on every receiver whatever ``k``."""
    return dense(f"fanout-{k}", 1024, 256 * k, steps, threshold=60, dv=256, seed=1,
                 title=f"fan-out probe: one input core -> {k} receiving core{'s' if k > 1 else ''}, {steps} steps",
                 tests="how a sender's step depends on how many receivers it feeds side by side (back-pressure)")


#: probes that isolate one effect (not part of the fixed set's targets): the fan-out probe for the timing model
PROBES: dict[str, Callable[[], NetDef]] = {f"fanout-{k}": (lambda k=k: fanout(k)) for k in (1, 2, 4, 8)}


def network(name: str) -> NetDef:
    if name == "small-64x32":
        return small()
    if name in PROBES:
        return PROBES[name]()
    if name not in NETWORKS:
        raise NeurosimError(f"validation network {name!r}; allowed: {', '.join(NETWORKS)}, "
                            f"{', '.join(PROBES)}, small-64x32")
    return NETWORKS[name]()
