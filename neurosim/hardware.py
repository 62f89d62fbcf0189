"""Hardware models: a versioned, validated spec of a neuromorphic core, chip and multi-chip system, loaded from YAML.

A spec has three levels (each a pydantic model that rejects unknown fields):

* ``core``: limits (neurons, synapse and state memory, fan-in / fan-out axons, weight and message bits) and a
  pipeline of stages ``axon_in -> synapse -> dendrite -> soma -> axon_out``, each with actions that cost energy and
  take time;
* ``chip``: a mesh of tiles (``cores_per_tile`` cores share a router), hop energy and latency east-west and
  north-south, per-tile spike bandwidth, barrier time, static power, and embedded (x86-like) cores that run the
  non-spiking ops;
* ``system``: chips in a 2-D or 3-D grid joined by chip-to-chip links, and a host that holds what fits nowhere else.

Every number is a *figure*: ``{value: "23.6 pJ", source: "..."}`` or ``{value: ..., assumption: "..."}`` (the reason
the number was chosen where nothing was published). Units are parsed at load time (:func:`parse_quantity`) into the
internal units: pJ, ns, bytes, bits, mW (= pJ/ns), bytes/s, events/s. A file may ``extends:`` another built-in and
override parts of it (Kapoho Point and Hala Point extend ``loihi2``).

:meth:`Hardware.energy_table` turns a spec into an :class:`~neurosim.energy.EnergyTable` that prices every counted
action, so hardware-aware energy is counters x the table; static energy is :meth:`Hardware.static_energy_pj`.
"""

from __future__ import annotations

import math
import re
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from neurosim.errors import NeurosimError
from neurosim.io import load_yaml
from neurosim.overrides import apply_overrides

HARDWARE_FORMAT_VERSION = 1

# --- units --------------------------------------------------------------------------------------------------------

#: dimension -> {unit: factor to the internal unit}
UNITS: dict[str, dict[str, float]] = {
    "energy": {"fJ": 1e-3, "pJ": 1.0, "nJ": 1e3, "uJ": 1e6, "µJ": 1e6, "mJ": 1e9, "J": 1e12},
    "time": {"ps": 1e-3, "ns": 1.0, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9},
    "bytes": {"B": 1.0, "KB": 1e3, "KiB": 1024.0, "MB": 1e6, "MiB": 1024.0**2, "GB": 1e9, "GiB": 1024.0**3,
              "TB": 1e12, "TiB": 1024.0**4},
    "bits": {"bit": 1.0, "bits": 1.0, "b": 1.0},
    "power": {"uW": 1e-3, "µW": 1e-3, "mW": 1.0, "W": 1e3, "kW": 1e6},
    "bandwidth": {"B/s": 1.0, "KB/s": 1e3, "MB/s": 1e6, "GB/s": 1e9, "TB/s": 1e12, "PB/s": 1e15,
                  "Gbit/s": 1.25e8, "Tbit/s": 1.25e11},
    "spike_rate": {"spike/s": 1.0, "kspike/s": 1e3, "Mspike/s": 1e6, "Gspike/s": 1e9, "Tspike/s": 1e12},
    "op_rate": {"op/s": 1.0, "kop/s": 1e3, "Mop/s": 1e6, "Gop/s": 1e9, "Top/s": 1e12},
    "energy_per_bit": {"fJ/bit": 1e-3, "pJ/bit": 1.0, "nJ/bit": 1e3},
    "count": {"": 1.0},
}

#: the internal unit of each dimension (how ``hw show`` prints parsed values)
INTERNAL_UNIT = {"energy": "pJ", "time": "ns", "bytes": "B", "bits": "bit", "power": "mW", "bandwidth": "B/s",
                 "spike_rate": "spike/s", "op_rate": "op/s", "energy_per_bit": "pJ/bit", "count": ""}

_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\s\d].*?)?\s*$")


