"""Energy tables as data, and pricing: energy = counters x a table.

A table (``hwmodels/energy/*.yaml``) lists prices. Each price names an action, optionally selectors that must hold
for a counter row (``numeric``: fp/int/spike for the activation operand; ``max_w_bits``), an energy in pJ, an
optional ``scale`` rule and a ``source`` (or an ``assumption`` with its reason). The first matching price wins.

Scale rules:
  bitop        the papers' bit-op scaling: w_bits x a_bits / 128 for integer and spike operands (ternary spikes and
               ternary weights count as 2 bits, binary as 1), 1 for fp operands (seed 002 appendix A.2);
  per_64_bits  the price is for a 64-bit word; an element of b bits costs b / 64 of it (SRAM/DRAM reads);
  none         the price as written.

Actions the table knowingly leaves out are listed under ``not_charged`` with the reason (the papers' compute-only
convention leaves out memory, traffic and neuron updates). A counted action with no price and no such entry is an
error that names the action: never a silent zero.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from neurosim.counters import ACTIONS
from neurosim.errors import NeurosimError
from neurosim.io import load_yaml

ENERGY_FORMAT_VERSION = 1


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str
    energy_pj: float = Field(ge=0)
    numeric: Literal["fp", "int", "spike", "any"] = "any"
    max_w_bits: float | None = Field(default=None, gt=0)
    max_a_bits: float | None = Field(default=None, gt=0)
    scale: Literal["bitop", "per_64_bits", "none"] = "none"
    source: str | None = None
    assumption: str | None = None

    @model_validator(mode="after")
    def _sourced(self) -> Price:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action '{self.action}'; allowed: {', '.join(ACTIONS)}")
        if not (self.source or self.assumption):
            raise ValueError(f"price of '{self.action}' needs a 'source' or an 'assumption'")
        return self


class EnergyTable(BaseModel):
    """A swappable price list for counted actions (pJ per action)."""

    model_config = ConfigDict(extra="forbid")

    version: int = ENERGY_FORMAT_VERSION
    name: str
    description: str = ""
    compute_only: bool = False
    prices: list[Price]
    not_charged: dict[str, str] = Field(default_factory=dict)
    _where: str = PrivateAttr(default="")  # the file it was read from (named in a missing-price error)

    @model_validator(mode="after")
    def _check(self) -> EnergyTable:
        if self.version != ENERGY_FORMAT_VERSION:
            raise ValueError(f"unsupported version {self.version}; allowed: {ENERGY_FORMAT_VERSION}")
        for a in self.not_charged:
            if a not in ACTIONS:
                raise ValueError(f"not_charged names unknown action '{a}'; allowed: {', '.join(ACTIONS)}")
        return self

    # --- pricing -----------------------------------------------------------------------------------------------
    def unit_energy_pj(self, action: str, w_bits: float, a_repr: str) -> tuple[float, float]:
        """(energy per action in pJ, the paper-style op scale) for one counter row; raises if unpriced."""
        numeric, a_bits = operand(a_repr)
        for p in self.prices:
            if p.action != action:
                continue
            if p.numeric != "any" and p.numeric != numeric:
                continue
            if p.max_w_bits is not None and w_bits > p.max_w_bits:
                continue
            if p.max_a_bits is not None and a_bits > p.max_a_bits:
                continue
            scale = 1.0
            if p.scale == "bitop":
                scale = bitop_scale(w_bits, a_repr)
            elif p.scale == "per_64_bits":
                scale = (w_bits or 64) / 64.0
            return p.energy_pj * scale, scale
        if action in self.not_charged:
            return 0.0, 0.0
        raise NeurosimError(
            f"energy table '{self.name}'{f' ({self._where})' if self._where else ''} has no price for action "
            f"'{action}' "
            f"(w_bits={w_bits:g}, operand={a_repr or '-'}); add a price or list it under not_charged"
        )

    def price(self, counters: pd.DataFrame) -> pd.DataFrame:
        """Counters with ``energy_pj`` and ``scaled_ops`` (the papers' bit-op-scaled op count) columns added."""
        # each distinct (action, bits, operand) priced once; every row takes its price by the code of its key
        codes, keys = pd.MultiIndex.from_frame(counters[["action", "w_bits", "a_repr"]]).factorize()
        if len(codes) and codes.min() < 0:
            raise NeurosimError(f"energy table '{self.name}': a counter row has no action, bits or operand (a missing "
                                "value); every row needs all three to be priced")
        units = np.array([self.unit_energy_pj(action, float(w), a) for action, w, a in keys],
                         dtype=float).reshape(-1, 2)
        out = counters.copy()
        out["energy_pj"] = units[codes, 0] * out["count"]
        compute = out["component"].eq("compute")
        out["scaled_ops"] = units[codes, 1] * out["count"] * compute
        return out

    @property
    def sources(self) -> list[dict[str, str]]:
        rows = [
            {"action": p.action, "selector": _selector(p), "energy_pj": f"{p.energy_pj:g}", "scale": p.scale,
             "source": p.source or "", "assumption": p.assumption or ""}
            for p in self.prices
        ]
        rows += [{"action": a, "selector": "", "energy_pj": "not charged", "scale": "", "source": "",
                  "assumption": why} for a, why in self.not_charged.items()]
        return rows


def _selector(p: Price) -> str:
    parts = []
    if p.numeric != "any":
        parts.append(p.numeric)
    if p.max_w_bits:
        parts.append(f"w<={p.max_w_bits:g}b")
    if p.max_a_bits:
        parts.append(f"a<={p.max_a_bits:g}b")
    return " ".join(parts)


def operand(a_repr: str) -> tuple[str, float]:
    """('fp'|'int'|'spike'|'none', bits) of an activation operand label such as fp16, int4, ternary, binary."""
    if a_repr == "ternary":
        return "spike", 1.58
    if a_repr == "binary":
        return "spike", 1.0
    if a_repr.startswith("fp"):
        return "fp", float(a_repr[2:] or 16)
    if a_repr.startswith("int"):
        return "int", float(a_repr[3:])
    return "none", 0.0


def bitop_scale(w_bits: float, a_repr: str) -> float:
    """Seed 002's scaling of an op by operand widths: w x a / 128 (ternary = 2 bits), 1 for fp operands."""
    numeric, a_bits = operand(a_repr)
    if numeric == "fp" or w_bits >= 16:
        return 1.0
    return math.ceil(w_bits) * math.ceil(a_bits) / 128.0


def load_energy_table(name_or_path: str) -> EnergyTable:
    from neurosim.resources import resolve

    path = resolve("energy", name_or_path)
    where = str(path) if Path(name_or_path).suffix in (".yaml", ".yml") else f"energy table {name_or_path}"
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise NeurosimError(f"{where}: expected a mapping at the top level")
    try:
        table = EnergyTable.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise NeurosimError(f"{where}: field '{loc}': {err['msg'].removeprefix('Value error, ')}") from None
    table._where = where
    return table


def summarize(priced: pd.DataFrame) -> dict[str, float]:
    """Totals of a priced counter table: energy by component (J) and the paper-style scaled ops (T)."""
    by_comp = priced.groupby("component")["energy_pj"].sum()
    out = {f"energy_{c}_J": float(v) * 1e-12 for c, v in by_comp.items()}
    out["energy_J"] = float(priced["energy_pj"].sum()) * 1e-12
    out["scaled_ops_T"] = float(priced["scaled_ops"].sum()) * 1e-12
    return out
