"""The discrete-event model (SimPy): phases of token blocks as plain generator processes over the mapped cores,
links and, in synchronous mode, a barrier per algorithmic time step.

Events are batched: a process handles one phase (see :mod:`.plan`) for one token block and yields one event per
time step (synchronous) or one per bundle (asynchronous); every event carries NumPy arrays over the phase's
cores and routes, never one event per spike.

Resources and how time passes:

* **cores**: every core (neuro or embedded) is a FIFO server (:class:`CoreState`, vectorized over cores): work
  given to a busy core starts when it is free, so token blocks and ops that share a core queue on it. A phase
  also holds a SimPy ``Resource`` of its own, so the blocks pass through it in order. A core's work in a step
  runs through the pipeline ``axon_in -> synapse -> dendrite -> soma -> axon_out``; the stages are pipelined,
  so its time is the busiest stage (actions x stage latency) plus one action of every other busy stage (the
  fill);
* **links**: every directed link is a FIFO server (:class:`~.network.LinkState`); a bundle has drained when its
  busiest link has; a message also takes its path's hop latencies;
* **barrier** (synchronous mode, :class:`SyncClock`): all cores advance algorithmic time steps together; a step
  lasts as long as the slowest phase in it, plus the barrier (``Hardware.barrier_ns`` over the chips used). A
  spike phase takes ``D`` steps plus one to integrate the last spikes; partial sums and read-outs take one step
  each. In asynchronous mode (seed 002 sec. 5.1) there is no barrier: a spike phase is one bundle whose time is
  the slowest of its source cores, links and synapse cores (streams overlap), plus one path latency;
* **embedded cores** run the non-spiking ops at ``op_throughput``; they are not part of the lock-step.

A block of ``B`` tokens moves as one bundle: each core does the block's work in one go (B x the per-token work),
and a synchronous step of the block stands for ``B`` hardware steps (B barriers, B path latencies).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import simpy

from neurosim.engines.events.network import LinkIncidence, LinkState
from neurosim.engines.events.plan import Phase, Plan, Routes
from neurosim.engines.events.tally import Tally
from neurosim.engines.events.work import Block, OpWork, nonspike_work, rng_for, spike_steps_of
from neurosim.graph import LIF, Linear, SpikeEncoder


@dataclass(frozen=True)
class StageLatency:
    """Latency of one action in each pipeline stage of a core (ns)."""

    recv: float
    read: float
    acc: float
    update: float  # soma update with its state read and write
    spike: float
    send: float

    @classmethod
    def of(cls, hw) -> StageLatency:
        p = hw.core.pipeline
        upd = p.soma["update"].latency.v + p.soma["state_read"].latency.v + p.soma["state_write"].latency.v
        return cls(p.axon_in["receive"].latency.v, p.synapse["read"].latency.v, p.dendrite["accumulate"].latency.v,
                   upd, p.soma["spike"].latency.v, p.axon_out["send"].latency.v)

    def core_time(self, recv=0.0, reads=0.0, acs=0.0, updates=0.0, spikes=0.0, sends=0.0) -> np.ndarray:
        """Time of each core's work (arrays broadcast): the busiest stage plus one action of each other busy one."""
        stages = [np.asarray(recv, float) * self.recv, np.asarray(reads, float) * self.read,
                  np.asarray(acs, float) * self.acc,
                  np.asarray(updates, float) * self.update + np.asarray(spikes, float) * self.spike,
                  np.asarray(sends, float) * self.send]
        singles = [self.recv, self.read, self.acc, self.update, self.send]
        busy = np.maximum.reduce(np.broadcast_arrays(*stages))
        fill = sum(np.where(s > 0, one, 0.0) for s, one in zip(np.broadcast_arrays(*stages), singles))
        return busy + fill


@dataclass
class SimConfig:
    """What to simulate: mode, tokens (after ``context`` cached positions), block size, sync/async, seed."""

    mode: str = "statistical"
    tokens: int = 1
    context: int = 0
    block: int = 1
    sync: bool = True
    seed: int = 0


