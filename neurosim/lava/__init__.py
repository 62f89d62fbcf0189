"""The Lava bridge: lower spike-driven Linear + LIF layers to Loihi primitives and run them in Lava or in neurosim.

``neurosim.lava.network`` (no Lava needed) holds the network description, the graph lowering and the reference run
with neurosim's fixed-point neurons; ``neurosim.lava.backend`` runs the same network in lava-nc 0.10 (Python 3.10
only), imported lazily.
"""

from neurosim.lava.network import (
    Difference,
    NetworkTrace,
    Population,
    Projection,
    SpikeSource,
    SpikingNetwork,
    first_difference,
    lower_graph,
    run_engine,
    run_functional,
)

__all__ = [
    "Difference",
    "NetworkTrace",
    "Population",
    "Projection",
    "SpikeSource",
    "SpikingNetwork",
    "first_difference",
    "lower_graph",
    "run_engine",
    "run_functional",
]
