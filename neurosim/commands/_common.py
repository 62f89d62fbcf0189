"""Helpers shared by CLI commands: output formats and number formatting."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

FORMATS = ("table", "csv", "json", "md")
#: the help of every command's --format (one wording, so the flag reads the same everywhere; docs/cli.md has the rules)
FORMAT_HELP = ("table, csv, json or md (csv: the rows, then `total` rows where totals exist; json: one document, "
               "units in the keys)")


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


def with_total(df, label_col: str, totals: dict[str, Any] | None = None, skip: tuple[str, ...] = (),
               label: str = "total"):
    """``df`` with one more row: ``label`` in ``label_col``, each numeric column's sum (``totals`` overrides a
    column with the command's own figure; a column in ``skip``, such as a rate, is left empty). The CSV rule of every
    command: the rows, then the totals as rows, never a second table."""
    import pandas as pd

    row: dict[str, Any] = {c: None for c in df.columns}
    row[label_col] = label
    for c in df.columns:
        if c != label_col and c not in skip and df[c].dtype.kind in "fiu" and df[c].dtype.kind != "b":
            row[c] = df[c].sum()
    for k, v in (totals or {}).items():
        if k in row:
            row[k] = v
    return pd.concat([df, pd.DataFrame([row])], ignore_index=True)


def md_text(text: Any) -> str:
    """Text from a user file inside Markdown, shown as text: HTML tags, table pipes and link brackets escaped, one
    line (a workload named ``<img src=x onerror=...>`` stays those characters in any Markdown renderer)."""
    out = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for ch in "|[]":
        out = out.replace(ch, "\\" + ch)
    return " ".join(out.splitlines())


def frame_markdown(df, title: str | None = None, human_cols: tuple[str, ...] = ()) -> str:
    """A DataFrame as a Markdown table (with a ``###`` title); every cell and title escaped (:func:`md_text`)."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(md_text(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(md_text(human(v) if c in human_cols else _cell(v)) for c, v in zip(cols, row))
                     + " |")
    return (f"### {md_text(title)}\n\n" if title else "") + "\n".join(lines) + "\n"


def print_frame(df, fmt: str, title: str | None = None, human_cols: tuple[str, ...] = ()) -> None:
    """Print a DataFrame as a rich table, CSV, Markdown or JSON records."""
    if fmt == "csv":
        sys.stdout.write(df.to_csv(index=False))
    elif fmt == "json":
        sys.stdout.write(json_document(df.to_dict(orient="records")))
    elif fmt == "md":
        sys.stdout.write(frame_markdown(df, title, human_cols))
    else:
        from rich.console import Console
        from rich.table import Table

        t = Table(title=title, show_lines=False)
        for c in df.columns:
            t.add_column(str(c), justify="right" if df[c].dtype.kind in "fiu" else "left")
        for row in df.itertuples(index=False):
            t.add_row(*[human(v) if c in human_cols else _cell(v) for c, v in zip(df.columns, row)])
        Console(width=max(160, 20 * len(df.columns))).print(t)


def print_lines(lines: list[str], fmt: str) -> None:
    """Lines after a table: a Markdown list in md, plain lines otherwise (table)."""
    if lines:
        sys.stdout.write(("\n" + "\n".join(f"- {md_text(x)}" for x in lines) if fmt == "md" else "\n".join(lines))
                         + "\n")


def print_document(obj: Any, fmt: str, title: str | None = None) -> None:
    """A result that is a mapping of figures (a summary, not a table), in any --format: json as it is; csv as
    ``quantity,value`` rows (nested keys joined with dots); table and md as a two-column table."""
    import pandas as pd

    if fmt == "json":
        sys.stdout.write(json_document(obj))
        return
    rows = [{"quantity": k, "value": v} for k, v in _flatten(obj)]
    print_frame(pd.DataFrame(rows, columns=["quantity", "value"]), fmt, title)


def _flatten(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(obj, dict):
        out: list[tuple[str, Any]] = []
        for k, v in obj.items():
            out += _flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else [(f"{prefix}{k}", _scalar(v))]
        return out
    return [(prefix.rstrip("."), _scalar(obj))]


def _scalar(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return "; ".join(str(x) for x in v)
    return v


def _cell(v: Any) -> str:
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.4g}"
    return "" if v is None else str(v)