class SyncClock:
    """The global algorithmic time step: phases ask for a step of a given duration; the step lasts as long as the
    longest request made before it began, plus the barrier. Requests made during a step wait for the next one."""

    def __init__(self, env: simpy.Environment, barrier_ns: float):
        self.env = env
        self.barrier_ns = barrier_ns
        self.pending: list[tuple[float, int, simpy.Event]] = []
        self.running = False
        self.steps = 0.0  # hardware time steps (a block step of B tokens is B steps)
        self.busy_ns = 0.0

    def tick(self, duration: float, hw_steps: int) -> simpy.Event:
        ev = self.env.event()
        self.pending.append((float(duration), int(hw_steps), ev))
        if not self.running:
            self.running = True
            self.env.process(self._run())
        return ev

    def _run(self):
        while self.pending:
            yield self.env.timeout(0)  # everyone ready at this instant joins the step
            batch, self.pending = self.pending, []
            hw_steps = max(s for _, s, _ in batch)
            dur = max(d for d, _, _ in batch) + hw_steps * self.barrier_ns
            yield self.env.timeout(dur)
            self.steps += hw_steps
            self.busy_ns += dur
            for _, _, ev in batch:
                ev.succeed()
        self.running = False


@dataclass
class PhaseTiming:
    """When one phase handled one block: inputs ready, cores acquired, done; time by part; the last input."""

    phase: int
    block: int
    ready: float = 0.0
    start: float = 0.0
    end: float = 0.0
    parts: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    last_pred: int = -1
    bound: str = ""


class SpikeInput:
    """Where spikes come from: drawn from rates (statistical) or real counts (exact, see :mod:`.exact`)."""

    def segment_steps(self, phase: Phase, plan: Plan, block: Block) -> np.ndarray:
        raise NotImplementedError

    def nonspike(self, layer, block: Block, conv: dict, mult: float, seed: int) -> OpWork:
        return nonspike_work(layer, block, conv, mult, rng_for(seed, layer.name + "/attention", block.index))


class CoreState:
    """Every core as a FIFO server, vectorized: when each is next free and how long it has been busy (ns)."""

    def __init__(self, n_cores: int):
        self.free_at = np.zeros(n_cores)
        self.busy_ns = np.zeros(n_cores)

    def occupy(self, cores: np.ndarray, times: np.ndarray, now: float) -> tuple[float, int]:
        """Give each core its work at ``now`` (a core listed twice does both, one after the other); return (ns
        until the last one is done, that core)."""
        cores = np.asarray(cores, dtype=np.int64)
        times = np.broadcast_to(np.asarray(times, dtype=float), cores.shape)
        live = (cores >= 0) & (times > 0)
        if not live.any():
            return 0.0, -1
        uniq, inv = np.unique(cores[live], return_inverse=True)
        work = np.bincount(inv, weights=times[live], minlength=len(uniq))
        end = np.maximum(self.free_at[uniq], now) + work
        self.free_at[uniq] = end
        self.busy_ns[uniq] += work
        i = int(np.argmax(end))
        return float(end[i] - now), int(uniq[i])


