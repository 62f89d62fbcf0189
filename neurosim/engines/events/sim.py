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
* **back-pressure** (synchronous spike phases): a route holds ``(hops + 1) x chip.link_buffer`` messages its
  receiver has not taken; a sending core emits in neuron order and waits at a full route, holding back the rest
  (:func:`~.network.blocked_send`); the step lasts at least each sender's part with those waits;
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

from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import simpy

from neurosim.cost import (
    Rules,
    fused_soma,
    linear_output_rows,
    linear_synaptic_rows,
    output_neuron_rows,
    spike_source_rows,
    uses_context,
)
from neurosim.engines.events.network import (
    LinkIncidence,
    LinkState,
    SenderOrder,
    blocked_send,
    index_unique,
    one_block_never_waits,
    route_capacity,
    sum_rows,
)
from neurosim.engines.events.plan import LayerPieces, Phase, Plan, Routes
from neurosim.engines.events.tally import Tally
from neurosim.engines.events.work import Block, OpWork, nonspike_work, rng_for, spike_steps_of
from neurosim.graph import LIF, InputSpikes, Linear, SpikeEncoder


@dataclass(frozen=True)
class StageLatency:
    """Latency of one action in each pipeline stage of a core (ns), and how a core's work in a step takes time.

    A core has two units that work side by side in a time step: the **synapse unit** (axon_in receive -> synapse
    read -> dendrite accumulate: the messages that arrive and the synaptic ops they cause) and the **soma unit**
    (soma update with its state read and write, spike -> axon_out send: every neuron's update and the messages of
    the neurons that fire). Within a unit the stages are pipelined (the busiest stage plus one action of each
    other busy stage, the fill) or serial (the sum of every action's stage latencies), as the hardware model's
    ``core.stage_overlap`` says. A core's time is the slower of its two units.
    """

    recv: float
    read: float
    acc: float
    update: float  # soma update with its state read and write
    spike: float
    send: float
    serial: bool = False

    @classmethod
    def of(cls, hw) -> StageLatency:
        p = hw.core.pipeline
        upd = p.soma["update"].latency.v + p.soma["state_read"].latency.v + p.soma["state_write"].latency.v
        return cls(p.axon_in["receive"].latency.v, p.synapse["read"].latency.v, p.dendrite["accumulate"].latency.v,
                   upd, p.soma["spike"].latency.v, p.axon_out["send"].latency.v,
                   getattr(hw.core, "stage_overlap", "pipelined") == "serial")

    def _unit(self, stages: list[tuple[np.ndarray, float]]) -> np.ndarray | float:
        # a stage given no actions (the scalar 0 of a keyword left out) adds nothing to the busiest stage, the sum
        # or the fill (action counts are >= 0), so it is skipped
        stages = [(np.asarray(n, dtype=float), lat) for n, lat in stages if not (np.isscalar(n) and n == 0)]
        if not stages:
            return 0.0
        times = [n * lat for n, lat in stages]
        if self.serial:
            return sum(times[1:], times[0])
        busy = times[0]
        for t in times[1:]:
            busy = np.maximum(busy, t)
        fill = (stages[0][0] > 0) * stages[0][1]
        for n, lat in stages[1:]:
            fill = fill + (n > 0) * lat
        return busy + fill

    def units(self, recv=0.0, reads=0.0, acs=0.0, updates=0.0, spikes=0.0, sends=0.0) -> np.ndarray:
        """(synapse unit, soma unit) time of each core's work, stacked on a last axis of 2 (arrays broadcast)."""
        syn = self._unit([(recv, self.recv), (reads, self.read), (acs, self.acc)])
        upd = np.asarray(updates, dtype=float) * self.update + np.asarray(spikes, dtype=float) * self.spike
        if self.serial:
            soma = upd + np.asarray(sends, dtype=float) * self.send
        else:
            e = np.asarray(sends, dtype=float) * self.send
            soma = np.maximum(upd, e) + (upd > 0) * self.update + (e > 0) * self.send
        syn, soma = np.asarray(syn, dtype=float), np.asarray(soma, dtype=float)
        out = np.empty(np.broadcast_shapes(syn.shape, soma.shape) + (2,))
        out[..., 0] = syn
        out[..., 1] = soma
        return out

    def core_time(self, recv=0.0, reads=0.0, acs=0.0, updates=0.0, spikes=0.0, sends=0.0) -> np.ndarray:
        """Time of each core's work (arrays broadcast): the slower of its synapse and soma units."""
        return self.units(recv, reads, acs, updates, spikes, sends).max(axis=-1)


@dataclass
class SimConfig:
    """What to simulate: mode, tokens (after ``context`` cached positions), block size, sync/async, seed."""

    mode: str = "statistical"
    tokens: int = 1
    context: int = 0
    block: int = 1
    sync: bool = True
    seed: int = 0


@dataclass
class StepRecord:
    """One global time step (synchronous mode): when it began, the slowest request (its work and network latency),
    the barrier, how many hardware steps it stands for, and what bound it (the slowest core's place, or the busiest
    link, and the phase that asked)."""

    start_ns: float
    work_ns: float
    barrier_ns: float
    hw_steps: int
    bound_by: str

    @property
    def duration_ns(self) -> float:
        return self.work_ns + self.barrier_ns


class SyncClock:
    """The global algorithmic time step: phases ask for a step of a given duration; the step lasts as long as the
    longest request made before it began, plus the barrier. Requests made during a step wait for the next one.
    Every step is recorded (:class:`StepRecord`)."""

    def __init__(self, env: simpy.Environment, barrier_ns: float):
        self.env = env
        self.barrier_ns = barrier_ns
        self.pending: list[tuple[float, int, simpy.Event, str | tuple[str, str, str]]] = []
        self.running = False
        self.steps = 0.0  # hardware time steps (a block step of B tokens is B steps)
        self.busy_ns = 0.0
        self.records: list[StepRecord] = []

    def tick(self, duration: float, hw_steps: int, bound_by: str | tuple[str, str, str] = "") -> simpy.Event:
        """Ask for a step; ``bound_by``: what bound the request, as text or as (part, where, phase), made into text
        only for the request that sets the step's length."""
        ev = self.env.event()
        self.pending.append((float(duration), int(hw_steps), ev, bound_by))
        if not self.running:
            self.running = True
            self.env.process(self._run())
        return ev

    def _run(self):
        while self.pending:
            # everyone ready at this instant joins the step: wait until nothing else is due now (a block that
            # leaves a phase and the next block that enters it may take several zero-time events to ask)
            yield self.env.timeout(0)
            while self.env.peek() <= self.env.now:
                yield self.env.timeout(0)
            batch, self.pending = self.pending, []
            hw_steps = max(s for _, s, _, _ in batch)
            work, _, _, bound = max(batch, key=lambda b: b[0])
            dur = work + hw_steps * self.barrier_ns
            if isinstance(bound, tuple):
                part, where, phase = bound
                bound = f"{part}: {where} ({phase})" if where else f"{part} ({phase})"
            self.records.append(StepRecord(self.env.now, work, hw_steps * self.barrier_ns, hw_steps, bound))
            yield self.env.timeout(dur)
            self.steps += hw_steps
            self.busy_ns += dur
            for _, _, ev, _ in batch:
                ev.succeed()
        self.running = False


