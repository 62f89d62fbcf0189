"""Mapping spiking-LM graphs onto hardware models: partition -> place -> route (see docs/hardware_mapping.md).

Public API:
  map_graph(graph, hw, opts, placement)  -> Mapping
  load_mapping(path, hw=None)            -> Mapping (saved with Mapping.save / `neurosim map --out`)
  expected_traffic(graph, mapping, tokens) -> counters DataFrame (message, hop_onchip, hop_chip, barrier)
"""

from neurosim.mapping.mapper import PLACEMENTS, map_graph
from neurosim.mapping.model import (
    MAPPING_FORMAT_VERSION,
    PAYLOADS,
    PIECE_COLUMNS,
    ROLES,
    ROUTE_COLUMNS,
    CoreAddress,
    EdgeRoutes,
    LayerMapping,
    Mapping,
    Piece,
    load_mapping,
)
from neurosim.mapping.partition import STRATEGIES, PartitionOptions, min_cores_for_weights

__all__ = [
    "MAPPING_FORMAT_VERSION",
    "PAYLOADS",
    "PIECE_COLUMNS",
    "PLACEMENTS",
    "ROLES",
    "ROUTE_COLUMNS",
    "STRATEGIES",
    "CoreAddress",
    "EdgeRoutes",
    "LayerMapping",
    "Mapping",
    "PartitionOptions",
    "Piece",
    "expected_traffic",
    "load_mapping",
    "map_graph",
    "min_cores_for_weights",
]


def expected_traffic(graph, mapping, tokens=None):
    """Analytic expectation of network counts for ``tokens`` tokens (see :mod:`neurosim.mapping.traffic`)."""
    from neurosim.mapping.traffic import expected_traffic as _et

    return _et(graph, mapping, tokens)
