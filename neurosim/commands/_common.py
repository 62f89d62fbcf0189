"""Helpers shared by CLI commands: output formats and number formatting."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

FORMATS = ("table", "csv", "json", "md")


def check_format(fmt: str, allowed: tuple[str, ...] = FORMATS) -> str:
    from neurosim.errors import NeurosimError

    if fmt not in allowed:
        raise NeurosimError(f"--format {fmt!r}; allowed: {', '.join(allowed)}")
    return fmt


def human(x: Any) -> str:
    """Engineering notation for big counts (1.23e9 -> 1.23 G); other values as given."""
    if isinstance(x, bool) or x is None:
        return "" if x is None else str(x)
    if isinstance(x, int) or (isinstance(x, float) and math.isfinite(x)):
        v = float(x)
        if v == 0:
            return "0"
        for unit, f in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
            if abs(v) >= f:
                return f"{v / f:.3g} {unit}"
        if abs(v) < 1e-3:
            return f"{v:.3g}"
        return f"{v:.4g}"
    return str(x)


def json_document(obj: Any, default=float) -> str:
    """``obj`` as one strict JSON document (indented, ending in a newline), what every ``--format json`` prints:
    NaN and infinities become null (JSON has no such numbers; Python's json would print ``NaN``, which other
    parsers refuse). ``default`` turns what json cannot encode (numpy scalars) into plain values."""

    def clean(v: Any) -> Any:
        if isinstance(v, float):
            return v if math.isfinite(v) else None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(obj), indent=2, default=lambda v: clean(default(v)), allow_nan=False) + "\n"


def print_frame(df, fmt: str, title: str | None = None, human_cols: tuple[str, ...] = ()) -> None:
    """Print a DataFrame as a rich table, CSV, Markdown or JSON records."""
    if fmt == "csv":
        sys.stdout.write(df.to_csv(index=False))
    elif fmt == "json":
        sys.stdout.write(json_document(df.to_dict(orient="records")))
    elif fmt == "md":
        cols = list(df.columns)
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for row in df.itertuples(index=False):
            lines.append("| " + " | ".join(human(v) if c in human_cols else _cell(v) for c, v in zip(cols, row)) + " |")
        if title:
            sys.stdout.write(f"### {title}\n\n")
        sys.stdout.write("\n".join(lines) + "\n")
    else:
        from rich.console import Console
        from rich.table import Table

        t = Table(title=title, show_lines=False)
        for c in df.columns:
            t.add_column(str(c), justify="right" if df[c].dtype.kind in "fiu" else "left")
        for row in df.itertuples(index=False):
            t.add_row(*[human(v) if c in human_cols else _cell(v) for c, v in zip(df.columns, row)])
        Console(width=max(160, 20 * len(df.columns))).print(t)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.4g}"
    return "" if v is None else str(v)