class PhaseLock:
    """A phase's lock (the blocks pass through a phase one at a time, in order), scheduled exactly as
    ``simpy.Resource(capacity=1)`` schedules it, without its request and release objects: a request is granted at
    once when the lock is free (an event scheduled now), else queued; a release schedules an event that, when
    processed, grants the first queued request. The same events are scheduled at the same points as with the
    resource, so every other event keeps its order (the fingerprints are unchanged)."""

    def __init__(self, env: simpy.Environment):
        self.env = env
        self.held = False
        self.queue: deque[simpy.Event] = deque()

    def request(self) -> simpy.Event:
        ev = self.env.event()
        self.queue.append(ev)
        self._grant()
        return ev

    def _grant(self, _event: simpy.Event | None = None) -> None:
        if not self.held and self.queue:  # the first queued request, as the resource's put queue does
            self.held = True
            self.queue.popleft().succeed()

    def release(self) -> None:
        self.held = False
        ev = self.env.event()
        ev.callbacks.append(self._grant)
        ev.succeed()


def all_of(env: simpy.Environment, events: list[simpy.Event]) -> simpy.Event:
    """``simpy.AllOf(env, events)`` as it schedules (one event, scheduled when the last of ``events`` is processed,
    at once when all have been), without the condition's value."""
    done = env.event()
    left = len(events)

    def check(_event: simpy.Event) -> None:
        nonlocal left
        left -= 1
        if left == 0:
            done.succeed()

    if not events:
        done.succeed()
    for e in events:
        if e.callbacks is None:  # processed already
            check(e)
        else:
            e.callbacks.append(check)
    return done


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

    def segment_steps_of(self, phase: Phase, plan: Plan, blocks: list[Block]) -> np.ndarray:
        """:meth:`segment_steps` of several blocks, stacked (blocks x n_seg x D; an input that can do them in one
        pass does)."""
        return np.stack([self.segment_steps(phase, plan, b) for b in blocks])

    def nonspike(self, layer, block: Block, rules: Rules, seed: int) -> OpWork:
        """The layer's closed-form work for a block (:func:`~.work.nonspike_work`), kept by (layer, block size,
        attended positions where the layer uses them, rules) unless it drew spikes from the block's own generator
        (spike-driven attention): the same figures recur block after block. The rows returned are shared: read
        them, never change them."""
        kept: dict = self.__dict__.setdefault("_nonspike", {})
        key = (layer.name, block.size, block.ctx_sum if uses_context(layer) else None, rules)
        hit = kept.get(key)
        if hit is not None and hit[0] is layer:
            return hit[1]
        drew = []

        def rng() -> np.random.Generator:
            drew.append(True)
            return rng_for(seed, layer.name + "/attention", block.index)

        work = nonspike_work(layer, block, rules, rng)
        if not drew:
            if len(kept) >= 65536:
                kept.clear()
            kept[key] = (layer, work)
        return work


