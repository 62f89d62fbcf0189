"""Every default of a run, declared once: the CLI, the Python API (:mod:`neurosim.pipeline`), reports and sweeps
read them from here (a light module, so the CLI can show them in ``--help`` without importing the engines)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Defaults:
    """Every default of a run, in one place (the CLI, the Python API, reports and sweeps read these)."""

    convention: str = "real"  # the model as it is; "paper" is asked for by name
    energy: str = "paper-45nm"  # the papers' compute-only 45 nm table (paper-style figures)
    strategy: str = "output"  # partition: output-split (multicast spikes) or input-split
    placement: str = "locality"  # locality-aware placement (serpentine on request)
    mode: str = "statistical"  # event-driven input: spikes drawn from rates; exact: real spikes
    seed: int = 0
    sync: bool = True  # a barrier per time step (Loihi's lock-step)
    exact_tokens: int = 8  # tokens an exact run takes from the text when --tokens is not given


DEFAULTS = Defaults()