def parse_quantity(value: Any, dimension: str) -> float:
    """``"128 KiB"`` -> 131072.0 (bytes); ``"3.5 ns"`` -> 3.5; a bare number only for dimensionless counts.

    Raises ``ValueError`` naming the allowed units (pydantic turns it into a field error).
    """
    units = UNITS[dimension]
    allowed = ", ".join(u for u in units if u) or "a plain number"
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number; allowed: {allowed}")  # noqa: TRY004 (pydantic wants ValueError)
    if isinstance(value, (int, float)):
        if dimension != "count":
            raise ValueError(f"{value!r} needs a unit; allowed units: {allowed}")
        number, unit = float(value), ""
    elif isinstance(value, str):
        m = _QUANTITY.match(value)
        if not m:
            raise ValueError(f"{value!r} does not parse as a number with a unit; allowed units: {allowed}")
        number, unit = float(m.group(1)), (m.group(2) or "").strip()
    else:
        raise ValueError(f"{value!r} is not a quantity; allowed units: {allowed}")  # noqa: TRY004
    if unit not in units:
        raise ValueError(f"unit {unit!r} in {value!r} is not a unit of {dimension}; allowed units: {allowed}")
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{value!r} must be a finite number >= 0")
    return number * units[unit]


# --- figures ------------------------------------------------------------------------------------------------------


class Figure(BaseModel):
    """One number with its provenance: a ``source`` (where it was published) or an ``assumption`` (why chosen).

    ``borrowed`` names the chip a figure was published for when it is not the modelled one (Loihi 2's per-op
    energies are Loihi's: ``borrowed: Loihi``), so a model says which of its figures are its own.
    """

    model_config = ConfigDict(extra="forbid")
    dimension: ClassVar[str] = "count"

    value: Any
    source: str | None = None
    assumption: str | None = None
    borrowed: str | None = None
    _v: float = PrivateAttr(0.0)

    @model_validator(mode="after")
    def _parse(self) -> Figure:
        if not ((self.source or "").strip() or (self.assumption or "").strip()):
            raise ValueError("every figure needs a 'source' or an 'assumption' (with the reason)")
        self._v = parse_quantity(self.value, self.dimension)
        return self

    @cached_property
    def v(self) -> float:
        """The parsed value in the internal unit (pJ, ns, bytes, bits, mW, B/s, 1/s); kept on the instance after
        the first read (a private attribute is read through pydantic's ``__getattr__``, a hot path here)."""
        return self._v

    def text(self) -> str:
        return str(self.value)


class Count(Figure):
    dimension: ClassVar[str] = "count"

    @model_validator(mode="after")
    def _integer(self) -> Count:
        if self.v != int(self.v):
            raise ValueError(f"{self.value!r} must be a whole number")
        return self

    @property
    def n(self) -> int:
        return int(self.v)


class Energy(Figure):
    dimension: ClassVar[str] = "energy"


class Time(Figure):
    dimension: ClassVar[str] = "time"


class Bytes(Figure):
    dimension: ClassVar[str] = "bytes"


class Bits(Figure):
    dimension: ClassVar[str] = "bits"


class Power(Figure):
    dimension: ClassVar[str] = "power"


class Bandwidth(Figure):
    dimension: ClassVar[str] = "bandwidth"


class SpikeRate(Figure):
    dimension: ClassVar[str] = "spike_rate"


class OpRate(Figure):
    dimension: ClassVar[str] = "op_rate"


class EnergyPerBit(Figure):
    dimension: ClassVar[str] = "energy_per_bit"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Action(_Strict):
    """What one action of a pipeline stage costs."""

    energy: Energy
    latency: Time


# --- core ---------------------------------------------------------------------------------------------------------

#: pipeline stage -> the actions it must define, and the counter action each prices
STAGE_ACTIONS: dict[str, dict[str, str]] = {
    "axon_in": {"receive": "message"},
    "synapse": {"read": "synapse_read"},
    "dendrite": {"accumulate": "ac"},
    "soma": {"update": "neuron_update", "state_read": "state_read", "state_write": "state_write", "spike": "spike"},
    "axon_out": {"send": "message"},
}


