"""A CPU model measured on the machine running neurosim: NumPy timings written as a conventional hardware file.

What is timed (best of ``repeat`` runs each, after a warm-up), with the arrays NumPy itself uses:

* memory bandwidth and row overhead: matrix-vector products over ``float32`` matrices far larger than the caches
  in all (a decode step's access pattern: every weight read once), once with short rows (512) and once with long
  ones (4096); the two timings give the streaming bandwidth and a fixed time per row (short rows stream slower:
  the prefetchers restart on every row). A copy's rate (read + write) is noted;
* fp32 matmul throughput: a square ``float32`` matmul (BLAS), 2 n^3 ops;
* int8 matmul throughput: ``int8`` operands multiplied with ``int32`` accumulation the way NumPy can
  (``a.astype(int32) @ b``: NumPy has no int8 BLAS, so this is what an int8 model gets from NumPy);
* element-wise throughput: ``np.multiply`` on cache-resident arrays (ops per second).

Energy is not measured (no power counters are read): idle and busy power come from the command line and are
written as assumptions; the energy per op fills the busy power at the measured fp32 rate, and DRAM's energy per
bit is Horowitz's DDR figure. The file says so figure by figure.
"""

from __future__ import annotations

import platform
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np


def _best(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up: page faults, BLAS threads
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _copy_bandwidth(n: int, repeat: int) -> float:
    """Bytes per second of ``np.copyto`` over ``n`` float64 (one read and one write per element)."""
    src = np.ones(n, dtype=np.float64)
    dst = np.empty_like(src)
    t = _best(lambda: np.copyto(dst, src), repeat)
    return 2.0 * src.nbytes / t


def _gemv_seconds(nbytes: int, cols: int, repeat: int, rows: int = 2048) -> tuple[float, int, int]:
    """(seconds, bytes, rows) of matrix-vector products over ``rows x cols`` float32 matrices, ``nbytes`` in all."""
    mats = [np.ones((rows, cols), dtype=np.float32) for _ in range(max(1, nbytes // (4 * rows * cols)))]
    v = np.ones(cols, dtype=np.float32)

    def run() -> None:
        for m in mats:
            m @ v

    return _best(run, repeat), sum(m.nbytes for m in mats), rows * len(mats)


def _read_bandwidth(nbytes: int, repeat: int) -> tuple[float, float]:
    """(bytes per second, seconds per row) of streaming weights through matrix-vector products: the two unknowns of
    ``t = bytes / bandwidth + rows x row_time`` from a short-row and a long-row timing."""
    t1, b1, r1 = _gemv_seconds(nbytes, 512, repeat)
    t2, b2, r2 = _gemv_seconds(nbytes, 4096, repeat)
    det = b1 * r2 - b2 * r1
    inv_bw = (t1 * r2 - t2 * r1) / det if det else 0.0
    row = (b1 * t2 - b2 * t1) / det if det else 0.0
    if inv_bw <= 0 or row < 0:  # noisy timings: fall back to the long rows' rate and no row cost
        return b2 / t2, 0.0
    return 1.0 / inv_bw, row


@dataclass
class Measured:
    """What the calibration measured on this machine."""

    bandwidth_Bps: float  # weights streamed by matrix-vector products (the long-row limit)
    row_s: float  # fixed time per weight row streamed
    copy_Bps: float  # np.copyto, read + write
    fp32_ops: float
    int8_ops: float
    vector_ops: float
    cores: int
    cpu: str
    host: str
    when: str
    sizes: dict[str, int]
    blas_threads: str = "unset"


def measure(repeat: int = 5, copy_mb: int = 256, n_fp32: int = 1024, n_int8: int = 256,
            vector_kb: int = 64) -> Measured:
    """Time the four quantities above (a few seconds on a laptop)."""
    import os

    bandwidth, row = _read_bandwidth(copy_mb * 1024 * 1024, repeat)
    copy = _copy_bandwidth(copy_mb * 1024 * 1024 // 8, repeat)

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n_fp32, n_fp32), dtype=np.float32)
    b = rng.standard_normal((n_fp32, n_fp32), dtype=np.float32)
    t = _best(lambda: a @ b, repeat)
    fp32 = 2.0 * n_fp32**3 / t

    ai = rng.integers(-127, 128, (n_int8, n_int8), dtype=np.int8)
    bi = rng.integers(-127, 128, (n_int8, n_int8), dtype=np.int8).astype(np.int32)
    t = _best(lambda: ai.astype(np.int32) @ bi, repeat)
    int8 = 2.0 * n_int8**3 / t

    m = vector_kb * 1024 // 4
    x = rng.standard_normal(m, dtype=np.float32)
    y = rng.standard_normal(m, dtype=np.float32)
    z = np.empty_like(x)
    reps = 200

    def vec() -> None:
        for _ in range(reps):
            np.multiply(x, y, out=z)

    t = _best(vec, repeat)
    vector = m * reps / t
    return Measured(bandwidth, row, copy, fp32, int8, vector, os.cpu_count() or 1, platform.processor() or platform.machine(),
                    socket.gethostname(), datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                    {"copy_MB": copy_mb, "fp32_n": n_fp32, "int8_n": n_int8, "vector_KB": vector_kb},
                    os.environ.get("OPENBLAS_NUM_THREADS", "unset"))


def _fmt(x: float, unit: str) -> str:
    return f"{x:.4g} {unit}"


def cpu_model(m: Measured, name: str = "cpu-local", idle_w: float = 10.0, busy_w: float = 65.0,
              memory_gb: float | None = None) -> dict[str, Any]:
    """The conventional hardware file (as a mapping) of the measured CPU."""
    if memory_gb is None:
        import os

        memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    where = f"measured by `neurosim hw calibrate` on {m.host} ({m.cpu}, {m.cores} cores) at {m.when}"
    dyn_w = max(busy_w - idle_w, 0.0)
    e_op = dyn_w / m.fp32_ops * 1e12  # pJ per op at the measured fp32 rate
    power_note = (f"given to the calibration (--busy-w {busy_w:g} --idle-w {idle_w:g}); no power counter is read, "
                  "so CPU energies are assumptions")
    unit_note = f"the busy power above idle ({dyn_w:g} W) spread over the measured fp32 matmul rate"
    return {
        "version": 1, "kind": "conventional", "name": name, "device": "cpu",
        "description": f"The CPU neurosim ran on, as NumPy sees it: {m.cpu}, {m.cores} cores ({m.host}); every "
                       "throughput and the bandwidth are measured with NumPy, energies are assumptions.",
        "notes": [f"calibration sizes: {m.sizes}; BLAS threads: OPENBLAS_NUM_THREADS={m.blas_threads}",
                  (f"np.copyto moved {m.copy_Bps / 1e9:.3g} GB/s (read + write); the model uses the matrix-vector "
                   "read rate"),
                  "throughputs are NumPy's (BLAS for fp32; NumPy's own loops for int8, which has no int8 BLAS)"],
        "compute": {
            "fp32": {"peak": {"value": _fmt(m.fp32_ops / 1e9, "Gop/s"),
                              "source": f"{where}: float32 matmul {m.sizes['fp32_n']}^3"},
                     "energy_per_op": {"value": _fmt(e_op, "pJ"), "assumption": unit_note},
                     "efficiency": {"value": 1.0, "source": f"{where}: the peak is the measured rate"}},
            "int8": {"peak": {"value": _fmt(m.int8_ops / 1e9, "Gop/s"),
                              "source": f"{where}: int8 operands, int32 accumulation, {m.sizes['int8_n']}^3"},
                     "energy_per_op": {"value": _fmt(e_op, "pJ"), "assumption": "as fp32 (same cores, same power)"},
                     "efficiency": {"value": 1.0, "source": f"{where}: the peak is the measured rate"}},
            "vector": {"peak": {"value": _fmt(m.vector_ops / 1e9, "Gop/s"),
                                "source": f"{where}: np.multiply on {m.sizes['vector_KB']} KB arrays"},
                       "energy_per_op": {"value": _fmt(e_op, "pJ"), "assumption": "as fp32"},
                       "efficiency": {"value": 1.0, "source": f"{where}: the peak is the measured rate"}},
        },
        "memory": {
            "capacity": {"value": _fmt(memory_gb, "GB"), "source": f"{where}: physical memory (sysconf)"},
            "bandwidth": {"value": _fmt(m.bandwidth_Bps / 1e9, "GB/s"),
                          "source": f"{where}: float32 matrix-vector products over {m.sizes['copy_MB']} MB of "
                                    "2048-row matrices, 512 and 4096 columns: the streaming rate of t = bytes / "
                                    "bandwidth + rows x row_overhead"},
            "row_overhead": {"value": _fmt(m.row_s * 1e9, "ns"),
                             "source": f"{where}: the same two timings, the fixed time per row"},
            "energy_per_bit": {"value": "30 pJ/bit", "source": "Horowitz ISSCC 2014: DRAM access 1.3-2.6 nJ per "
                                                                "64 bits (midpoint)",
                               "assumption": "the machine's DRAM is not measured"},
            "efficiency": {"value": 1.0, "source": f"{where}: the bandwidth is the measured rate"},
        },
        "power": {"idle": {"value": _fmt(idle_w, "W"), "assumption": power_note},
                  "max": {"value": _fmt(max(busy_w, idle_w), "W"), "assumption": power_note},
                  "mode": "as measured"},
        "launch_overhead": {"value": "5 us", "assumption": "a NumPy call's fixed cost (dispatch, allocation), a few us"},
        "attention_query_tile": {"value": 512, "assumption": "the functional engine's attention works in blocks "
                                                             "of 512 queries (neurosim.functional.forward.attention)"},
    }


def write_cpu_model(path: str, repeat: int = 5, name: str = "cpu-local", idle_w: float = 10.0,
                    busy_w: float = 65.0, **sizes: int) -> tuple[dict[str, Any], Measured]:
    """Measure this machine and write its CPU model to ``path`` (atomically); returns (file mapping, measurements).
    ``sizes``: :func:`measure`'s ``copy_mb``, ``n_fp32``, ``n_int8``, ``vector_kb``."""
    import yaml

    from neurosim.baseline.hardware import conventional_from_dict
    from neurosim.io import write_text_atomic

    m = measure(repeat=repeat, **sizes)
    data = cpu_model(m, name, idle_w, busy_w)
    conventional_from_dict(data, f"calibrated model {path}")  # what is written must load
    write_text_atomic(path, yaml.safe_dump(data, sort_keys=False, width=120))
    return data, m
