"""Orthogonal rotations for the spike encoders (seed 002 sec. 4.1, after QuaRot).

A Walsh-Hadamard rotation is used where the width is ``m x 2^k`` with a known Hadamard matrix of order ``m``:
Sylvester for ``m = 1``, Paley's first construction (order ``q + 1``, prime ``q = 3 mod 4``) or Paley's second
(order ``2(q + 1)``, prime ``q = 1 mod 4``). The rotation is ``(H_m (x) H_2^k) / sqrt(n)`` and is applied as two
small matrix products (``m^2 + 4^k`` entries stored, ``n (m + 2^k)`` multiply-adds per token), never as a dense
``n x n`` matrix. Other widths fall back to a seeded random orthogonal matrix (QR of a Gaussian matrix, signs fixed
by ``diag(R)``), which costs a dense product. :attr:`Rotation.method` says which was used.

Prime powers (``q = 27, 25, ...``) would need finite-field arithmetic and are not constructed; such widths find
another factorisation or fall back to the random matrix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from neurosim.cost import MAX_PALEY_ORDER, _is_prime, hadamard_construction, hadamard_factorisation  # noqa: F401 (re-exported)
from neurosim.errors import NeurosimError

#: Sylvester factors up to this order are applied as a dense matmul (BLAS); larger ones with butterflies
DENSE_SYLVESTER_MAX = 512


def _legendre_table(q: int) -> np.ndarray:
    """chi(a) for a in 0..q-1: 0 at 0, +1 for quadratic residues, -1 otherwise (q an odd prime)."""
    chi = -np.ones(q, dtype=np.int8)
    squares = (np.arange(1, q, dtype=np.int64) ** 2) % q
    chi[squares] = 1
    chi[0] = 0
    return chi


def _jacobsthal(q: int) -> np.ndarray:
    idx = np.arange(q)
    return _legendre_table(q)[(idx[None, :] - idx[:, None]) % q]


def sylvester(order: int) -> np.ndarray:
    """The Sylvester-Hadamard matrix of a power-of-two order (entries +-1, int8)."""
    if order < 1 or order & (order - 1):
        raise NeurosimError(f"Sylvester order {order} is not a power of two")
    h = np.ones((1, 1), dtype=np.int8)
    while h.shape[0] < order:
        h = np.block([[h, h], [h, -h]])
    return h


def paley1(q: int) -> np.ndarray:
    """Paley I: order q + 1 for a prime q = 3 (mod 4)."""
    if not (_is_prime(q) and q % 4 == 3):
        raise NeurosimError(f"Paley I needs a prime q = 3 (mod 4); got q = {q}")
    n = q + 1
    s = np.zeros((n, n), dtype=np.int8)
    s[0, 1:] = 1
    s[1:, 0] = -1
    s[1:, 1:] = _jacobsthal(q)
    return s + np.eye(n, dtype=np.int8)


def paley2(q: int) -> np.ndarray:
    """Paley II: order 2(q + 1) for a prime q = 1 (mod 4)."""
    if not (_is_prime(q) and q % 4 == 1):
        raise NeurosimError(f"Paley II needs a prime q = 1 (mod 4); got q = {q}")
    n = q + 1
    c = np.zeros((n, n), dtype=np.int8)
    c[0, 1:] = 1
    c[1:, 0] = 1
    c[1:, 1:] = _jacobsthal(q)
    zero_blk = np.array([[1, -1], [-1, -1]], dtype=np.int8)
    one_blk = np.array([[1, 1], [1, -1]], dtype=np.int8)
    return np.kron(c, one_blk) + np.kron((c == 0).astype(np.int8), zero_blk)


def known_hadamard(m: int) -> tuple[np.ndarray, str] | None:
    """A Hadamard matrix of order m from the constructions above, with its name, or None."""
    name = hadamard_construction(m)
    if name is None:
        return None
    if name.startswith("sylvester"):
        return sylvester(m), name
    q = int(name.split("q=")[1].rstrip(")"))
    return (paley1(q) if name.startswith("paley1") else paley2(q)), name


def _fwht(y: np.ndarray) -> np.ndarray:
    """Unnormalised fast Walsh-Hadamard transform of the last axis (a power of two): log2(p) butterfly passes."""
    lead, p = y.shape[:-1], y.shape[-1]
    h = 1
    while h < p:
        z = y.reshape(*lead, p // (2 * h), 2, h)
        y = np.stack([z[..., 0, :] + z[..., 1, :], z[..., 0, :] - z[..., 1, :]], axis=-2).reshape(*lead, p)
        h *= 2
    return y


@lru_cache(maxsize=32)
def _random_orthogonal(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))[None, :]
    return q


@dataclass
class Rotation:
    """An orthogonal rotation R of width n, applied to the last axis: ``apply(x) = x @ R^T``.

    ``method`` names the construction: ``identity``, ``hadamard: paley2(q=17) x sylvester(16)``,
    ``random-orthogonal(seed=0)``. A randomized Hadamard (QuaRot's choice) is ``H D / sqrt(n)`` with ``D`` a seeded
    diagonal of random signs, applied to x before H; its method ends with ``, random signs (seed=s)``.
    """

    n: int
    method: str
    left: np.ndarray | None = None  # H_m / sqrt(m) (float64) for Hadamard; the dense R for random
    p: int = 1  # the Sylvester factor 2^k of a Hadamard rotation
    signs: np.ndarray | None = None  # the +-1 diagonal D of a randomized Hadamard
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def is_hadamard(self) -> bool:
        return self.method.startswith("hadamard")

    def _mats(self, dtype: np.dtype) -> tuple[np.ndarray | None, np.ndarray | None]:
        key = np.dtype(dtype).str
        if key not in self._cache:
            right_t = None
            if self.is_hadamard and 1 < self.p <= DENSE_SYLVESTER_MAX:
                right_t = (sylvester(self.p).T / math.sqrt(self.p)).astype(dtype)
            self._cache[key] = (None if self.left is None else self.left.astype(dtype), right_t)
        return self._cache[key]

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Rotate the last axis of x (any leading shape); float32 in, float32 out."""
        if x.shape[-1] != self.n:
            raise NeurosimError(f"rotation of width {self.n} applied to an activation of width {x.shape[-1]}")
        if self.method == "identity":
            return x
        dtype = np.dtype(x.dtype if x.dtype in (np.float32, np.float64) else np.float32)
        left, right_t = self._mats(dtype)
        lead = x.shape[:-1]
        if not self.is_hadamard:
            return (x.reshape(-1, self.n).astype(dtype, copy=False) @ left.T).reshape(*lead, self.n)
        m, p = left.shape[0], self.p
        if self.signs is not None:
            x = x * self.signs.astype(dtype)
        y = x.reshape(-1, p).astype(dtype, copy=False)  # rows of (token, i), columns j: x[i * p + j]
        if right_t is not None:
            y = y @ right_t
        elif p > 1:
            y = _fwht(y) * dtype.type(1.0 / math.sqrt(p))
        if m > 1:  # H_m on the i axis as one GEMM over (token, j) rows
            yt = np.ascontiguousarray(y.reshape(-1, m, p).transpose(0, 2, 1)).reshape(-1, m)
            y = np.ascontiguousarray((yt @ left.T).reshape(-1, p, m).transpose(0, 2, 1))
        return y.reshape(*lead, self.n)

    def matrix(self) -> np.ndarray:
        """The dense n x n matrix R (float64); for tests and small widths."""
        return self.apply(np.eye(self.n, dtype=np.float64)).T


@lru_cache(maxsize=64)
def rotation_for(n: int, kind: str = "hadamard", seed: int = 0) -> Rotation:
    """The rotation an encoder of width n uses: ``hadamard`` (falls back to random), ``random`` or ``none``.

    ``seed`` 0 gives the plain Hadamard matrix; another seed randomizes its signs (``H D``), which leaves it
    orthogonal and as cheap, and draws a different member of the family (for spreads over rotations). Kept: every
    run of a model asks again for the same few widths, so one object (its matrices read-only) serves them all.
    """
    rot = _rotation(n, kind, seed)
    for a in (rot.left, rot.signs):
        if a is not None:
            a.setflags(write=False)
    return rot


def _rotation(n: int, kind: str, seed: int) -> Rotation:
    if kind == "none":
        return Rotation(n, "identity")
    if kind not in ("hadamard", "random"):
        raise NeurosimError(f"rotation = {kind!r}; allowed: hadamard, random, none")
    if kind == "hadamard":
        fac = hadamard_factorisation(n)
        if fac is not None:
            m, p = fac
            hm = known_hadamard(m)
            assert hm is not None
            mat_m, name_m = hm
            left = mat_m.astype(np.float64) / math.sqrt(m)
            name = name_m if p == 1 else (f"sylvester({p})" if m == 1 else f"{name_m} x sylvester({p})")
            if seed:
                signs = np.random.default_rng(seed).choice(np.array([-1.0, 1.0]), size=n)
                return Rotation(n, f"hadamard: {name}, random signs (seed={seed})", left, p, signs)
            return Rotation(n, f"hadamard: {name}", left, p)
    return Rotation(n, f"random-orthogonal(seed={seed})", _random_orthogonal(n, seed))
