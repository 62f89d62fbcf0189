"""The Lava bridge: lower spike-driven Linear + LIF layers to Loihi primitives and run them in Lava.

``neurosim.lava.lower`` (no Lava needed) lowers a neurosim graph to a :class:`~neurosim.snn.SpikingNetwork`;
``neurosim.lava.backend`` runs such a network in lava-nc 0.10 (Python 3.10 only), imported lazily. The network
model, its reference run and the engine comparison (``run_engine``, ``first_difference``) live in
:mod:`neurosim.snn`, which belongs to no engine.
"""

from neurosim.lava.lower import lower_graph, parse_lif_overrides, select_layers

__all__ = ["lower_graph", "parse_lif_overrides", "select_layers"]
