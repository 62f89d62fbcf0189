"""Lava tests run only where lava-nc is importable (its own Python 3.10 environment, `make test-lava`).

Elsewhere this folder is not collected at all, so the main suite neither imports Lava nor reports these tests.
"""

try:
    import lava.magma  # noqa: F401
except ImportError:  # the main (Python 3.11+) environment
    collect_ignore_glob = ["test_*.py"]