@dataclass(frozen=True)
class CoreGroup:
    """A fixed list of cores that work is given to again and again (a phase's source or synapse cores): its valid
    entries (core >= 0), the distinct cores among them and where each entry falls, worked out once."""

    cores: np.ndarray
    valid: np.ndarray | None  # mask of the entries with a core (None: all)
    uniq: np.ndarray  # the distinct cores: in the given order when no core is listed twice, else sorted
    inv: np.ndarray | None  # position in ``uniq`` of each valid entry (None: each entry is its own core)

    @cached_property
    def units(self) -> np.ndarray:
        """Positions of the distinct cores' (synapse, soma) units in a flattened ``CoreState.free_at``."""
        return _unit_index(self.uniq)

    def fold(self, times) -> tuple[np.ndarray, np.ndarray, bool]:
        """(work, larger unit of each, pair) of every distinct core from per-entry ``times``: one figure per entry
        (the whole core) or a (synapse, soma) pair (a last axis of 2); scalars broadcast; a core listed twice gets
        the sum of its entries (added in entry order)."""
        shape = self.cores.shape
        times = np.asarray(times, dtype=float)
        pair = times.ndim == len(shape) + 1 and times.shape[-1] == 2
        if pair:
            if times.shape[:-1] != shape:
                times = np.broadcast_to(times, shape + (2,))
        elif times.shape != shape:
            times = np.broadcast_to(times, shape)
        if self.valid is not None:
            times = times[self.valid]
        else:
            times = times.reshape((-1, 2) if pair else -1)
        if self.inv is None:
            work = times
        elif pair:
            n = len(self.uniq)
            work = np.stack([np.bincount(self.inv, weights=times[:, 0], minlength=n),
                             np.bincount(self.inv, weights=times[:, 1], minlength=n)], axis=-1)
        else:
            work = np.bincount(self.inv, weights=times, minlength=len(self.uniq))
        return work, (np.maximum(work[:, 0], work[:, 1]) if pair else work), pair

    def fold_steps(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`fold` of (synapse, soma) times for every step at once (``times``: entries x steps x 2): the work
        (steps x distinct cores x 2, each step contiguous), the larger unit of each and which cores get work."""
        steps = times.shape[1]
        if self.valid is not None:
            times = times[self.valid]
        if self.inv is not None:
            times = sum_rows(self.inv, times.reshape(len(times), -1), len(self.uniq)).reshape(-1, steps, 2)
        work = np.ascontiguousarray(times.transpose(1, 0, 2))
        wmax = np.maximum(work[:, :, 0], work[:, :, 1])
        return work, wmax, wmax > 0

    @classmethod
    def of(cls, cores: np.ndarray, unique: bool | None = False) -> CoreGroup:
        """``unique``: no core is listed twice (the caller knows; nothing is grouped); None: find out."""
        cores = np.asarray(cores)
        if unique is None:
            unique = len(np.unique(cores)) == len(cores)
        valid = cores >= 0
        v = cores[valid]
        if unique:
            return cls(cores, None if valid.all() else valid, v, None)
        uniq, inv = np.unique(v, return_inverse=True)
        return cls(cores, None if valid.all() else valid, uniq, inv.reshape(-1))


class CoreState:
    """Every core as a FIFO server with two units (synapse, soma; see :class:`StageLatency`), vectorized: when each
    unit is next free and how long the core has been busy (ns)."""

    def __init__(self, n_cores: int):
        self.free_at = np.zeros((n_cores, 2))
        self._flat = self.free_at.reshape(-1)  # a view: both units of every core, core-major
        self.busy_ns = np.zeros(n_cores)

    def occupy(self, cores: np.ndarray | CoreGroup, times, now: float, unique: bool = False) -> tuple[float, int]:
        """Give each core its work at ``now`` (a core listed twice does both, one after the other); return (ns
        until the last one is done, that core). ``times`` per core is one figure (the whole core: both units) or
        a pair (synapse unit, soma unit: each unit queues on its own, the two run side by side, e.g. a core
        integrating this step's spikes while its neurons update). ``cores``: an array (``unique``: no core is listed
        twice) or a :class:`CoreGroup` built once for cores that get work step after step. A core given no work
        (its times all 0) is left as it is."""
        grp = cores if isinstance(cores, CoreGroup) else CoreGroup.of(cores, unique)
        return self.occupy_folded(grp, *grp.fold(times), now)

    def occupy_folded(self, grp: CoreGroup, work: np.ndarray, wmax: np.ndarray, pair: bool, now: float,
                      live: np.ndarray | None | bool = False) -> tuple[float, int]:
        """:meth:`occupy` with the work already folded onto the group's distinct cores (:meth:`CoreGroup.fold`, or
        one step of :meth:`CoreGroup.fold_steps`: kept by a caller that gives the same work again and again);
        ``live``: the cores given work (None: all; False: find out)."""
        return self._commit(grp.uniq, work, wmax, pair, now, live, grp.units if pair else None)

    def occupy_one(self, core: int, time: float, now: float) -> tuple[float, int]:
        """:meth:`occupy` of one core given ``time`` for the whole core (both units), in plain floats."""
        if not time > 0:
            return 0.0, -1
        free = self.free_at[core]
        last = max(max(float(free[0]), float(free[1])), now) + time
        free[:] = last
        self.busy_ns[core] += time
        return last - now, core

    def _commit(self, uniq: np.ndarray, work: np.ndarray, wmax: np.ndarray, pair: bool, now: float,
                live: np.ndarray | None | bool = False, units: np.ndarray | None = None) -> tuple[float, int]:
        """Queue the work of cores ``uniq`` (``live``: mask of those given work; None: all; False: find out;
        ``units``: the cores' (synapse, soma) positions in the flattened ``free_at``, when known)."""
        if live is False:
            live = live_cores(wmax)
        if not len(uniq) or (live is not None and not live.any()):
            return 0.0, -1
        if pair:  # the two units of every core, one gather and one scatter over the flattened state
            # a core given no work gets max(free, now) + 0 per unit: no start of later work changes (time never
            # goes back, so a later start max(free, later) is the same), and it is left out of the last end below
            flat = self._flat
            units = _unit_index(uniq) if units is None else units
            end = np.maximum(flat[units], now)
            end += work.reshape(-1)
            flat[units] = end
            self.busy_ns[uniq] += wmax
            if live is None:  # the first unit that ends last is a unit of the first core whose later unit does
                j = int(end.argmax())
                return float(end[j]) - now, int(uniq[j >> 1])
            last = end.reshape(-1, 2).max(axis=1)
            last[~live] = -np.inf
            i = int(last.argmax())
            return float(last[i]) - now, int(uniq[i])
        # the whole core: both units start when the later one is free (a core given no work is left as it is)
        if live is not None:
            uniq, work, wmax = uniq[live], work[live], wmax[live]
        free = self.free_at[uniq]
        last = np.maximum(np.maximum(free[:, 0], free[:, 1]), now) + work
        self.free_at[uniq] = last[:, None]
        self.busy_ns[uniq] += wmax
        i = int(last.argmax())
        return float(last[i]) - now, int(uniq[i])


def live_cores(wmax: np.ndarray) -> np.ndarray | None:
    """The mask of the cores given work (``wmax > 0``), or None when every core is."""
    live = wmax > 0
    return None if live.all() else live


def _unit_index(cores: np.ndarray) -> np.ndarray:
    """Positions of the cores' (synapse, soma) units in a flattened ``CoreState.free_at`` (core-major)."""
    return (np.asarray(cores, dtype=np.int64)[:, None] * 2 + np.arange(2)).reshape(-1)


@dataclass
class SpikeGeom:
    """Everything about a spike phase that does not change from block to block: the segment index of every
    piece's and route's element interval, which routes leave which source core and reach which synapse core, the
    link incidence. Built once per phase, so a step is a handful of array operations."""

    steps: int
    src: LayerPieces
    nm: np.ndarray
    src_cores: np.ndarray
    src_lo: np.ndarray
    src_hi: np.ndarray
    neurons: np.ndarray
    share: np.ndarray
    r_lo: np.ndarray
    r_hi: np.ndarray
    r_src: np.ndarray  # position of each route's source piece among the neuron pieces
    hops_on: np.ndarray
    hops_ew: np.ndarray
    hops_chip: np.ndarray
    lat_r: np.ndarray
    consumers: list
    dst_cores: np.ndarray
    inc: LinkIncidence
    r_dst_row: np.ndarray  # row of each route's receiving piece among the consumers' synapse pieces (-1: none)
    # the consumers' synapse pieces one after the other (``consumers[k] = (layer pieces, synapse pieces, a, b)``
    # holds rows a:b): the segments of their input intervals, their output neurons, and their number
    c_lo: np.ndarray
    c_hi: np.ndarray
    c_out: np.ndarray
    n_recv: int  # synapse pieces of all consumers
    _order: SenderOrder | None = None
    _lat: tuple | None = None  # the distinct path latencies, and which each route has
    _runs_seen: int = 0  # blocks this geometry has run (see products)
    _composed: object = None  # the matrix of products, applied to cs
    _capacity: np.ndarray | None = None  # messages each route holds (:func:`~.network.route_capacity`)
    _never_waits: bool | None = None  # :func:`~.network.one_block_never_waits` of its sender order and capacity

    def __post_init__(self) -> None:
        self.src_group = CoreGroup.of(self.src_cores, None)
        self.dst_group = CoreGroup.of(self.dst_cores, None)
        # source and synapse cores as one group when no core is listed twice in either or is in both (then one
        # queue update a step does what two did: the same cores, work and order)
        both = np.concatenate([self.src_cores, self.dst_cores]).astype(np.int64)
        plain = all(x.valid is None and x.inv is None for x in (self.src_group, self.dst_group))
        self.both_group = CoreGroup(both, None, both, None) if plain and len(np.unique(both)) == len(both) else None

    def _latencies(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct path latencies and which of them each route has."""
        if self._lat is None:
            values, inv = np.unique(self.lat_r, return_inverse=True)
            self._lat = (values, inv.reshape(-1))
        return self._lat

    def products(self, cs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The linear maps of a step's messages, from ``cs`` (cumulative spikes per segment boundary x step):
        messages per link (:meth:`~.network.LinkIncidence.count_loads`), per source piece (sends) and per
        receiving synapse piece, and each step's longest path over the routes that carry a message.

        A route's messages are ``cs[r_hi] - cs[r_lo]``; every map is a sum of them, so the maps are also one sparse
        matrix applied to ``cs`` itself (a few entries per route and segment boundary, merged over the routes that
        share them: about a fifth of the entries and no routes x steps array). That matrix is built when a phase
        asks a second time (a one-block run, such as a decode token, or a phase whose blocks all came in one batch,
        does not pay for it). The counts are whole numbers, so both ways give the same sums exactly. ``cs`` may
        hold several blocks' steps side by side: every map is column by column."""
        self._runs_seen += 1
        values, inv = self._latencies()
        if self._composed is None and self._runs_seen >= 2:
            self._composed = self._compose(cs.shape[0])
        if self._composed is not None:
            y = np.asarray(self._composed @ cs)
            a = len(self.inc.links) + 1
            b = a + len(self.nm)
            c = b + self.n_recv
            ends, sends, recv, per_latency = y[:a], y[a:b], y[b:c], y[c:]
            loads = self.inc.loads_from_ends(ends)
        else:
            # routes x steps, summed into rows by bincounts (exact sums of whole numbers, no matrix to build)
            allm = np.take(cs, self.r_hi, axis=0) - np.take(cs, self.r_lo, axis=0)
            loads, sends = self.inc.count_loads(allm), sum_rows(self.r_src, allm, len(self.nm))
            has = self.r_dst_row >= 0
            recv = sum_rows(self.r_dst_row[has], allm[has], self.n_recv)
            per_latency = sum_rows(inv, allm, len(values))
        # a route carries a message exactly where its latency's sum is > 0 (counts are >= 0)
        paths = np.where(per_latency > 0, values[:, None], 0.0).max(axis=0, initial=0.0)
        return loads, np.asarray(sends), np.asarray(recv), paths

    def _compose(self, n_cols: int) -> object:
        """The matrix of :meth:`products` (rows: run ends of the incidence, source pieces, synapse pieces,
        distinct latencies; columns: segment boundaries), each route's +1 at ``r_hi`` and -1 at ``r_lo`` placed in
        every row it adds to; duplicates summed."""
        from scipy.sparse import coo_matrix

        inc, n = self.inc, len(self.r_lo)
        rows, signs, routes = [], [], []

        def add(row: np.ndarray, sign: float, route: np.ndarray) -> None:
            rows.append(row)
            signs.append(np.full(len(row), sign))
            routes.append(route)

        add(inc.run_first, 1.0, inc.run_route)  # a run adds its route's messages where it starts ...
        add(inc.run_first + inc.run_len, -1.0, inc.run_route)  # ... and takes them away after it ends
        off = len(inc.links) + 1
        add(off + self.r_src, 1.0, np.arange(n))
        off += len(self.nm)
        has = np.flatnonzero(self.r_dst_row >= 0)
        add(off + self.r_dst_row[has], 1.0, has)
        off += self.n_recv
        values, inv = self._latencies()
        add(off + inv, 1.0, np.arange(n))
        off += len(values)
        row, sign, route = np.concatenate(rows), np.concatenate(signs), np.concatenate(routes)
        m = coo_matrix((np.concatenate([sign, -sign]), (np.concatenate([row, row]),
                                                        np.concatenate([self.r_hi[route], self.r_lo[route]]))),
                       shape=(off, n_cols)).tocsr()
        m.eliminate_zeros()
        return m

    def order(self, seg: np.ndarray) -> SenderOrder:
        """The order the source cores send their messages in (built when back-pressure is first possible)."""
        if self._order is None:
            self._order = SenderOrder.of(self.src_cores, self.src_lo, self.src_hi, self.r_src, self.r_lo, self.r_hi,
                                         seg)
        return self._order

    @classmethod
    def of(cls, plan: Plan, ph: Phase, inc: LinkIncidence) -> SpikeGeom:
        src = plan.layers[ph.layers[0]]
        steps, _, _ = spike_steps_of(src.layer)
        seg = ph.segments
        sp = src.p
        nm = np.nonzero(src.mask("neuron"))[0]
        pos = np.full(len(src.lm), -1, dtype=np.int64)
        pos[nm] = np.arange(len(nm))
        routes = ph.spike_traffic
        cat = (lambda f: np.concatenate([f(r) for r in routes]) if routes else np.zeros(0))
        r_src = pos[cat(lambda r: r.src_piece).astype(np.int64)]
        neurons = sp["neurons"][nm].astype(float)
        consumers, dst_cores, c_lo, c_hi, c_out = [], [], [], [], []
        offset = 0
        n_routes = int(sum(len(x) for x in routes))
        dst_row = np.full(n_routes, -1, dtype=np.int64)
        n_rows = 0
        for r in routes:
            if any(r is x for x in ph.spike_routes):
                c = r.dst
                syn = np.nonzero(c.mask("synapse"))[0]
                cpos = np.full(len(c.lm), -1, dtype=np.int64)
                cpos[syn] = np.arange(len(syn))
                rows = cpos[r.dst_piece]
                dst_row[offset:offset + len(r)] = np.where(rows >= 0, rows + n_rows, -1)
                n_rows += len(syn)
                consumers.append((c, syn, n_rows - len(syn), n_rows))
                c_lo.append(np.searchsorted(seg, c.p["in_lo"][syn]))
                c_hi.append(np.searchsorted(seg, c.p["in_hi"][syn]))
                c_out.append((c.p["out_hi"][syn] - c.p["out_lo"][syn]).astype(float))
                dst_cores.append(c.cores[syn])
            offset += len(r)
        dcores = np.concatenate(dst_cores) if dst_cores else np.zeros(0, dtype=np.int64)
        rows_of = (lambda parts, dtype: np.concatenate(parts) if parts else np.zeros(0, dtype=dtype))
        scores = src.cores[nm]
        return cls(steps, src, nm, scores,
                   np.searchsorted(seg, sp["out_lo"][nm]), np.searchsorted(seg, sp["out_hi"][nm]), neurons,
                   neurons / max(float(neurons.sum()), 1.0),
                   np.searchsorted(seg, cat(lambda r: r.lo)), np.searchsorted(seg, cat(lambda r: r.hi)), r_src,
                   cat(lambda r: r.hops_onchip), cat(lambda r: r.hops_ew), cat(lambda r: r.hops_chip),
                   cat(lambda r: r.latency_ns), consumers, dcores, inc, dst_row, rows_of(c_lo, np.int64),
                   rows_of(c_hi, np.int64), rows_of(c_out, float), n_rows)


@dataclass
class SpikeBatch:
    """A spike phase's arrays for a run of consecutive blocks of one size, worked out at once: the blocks' steps
    side by side as columns (block ``first + i`` has columns ``i*D .. (i+1)*D``). Every array is computed column
    by column (element-wise arithmetic, sums over rows, one product per column), so a block's columns are what
    computing the block alone gives, bit for bit; what changes is the number of NumPy calls, which for a phase of a
    few cores is most of the time a block took (:meth:`Simulator._spike_batch`)."""

    first: int
    n: int
    steps: int
    cs: np.ndarray  # cumulative spikes per segment boundary x columns
    src_spikes: np.ndarray  # n_src x columns (as measured or drawn: the tally's)
    loads: np.ndarray  # links x columns
    sends: np.ndarray
    recv: np.ndarray
    paths: np.ndarray  # per column
    acs_all: np.ndarray  # synapse pieces x columns
    upd_all: np.ndarray  # output-neuron updates of every synapse piece (the same for every block of the size)
    fused: list[bool]  # per consumer: its LIF's soma sits on its synapse cores
    updates: np.ndarray  # the source neurons' updates per block (the same for every block of the size)
    upd_step: np.ndarray | float  # ... per step, as a column (0.0 for injected spikes)
    src_time: np.ndarray  # n_src x columns x (synapse, soma unit)
    dtime: np.ndarray
    folded: list  # synchronous: per core group (group, work, larger unit, live mask per column)
    loads_t: np.ndarray | None = None  # synchronous: columns x links, their service time and loaded flag
    service_t: np.ndarray | None = None
    loaded_t: np.ndarray | None = None

    def cols(self, blk: Block) -> slice:
        i = blk.index - self.first
        return slice(i * self.steps, (i + 1) * self.steps)


@dataclass
class ScaledBundle:
    """A bundle's traffic for a number of tokens: per tally its (messages, on-chip hops, chip hops) rows, per
    neuro-core end its cores' time (folded onto its distinct cores, :meth:`CoreGroup.fold`, with the mask of the
    cores given work: None when all are), the messages per link, their service time and which links are loaded
    (1.0 / 0.0)."""

    tallies: list
    times: list
    loads: np.ndarray
    service: np.ndarray
    loaded: np.ndarray


@dataclass
class BundleGeom:
    """A bundle whose traffic per token is fixed (graded read-outs, partial sums, KV-cache words): per-token messages
    per route, per sending piece (tallies), per sending / receiving neuro core, per link."""

    tallies: list  # (layer pieces, piece indices, messages, on-chip hops, chip hops) per token
    ew: float
    ends: list  # (core group, messages per token, "send" | "recv") for neuro-core ends
    loads: np.ndarray
    path: float
    inc: LinkIncidence
    neuro_sender: bool

    _scaled: dict = field(default_factory=dict)

    def scaled(self, factor: float, lat: StageLatency) -> ScaledBundle:
        """The traffic of ``factor`` tokens (kept for the last few factors: a block size recurs block after
        block)."""
        sc = self._scaled.get(factor)
        if sc is None:
            if len(self._scaled) >= 8:
                self._scaled.clear()
            loads = self.loads * factor
            times = []
            for grp, per_token, kind in self.ends:
                work, wmax, pair = grp.fold(lat.core_time(sends=per_token * factor) if kind == "send" else
                                            lat.core_time(recv=per_token * factor))
                times.append((work, wmax, pair, live_cores(wmax)))
            sc = self._scaled[factor] = ScaledBundle(
                [(("message", msg * factor, 0.0, ""), ("hop_onchip", on * factor, 0.0, ""),
                  ("hop_chip", chip * factor, 0.0, "")) for _, _, msg, on, chip in self.tallies],
                times, loads, loads * self.inc.service_ns, (loads > 0).astype(float))
        return sc

    @classmethod
    def of(cls, routes: list[Routes], inc: LinkIncidence, per_element: float | None = None) -> BundleGeom:
        tallies, ends, per_route = [], [], []
        ew = 0.0
        neuro_sender = False
        for r in routes:
            m = r.elements * (r.edge.messages_per_element if per_element is None else per_element)
            per_route.append(m)
            pieces, inv = index_unique(r.src_piece, len(r.src.lm))
            tallies.append((r.src, pieces, np.bincount(inv, m), np.bincount(inv, m * r.hops_onchip),
                            np.bincount(inv, m * r.hops_chip)))
            ew += float((m * r.hops_ew).sum())
            for lp, idx, kind in ((r.src, r.src_piece, "send"), (r.dst, r.dst_piece, "recv")):
                if lp.lm.placement != "neuro":
                    continue
                neuro_sender |= kind == "send"
                u, inv2 = index_unique(idx, len(lp.lm))
                cores = lp.cores[u]
                ends.append((CoreGroup.of(cores, None), np.bincount(inv2, m), kind))
        allm = np.concatenate(per_route) if per_route else np.zeros(0)
        lat = np.concatenate([r.latency_ns for r in routes]) if routes else np.zeros(0)
        return cls(tallies, ew, ends, inc.loads(allm), float(lat[allm > 0].max(initial=0.0)), inc, neuro_sender)


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
        self.link_buffer = hw.chip.link_buffer.v  # messages a link's buffer holds (back-pressure)
        self.cores = CoreState(plan.n_cores)
        self.phase_lock = [PhaseLock(self.env) for _ in plan.phases]
        self.tally = Tally()
        self.timings: dict[tuple[int, int], PhaseTiming] = {}
        self.delivered: dict[tuple[int, int, int], simpy.Event] = {}
        self.progress = progress
        self.count_nonspike = count_nonspike
        self.rules = Rules.of(plan.graph)
        self.value_bits = int(plan.mapping.options.get("value_bits", 24))
        # geometry derived from the plan alone (link incidences, spike-phase and bundle geometry): kept with the
        # plan, so every run over one plan builds it once
        self._incidence: dict[tuple[int, str], LinkIncidence] = plan.cache.setdefault("incidence", {})
        self._geoms: dict[int, SpikeGeom] = plan.cache.setdefault("spike", {})
        self._bundles: dict[tuple[int, str, float | None], BundleGeom] = plan.cache.setdefault("bundle", {})
        self._batches: dict[int, SpikeBatch] = {}  # per spike phase: the blocks it has worked out ahead
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
            yield all_of(self.env, [self._event(q, ph.index, blk.index) for q in ph.preds])
            rec.last_pred = max(ph.preds, key=lambda q: self.timings[(q, blk.index)].end)
        rec.ready = self.env.now
        lock = self.phase_lock[ph.index]
        yield lock.request()  # the blocks pass through a phase in order
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
        lock.release()
        rec.end = self.env.now
        for s in ph.succs:
            self._event(ph.index, s, blk.index).succeed()
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)

    def _wait(self, work: float, path: float, hw_steps: int, rec: PhaseTiming, part: str, lockstep: bool = True,
              where: str = ""):
        """One step (synchronous: on the global clock, with its barrier) or one bundle (asynchronous, or work off
        the lock-step such as embedded ops) that takes ``work`` (booked under ``part``) plus ``path`` (hops);
        ``where``: the core or link that bound the work (recorded with the step)."""
        t0 = self.env.now
        duration = work + path
        if self.clock is not None and lockstep:
            phase = self.plan.phases[rec.phase].name
            yield self.clock.tick(duration, hw_steps, (part, where, phase))
            rec.parts["barrier and lock-step"] += max(self.env.now - t0 - duration, 0.0)
        elif duration > 0:
            yield self.env.timeout(duration)
        rec.parts[part] += work
        if path:
            rec.parts["network latency"] += path

    def _place(self, core: int) -> str:
        """The place of a global core id (cached)."""
        places = self.__dict__.get("_places")
        if places is None:
            places = self._places = {}
            for lp in self.plan.layers.values():
                for c, pl in zip(lp.cores.tolist(), lp.places.tolist()):
                    places.setdefault(int(c), str(pl))
        return places.get(core) or f"core #{core}"

    def _fused(self, linear: str) -> str | None:
        """:func:`~neurosim.cost.fused_soma` of a layer (cached with the plan: the plan belongs to one graph)."""
        fused: dict[str, str | None] = self.plan.cache.setdefault("fused", {})  # kept with the plan, like geometry
        if linear not in fused:
            fused[linear] = fused_soma(self.plan.graph, linear)
        return fused[linear]

    def _steps(self, B: int) -> int:
        """Hardware time steps one synchronous step of a block stands for."""
        return B if self.clock is not None else 1

    def _combined(self, key: tuple[int, str], routes: list[Routes]) -> LinkIncidence:
        """One link incidence over several route sets (their routes concatenated in order); cached. The paths of
        every route are expanded in one vectorized pass (the matrix is the column-wise stack of the route sets'
        own incidences: the same links, entries and order)."""
        inc = self._incidence.get(key)
        if inc is None:
            mesh = self.plan.mesh

            def ends(side: str) -> tuple[np.ndarray, ...]:  # global router coordinates of every route's end
                out = []
                for axis in range(3):
                    parts = [(r.src if side == "src" else r.dst).routers(mesh)[axis][
                        r.src_piece if side == "src" else r.dst_piece] for r in routes]
                    out.append(np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64))
                return tuple(out)

            inc = self._incidence[key] = mesh.incidence(ends("src"), ends("dst"), routers=True)
        return inc

    @staticmethod
    def _bound(parts: dict[str, float]) -> str:
        return max(parts.items(), key=lambda kv: kv[1])[0]

    # --- spike phases ------------------------------------------------------------------------------------------------
    def _spike_geom(self, ph: Phase) -> SpikeGeom:
        g = self._geoms.get(ph.index)
        if g is None:
            g = self._geoms[ph.index] = SpikeGeom.of(self.plan, ph, self._combined((ph.index, "spike"),
                                                                                  ph.spike_traffic))
        return g

    #: NumPy elements a spike phase's batch of blocks may hold (:meth:`_spike_batch`): a phase of a few cores
    #: takes all the run's blocks at once, a phase of thousands of routes and links one block at a time
    BATCH_ELEMENTS = 250_000

    def _spike_batch(self, ph: Phase, g: SpikeGeom, blk: Block) -> SpikeBatch:
        """The batch holding ``blk``'s arrays: made when the phase reaches a block it does not hold, for that block
        and the following blocks of the same size, as many as :attr:`BATCH_ELEMENTS` allows. Each block's spikes
        come from the input's own ``segment_steps`` for that block (seeded per block, or measured), so taking them
        early changes none."""
        kept = self._batches.get(ph.index)
        if kept is not None and kept.first <= blk.index < kept.first + kept.n:
            return kept
        lat, B, src, steps = self.lat, blk.size, g.src, g.steps
        per_block = steps * (len(ph.segments) + 4 * len(g.inc.links) + 8 * len(g.nm) + 8 * g.n_recv + 4 * len(g.r_lo))
        n_max = max(1, self.BATCH_ELEMENTS // max(per_block, 1))
        run = [blk]
        for b in self.blocks[blk.index + 1:]:
            if len(run) >= n_max or b.size != B or b.index != run[-1].index + 1:
                break
            run.append(b)
        S = self.spikes.segment_steps_of(ph, self.plan, run)  # blocks x n_seg x D
        cs = np.zeros((len(run), S.shape[1] + 1, steps))
        np.cumsum(S, axis=1, out=cs[:, 1:])
        cs = cs.transpose(1, 0, 2).reshape(S.shape[1] + 1, -1)  # the blocks' steps side by side
        src_spikes = cs[g.src_hi] - cs[g.src_lo]  # n_src x columns
        loads, sends, recv, paths = g.products(cs)  # per link, source piece and synapse piece; longest paths
        updates = g.neurons * B * unfold_of(src.layer)
        inject = isinstance(src.layer, InputSpikes)  # no soma fires injected spikes: only the sends take time
        upd_step = (updates / steps)[:, None] if not inject else 0.0
        # the rotation before the encoder's neurons (adds, timed on its cores), block by block
        rot = [self.spikes.nonspike(src.layer, b, self.rules, self.cfg.seed).ops for b in run]
        acs = (rot[0] * g.share / steps)[:, None] if all(r == rot[0] for r in rot) else \
            np.repeat(np.stack([r * g.share / steps for r in rot], axis=1), steps, axis=1)
        src_time = lat.units(updates=upd_step, spikes=np.zeros_like(src_spikes) if inject else src_spikes,
                             sends=sends, acs=acs)  # n_src x columns x (synapse, soma unit)
        # the synapse cores of every consumer: one accumulate per spike per output neuron; output neurons on the
        # synapse cores, unless the LIF after the layer is their soma (fused)
        soma_steps = steps if self.clock is not None else 1  # lock-step: every step; event-driven: at read-out
        acs_all = (np.take(cs, g.c_hi, axis=0) - np.take(cs, g.c_lo, axis=0)) * g.c_out[:, None]
        upd_all = np.empty(len(g.c_out))
        fused = [self._fused(c.layer.name) is not None and not c.lm.tiled for c, _, _, _ in g.consumers]
        for (_, _, a, b), f in zip(g.consumers, fused):
            upd_all[a:b] = g.c_out[a:b] * B * soma_steps * (0.0 if f else 1.0)
        dtime = lat.units(recv=recv, reads=acs_all, acs=acs_all, updates=(upd_all / steps)[:, None])
        batch = SpikeBatch(blk.index, len(run), steps, cs, src_spikes, loads, sends, recv, paths, acs_all, upd_all,
                           fused, updates, upd_step, src_time, dtime, [])
        if self.clock is not None:
            # every step's core work folded onto the distinct cores at once: source and synapse cores as one group
            # when no core is listed twice or in both, else the source cores first (a tie names a source core)
            groups = [(g.both_group, np.concatenate([src_time, dtime], axis=0))] if g.both_group is not None else \
                [(g.src_group, src_time), (g.dst_group, dtime)]
            for grp, times in groups:
                work, wmax, live = grp.fold_steps(times)
                batch.folded.append((grp, work, wmax,
                                     [None if every else lv for every, lv in zip(live.all(axis=1), live)]))
            batch.loads_t = np.ascontiguousarray(loads.T)
            batch.service_t = batch.loads_t * g.inc.service_ns
            batch.loaded_t = (batch.loads_t > 0).astype(float)
        self._batches[ph.index] = batch
        return batch

    def _spike(self, ph: Phase, blk: Block, rec: PhaseTiming):
        lat, B = self.lat, blk.size
        g = self._spike_geom(ph)
        src, steps = g.src, g.steps
        pb = self._spike_batch(ph, g, blk)
        sl = pb.cols(blk)
        if blk.index == pb.first + pb.n - 1:
            del self._batches[ph.index]  # its last block: its arrays live on in this block's views only
        cs = pb.cs[:, sl]  # this block's columns (n_seg + 1) x D: cumulative spikes, summed over its tokens

        # the source neurons: D updates per token each, spikes as drawn / measured (injected inputs: none)
        src_spikes = pb.src_spikes[:, sl]  # n_src x D
        updates, upd_step = pb.updates, pb.upd_step
        self._tally_rows(src, spike_source_rows(src.layer, updates, src_spikes.sum(axis=1)), g.nm)
        w = self.spikes.nonspike(src.layer, blk, self.rules, self.cfg.seed)
        if self.count_nonspike:
            self._place_rows(src, w.rows)

        # one message per spike per destination core (multicast): a route's per step are cs[r_hi] - cs[r_lo]
        loads, sends, recv = pb.loads[:, sl], pb.sends[:, sl], pb.recv[:, sl]
        cs_all = cs.sum(axis=1)  # whole numbers: a route's total is exactly its row's sum
        tot = cs_all[g.r_hi] - cs_all[g.r_lo]
        n_src = len(g.nm)
        self.tally.add_rows(src, (("message", np.bincount(g.r_src, tot, n_src), 0.0, ""),
                                  ("hop_onchip", np.bincount(g.r_src, tot * g.hops_on, n_src), 0.0, ""),
                                  ("hop_chip", np.bincount(g.r_src, tot * g.hops_chip, n_src), 0.0, "")), g.nm)
        self.ew_hops += float((tot * g.hops_ew).sum())

        # the synapse cores of every consumer: one accumulate per spike per output neuron
        total_all = pb.acs_all[:, sl].sum(axis=1)
        upd_all = pb.upd_all
        for (c, syn, a, b), fused in zip(g.consumers, pb.fused):  # pieces x D of each: rows a:b
            layer = c.layer
            self._tally_rows(c, linear_synaptic_rows(layer, self.rules, spike_fanout=total_all[a:b]), syn)
            # output neurons on the synapse cores, unless the LIF after the layer is their soma (fused)
            self._tally_rows(c, output_neuron_rows(upd_all[a:b], fused), syn)
            if self.count_nonspike:
                self._place_rows(c, self.spikes.nonspike(layer, blk, self.rules, self.cfg.seed).rows)

        now = self.env.now
        if self.clock is not None:
            # one time step: the source neurons update and send, the messages cross the network and the
            # synapse cores integrate them before the barrier (what they add reaches the somas next step)
            src_time, dtime = pb.src_time[:, sl], pb.dtime[:, sl]
            bp = self._backpressure(ph, g, cs, tot, src_time, dtime, upd_step)  # (senders x D, order) or None
            folded = [(grp, work[sl], wmax[sl], live[sl]) for grp, work, wmax, live in pb.folded]
            self.links.count(g.inc, loads.sum(axis=1))  # whole numbers: the same sums as step by step
            loads_t, service_t, loaded_t = pb.loads_t[sl], pb.service_t[sl], pb.loaded_t[sl]
            step_paths = (pb.paths[sl] * B).tolist()
            for t in range(steps):
                now = self.env.now
                core, c = -1.0, -1
                for grp, work, wmax, live in folded:
                    d, k = self.cores.occupy_folded(grp, work[t], wmax[t], True, now, live[t])
                    if d > core:
                        core, c = d, k
                drain, link = self.links.drain(g.inc, loads_t[t], now, service_t[t], False, loaded_t[t])
                where = self._place(c) if core >= drain else self.plan.mesh.describe(link)
                part = "neuro cores" if core >= drain else "network contention"
                if bp is not None:
                    i = int(np.argmax(bp[0][:, t]))
                    if bp[0][i, t] > max(core, drain):
                        core, drain, part, where = float(bp[0][i, t]), 0.0, "back-pressure", \
                            self._place(int(bp[1].senders[i]))
                yield from self._wait(max(core, drain), step_paths[t], B, rec, part, where=where)
        else:  # the whole window as one stream: source, links and synapse cores overlap
            spikes = np.zeros(len(g.nm)) if isinstance(src.layer, InputSpikes) else src_spikes.sum(axis=1)
            s_time = lat.units(updates=updates if not isinstance(src.layer, InputSpikes) else 0.0,
                               spikes=spikes, sends=sends.sum(axis=1), acs=w.ops * g.share)
            d_time = lat.units(recv=recv.sum(axis=1), reads=total_all, acs=total_all, updates=upd_all)
            s_dur, _ = self.cores.occupy(g.src_group, s_time, now)
            d_dur, _ = self.cores.occupy(g.dst_group, d_time, now)
            drain, _ = self.links.drain(g.inc, loads.sum(axis=1), now)
            path = float(g.lat_r[tot > 0].max(initial=0.0))
            core = max(s_dur, d_dur)
            yield from self._wait(max(core, drain), path, 1, rec,
                                  "neuro cores" if core >= drain else "network contention")
        if ph.partial_routes:
            yield from self._partials(ph, blk, rec)

    def _backpressure(self, ph: Phase, g: SpikeGeom, cs: np.ndarray, tot: np.ndarray, src_time: np.ndarray,
                      dtime: np.ndarray, upd_step) -> tuple[np.ndarray, SenderOrder] | None:
        """Each sending core's step with back-pressure (``order.senders`` x D: its own time and its receivers',
        lengthened by the waits of finite link buffers, :func:`~.network.blocked_send`; 0 where nothing waits), and
        the order; None when no route of the phase carries more messages in a step than its buffers hold (then no
        sender can ever wait)."""
        if not len(tot):
            return None
        if g._capacity is None:
            g._capacity = route_capacity(g.hops_on + g.hops_chip, self.link_buffer)
        cap = g._capacity
        # a route's messages in a step are at most its total over the steps: most phases stop at the first test
        if not (tot > cap).any() or g._never_waits:
            return None
        allm = np.take(cs, g.r_hi, axis=0) - np.take(cs, g.r_lo, axis=0)  # routes x D
        if not (allm > cap[:, None]).any():
            return None
        order = g.order(ph.segments)
        if g._never_waits is None:  # a property of the phase's senders and routes, not of the spikes
            g._never_waits = one_block_never_waits(order, cap)
        if g._never_waits:  # e.g. a dense projection: its receivers drain side by side
            return None
        lat = self.lat
        blk_spk = cs[order.block_hi] - cs[order.block_lo]  # blocks x D
        n_src, piece = len(order.senders), order.block_piece
        covering = np.bincount(order.pair_block, minlength=len(order.block_lo)).astype(float)
        width = order.block_width / np.maximum(g.neurons[piece], 1.0)
        upd = np.broadcast_to(np.asarray(upd_step, dtype=float), (len(g.nm), 1))[:, 0]
        spike_ns = 0.0 if isinstance(g.src.layer, InputSpikes) else lat.spike
        weight = (width * upd[piece] * lat.update)[:, None] + blk_spk * (spike_ns + covering[:, None] * lat.send)
        total = sum_rows(order.block_sender, weight, n_src)
        weight = weight / np.where(total > 0, total, 1.0)[order.block_sender]
        sender_time = sum_rows(order.piece_sender, src_time[:, :, 1], n_src)  # a core's pieces one after the other
        rows = g.r_dst_row
        recv_t = np.where(rows[:, None] >= 0, dtime[np.maximum(rows, 0), :, 0], 0.0) if len(dtime) else \
            np.zeros_like(allm)
        delay, base = blocked_send(order, blk_spk, sender_time, weight, recv_t, allm, cap)
        return np.where(delay > 0, base + delay, 0.0), order

    def _bundle_geom(self, key: tuple[int, str], routes: list[Routes], per_element: float | None = None
                     ) -> BundleGeom:
        g = self._bundles.get((*key, per_element))
        if g is None:
            g = self._bundles[(*key, per_element)] = BundleGeom.of(routes, self._combined(key, routes), per_element)
        return g

    def _send(self, g: BundleGeom, factor: float, now: float, receivers: bool = True) -> tuple[float, float, float]:
        """Count and time ``factor`` x the per-token traffic of a bundle: (core time, link drain, path latency).
        ``receivers=False``: the caller times the receiving cores (their receive is pipelined with other work)."""
        sc = g.scaled(factor, self.lat)
        for (lp, pieces, _, _, _), rows in zip(g.tallies, sc.tallies):
            self.tally.add_rows(lp, rows, pieces)
        self.ew_hops += g.ew * factor
        core = 0.0
        for (cores, _, kind), (work, wmax, pair, live) in zip(g.ends, sc.times):
            if kind == "recv" and not receivers:
                continue
            d, _ = self.cores.occupy_folded(cores, work, wmax, pair, now, live)
            core = max(core, d)
        drain, _ = self.links.drain(g.inc, sc.loads, now, sc.service, loaded=sc.loaded)
        return core, drain, g.path

    def _partials(self, ph: Phase, blk: Block, rec: PhaseTiming):
        """Tiled linears: each synapse piece sends its partial sums to the accumulators, which add them."""
        B = blk.size
        routes = list(ph.partial_routes.values())
        g = self._bundle_geom((ph.index, "partial"), routes)
        now = self.env.now
        core, drain, path = self._send(g, B, now, receivers=False)
        for c, acc, values, upd, fused, group, folded in self._accumulators(ph, routes, B):
            self.tally.add(c, "mac", values, 1, f"int{self.value_bits}", pieces=acc)
            self._tally_rows(c, output_neuron_rows(upd, fused), acc)
            d, _ = self.cores.occupy_folded(group, *folded, now)
            core = max(core, d)
        steps = self._steps(B)
        yield from self._wait(max(core, drain), path * steps, steps, rec,
                              "accumulator cores" if core >= drain else "network contention")

    def _accumulators(self, ph: Phase, routes: list[Routes], B: int) -> list[tuple]:
        """Per tiled layer of a phase, for blocks of ``B`` tokens: its accumulator pieces, the partial sums they add
        (one per input chunk per output), their output neurons' updates, whether the LIF is fused, their cores and
        time (folded onto the distinct cores); kept with the plan for the last block size (it recurs block after
        block)."""
        kept: dict = self.plan.cache.setdefault("accumulators", {})
        out = kept.get((ph.index, B))
        if out is not None:
            return out
        out = []
        for r in routes:
            c = r.src
            acc = np.nonzero(c.mask("accumulator"))[0]
            values = np.zeros(len(c.lm))
            np.add.at(values, r.dst_piece, r.elements * float(B))
            recv = np.zeros(len(c.lm))
            np.add.at(recv, r.dst_piece, r.elements * r.edge.messages_per_element * B)
            fused = self._fused(c.name) is not None  # the accumulators are the LIF's dendrites
            upd = (c.p["out_hi"][acc] - c.p["out_lo"][acc]).astype(float) * B * (0.0 if fused else 1.0)
            times = self.lat.core_time(recv=recv[acc], reads=values[acc], acs=values[acc], updates=upd)
            group = CoreGroup.of(c.cores[acc], None)
            out.append((c, acc, values[acc], upd, fused, group, group.fold(times)))
        for key in [k for k in kept if k[0] == ph.index]:
            del kept[key]
        kept[(ph.index, B)] = out
        return out

    # --- read-out: values leaving a phase ----------------------------------------------------------------------------
    def _readout(self, ph: Phase, blk: Block, rec: PhaseTiming):
        """Graded values (layer outputs) to the next phases' cores: one bundle over every outgoing route."""
        if not ph.graded_out:
            return
        g = self._bundle_geom((ph.index, "out"), ph.graded_out)
        core, drain, path = self._send(g, blk.size, self.env.now)
        steps = self._steps(blk.size)
        yield from self._wait(max(core, drain), path * steps, steps, rec,
                              "read-out cores" if core >= drain else "network contention", lockstep=g.neuro_sender)

    # --- embedded ops, graded linears, host --------------------------------------------------------------------------
    def _embedded(self, ph: Phase, blk: Block, rec: PhaseTiming):
        lp = self.plan.layers[ph.layers[0]]
        w = self.spikes.nonspike(lp.layer, blk, self.rules, self.cfg.seed)
        if self.count_nonspike:
            self._place_rows(lp, w.rows)
        write = ph.kv_routes.get("kv_write")
        for kind in ("kv_write", "kv_read"):
            r = ph.kv_routes.get(kind)
            if r is None or len(r) == 0:
                continue
            # one message carries msg_bits / kv_bits cached values; a read fetches every position in the context
            per = write.edge.messages_per_element if write is not None else r.edge.messages_per_element
            g = self._bundle_geom((ph.index, kind), [r], per)
            factor = blk.ctx_sum if kind == "kv_read" else float(blk.size)
            now = self.env.now
            core, drain, path = self._send(g, factor, now)
            if kind == "kv_read":  # the KV cores read a word per message before sending it
                for cores, per_token, end in g.ends:
                    if end == "send":
                        d, _ = self.cores.occupy(cores, self.lat.core_time(reads=per_token * factor), now)
                        core = max(core, d)
            yield from self._wait(max(core, drain), path, 1, rec,
                                  "KV-cache cores" if core >= drain else "network contention", lockstep=False)
        core = lp.embedded_core  # the layer's (first) embedded core, -1 if none
        if w.ops > 0 and core >= 0:
            d, _ = self.cores.occupy_one(core, w.ops * self.op_ns, self.env.now)
            yield from self._wait(d, 0.0, 1, rec, "embedded cores", lockstep=False)

    def _graded(self, ph: Phase, blk: Block, rec: PhaseTiming):
        lp = self.plan.layers[ph.layers[0]]
        layer: Linear = lp.layer  # type: ignore[assignment]
        B = blk.size
        syn = np.nonzero(lp.mask("synapse"))[0]
        p = lp.p
        macs = ((p["in_hi"][syn] - p["in_lo"][syn]) * (p["out_hi"][syn] - p["out_lo"][syn])).astype(float) * B
        self._tally_rows(lp, linear_synaptic_rows(layer, self.rules, dense=macs), syn)
        mult = self.rules.multiplier(layer.input.encoding)
        if self.count_nonspike:
            self._place_rows(lp, linear_output_rows(layer, self.rules, float(B)))
        d, _ = self.cores.occupy(lp.cores[syn], self.lat.core_time(reads=macs, acs=macs * mult), self.env.now)
        yield from self._wait(d, 0.0, self._steps(B), rec, "neuro cores")
        if ph.partial_routes:
            yield from self._partials(ph, blk, rec)

    def _host(self, ph: Phase, blk: Block) -> None:
        lp = self.plan.layers[ph.layers[0]]
        if self.count_nonspike:
            self._place_rows(lp, self.spikes.nonspike(lp.layer, blk, self.rules, self.cfg.seed).rows)

    # --- where counted rows of non-spiking work land -----------------------------------------------------------------
    def _tally_rows(self, lp, rows: list[tuple[str, object, float, str]], pieces: np.ndarray) -> None:
        """The cost model's rows counted piece by piece (``count`` an array over ``pieces``)."""
        self.tally.add_rows(lp, rows, pieces)

    def _place_rows(self, lp, rows: list[tuple[str, float, float, str]]) -> None:
        """Spread a layer's counted rows over the pieces that do that work."""
        for action, count, w_bits, a_repr in rows:
            if count:
                self.tally.add(lp, action, count * lp.share(action), w_bits, a_repr)


def unfold_of(layer) -> float:
    """Neuron updates per token of a spike source: its encoder's unfold steps or its LIF steps (1 otherwise)."""
    if isinstance(layer, SpikeEncoder):
        return float(layer.spec.unfold)
    if isinstance(layer, LIF):
        return float(layer.steps)
    return 1.0

