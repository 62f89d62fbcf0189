"""Exact mode: real weights and real spikes from the functional engine, computed core by core on the mapping.

The functional engine runs the real model (SmolLM2-135M, all-MiniLM-L6) on real text and hands every
spike-driven linear to :class:`ExactCores` through its exact trace API (one
:class:`~neurosim.functional.spike_linear.SpikeLinearRecord` per layer per forward call: the integer spike counts
entering the layer, its integer weights and scales, and the functional engine's own integer accumulator and
dequantized output). For every synapse piece of the layer's mapping, the core computes its slice's integer
partial products ``counts[:, in_lo:in_hi] @ W[out_lo:out_hi, in_lo:in_hi]^T`` (exact: integer-valued floats
below 2^24 / 2^53, else int64); an output-split layer's pieces own their outputs, a tiled layer's accumulator
pieces add the partial sums of every input chunk. The assembled accumulator is dequantized by the documented rule
(:func:`~neurosim.readout.dequantize_accumulator`, the readout the embedded cores do) and compared
bit for bit with the functional engine's. Each layer's input is the functional engine's, which (every layer being
bit-exact) is what the simulator's own output would be: the whole forward is then identical by induction.

The per-step spikes the simulation times and counts come from the same counts (``|k|`` spikes in the first
``|k|`` of the ``D`` steps); verification also checks the simulator's accumulate and spike counts against the
functional engine's measured counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from neurosim.engines.events.plan import Phase, Plan
from neurosim.engines.events.sim import SpikeInput
from neurosim.engines.events.work import Block, spike_steps_of
from neurosim.errors import NeurosimError


@dataclass
class LayerCheck:
    """One spike-driven linear: did the cores reproduce the functional engine?"""

    layer: str
    tokens: int
    acc_equal: bool
    output_equal: bool
    first_diff: str = ""


@dataclass
class Verification:
    """Outputs and counts of the simulator against the functional engine's."""

    layers: list[LayerCheck] = field(default_factory=list)
    count_checks: list[tuple[str, str, float, float]] = field(default_factory=list)  # layer, action, sim, ref
    unchecked: list[str] = field(default_factory=list)  # counts with no independent reference, and why
    #: what ``layers`` compares, for the summary
    subject: str = "spike-driven layers bit-exact (integer accumulators and dequantized outputs)"

    @property
    def first_mismatch(self) -> str | None:
        for c in self.layers:
            if not (c.acc_equal and c.output_equal):
                return f"layer {c.layer}: {c.first_diff}"
        for layer, action, a, b in self.count_checks:
            if a != b:
                return f"layer {layer}: {action} count {a:.17g} (simulator) != {b:.17g} (independent count)"
        return None

    @property
    def ok(self) -> bool:
        return bool(self.layers) and self.first_mismatch is None

    def summary(self) -> str:
        if self.ok:
            n = len({c.layer for c in self.layers})
            return (f"verified: {n} {self.subject}, "
                    f"every counted action equals its independent count ({len(self.count_checks)} checks; "
                    f"{len(self.unchecked)} with no independent reference, named in the notes)")
        return f"MISMATCH: {self.first_mismatch}"


def _exact_product(counts: np.ndarray, w_f32: np.ndarray, w_int: np.ndarray, max_w: int) -> np.ndarray:
    """counts @ w^T exactly (int64), through float BLAS when every partial sum is an integer the float holds."""
    if counts.size == 0 or w_int.size == 0:
        return np.zeros((counts.shape[0], w_int.shape[0]), dtype=np.int64)
    bound = counts.shape[1] * int(np.abs(counts).max(initial=0)) * max_w
    if bound < 2**24:
        return (counts.astype(np.float32) @ w_f32.T).astype(np.int64)
    if bound < 2**53:
        return (counts.astype(np.float64) @ w_f32.astype(np.float64).T).astype(np.int64)
    return counts.astype(np.int64) @ w_int.astype(np.int64).T


def _first_diff(a: np.ndarray, b: np.ndarray, what: str) -> str:
    if a.shape != b.shape:
        return f"{what} shape {a.shape} != {b.shape}"
    idx = np.argwhere(a != b)[0]
    t, o = (int(i) for i in idx[:2])
    return f"{what} differs first at token {t}, output {o}: simulator {a[t, o]!r}, functional engine {b[t, o]!r}"


