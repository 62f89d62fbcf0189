"""Self-contained HTML: figures embedded as base64 SVG, CSS inline, no scripts, no network fetches."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

CSS = """
:root { color-scheme: light; }
body { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "DejaVu Sans", sans-serif;
       font-size: 15px; line-height: 1.45; color: #1d232b; background: #fff; margin: 0; }
main { max-width: 1040px; margin: 0 auto; padding: 18px 24px 48px; }
h1 { font-size: 1.6em; margin: 0.2em 0 0.1em; }
h2 { font-size: 1.25em; margin: 1.6em 0 0.4em; border-bottom: 1px solid #d5dae0; padding-bottom: 3px; }
h3 { font-size: 1.05em; margin: 1.2em 0 0.3em; }
.sub { color: #56606b; margin: 0 0 12px; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 14px 0; }
.card { flex: 1 1 220px; border: 1px solid #d5dae0; border-radius: 6px; padding: 10px 14px; background: #f7f9fb; }
.card .v { font-size: 1.55em; font-weight: 600; }
.card .l { color: #3b4550; }
.card .n { color: #6b7580; font-size: 0.85em; }
figure { margin: 12px 0 22px; }
figure img { max-width: 100%; height: auto; display: block; border: 1px solid #e3e7eb; }
figcaption { color: #3b4550; font-size: 0.92em; margin-top: 6px; }
.files { font-size: 0.85em; color: #6b7580; }
.files a { color: #2b5d9b; }
table.full { width: 100%; }
table { border-collapse: collapse; font-size: 0.86em; margin: 6px 0 12px; }
th, td { border: 1px solid #dfe3e8; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #eef1f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr:nth-child(even) td { background: #fafbfc; }
.wide { overflow-x: auto; }
.missing { color: #6b4e00; background: #fff8e1; border: 1px solid #f0dca0; border-radius: 4px; padding: 6px 10px; }
ul.notes li { margin: 2px 0; }
details summary { cursor: pointer; color: #2b5d9b; margin: 6px 0; }
footer { color: #6b7580; font-size: 0.85em; margin-top: 36px; }
"""


@dataclass
class FigureOut:
    stem: str
    title: str
    caption: str
    svg: bytes | None = None
    missing: str = ""  # why the figure is not in this report


def esc(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def fmt(v: Any) -> str:
    """A number for a table cell: thousands separators for integers, engineering prefixes for big floats."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v == 0:
            return "0"
        if v.is_integer() and abs(v) < 1e6:
            return f"{int(v):,}"
        a = abs(v)
        for unit, f in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6)):
            if a >= f:
                return f"{v / f:.4g} {unit}"
        if a >= 1000:
            return f"{v:,.0f}"
        if a < 1e-3:
            return f"{v:.3e}"
        return f"{v:.4g}"
    return str(v)


def table_html(df: pd.DataFrame, max_rows: int | None = None, units: dict[str, str] | None = None,
               full: bool = False) -> str:
    units = units or {}
    head = "".join(f"<th>{esc(c)}{(' (' + esc(units[c]) + ')') if c in units else ''}</th>" for c in df.columns)
    numeric = {c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])}
    rows = []
    for i, row in enumerate(df.itertuples(index=False, name=None)):
        if max_rows is not None and i >= max_rows:
            break
        cells = []
        for c, v in zip(df.columns, row):
            v = _py(v)
            if c in numeric or (isinstance(v, (int, float)) and not isinstance(v, bool)):
                cells.append(f'<td class="num">{esc(fmt(v))}</td>')
            else:
                cells.append(f"<td>{esc(v)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = ""
    if max_rows is not None and len(df) > max_rows:
        more = f'<p class="files">{len(df) - max_rows} more rows in the CSV file.</p>'
    cls = ' class="full"' if full else ""
    return f'<div class="wide"><table{cls}><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>{more}'


def _py(v: Any) -> Any:
    if hasattr(v, "item") and not isinstance(v, str):
        v = v.item()
    return v


def kv_table(pairs: Iterable[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(fmt(v) if isinstance(v, (int, float)) else v)}</td></tr>"
                   for k, v in pairs)
    return f"<table><tbody>{rows}</tbody></table>"


def figure_html(f: FigureOut, csv: Sequence[str] = ()) -> str:
    if f.svg is None:
        return (f'<h3 id="{esc(f.stem)}">{esc(f.title)}</h3>'
                f'<p class="missing">Not in this report: {esc(f.missing)}</p>')
    data = base64.b64encode(f.svg).decode("ascii")
    links = [f'<a href="{esc(f.stem)}.png">PNG</a>', f'<a href="{esc(f.stem)}.svg">SVG</a>']
    links += [f'<a href="{esc(c)}">{esc(c)}</a>' for c in csv]
    return (f'<h3 id="{esc(f.stem)}">{esc(f.title)}</h3><figure>'
            f'<img src="data:image/svg+xml;base64,{data}" alt="{esc(f.title)}">'
            f"<figcaption>{esc(f.caption)} <span class=\"files\">Files: {' · '.join(links)}</span></figcaption>"
            "</figure>")


#: a report page's Content-Security-Policy: no script, no request; inline styles and data: images only
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def page(title: str, subtitle: str, body: Sequence[str], footer: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<meta name=\"generator\" content=\"neurosim report\">"
        # defence in depth beside the escaping: the page may run no script and fetch nothing (its figures are data:)
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body><main>"
        f"<h1>{esc(title)}</h1><p class=\"sub\">{esc(subtitle)}</p>\n"
        + "\n".join(body)
        + f"\n<footer>{esc(footer)}</footer></main></body></html>\n"
    )
