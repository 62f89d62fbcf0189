"""This machine's memory, sizes written the way people write them, and the limit a run must fit.

The limit a run is held to (see :mod:`neurosim.budget`, docs/reliability.md) is, first found first:

1. ``--max-memory SIZE`` of the command (set with :func:`limited` around the run);
2. the environment variable ``NEUROSIM_MAX_MEMORY`` (e.g. for every point of a sweep);
3. the memory available on this machine now: ``MemAvailable`` of ``/proc/meminfo``, lowered to what a cgroup (a
   container's memory limit) leaves, plus what this process already holds (the estimate covers the whole process).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from neurosim.errors import NeurosimError

_LIMITS: list[int] = []
_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 10**3, "kib": 2**10, "m": 2**20, "mb": 10**6, "mib": 2**20,
          "g": 2**30, "gb": 10**9, "gib": 2**30, "t": 2**40, "tb": 10**12, "tib": 2**40}


def parse_size(text: str | float, what: str = "--max-memory") -> int:
    """Bytes of a size as written: ``8G`` / ``8GiB`` (binary), ``8GB`` (decimal), ``512M``, ``1.5 G``, ``2e9``."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value, unit = float(text), ""
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
        if m is None or m.group(2).lower() not in _UNITS:
            raise NeurosimError(f"{what} {text!r}; allowed: a size such as 8G, 8GiB, 8GB, 512M or 2e9 (bytes)")
        value, unit = float(m.group(1)), m.group(2).lower()
    n = value * _UNITS[unit]
    if not 0 < n < float("inf"):
        raise NeurosimError(f"{what} {text!r}; allowed: a size above 0")
    return int(n)


def fmt_bytes(n: float) -> str:
    """A size for people: 812 MiB, 4.2 GiB, 3.1 TiB."""
    n = float(n)
    for unit, f in (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= f:
            return f"{n / f:.3g} {unit}"
    return f"{n:.0f} B"


def fmt_seconds(s: float) -> str:
    """A duration for people: 3 s, 4.5 min, 2.1 h, 12 days."""
    s = float(s)
    for unit, f in (("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if s >= f:
            return f"{s / f:.2g} {unit}"
    return f"{s:.2g} s"


def _meminfo() -> dict[str, int]:
    out = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                out[key] = int(parts[0]) * (1024 if parts[1:2] == ["kB"] else 1)
    except OSError:
        pass
    return out


def _cgroup_room() -> int | None:
    """Bytes a cgroup (v2, else v1) still lets this process allocate, if it sets a limit."""
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            lim = Path(limit).read_text().strip()
            used = int(Path(usage).read_text().strip())
        except (OSError, ValueError):
            continue
        if lim.isdigit() and int(lim) < 2**60:
            return max(int(lim) - used, 0)
    return None


def process_rss() -> int:
    """Resident bytes of this process now."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def available_memory() -> tuple[int, str]:
    """(bytes a run of this process may use in all, where that figure comes from): what is available now plus what
    this process already holds."""
    info = _meminfo()
    avail = info.get("MemAvailable")
    where = "available on this machine"
    if avail is None:
        try:
            avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
        except (ValueError, OSError):
            avail = 8 * 2**30
            where = "assumed (this machine's memory is unknown)"
    room = _cgroup_room()
    if room is not None and room < avail:
        avail, where = room, "left by this container's memory limit"
    return int(avail) + process_rss(), where


def memory_limit() -> tuple[int, str]:
    """(the most memory a run may take, where the figure comes from): see the module docstring."""
    if _LIMITS:
        return _LIMITS[-1], "--max-memory"
    env = os.environ.get("NEUROSIM_MAX_MEMORY")
    if env:
        return parse_size(env, "NEUROSIM_MAX_MEMORY"), "NEUROSIM_MAX_MEMORY"
    return available_memory()


@contextlib.contextmanager
def limited(max_memory: str | int | None, what: str = "--max-memory") -> Iterator[int | None]:
    """Within the block, runs are held to ``max_memory`` (a size; None: the default limit)."""
    if max_memory is None:
        yield None
        return
    n = parse_size(max_memory, what)
    _LIMITS.append(n)
    try:
        yield n
    finally:
        _LIMITS.pop()


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS (OpenBLAS/MKL) on one thread within the block (also a decorator): a multi-threaded BLAS may add a
    float sum in another order with another thread count, and the functional engine quantizes those floats into
    spikes, so a count could flip on a rounding boundary. On one thread, exact-mode records are byte-identical
    whatever ``OPENBLAS_NUM_THREADS`` says (docs/reliability.md). Without threadpoolctl the block runs as it is."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a core dependency
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