class Simulator:
    """One run of the discrete-event model over a :class:`~.plan.Plan`."""

    def __init__(self, plan: Plan, cfg: SimConfig, spikes: SpikeInput, blocks: list[Block],
                 progress: Callable[[int, int], None] | None = None, count_nonspike: bool = True):
        self.plan, self.cfg, self.spikes, self.blocks = plan, cfg, spikes, blocks
        hw = plan.hw
        self.hw = hw
        self.env = simpy.Environment()
        self.lat = StageLatency.of(hw)
        self.op_ns = 1e9 / hw.chip.embedded.op_throughput.v
        self.barrier_ns = hw.barrier_ns(plan.chips_used)
        self.clock = SyncClock(self.env, self.barrier_ns) if cfg.sync else None
        self.links = LinkState(plan.mesh, carry=True)
        self.cores = CoreState(plan.n_cores)
        self.phase_lock = [simpy.Resource(self.env, capacity=1) for _ in plan.phases]
        self.tally = Tally()
        self.timings: dict[tuple[int, int], PhaseTiming] = {}
        self.delivered: dict[tuple[int, int, int], simpy.Event] = {}
        self.progress = progress
        self.count_nonspike = count_nonspike
        self.conv = dict(plan.graph.meta.get("convention", {}))
        self.mult = float(plan.graph.meta.get("spike_multiplier", 1.0))
        self.value_bits = int(plan.mapping.options.get("value_bits", 24))
        self._incidence: dict[tuple[int, str], LinkIncidence] = {}
        self.ew_hops = 0.0
        self.done = 0
        self.total = len(plan.phases) * len(blocks)

    @property
    def core_busy(self) -> np.ndarray:
        return self.cores.busy_ns

    # --- running ---------------------------------------------------------------------------------------------------
    def run(self) -> None:
        for blk in self.blocks:
            for ph in self.plan.phases:
                self.env.process(self._phase(ph, blk))
        self.env.run()
        if self.clock is not None:
            self.tally.add_system("barrier", self.clock.steps)
        unfinished = len(self.timings) - self.done
        if unfinished:
            raise RuntimeError(f"event simulation stalled with {unfinished} phase(s) waiting (a dependency cycle)")

    def _event(self, src: int, dst: int, blk: int) -> simpy.Event:
        key = (src, dst, blk)
        ev = self.delivered.get(key)
        if ev is None:
            ev = self.delivered[key] = self.env.event()
        return ev

    def _phase(self, ph: Phase, blk: Block):
        rec = PhaseTiming(ph.index, blk.index)
        self.timings[(ph.index, blk.index)] = rec
        if ph.preds:
            yield simpy.AllOf(self.env, [self._event(q, ph.index, blk.index) for q in ph.preds])
            rec.last_pred = max(ph.preds, key=lambda q: self.timings[(q, blk.index)].end)
        rec.ready = self.env.now
        with self.phase_lock[ph.index].request() as req:  # the blocks pass through a phase in order
            yield req
            rec.start = self.env.now
            if rec.start > rec.ready:
                rec.parts["waiting for the previous block"] += rec.start - rec.ready
            if ph.kind == "spike":
                yield from self._spike(ph, blk, rec)
            elif ph.kind == "embedded":
                yield from self._embedded(ph, blk, rec)
            elif ph.kind == "graded":
                yield from self._graded(ph, blk, rec)
            else:
                self._host(ph, blk)
            if ph.out_routes:
                yield from self._readout(ph, blk, rec)
        rec.end = self.env.now
        for s in ph.succs:
            self._event(ph.index, s, blk.index).succeed()
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)

    def _wait(self, work: float, path: float, hw_steps: int, rec: PhaseTiming, part: str, lockstep: bool = True):
        """One step (synchronous: on the global clock, with its barrier) or one bundle (asynchronous, or work off
        the lock-step such as embedded ops) that takes ``work`` (booked under ``part``) plus ``path`` (hops)."""
        t0 = self.env.now
        duration = work + path
        if self.clock is not None and lockstep:
            yield self.clock.tick(duration, hw_steps)
            rec.parts["barrier and lock-step"] += max(self.env.now - t0 - duration, 0.0)
        elif duration > 0:
            yield self.env.timeout(duration)
        rec.parts[part] += work
        if path:
            rec.parts["network latency"] += path

    def _steps(self, B: int) -> int:
        """Hardware time steps one synchronous step of a block stands for."""
        return B if self.clock is not None else 1

    def _combined(self, key: tuple[int, str], routes: list[Routes]) -> LinkIncidence:
        """One link incidence over several route sets (their routes concatenated in order); cached."""
        inc = self._incidence.get(key)
        if inc is None:
            from scipy.sparse import csr_matrix, hstack

            parts = [r.incidence(self.plan.mesh) for r in routes]
            links = np.unique(np.concatenate([p.links for p in parts])) if parts else np.zeros(0, dtype=np.int64)
            mats = []
            for p in parts:
                rows = np.searchsorted(links, p.links)
                m = p.matrix.tocoo()
                mats.append(csr_matrix((m.data, (rows[m.row], m.col)), shape=(len(links), m.shape[1])))
            matrix = hstack(mats).tocsr() if mats else None
            service = np.where(self.plan.mesh.is_chip_link(links), self.plan.mesh.chip_service_ns,
                               self.plan.mesh.onchip_service_ns)
            inc = self._incidence[key] = LinkIncidence(links, matrix, service)
        return inc

    def _traffic(self, routes: list[Routes], msgs: list[np.ndarray]) -> None:
        """Count messages and hops at each route's sending piece (layer = the sender)."""
        for r, m in zip(routes, msgs):
            tot = m.sum(axis=1) if m.ndim == 2 else m
            self.tally.add(r.src, "message", tot, pieces=r.src_piece)
            self.tally.add(r.src, "hop_onchip", tot * r.hops_onchip, pieces=r.src_piece)
            self.tally.add(r.src, "hop_chip", tot * r.hops_chip, pieces=r.src_piece)
            self.ew_hops += float((tot * r.hops_ew).sum())

    @staticmethod
    def _bound(parts: dict[str, float]) -> str:
        return max(parts.items(), key=lambda kv: kv[1])[0]

    # --- spike phases ------------------------------------------------------------------------------------------------
    def _spike(self, ph: Phase, blk: Block, rec: PhaseTiming):
        plan, lat, B = self.plan, self.lat, blk.size
        src = plan.layers[ph.layers[0]]
        steps, _, _ = spike_steps_of(src.layer)
        seg = ph.segments
        S = self.spikes.segment_steps(ph, plan, blk)  # n_seg x D, summed over the block's tokens
        cs = np.vstack([np.zeros((1, steps)), np.cumsum(S, axis=0)])

        def interval(lo, hi):
            return cs[np.searchsorted(seg, hi)] - cs[np.searchsorted(seg, lo)]

        # the source neurons: D updates per token each, spikes as drawn / measured
        sp = src.p
        nm = np.nonzero(src.mask("neuron"))[0]
        src_spikes = interval(sp["out_lo"][nm], sp["out_hi"][nm])  # n_src x D
        updates = sp["neurons"][nm].astype(float) * B * _unfold_of(src.layer)
        for a in ("neuron_update", "state_read", "state_write"):
            self.tally.add(src, a, updates, pieces=nm)
        self.tally.add(src, "spike", src_spikes.sum(axis=1), pieces=nm)
        w = self.spikes.nonspike(src.layer, blk, self.conv, self.mult, self.cfg.seed)
        rot_ops = w.ops  # the rotation before the encoder's neurons (adds, timed on its cores)
        if self.count_nonspike:
            self._place_rows(src, w.rows)

        routes = ph.spike_routes + [r for r in ph.out_routes if r.payload == "spike"]
        msgs = [interval(r.lo, r.hi) for r in routes]  # multicast: one message per spike per destination core
        self._traffic(routes, msgs)
        sends = np.zeros((len(src.lm), steps))
        for r, m in zip(routes, msgs):
            np.add.at(sends, r.src_piece, m)
        share = sp["neurons"][nm] / max(float(sp["neurons"][nm].sum()), 1.0)
        src_time = lat.core_time(updates=(updates / steps)[:, None], spikes=src_spikes, sends=sends[nm],
                                 acs=(rot_ops * share / steps)[:, None])  # n_src x D
        src_cores = src.cores[nm]

        # the synapse cores of every consumer: one accumulate per spike per output neuron
        dst_cores, dst_time, dst_total = [], [], []
        for c, r, m in zip(plan.consumers(ph), ph.spike_routes, msgs):
            syn = np.nonzero(c.mask("synapse"))[0]
            cp = c.p
            spikes_in = interval(cp["in_lo"][syn], cp["in_hi"][syn])
            out_w = (cp["out_hi"][syn] - cp["out_lo"][syn]).astype(float)
            acs = spikes_in * out_w[:, None]
            layer = c.layer
            wb = layer.weight_bits_priced
            self.tally.add(c, "ac", acs.sum(axis=1), wb, layer.input.label, pieces=syn)
            self.tally.add(c, "synapse_read", acs.sum(axis=1), wb, pieces=syn)
            # output neurons: updated every step in lock-step; once per token (at read-out) when event-driven
            upd = out_w * B * (steps if self.clock is not None else 1)
            for a in ("neuron_update", "state_read", "state_write"):
                self.tally.add(c, a, upd, pieces=syn)
            recv = np.zeros((len(c.lm), steps))
            np.add.at(recv, r.dst_piece, m)
            dst_time.append(lat.core_time(recv=recv[syn], reads=acs, acs=acs, updates=(upd / steps)[:, None]))
            dst_total.append(lat.core_time(recv=recv[syn].sum(axis=1), reads=acs.sum(axis=1), acs=acs.sum(axis=1),
                                           updates=upd))
            dst_cores.append(c.cores[syn])
            if self.count_nonspike:
                self._place_rows(c, self.spikes.nonspike(layer, blk, self.conv, self.mult, self.cfg.seed).rows)
        dcores = np.concatenate(dst_cores) if dst_cores else np.zeros(0, dtype=np.int64)
        dtime = np.vstack(dst_time) if dst_time else np.zeros((0, steps))

        inc = self._combined((ph.index, "spike"), routes)
        allm = np.vstack(msgs) if msgs else np.zeros((0, steps))
        loads = inc.loads(allm)
        lat_r = np.concatenate([r.latency_ns for r in routes]) if routes else np.zeros(0)
        now = self.env.now
        if self.clock is not None:
            for t in range(steps):
                now = self.env.now
                path = float(lat_r[allm[:, t] > 0].max(initial=0.0))
                s_dur, _ = self.cores.occupy(src_cores, src_time[:, t], now)
                d_dur, _ = self.cores.occupy(dcores, dtime[:, t - 1], now) if t else (0.0, -1)
                drain, _ = self.links.drain(inc, loads[:, t], now)
                core = max(s_dur, d_dur)
                yield from self._wait(max(core, drain), B * path, B, rec,
                                      "neuro cores" if core >= drain else "network contention")
            d_dur, _ = self.cores.occupy(dcores, dtime[:, -1], self.env.now)
            yield from self._wait(d_dur, 0.0, B, rec, "neuro cores")
        else:  # the whole window as one stream: source, links and synapse cores overlap
            s_time = lat.core_time(updates=updates, spikes=src_spikes.sum(axis=1), sends=sends[nm].sum(axis=1),
                                   acs=rot_ops * share)
            d_time = np.concatenate(dst_total) if dst_total else np.zeros(0)
            s_dur, _ = self.cores.occupy(src_cores, s_time, now)
            d_dur, _ = self.cores.occupy(dcores, d_time, now)
            drain, _ = self.links.drain(inc, loads.sum(axis=1), now)
            path = float(lat_r[allm.sum(axis=1) > 0].max(initial=0.0))
            core = max(s_dur, d_dur)
            yield from self._wait(max(core, drain), path, 1, rec,
                                  "neuro cores" if core >= drain else "network contention")
        if ph.partial_routes:
            yield from self._partials(ph, blk, rec)

    def _partials(self, ph: Phase, blk: Block, rec: PhaseTiming):
        """Tiled linears: each synapse piece sends its partial sums to the accumulators, which add them."""
        lat, B = self.lat, blk.size
        routes = list(ph.partial_routes.values())
        msgs = [r.elements * r.edge.messages_per_element * B for r in routes]
        self._traffic(routes, msgs)
        now = self.env.now
        core = 0.0
        for r, m in zip(routes, msgs):
            c = r.src
            syn = np.nonzero(c.mask("synapse"))[0]
            acc = np.nonzero(c.mask("accumulator"))[0]
            sends = np.zeros(len(c.lm))
            np.add.at(sends, r.src_piece, m)
            values = np.zeros(len(c.lm))
            np.add.at(values, r.dst_piece, r.elements * float(B))
            recv = np.zeros(len(c.lm))
            np.add.at(recv, r.dst_piece, m)
            self.tally.add(c, "mac", values[acc], 1, f"int{self.value_bits}", pieces=acc)
            upd = (c.p["out_hi"][acc] - c.p["out_lo"][acc]).astype(float) * B
            for a in ("neuron_update", "state_read", "state_write"):
                self.tally.add(c, a, upd, pieces=acc)
            s_dur, _ = self.cores.occupy(c.cores[syn], lat.core_time(sends=sends[syn]), now)
            a_dur, _ = self.cores.occupy(c.cores[acc], lat.core_time(recv=recv[acc], reads=values[acc],
                                                                       acs=values[acc], updates=upd), now)
            core = max(core, s_dur, a_dur)
        inc = self._combined((ph.index, "partial"), routes)
        drain, _ = self.links.drain(inc, inc.loads(np.concatenate(msgs)), now)
        path = float(np.concatenate([r.latency_ns for r in routes]).max(initial=0.0))
        steps = self._steps(B)
        yield from self._wait(max(core, drain), path * steps, steps, rec,
                              "accumulator cores" if core >= drain else "network contention")

    # --- read-out: values leaving a phase ----------------------------------------------------------------------------
    def _readout(self, ph: Phase, blk: Block, rec: PhaseTiming):
        """Graded values (layer outputs) to the next phases' cores: one bundle over every outgoing route."""
        lat, B = self.lat, blk.size
        routes = [r for r in ph.out_routes if r.payload != "spike"]
        if not routes:
            return
        msgs = [r.elements * r.edge.messages_per_element * B for r in routes]
        self._traffic(routes, msgs)
        now = self.env.now
        core = 0.0
        neuro_sender = False
        for r, m in zip(routes, msgs):
            if r.src.lm.placement == "neuro":
                neuro_sender = True
                sends = np.zeros(len(r.src.lm))
                np.add.at(sends, r.src_piece, m)
                live = np.nonzero(sends)[0]
                d, _ = self.cores.occupy(r.src.cores[live], lat.core_time(sends=sends[live]), now)
                core = max(core, d)
            if r.dst.lm.placement == "neuro":
                recv = np.zeros(len(r.dst.lm))
                np.add.at(recv, r.dst_piece, m)
                live = np.nonzero(recv)[0]
                d, _ = self.cores.occupy(r.dst.cores[live], lat.core_time(recv=recv[live]), now)
                core = max(core, d)
        inc = self._combined((ph.index, "out"), routes)
        drain, _ = self.links.drain(inc, inc.loads(np.concatenate(msgs)), now)
        path = float(np.concatenate([r.latency_ns for r in routes]).max(initial=0.0))
        steps = self._steps(B)
        yield from self._wait(max(core, drain), path * steps, steps, rec,
                              "read-out cores" if core >= drain else "network contention", lockstep=neuro_sender)

    # --- embedded ops, graded linears, host --------------------------------------------------------------------------
    def _embedded(self, ph: Phase, blk: Block, rec: PhaseTiming):
        lp = self.plan.layers[ph.layers[0]]
        w = self.spikes.nonspike(lp.layer, blk, self.conv, self.mult, self.cfg.seed)
        if self.count_nonspike:
            self._place_rows(lp, w.rows)
        for kind in ("kv_write", "kv_read"):
            r = ph.kv_routes.get(kind)
            if r is None or len(r) == 0:
                continue
            per = r.edge.messages_per_element
            if kind == "kv_read":  # the mapping folds its mean context in; the simulator uses the block's contexts
                write = ph.kv_routes.get("kv_write")
                per = write.edge.messages_per_element if write is not None else per
                m = r.elements * per * blk.ctx_sum
            else:
                m = r.elements * per * blk.size
            self._traffic([r], [m])
            kv = r.src if kind == "kv_read" else r.dst
            pieces = r.src_piece if kind == "kv_read" else r.dst_piece
            words = np.zeros(len(kv.lm))
            np.add.at(words, pieces, m)
            live = np.nonzero(words)[0]
            t = self.lat.core_time(reads=words[live], sends=words[live]) if kind == "kv_read" else \
                self.lat.core_time(recv=words[live])
            now = self.env.now
            core, _ = self.cores.occupy(kv.cores[live], t, now)
            inc = self._combined((ph.index, kind), [r])
            drain, _ = self.links.drain(inc, inc.loads(m), now)
            path = float(r.latency_ns.max(initial=0.0))
            yield from self._wait(max(core, drain), path, 1, rec,
                                  "KV-cache cores" if core >= drain else "network contention", lockstep=False)
        emb = np.nonzero(lp.mask("embedded"))[0]
        if w.ops > 0 and len(emb):
            d, _ = self.cores.occupy(lp.cores[emb[:1]], w.ops * self.op_ns, self.env.now)
            yield from self._wait(d, 0.0, 1, rec, "embedded cores", lockstep=False)

    def _graded(self, ph: Phase, blk: Block, rec: PhaseTiming):
        lp = self.plan.layers[ph.layers[0]]
        layer: Linear = lp.layer  # type: ignore[assignment]
        B = blk.size
        syn = np.nonzero(lp.mask("synapse"))[0]
        p = lp.p
        macs = ((p["in_hi"][syn] - p["in_lo"][syn]) * (p["out_hi"][syn] - p["out_lo"][syn])).astype(float) * B
        wb = layer.weight_bits_priced
        mult = self.mult if layer.input.encoding.value == "int" else 1.0
        self.tally.add(lp, "mac", macs * mult, wb, layer.input.label, pieces=syn)
        self.tally.add(lp, "synapse_read", macs, wb, pieces=syn)
        if self.count_nonspike:
            rows = [r for r in self.spikes.nonspike(layer, blk, self.conv, self.mult, self.cfg.seed).rows
                    if r[0] not in ("mac", "synapse_read")]
            self._place_rows(lp, rows)
        d, _ = self.cores.occupy(lp.cores[syn], self.lat.core_time(reads=macs, acs=macs * mult), self.env.now)
        yield from self._wait(d, 0.0, self._steps(B), rec, "neuro cores")
        if ph.partial_routes:
            yield from self._partials(ph, blk, rec)

    def _host(self, ph: Phase, blk: Block) -> None:
        lp = self.plan.layers[ph.layers[0]]
        if self.count_nonspike:
            self._place_rows(lp, self.spikes.nonspike(lp.layer, blk, self.conv, self.mult, self.cfg.seed).rows)

    # --- where counted rows of non-spiking work land -----------------------------------------------------------------
    def _place_rows(self, lp, rows: list[tuple[str, float, float, str]]) -> None:
        """Spread a layer's counted rows over the pieces that do that work."""
        for action, count, w_bits, a_repr in rows:
            if count:
                self.tally.add(lp, action, count * _share(lp, action), w_bits, a_repr)


