"""Counts kept per layer and piece while the simulation runs (NumPy arrays, one per action), turned into the
shared counter table (:mod:`neurosim.counters`) once at the end."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from neurosim.counters import COLUMNS, component_of
from neurosim.engines.events.plan import LayerPieces

ENGINE = "events"


def _put(arr: np.ndarray, where: slice | np.ndarray | None, pieces: np.ndarray, counts) -> None:
    """Add ``counts`` to ``arr`` at ``pieces`` (``where``: :meth:`Tally._where` of them)."""
    if where is None:  # a piece listed twice: each of its counts added
        np.add.at(arr, pieces, counts)
    else:
        arr[where] += counts


class Tally:
    """``add(layer, action, per_piece_counts)``: counts accumulate per (layer, action, w_bits, operand) over the
    layer's pieces; system-wide rows (barriers) go to :meth:`add_system`."""

    def __init__(self) -> None:
        self.arrays: dict[tuple[str, str, float, str], np.ndarray] = {}
        self.layers: dict[str, LayerPieces] = {}
        self.system: dict[str, float] = defaultdict(float)
        self._seen: dict[int, tuple[np.ndarray, slice | np.ndarray | None]] = {}
        self._lengths: np.ndarray | None = None  # rows of each part in the table frame() made last

    def add(self, lp: LayerPieces, action: str, counts, w_bits: float = 0.0, a_repr: str = "",
            pieces: np.ndarray | None = None) -> None:
        """Add counts to ``lp``'s pieces: an array over all pieces, or over ``pieces`` (indices) when given."""
        arr = self._array(lp, lp.name, action, w_bits, a_repr)
        if pieces is None:
            arr += counts
        else:
            _put(arr, self._where(pieces), pieces, counts)

    def add_rows(self, lp: LayerPieces, rows, pieces: np.ndarray) -> None:
        """:meth:`add` of every (action, counts, w_bits, operand) row of the cost model to ``pieces``: where the
        pieces fall is worked out once for all rows."""
        name = lp.name
        where = self._where(pieces)
        for action, counts, w_bits, a_repr in rows:
            _put(self._array(lp, name, action, w_bits, a_repr), where, pieces, counts)

    def _array(self, lp: LayerPieces, name: str, action: str, w_bits: float, a_repr: str) -> np.ndarray:
        key = (name, action, float(w_bits), a_repr)
        arr = self.arrays.get(key)
        if arr is None:
            component_of(action)  # unknown actions fail here, not at the end of a long run
            arr = self.arrays[key] = np.zeros(len(lp.lm))
            self.layers[name] = lp
        return arr

    def _where(self, pieces: np.ndarray) -> slice | np.ndarray | None:
        """How to add to ``pieces``: a slice when they are consecutive, the indices when strictly increasing (no
        piece listed twice), else None; remembered for the arrays given again and again (a phase's pieces, kept with
        its geometry; the array is held, so its id stays its own)."""
        seen = self._seen.get(id(pieces))
        if seen is not None and seen[0] is pieces:
            return seen[1]
        n = len(pieces)
        out = pieces if n < 2 or bool((pieces[1:] > pieces[:-1]).all()) else None
        if out is not None and n and int(pieces[-1]) - int(pieces[0]) == n - 1:  # increasing, no gap: consecutive
            out = slice(int(pieces[0]), int(pieces[-1]) + 1)
        if len(self._seen) >= 4096:
            self._seen.clear()
        self._seen[id(pieces)] = (pieces, out)
        return out

    def add_system(self, action: str, count: float) -> None:
        component_of(action)
        self.system[action] += float(count)

    def total(self, action: str, layer: str | None = None) -> float:
        return float(sum(a.sum() for (n, act, _, _), a in self.arrays.items()
                         if act == action and (layer is None or n == layer))) + (
            self.system.get(action, 0.0) if layer is None else 0.0)

    def frame(self) -> pd.DataFrame:
        """The counters table (:data:`neurosim.counters.COLUMNS`), one row per (layer, piece, action, operand)."""
        # every column is built as codes into its distinct values (the parts' scalars, the layers' places), so each
        # string is converted once and repeated by one ``take``: no string made or converted per row
        scalars = ("layer", "role", "kind", "component", "action", "a_repr", "block", "w_bits")
        vals: dict[str, list] = {c: [] for c in scalars}
        lengths: list[int] = []
        place_codes: list[np.ndarray] = []
        counts: list[np.ndarray] = []
        first: dict[str, int] = {}  # where each layer's places start among all places
        all_places: list[np.ndarray] = []

        def put(n: int, values: dict, codes: np.ndarray) -> None:
            for c in scalars:
                vals[c].append(values[c])
            lengths.append(n)
            place_codes.append(codes)
            counts.append(np.asarray(values["count"], dtype=float).reshape(-1))

        n_places = 0
        for (name, action, w_bits, a_repr), arr in self.arrays.items():
            nz = np.nonzero(arr)[0]
            if not len(nz):
                continue
            lp = self.layers[name]
            layer = lp.layer
            if name not in first:
                first[name] = n_places
                all_places.append(lp.places)
                n_places += len(lp.places)
            put(len(nz), {"layer": name, "role": layer.role, "kind": layer.kind,
                          "component": component_of(action), "action": action, "a_repr": a_repr,
                          "block": -1 if layer.block is None else layer.block, "w_bits": w_bits, "count": arr[nz]},
                first[name] + nz)
        for action, count in self.system.items():
            if count:
                put(1, {"layer": "", "role": "", "kind": "system", "component": component_of(action),
                        "action": action, "a_repr": "", "block": -1, "w_bits": 0.0, "count": float(count)},
                    np.array([n_places]))
        if not counts:
            self._lengths = np.zeros(0, dtype=np.int64)
            return pd.DataFrame({c: [] for c in COLUMNS})
        all_places.append(np.array(["system"], dtype=object))

        def strings(values: np.ndarray, codes: np.ndarray):
            return pd.Index(values).take(codes).array  # the dtype a column of these objects gets

        part = np.repeat(np.arange(len(lengths)), lengths)
        self._lengths = np.asarray(lengths, dtype=np.int64)
        data: dict[str, object] = {}
        for c in scalars:
            if c in ("block", "w_bits"):
                data[c] = np.repeat(np.asarray(vals[c], dtype=np.int64 if c == "block" else float), lengths)
            else:
                col = np.empty(len(lengths), dtype=object)
                col[:] = vals[c]
                data[c] = strings(col, part)
        data["place"] = strings(np.concatenate(all_places), np.concatenate(place_codes))
        data["count"] = np.concatenate(counts)
        data["engine"] = strings(np.array([ENGINE], dtype=object), np.zeros(len(part), dtype=np.int64))
        return pd.DataFrame({c: data[c] for c in COLUMNS})

    def by_part(self, counters: pd.DataFrame) -> pd.DataFrame:
        """The table :meth:`frame` just made, summed over places: what ``counters.groupby(every column but place and
        count, sort=False)["count"].sum()`` gives (the same rows, order and sums: each (layer, action, bits,
        operand) of the tally is one group and its rows are consecutive, so they are summed by their part's number
        rather than by nine text columns)."""
        lengths = self._lengths
        if lengths is None or int(lengths.sum()) != len(counters):
            raise ValueError("by_part takes the table this tally's frame() made last")
        by = [c for c in counters.columns if c not in ("place", "count")]
        starts = np.cumsum(lengths) - lengths
        out = counters.iloc[starts][by].reset_index(drop=True)
        part = np.repeat(np.arange(len(lengths)), lengths)
        out["count"] = counters["count"].groupby(part, sort=False).sum().to_numpy()
        return out
