"""Small I/O helpers: atomic writes (temporary file + rename) and safe YAML."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from neurosim.errors import NeurosimError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds.

    An interrupted or failing writer leaves ``path`` untouched (old content or absent), never half-written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600 files; give the result the usual umask-based mode
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


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