class Pipeline(_Strict):
    """The stages a spike goes through in a core, in order; each maps action name -> cost."""

    axon_in: dict[str, Action]
    synapse: dict[str, Action]
    dendrite: dict[str, Action]
    soma: dict[str, Action]
    axon_out: dict[str, Action]

    @model_validator(mode="after")
    def _actions(self) -> Pipeline:
        for stage, needed in STAGE_ACTIONS.items():
            have = getattr(self, stage)
            missing = [a for a in needed if a not in have]
            if missing:
                raise ValueError(f"stage '{stage}' lacks action(s) {missing}; each stage needs: {', '.join(needed)}")
        return self

    def stages(self) -> Iterator[tuple[str, dict[str, Action]]]:
        for stage in STAGE_ACTIONS:
            yield stage, getattr(self, stage)


class CoreSpec(_Strict):
    """One neuromorphic core: what fits in it and what its pipeline costs."""

    max_neurons: Count
    synapse_memory: Bytes
    state_memory: Bytes
    memory_partition: Literal["unified", "separate"] = Field(
        "separate", description="unified: synapses, neuron state and axon tables share synapse_memory")
    neuron_state_bits: Bits
    input_axon_bits: Bits
    output_axon_bits: Bits
    max_fan_in: Count
    max_fan_out: Count
    max_weight_bits: Bits
    message_bits: Bits
    header_bits: Bits
    sram_read_64b: Energy
    pipeline: Pipeline
    stage_overlap: Literal["pipelined", "serial"] = Field(
        "pipelined", description=(
            "how the stages of one unit of a core (synapse unit: axon_in -> synapse -> dendrite; soma unit: soma -> "
            "axon_out) share a time step: pipelined = the busiest stage plus one action of each other busy stage "
            "(the fill); serial = every action's stages one after the other (the sum), as SANA-FE's detailed "
            "timing model runs a Loihi core (Boyle et al. TCAD 2025; sanafe src/chip.cpp). The synapse and soma "
            "units run side by side either way"))

    @model_validator(mode="after")
    def _positive(self) -> CoreSpec:
        for name in ("max_neurons", "synapse_memory", "max_fan_in", "max_fan_out", "max_weight_bits", "message_bits"):
            if getattr(self, name).v <= 0:
                raise ValueError(f"'{name}' must be > 0")
        return self

    @property
    def memory_bytes(self) -> float:
        """Synapse memory, or the whole pool when memory is unified."""
        return self.synapse_memory.v

    @property
    def graded(self) -> bool:
        """Graded spikes: a message carries a payload (so a ternary spike needs one axon, not a +/- pair)."""
        return self.message_bits.v > 1


# --- chip ---------------------------------------------------------------------------------------------------------


class Mesh(_Strict):
    width: Count
    height: Count
    cores_per_tile: Count

    @model_validator(mode="after")
    def _positive(self) -> Mesh:
        for name in ("width", "height", "cores_per_tile"):
            if getattr(self, name).n <= 0:
                raise ValueError(f"'{name}' must be > 0")
        return self


class Hops(_Strict):
    east_west: Action
    north_south: Action


class EmbeddedCores(_Strict):
    """The chip's general-purpose cores: they run norms, softmax, SiLU/GELU, rotary and attention matmuls."""

    count: Count
    op_energy: Energy
    op_throughput: OpRate
    attach: list[list[int]] = Field(description="mesh [x, y] of the router each embedded core sits on")
    attach_note: str = Field(description="why the embedded cores are placed there (an assumption)")

    @model_validator(mode="after")
    def _attach(self) -> EmbeddedCores:
        if self.count.n <= 0:
            raise ValueError("'count' must be > 0")
        if len(self.attach) != self.count.n or any(len(a) != 2 for a in self.attach):
            raise ValueError(f"'attach' must list {self.count.n} [x, y] pairs, one per embedded core")
        return self


