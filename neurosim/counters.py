"""Counters: the one tidy table every engine produces (layer x place x component x action -> count).

Columns (all engines, same names):
  engine     analytic | events | functional | lava
  layer      layer name in the graph ("" for whole-system rows such as barriers)
  block      decoder block index (-1 outside blocks)
  role       the layer's role (q_proj's role is "qkv", see the workload builders)
  kind       the layer kind (linear, encoder, attention, ...)
  place      where it happened: "" (unmapped, the analytic engine), "core:<chip>.<x>.<y>.<slot>" (a neuro
             core), "embedded:<chip>.<k>" (an embedded x86 core), "host" (off-chip), "system" (whole-system
             rows such as barriers), "link:..." (a mesh or chip-to-chip link)
  component  compute | memory | network | neuron | sync
  action     see ACTIONS
  w_bits     weight bits of the operands (as priced: 1.58 for ternary weights; 16/32 for fp)
  a_repr     the activation operand: fp16, fp32, int<b>, binary, ternary ("" where not an arithmetic op)
  count      how many times the action happened (float: analytic expectations need not be integers)

Counters are plain data; energy is counters priced by an :class:`~neurosim.energy.EnergyTable`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from neurosim.errors import NeurosimError

COLUMNS = ["engine", "layer", "block", "role", "kind", "place", "component", "action", "w_bits", "a_repr", "count"]

#: action -> (component, definition). Every engine uses these names and no others.
ACTIONS: dict[str, tuple[str, str]] = {
    "ac": ("compute", "accumulate: one weight added to an accumulator because one spike arrived (spikes x fan-out)"),
    "mac": ("compute", "multiply-accumulate of a non-spike operand (int or fp)"),
    "add": ("compute", "a plain addition outside a matmul (residual adds, rotation butterflies)"),
    "spike": ("neuron", "a spike emitted by a neuron (a -1 and a +1 both count)"),
    "neuron_update": ("neuron", "one neuron's state update in one time step"),
    "synapse_read": ("memory", "one weight read from synapse memory"),
    "state_read": ("memory", "one neuron-state word read"),
    "state_write": ("memory", "one neuron-state word written"),
    "kv_read": ("memory", "one KV-cache element read"),
    "kv_write": ("memory", "one KV-cache element written"),
    "embedding_read": ("memory", "one embedding-table element read"),
    "message": ("network", "one message (packet) sent from a core: a spike bundle or a graded partial sum"),
    "hop_onchip": ("network", "one message crossing one on-chip router-to-router link"),
    "hop_chip": ("network", "one message crossing one chip-to-chip link"),
    "barrier": ("sync", "one barrier synchronisation of the time step"),
}


def component_of(action: str) -> str:
    try:
        return ACTIONS[action][0]
    except KeyError:
        raise NeurosimError(f"unknown action {action!r}; allowed: {', '.join(ACTIONS)}") from None


@dataclass
class CounterSink:
    """Collects counter rows cheaply (a list of tuples) and turns them into a DataFrame once."""

    engine: str
    rows: list[tuple] = field(default_factory=list)

    def add(self, layer: str, block: int | None, role: str, kind: str, action: str, count: float,
            w_bits: float = 0.0, a_repr: str = "", place: str = "") -> None:
        if count == 0:
            return
        self.rows.append((self.engine, layer, -1 if block is None else block, role, kind, place,
                          component_of(action), action, float(w_bits), a_repr, float(count)))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=COLUMNS)


def totals(df: pd.DataFrame, by: Iterable[str] = ("action",)) -> pd.DataFrame:
    """Sum counts by the given columns."""
    return df.groupby(list(by), sort=False, as_index=False)["count"].sum()


def action_totals(df: pd.DataFrame) -> dict[str, float]:
    return {a: float(c) for a, c in df.groupby("action", sort=False)["count"].sum().items()}


def compare(a: pd.DataFrame, b: pd.DataFrame, by: Iterable[str] = ("layer", "action"), rtol: float = 0.0) -> pd.DataFrame:
    """Rows where two counter tables disagree by more than ``rtol`` (relative); empty when they agree."""
    by = list(by)
    ta = a.groupby(by, as_index=False)["count"].sum()
    tb = b.groupby(by, as_index=False)["count"].sum()
    m = ta.merge(tb, on=by, how="outer", suffixes=("_a", "_b")).fillna({"count_a": 0.0, "count_b": 0.0})
    denom = m[["count_a", "count_b"]].abs().max(axis=1).clip(lower=1e-300)
    m["rel_diff"] = (m["count_a"] - m["count_b"]).abs() / denom
    return m[m["rel_diff"] > rtol]