class ExactCores(SpikeInput):
    """Receives the functional engine's trace records, computes every core's partial products, and serves the
    real spike counts to the simulation (per segment, per step, per token block)."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.counts: dict[str, list[tuple[int, np.ndarray]]] = {}  # encoder -> [(token offset, counts)]
        self.verification = Verification()
        self.ac: dict[str, float] = {}
        self._joined: dict[str, np.ndarray] = {}  # per encoder: its counts over all tokens
        self._magnitudes: dict[str, np.ndarray] = {}  # per encoder: |counts| (int64)
        self._segment_of: dict[int, np.ndarray] = {}  # per spike phase: each element's segment x (steps + 1)
        self.seconds = 0.0  # wall time spent computing the cores' partial products

    def __call__(self, rec) -> None:
        import time

        t0 = time.perf_counter()
        try:
            self._compute(rec)
        finally:
            self.seconds += time.perf_counter() - t0

    # --- the trace hook ------------------------------------------------------------------------------------------
    def _compute(self, rec) -> None:
        from neurosim.readout import dequantize_accumulator

        lp = self.plan.layers.get(rec.layer)
        if lp is None:
            raise NeurosimError(f"the functional engine ran layer {rec.layer}, which the mapping lacks")
        counts = np.asarray(rec.counts)
        enc = self.counts.setdefault(rec.encoder, [])
        if not any(off == rec.token_offset for off, _ in enc):
            enc.append((rec.token_offset, counts))
        w = rec.weight
        w_int = w.int_weight
        w_f = w.as_float(np.float32)
        p = lp.p
        n_tok = counts.shape[0]
        fan_out = w_int.shape[0]
        syn = np.nonzero(lp.mask("synapse"))[0]
        partial: dict[int, np.ndarray] = {}
        ac = 0.0
        mag = np.abs(counts).sum(axis=0, dtype=np.int64)
        csum = np.concatenate([[0], np.cumsum(mag)])
        # cores that take the same inputs and hold adjacent outputs run as one BLAS call, split per core after
        groups: dict[tuple[int, int], list[int]] = {}
        for i in syn:
            groups.setdefault((int(p["in_lo"][i]), int(p["in_hi"][i])), []).append(int(i))
        for (ilo, ihi), members in groups.items():
            members.sort(key=lambda i: int(p["out_lo"][i]))
            los = np.array([int(p["out_lo"][i]) for i in members])
            his = np.array([int(p["out_hi"][i]) for i in members])
            for i, lo, hi in zip(members, los, his):
                ac += float(csum[ihi] - csum[ilo]) * int(hi - lo)
            if np.all(los[1:] == his[:-1]):
                block = _exact_product(counts[:, ilo:ihi], w_f[los[0]:his[-1], ilo:ihi],
                                       w_int[los[0]:his[-1], ilo:ihi], w.max_abs)
                for i, lo, hi in zip(members, los, his):
                    partial[i] = block[:, lo - los[0]:hi - los[0]]
            else:
                for i, lo, hi in zip(members, los, his):
                    partial[i] = _exact_product(counts[:, ilo:ihi], w_f[lo:hi, ilo:ihi], w_int[lo:hi, ilo:ihi],
                                                w.max_abs)
        self.ac[rec.layer] = self.ac.get(rec.layer, 0.0) + ac
        acc = np.zeros((n_tok, fan_out), dtype=np.int64)
        accs = np.nonzero(lp.mask("accumulator"))[0]
        if len(accs):  # tiled: each accumulator adds the partial sums of its outputs from every input chunk
            for a in accs:
                alo, ahi = int(p["out_lo"][a]), int(p["out_hi"][a])
                total = np.zeros((n_tok, ahi - alo), dtype=np.int64)
                for i, part in partial.items():
                    lo, hi = max(alo, int(p["out_lo"][i])), min(ahi, int(p["out_hi"][i]))
                    if hi > lo:
                        total[:, lo - alo:hi - alo] += part[:, lo - int(p["out_lo"][i]):hi - int(p["out_lo"][i])]
                acc[:, alo:ahi] = total
        else:  # output-split: each synapse piece owns its outputs
            for i, part in partial.items():
                acc[:, int(p["out_lo"][i]):int(p["out_hi"][i])] += part
        ref = np.asarray(rec.acc)
        acc_ok = np.array_equal(acc, ref.astype(np.int64))
        diff = "" if acc_ok else _first_diff(acc, ref.astype(np.int64), "integer accumulator")
        out_ok = False
        if acc_ok:
            out = dequantize_accumulator(acc.astype(ref.dtype), rec.act_scale, w, rec.zero_point, rec.bias)
            ref_out = np.asarray(rec.output)
            out_ok = out.dtype == ref_out.dtype and np.array_equal(out.view(np.uint32), ref_out.view(np.uint32))
            if not out_ok:
                diff = _first_diff(out, ref_out, "dequantized output")
        self.verification.layers.append(LayerCheck(rec.layer, n_tok, acc_ok, out_ok, diff))

    # --- spikes for the simulation -----------------------------------------------------------------------------
    def encoder_counts(self, name: str) -> np.ndarray:
        hit = self._joined.get(name)
        if hit is None:
            parts = sorted(self.counts.get(name, []), key=lambda t: t[0])
            if not parts:
                raise NeurosimError(f"exact mode: the functional engine produced no spikes for {name}")
            hit = self._joined[name] = np.concatenate([c for _, c in parts], axis=0)
        return hit

    def magnitudes(self, name: str, steps: int) -> np.ndarray:
        """|spike count| of every token and element of an encoder (tokens x width, int64), checked once to fit its
        ``steps`` unfolding steps."""
        hit = self._magnitudes.get(name)
        if hit is None:
            mag = np.abs(self.encoder_counts(name).astype(np.int64))
            if mag.size and int(mag.max()) > steps:
                raise NeurosimError(f"{name}: a spike count of {int(mag.max())} does not fit {steps} steps")
            hit = self._magnitudes[name] = mag
        return hit

    def segment_steps(self, phase: Phase, plan: Plan, block: Block) -> np.ndarray:
        return self.segment_steps_of(phase, plan, [block])[0]

    def segment_steps_of(self, phase: Phase, plan: Plan, blocks: list[Block]) -> np.ndarray:
        """:meth:`segment_steps` of consecutive blocks of one size, in one pass (the same whole numbers; blocks x
        n_seg x D)."""
        src = plan.layers[phase.layers[0]].layer
        steps, _, _ = spike_steps_of(src)
        size, n = blocks[0].size, len(blocks)
        if any(b.size != size or b.start != blocks[0].start + i * size for i, b in enumerate(blocks)):
            return np.stack([self.segment_steps_of(phase, plan, [b])[0] for b in blocks])
        mag = self.magnitudes(src.name, steps)[blocks[0].start:blocks[0].start + n * size]
        # step t carries the element-tokens whose |count| exceeds t (front-first unfolding): per block and segment,
        # how many element-tokens have each |count| (one bincount), then the number above each t (a running sum
        # from the top)
        seg = self._segment_of.get(phase.index)
        if seg is None:
            seg = self._segment_of[phase.index] = np.repeat(np.arange(len(phase.segments) - 1),
                                                            np.diff(phase.segments)) * (steps + 1)
        n_seg = len(phase.segments) - 1
        cell = n_seg * (steps + 1)
        key = (seg + mag).reshape(n, -1) + (np.arange(n) * cell)[:, None]  # a block's tokens share its cells
        hist = np.bincount(key.reshape(-1), minlength=n * cell).reshape(n, n_seg, steps + 1)
        return np.cumsum(hist[:, :, :0:-1], axis=2)[:, :, ::-1].astype(np.float64)  # blocks x n_seg x steps


def message_events(layer, spikes: np.ndarray, message_bits: float) -> np.ndarray:
    """Messages each element's spikes take per destination core (same shape as ``spikes``): one per nonzero entry,
    except for a graded input whose payload is wider than the hardware's message (Loihi: binary messages), which
    travels bit-serially, one message per nonzero ``message_bits``-wide chunk of the payload (a set bit on Loihi),
    each reaching its own axon and doing one synaptic op per synapse (Loihi 2 carries it in one message)."""
    s = np.asarray(spikes)
    bits = int(getattr(layer, "bits", 1)) if getattr(layer, "graded", False) else 1
    mb = max(1, int(message_bits))
    if bits <= mb:
        return (s != 0).astype(np.int64)
    mag = np.abs(s.astype(np.int64))
    mask = (1 << mb) - 1
    return sum((((mag >> (j * mb)) & mask) != 0).astype(np.int64) for j in range(-(-bits // mb)))


class RecordedSpikes(SpikeInput):
    """An explicit-weight SNN's real spikes, step by step: ``spikes[layer]`` is a (steps, n) array per spike source
    (an InputSpikes layer's recorded input, a LIF population's spikes from the fixed-point functional run; nonzero =
    an event, payloads included). One token is one time step, so a block of tokens is a run of steps."""

    def __init__(self, spikes: dict[str, np.ndarray]):
        self.spikes = {k: np.asarray(v) for k, v in spikes.items()}

    def segment_steps(self, phase: Phase, plan: Plan, block: Block) -> np.ndarray:
        src = plan.layers[phase.layers[0]].layer
        steps, _, _ = spike_steps_of(src)
        if steps != 1:
            raise NeurosimError(f"{src.name}: an SNN population takes one step per token; this one takes {steps}")
        s = self.spikes.get(src.name)
        if s is None:
            raise NeurosimError(f"exact mode: no spikes recorded for {src.name}")
        if block.start + block.size > len(s):
            raise NeurosimError(f"exact mode: {src.name} has {len(s)} steps of spikes; the run asks for step "
                                f"{block.start + block.size}")
        events = message_events(src, s[block.start:block.start + block.size], plan.hw.core.message_bits.v).sum(
            axis=0)  # per element, over the block
        return np.add.reduceat(events, phase.segments[:-1])[:, None].astype(np.float64)  # n_seg x 1


def snn_reference_counts(graph, spikes: dict[str, np.ndarray], steps: int, message_bits: float = 1.0
                         ) -> pd.DataFrame:
    """The cost model applied to a functional run's own spikes (independent of the mapping and the simulator): per
    projection, its presynaptic events (:func:`message_events`) x fan-out; per population, one update per neuron per
    step and its spikes."""
    from neurosim.cost import Activity, Rules, layer_rows
    from neurosim.counters import CounterSink

    rules = Rules.of(graph)
    sink = CounterSink("functional")
    for layer in graph:
        name = layer.name
        if name in spikes and type(layer).__name__ == "LIF":
            act = Activity(float(steps), updates=float(layer.n * steps), spikes=float(np.count_nonzero(spikes[name])))
        elif type(layer).__name__ in ("Linear", "Readout"):
            pre = graph.predecessors(name)
            events = float(sum(message_events(graph[p], spikes[p][:steps], message_bits).sum()
                               for p in pre if p in spikes))
            act = Activity(float(steps), in_spikes=events)
        else:
            act = Activity(float(steps))
        for action, count, w_bits, a_repr in layer_rows(layer, rules, act):
            sink.add(name, layer.block, layer.role, layer.kind, action, float(count), w_bits, a_repr)
    return sink.frame()


#: actions that exist only on the hardware (traffic, synchronisation): the functional engine has no counterpart
HARDWARE_ACTIONS = ("message", "hop_onchip", "hop_chip", "barrier")


def count_checks(sim: pd.DataFrame, functional: pd.DataFrame, core_acs: dict[str, float]
                 ) -> tuple[list[tuple[str, str, float, float]], list[str]]:
    """Every count the simulator made against an independent one: the functional engine's count of the same
    (layer, action, operand), and for spike-driven layers also the accumulates the cores computed from their own
    slices of the real spikes. Returns the checks (layer, action, simulator, reference) and the counts that have
    no independent reference, each named with why."""
    key = ["layer", "action", "a_repr"]
    s = sim.groupby(key)["count"].sum().to_dict()
    f = functional.groupby(key)["count"].sum().to_dict()
    checks: list[tuple[str, str, float, float]] = []
    unchecked: list[str] = []
    for k in sorted(set(s) | set(f)):
        layer, action, a_repr = k
        what = action if not a_repr else f"{action} ({a_repr})"
        if k in f:
            checks.append((layer, what, float(s.get(k, 0.0)), float(f[k])))
        elif action in HARDWARE_ACTIONS:
            continue  # summarised below
        else:
            unchecked.append(f"{layer}: {what} (done by the mapped cores only: output neurons on synapse cores, "
                             "partial sums on accumulator cores)")
    sim_acs = sim.loc[sim.action == "ac"].groupby("layer")["count"].sum()
    for layer, n in core_acs.items():
        checks.append((layer, "ac (the cores' own slices)", float(sim_acs.get(layer, 0.0)), float(n)))
    hw = sorted(set(sim.loc[sim.action.isin(HARDWARE_ACTIONS), "action"]))
    if hw:
        unchecked.append(f"{', '.join(hw)}: traffic and synchronisation exist only on the hardware")
    return checks, unchecked