#: SANA-FE's Loihi NoC buffer depth, the default of ``chip.link_buffer`` when a hardware file does not give one
LINK_BUFFER_SOURCE = ("SANA-FE 2.2.9 arch/loihi.yaml noc link_buffer_size: 16 messages per link buffer (the Loihi "
                      "model Boyle et al., IEEE TCAD 2025, calibrated against Loihi)")


def _default_link_buffer() -> Count:
    return Count(value=16, source=LINK_BUFFER_SOURCE,
                 assumption="the hardware file gives no link buffer depth; SANA-FE's Loihi figure is used")


class ChipSpec(_Strict):
    mesh: Mesh
    hop: Hops
    tile_spike_bandwidth: SpikeRate
    barrier_sync: Time
    static_power: Power
    embedded: EmbeddedCores
    link_buffer: Count = Field(default_factory=_default_link_buffer, description=(
        "messages one link's buffer holds (each router-to-router link and each core's input port): a route of h "
        "hops holds (h + 1) x link_buffer messages its receiver has not taken before its sender must wait "
        "(back-pressure in the event simulator's step)"))

    @property
    def cores(self) -> int:
        return self.mesh.width.n * self.mesh.height.n * self.mesh.cores_per_tile.n


# --- system -------------------------------------------------------------------------------------------------------


class Grid(_Strict):
    x: Count
    y: Count
    z: Count

    @model_validator(mode="after")
    def _positive(self) -> Grid:
        for name in ("x", "y", "z"):
            if getattr(self, name).n <= 0:
                raise ValueError(f"'{name}' must be > 0")
        return self


class ChipLink(_Strict):
    energy_per_bit: EnergyPerBit
    latency: Time
    bandwidth: Bandwidth


class Host(_Strict):
    """What sits outside the mesh: the embedding table and anything else placed on the host."""

    dram_read_64b: Energy


class SystemSpec(_Strict):
    chips: Count
    grid: Grid
    usable_cores_per_chip: Count
    chip_link: ChipLink
    host: Host

    @model_validator(mode="after")
    def _grid(self) -> SystemSpec:
        n = self.grid.x.n * self.grid.y.n * self.grid.z.n
        if n != self.chips.n:
            raise ValueError(f"grid {self.grid.x.n} x {self.grid.y.n} x {self.grid.z.n} = {n} chips, but chips = "
                             f"{self.chips.n}")
        return self


# --- the root -----------------------------------------------------------------------------------------------------


