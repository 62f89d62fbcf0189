"""Small I/O helpers: atomic writes (temporary file + rename) and safe YAML."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from neurosim.errors import NeurosimError


def progress_line(msg: str) -> None:
    """``io: msg`` on stderr when ``NEUROSIM_PROGRESS=lines`` (a sign for a test that a write is under way)."""
    if os.environ.get("NEUROSIM_PROGRESS") == "lines":
        print(f"io: {msg}", file=sys.stderr, flush=True)


def hold_before_rename(path: Path) -> None:
    """Testing aid: ``NEUROSIM_HOLD_WRITE=SECONDS[:NAME]`` waits that long with the complete new file (of a path
    containing NAME, or any) under its temporary name, just before the rename; an interrupt test signals after the
    ``io: holding PATH`` line, i.e. in the middle of the write."""
    spec = os.environ.get("NEUROSIM_HOLD_WRITE")
    if not spec:
        return
    seconds, _, name = spec.partition(":")
    if not name or name in str(path):
        progress_line(f"holding {path}")
        time.sleep(float(seconds))


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """SIGINT and SIGTERM that arrive during the block are held and raised right after it: a few renames that
    belong together happen all or none. (The main thread only; elsewhere the block runs as it is.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    signals = (signal.SIGINT, signal.SIGTERM)
    old = {s: signal.signal(s, lambda signum, _frame: got.append(signum)) for s in signals}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        if got:
            signal.raise_signal(got[0])


def _mode_of_new_file(tmp: Path) -> None:
    if tmp.exists() and not tmp.is_dir():  # mkstemp makes 0600 files; give the result the usual umask-based mode
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds.

    An interrupted or failing writer leaves ``path`` untouched (old content or absent), never half-written, and
    removes its temporary file.
    """
    with atomic_paths(path, suffixes=(suffix,)) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_paths(*paths: str | os.PathLike | None, suffixes: tuple[str | None, ...] = ()) -> Iterator[list]:
    """Several files that belong together (a result and its run record, a graph and its weights): a temporary path
    beside each (None for a None path); when the block succeeds every one is renamed over its target with SIGINT
    and SIGTERM held, so an interrupt leaves all the old files or all the new ones; else every temporary is
    removed."""
    tmps: list[Path | None] = []
    try:
        with deferred_signals():  # an interrupt lands once every temporary is known, so the cleanup below sees it
            for i, path in enumerate(paths):
                if path is None:
                    tmps.append(None)
                    continue
                path = Path(path)
                path.parent.mkdir(parents=True, exist_ok=True)
                suffix = suffixes[i] if i < len(suffixes) and suffixes[i] else path.suffix
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
                os.close(fd)
                tmps.append(Path(tmp))
        for path in paths:
            if path is not None:
                progress_line(f"writing {path}")
        yield tmps
        done = [(t, Path(p)) for t, p in zip(tmps, paths) if t is not None]
        for t, p in done:
            _mode_of_new_file(t)
            hold_before_rename(p)
        with deferred_signals():
            for t, p in done:
                os.replace(t, p)
        for _t, p in done:
            progress_line(f"wrote {p}")
    except BaseException:
        for t in tmps:
            if t is not None:
                with contextlib.suppress(FileNotFoundError):
                    t.unlink()
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def json_text(obj: Any) -> str:
    """``obj`` as the indented JSON neurosim writes (numpy scalars and arrays, paths as plain values)."""
    return json.dumps(obj, indent=2, default=_json_default) + "\n"


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    return write_text_atomic(path, json_text(obj))


def write_texts_atomic(texts: dict[str | os.PathLike, str]) -> list[Path]:
    """Several text files that belong together, renamed into place all at once (:func:`atomic_paths`)."""
    with atomic_paths(*texts) as tmps:
        for tmp, text in zip(tmps, texts.values()):
            tmp.write_text(text, encoding="utf-8")
    return [Path(p) for p in texts]


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


#: the largest YAML or JSON file neurosim reads: a hand-written spec is kilobytes, a saved mapping or run record of
#: a 14B model a few megabytes
MAX_TEXT_BYTES = 256 * 2**20
#: values a YAML or JSON document may hold once YAML aliases are expanded (a "billion laughs" file: 10^9)
MAX_VALUES = 50_000_000
#: how deeply lists and mappings may nest (a real file: under 10 levels)
MAX_DEPTH = 100


def read_text(path: str | os.PathLike, what: str = "file") -> str:
    """The text of a UTF-8 file (a leading byte-order mark dropped), or one error naming the file: missing, a
    directory or other non-regular file (a FIFO or device would block or never end), larger than
    :data:`MAX_TEXT_BYTES`, or not UTF-8."""
    import stat

    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise NeurosimError(f"{path}: file not found") from None
    except OSError as exc:
        raise NeurosimError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    if stat.S_ISDIR(st.st_mode):
        raise NeurosimError(f"{path}: is a directory, expected a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise NeurosimError(f"{path}: not a regular file, expected a {what}")
    if st.st_size > MAX_TEXT_BYTES:
        raise NeurosimError(f"{path}: {st.st_size / 2**20:.0f} MiB; a {what} may be at most "
                            f"{MAX_TEXT_BYTES // 2**20} MiB")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise NeurosimError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NeurosimError(f"{path}: not UTF-8 text (invalid byte at offset {exc.start}; expected a {what})") \
            from None
    return text.removeprefix("\ufeff")


def check_tree(obj: Any, where: str) -> Any:
    """``obj`` if it is a plain tree of bounded size: at most :data:`MAX_VALUES` values with every shared (aliased)
    part counted each time it appears, nested at most :data:`MAX_DEPTH` deep, no recursive alias, text or number
    keys; else one error naming ``where``. Shared parts are sized once (memo by identity), so the check costs the
    size of the file, not of its expansion: a YAML bomb is refused at once."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(node: Any, depth: int) -> int:
        if not isinstance(node, (dict, list, tuple)):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_ or depth >= MAX_DEPTH:
            raise NeurosimError(f"{where}: lists or mappings nested deeper than {MAX_DEPTH} levels (or a recursive "
                                "alias); allowed: a plain document")
        open_.add(key)
        total = 1
        for k, v in (node.items() if isinstance(node, dict) else enumerate(node)):
            if isinstance(node, dict) and not isinstance(k, (str, int, float, bool, type(None))):
                raise NeurosimError(f"{where}: a mapping key is a {type(k).__name__} ({str(k)[:40]!r}); allowed: "
                                    "text or numbers")
            total += size(v, depth + 1)
            if total > MAX_VALUES:
                raise NeurosimError(f"{where}: more than {MAX_VALUES:,} values once YAML aliases are expanded; "
                                    "allowed: a plain document (anchors that multiply a value are refused)")
        open_.discard(key)
        sizes[key] = total
        return total

    size(obj, 0)
    return obj


def parse_yaml(text: str, where: str) -> Any:
    """Parse YAML text with the safe loader (libyaml's when present: plain data only, no Python objects), checked
    by :func:`check_tree`; errors are one line naming ``where`` and the line."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader)  # a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["unreadable"])[0]
        raise NeurosimError(f"{where}:{line} malformed YAML: {problem}") from None
    except RecursionError:
        raise NeurosimError(f"{where}: lists or mappings nested too deeply; allowed: a plain document") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise NeurosimError(f"{where}: malformed YAML: {(str(exc).splitlines() or [''])[0]}") from None
    return check_tree(data, where)


def load_yaml(path: str | os.PathLike) -> Any:
    """Load a YAML file with the safe loader; errors name the file and line."""
    path = Path(path)
    return parse_yaml(read_text(path, "YAML file"), str(path))


def load_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """Load a JSON file; a missing, non-UTF-8 or malformed file is one error naming the file (and the line)."""
    path = Path(path)
    text = read_text(path, what)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NeurosimError(f"{path}: not a {what} (malformed at line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise NeurosimError(f"{path}: not a {what} (lists or objects nested too deeply)") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise NeurosimError(f"{path}: not a {what} ({(str(exc).splitlines() or [''])[0]})") from None
    return check_tree(data, str(path))


def sibling(path: str | os.PathLike, name: Any, where: str) -> Path:
    """The file ``name`` beside ``path``, where ``name`` comes from a user file (``where`` names its field): a plain
    file name only, so a graph or mapping file can never point neurosim at (or make it write to) another folder."""
    if not isinstance(name, str) or not name or name in (".", "..") or any(c in name for c in "/\\\0"):
        raise NeurosimError(f"{where} = {str(name)[:80]!r}; allowed: a file name beside {Path(path).name} "
                            "(no folders)")
    return Path(path).with_name(name)


def pyplot():
    """matplotlib's pyplot for figures written to files: the Agg backend (a notebook's inline backend stays), text
    drawn as it is written (no mathtext: a workload or layer named ``$x_1$`` or ``a$b`` is a name, not a formula
    that fails to parse), and a character the font lacks drawn as a box without a warning on stderr."""
    import warnings

    import matplotlib

    if "inline" not in matplotlib.get_backend():
        matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams["text.parse_math"] = False
    warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font", category=UserWarning)
    return plt