def _unfold_of(layer) -> float:
    if isinstance(layer, SpikeEncoder):
        return float(layer.spec.unfold)
    if isinstance(layer, LIF):
        return float(layer.steps)
    return 1.0


def _share(lp, action: str) -> np.ndarray:
    """Fraction of a layer's ``action`` count each of its pieces does."""
    p, n = lp.p, len(lp.lm)
    if action in ("kv_read", "kv_write") and lp.mask("kv").any():
        w = np.where(lp.mask("kv"), p["in_hi"] - p["in_lo"], 0).astype(float)
    elif lp.mask("embedded").any():
        w = lp.mask("embedded").astype(float)
    elif lp.mask("host").any():
        w = lp.mask("host").astype(float)
    elif lp.mask("neuron").any():
        w = np.where(lp.mask("neuron"), p["neurons"], 0).astype(float)
    elif action in ("mac", "synapse_read", "ac"):
        w = np.where(lp.mask("synapse"), p["synapses"], 0).astype(float)
    else:  # outputs: accumulators of a tiled layer, else its synapse pieces
        m = lp.mask("accumulator") if lp.mask("accumulator").any() else lp.mask("synapse")
        w = np.where(m, p["out_hi"] - p["out_lo"], 0).astype(float)
    total = w.sum()
    return w / total if total > 0 else np.full(n, 1.0 / max(n, 1))