class Hardware(_Strict):
    """A whole machine (one root object): core, chip, system, with a version and a name."""

    version: int = HARDWARE_FORMAT_VERSION
    name: str
    description: str = ""
    extends: str | None = None
    calibration: str = Field("", description="which calibration the per-event prices and timings come from (e.g. "
                                             "Davies et al. 2018's pre-silicon figures, or SANA-FE's silicon-"
                                             "calibrated Loihi model); runs name it beside the hardware")
    core: CoreSpec
    chip: ChipSpec
    system: SystemSpec
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Hardware:
        if self.version != HARDWARE_FORMAT_VERSION:
            raise ValueError(f"unsupported version {self.version}; allowed: {HARDWARE_FORMAT_VERSION}")
        if self.system.usable_cores_per_chip.n > self.chip.cores or self.system.usable_cores_per_chip.n <= 0:
            raise ValueError(f"system.usable_cores_per_chip = {self.system.usable_cores_per_chip.n}; allowed: "
                             f"1..{self.chip.cores} (the chip's mesh)")
        w, h = self.chip.mesh.width.n, self.chip.mesh.height.n
        for x, y in self.chip.embedded.attach:
            if not (0 <= x < w and 0 <= y < h):
                raise ValueError(f"chip.embedded.attach [{x}, {y}] lies outside the {w} x {h} mesh")
        return self

    # --- geometry -------------------------------------------------------------------------------------------------
    @property
    def mesh_shape(self) -> tuple[int, int, int]:
        """(width, height, cores per tile) of one chip."""
        m = self.chip.mesh
        return m.width.n, m.height.n, m.cores_per_tile.n

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        g = self.system.grid
        return g.x.n, g.y.n, g.z.n

    @property
    def n_chips(self) -> int:
        return self.system.chips.n

    @property
    def usable_cores_per_chip(self) -> int:
        return self.system.usable_cores_per_chip.n

    @property
    def total_cores(self) -> int:
        return self.n_chips * self.usable_cores_per_chip

    @property
    def message_bits(self) -> int:
        return int(self.core.message_bits.v)

    @property
    def packet_bits(self) -> float:
        return self.core.message_bits.v + self.core.header_bits.v

    # --- costs ----------------------------------------------------------------------------------------------------
    def hop_onchip_pj(self, ew_fraction: float = 0.5) -> float:
        h = self.chip.hop
        return ew_fraction * h.east_west.energy.v + (1 - ew_fraction) * h.north_south.energy.v

    @property
    def hop_chip_pj(self) -> float:
        return self.system.chip_link.energy_per_bit.v * self.packet_bits

    @property
    def message_pj(self) -> float:
        p = self.core.pipeline
        return p.axon_out["send"].energy.v + p.axon_in["receive"].energy.v

    def static_power_mw(self, chips: int | None = None) -> float:
        """Static power of ``chips`` chips (the whole system by default), in mW (= pJ/ns)."""
        return self.chip.static_power.v * (self.n_chips if chips is None else chips)

    def static_energy_pj(self, time_ns: float, chips: int | None = None) -> float:
        """Static energy over ``time_ns`` of simulated time: static power x time."""
        return self.static_power_mw(chips) * time_ns

    def barrier_ns(self, chips: int | None = None) -> float:
        """Time of one barrier over the first ``chips`` chips: the chip's barrier plus a round trip across the
        span of the chip grid those chips occupy (chip ids fill x, then y, then z)."""
        chips = self.n_chips if chips is None else max(1, chips)
        gx, gy, _gz = self.grid_shape
        ex = min(chips, gx)
        ey = min(math.ceil(chips / gx), gy)
        ez = math.ceil(chips / (gx * gy))
        span = (ex - 1) + (ey - 1) + (ez - 1)
        return self.chip.barrier_sync.v + 2 * span * self.system.chip_link.latency.v

    def action_latency_ns(self) -> dict[str, float]:
        """Latency of one action of each kind (the event-driven simulator's stage times)."""
        p = self.core.pipeline
        h = self.chip.hop
        return {
            "ac": p.dendrite["accumulate"].latency.v,
            "synapse_read": p.synapse["read"].latency.v,
            "neuron_update": p.soma["update"].latency.v,
            "state_read": p.soma["state_read"].latency.v,
            "state_write": p.soma["state_write"].latency.v,
            "spike": p.soma["spike"].latency.v,
            "message": p.axon_out["send"].latency.v + p.axon_in["receive"].latency.v,
            "hop_ew": h.east_west.latency.v,
            "hop_ns": h.north_south.latency.v,
            "hop_onchip": 0.5 * (h.east_west.latency.v + h.north_south.latency.v),
            "hop_chip": self.system.chip_link.latency.v,
            "mac": 1e9 / self.chip.embedded.op_throughput.v,
            "barrier": self.chip.barrier_sync.v,
        }

    def energy_table(self, ew_fraction: float = 0.5, chips: int | None = None):
        """The :class:`~neurosim.energy.EnergyTable` that prices every counted action on this hardware.

        ``ew_fraction``: the share of on-chip hops that run east-west (a mapping knows it; 0.5 otherwise).
        ``chips``: chips taking part in a barrier (the whole system by default).
        """
        from neurosim.energy import EnergyTable, Price

        c, p = self.core, self.core.pipeline
        wmax = c.max_weight_bits.v
        ref = f"hardware {self.name}"
        prices: list[Price] = []

        def fig(f: Figure, what: str) -> dict[str, str]:
            src = f"{ref} {what}: " + (f.source or "")
            return {"source": src.strip(), **({"assumption": f.assumption} if f.assumption else {})}

        split_note = (f"a weight wider than the core's {wmax:g} bits is split over ceil(w/{wmax:g}) synapses "
                      f"(mixed-precision synapses); each costs a full synaptic op")
        syn, acc = p.synapse["read"].energy, p.dendrite["accumulate"].energy
        for k in (1, 2, 4):
            extra = {} if k == 1 else {"assumption": split_note}
            for action, f, what in (("synapse_read", syn, "synapse.read"), ("ac", acc, "dendrite.accumulate")):
                d = fig(f, what)
                if k > 1:
                    d["assumption"] = "; ".join(x for x in (d.get("assumption"), extra["assumption"]) if x)
                prices.append(Price(action=action, energy_pj=f.v * k, max_w_bits=wmax * k, **d))
        # graded spikes carry int activations up to message_bits: the synapse multiplies payload x weight. The cost
        # model charges every MAC's weight read as its own synapse_read row (linear_synaptic_rows), so the MAC's
        # price is the arithmetic beyond that read only: charging synapse.read here too would count it twice
        prices.append(Price(action="mac", numeric="int", max_a_bits=c.message_bits.v, max_w_bits=wmax,
                            energy_pj=acc.v, source=f"{ref} dendrite.accumulate",
                            assumption="an int activation travels as a graded spike; the multiply by the payload "
                                       "costs as an accumulate, and its weight read is the synapse_read charged "
                                       "beside it (one synaptic op per MAC, as for a binary spike)"))
        emb = self.chip.embedded.op_energy
        for action in ("mac", "add"):
            prices.append(Price(action=action, energy_pj=emb.v, **fig(emb, "chip.embedded.op_energy"),
                                ))
        for what, action in (("update", "neuron_update"), ("state_read", "state_read"),
                             ("state_write", "state_write"), ("spike", "spike")):
            f = p.soma[what].energy
            prices.append(Price(action=action, energy_pj=f.v, **fig(f, f"soma.{what}")))
        prices.append(Price(action="message", energy_pj=self.message_pj,
                            source=f"{ref} axon_out.send + axon_in.receive: {p.axon_out['send'].energy.source or ''}"
                                   f" / {p.axon_in['receive'].energy.source or ''}".strip(),
                            assumption="; ".join(x for x in (p.axon_out["send"].energy.assumption,
                                                             p.axon_in["receive"].energy.assumption) if x) or None))
        h = self.chip.hop
        prices.append(Price(action="hop_onchip", energy_pj=self.hop_onchip_pj(ew_fraction),
                            source=f"{ref} chip.hop: east-west {h.east_west.energy.text()} "
                                   f"({h.east_west.energy.source or h.east_west.energy.assumption}), north-south "
                                   f"{h.north_south.energy.text()}",
                            assumption=f"{ew_fraction:.0%} of on-chip hops run east-west"))
        link = self.system.chip_link.energy_per_bit
        prices.append(Price(action="hop_chip", energy_pj=self.hop_chip_pj,
                            source=f"{ref} system.chip_link.energy_per_bit {link.text()} x "
                                   f"{self.packet_bits:g}-bit packets (message + header bits)",
                            **({"assumption": link.assumption} if link.assumption else {})))
        sram = c.sram_read_64b
        for action in ("kv_read", "kv_write"):
            prices.append(Price(action=action, energy_pj=sram.v, scale="per_64_bits",
                                **fig(sram, "core.sram_read_64b"),
                                ))
        dram = self.system.host.dram_read_64b
        prices.append(Price(action="embedding_read", energy_pj=dram.v, scale="per_64_bits",
                            **fig(dram, "system.host.dram_read_64b")))
        chips = self.n_chips if chips is None else chips
        w, hgt, _ = self.mesh_shape
        tiles = w * hgt
        barrier_pj = chips * tiles * self.hop_onchip_pj(ew_fraction) + max(chips - 1, 0) * self.hop_chip_pj
        prices.append(Price(action="barrier", energy_pj=barrier_pj,
                            source=f"{ref} chip.hop and system.chip_link",
                            assumption=f"a barrier is one token message over every tile link of {chips} chip(s) "
                                       f"({tiles} tiles each) plus one chip-to-chip hop per extra chip"))
        return EnergyTable(
            name=f"hw:{self.name}",
            description=f"hardware-aware prices derived from the {self.name} hardware model",
            compute_only=False,
            prices=prices,
        )

    # --- provenance -----------------------------------------------------------------------------------------------
    def figures(self) -> list[dict[str, str]]:
        """Every figure of the spec: its path, value as written, parsed value, source and assumption."""
        rows: list[dict[str, str]] = []
        for path, f in iter_figures(self):
            unit = INTERNAL_UNIT[f.dimension]
            rows.append({"field": path, "value": f.text(), "parsed": f"{f.v:g} {unit}".strip(),
                         "source": f.source or "", "assumption": f.assumption or "", "borrowed": f.borrowed or ""})
        return rows

    def provenance(self) -> dict[str, int]:
        """How many figures are the modelled chip's own (published for it), borrowed from another chip (by chip),
        or assumptions (nothing published)."""
        out: dict[str, int] = {"own": 0, "assumed": 0}
        for _path, f in iter_figures(self):
            if f.borrowed:
                key = f"borrowed from {f.borrowed}"
                out[key] = out.get(key, 0) + 1
            elif (f.source or "").strip():
                out["own"] += 1
            else:
                out["assumed"] += 1
        return out


def iter_figures(obj: Any, prefix: str = "") -> Iterator[tuple[str, Figure]]:
    """Walk a spec and yield (dotted path, figure) for every figure in it."""
    if isinstance(obj, Figure):
        yield prefix, obj
    elif isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            yield from iter_figures(getattr(obj, name), f"{prefix}.{name}" if prefix else name)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from iter_figures(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from iter_figures(v, f"{prefix}.{i}")


# --- loading ------------------------------------------------------------------------------------------------------


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``over`` into ``base``; a figure (a mapping with 'value') is replaced whole, not merged."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and "value" not in v:
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _raw(name_or_path: str, seen: tuple[str, ...] = ()) -> tuple[dict[str, Any], str]:
    from neurosim.resources import resolve

    path = resolve("hardware", name_or_path)
    where = str(path) if Path(name_or_path).suffix in (".yaml", ".yml") else f"hardware {name_or_path} ({path.name})"
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise NeurosimError(f"{where}: expected a mapping at the top level")
    base = data.get("extends")
    if base:
        if not isinstance(base, str):
            raise NeurosimError(f"{where}: field 'extends' = {base!r}; allowed: a built-in hardware name or a .yaml "
                                "path")
        if base in seen:
            raise NeurosimError(f"{where}: field 'extends' = {base!r} makes a cycle ({' -> '.join(seen + (base,))})")
        try:
            parent, _ = _raw(base, seen + (name_or_path,))
        except NeurosimError as exc:
            from neurosim.errors import in_file

            raise in_file(f"{where}: field 'extends' = {base!r}", exc) from None
        data = _merge({k: v for k, v in parent.items() if k not in ("name", "description", "notes")}, data)
    return data, where


def load_hardware(name_or_path: str, sets: list[str] | None = None) -> Hardware:
    """A built-in name (``loihi2``) or a path -> a validated :class:`Hardware`; ``sets`` are ``a.b.value=x``."""
    data, where = _raw(name_or_path)
    if sets:
        data = apply_overrides(data, sets, where)
    return hardware_from_dict(data, where)


def hardware_from_dict(data: dict[str, Any], where: str = "hardware") -> Hardware:
    try:
        return Hardware.model_validate(data)
    except ValidationError as exc:
        raise NeurosimError(_one_line(exc, where)) from None


def _one_line(exc: ValidationError, where: str) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err["loc"]) or "(root)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        return f"{where}: missing field '{loc}'"
    if err["type"] == "extra_forbidden":
        return f"{where}: unknown field '{loc}'"
    return f"{where}: field '{loc}': {msg}"


def builtin_hardware() -> list[str]:
    from neurosim.resources import builtin_names

    return builtin_names("hardware")
