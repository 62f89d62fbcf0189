"""Interoperability with the SNN ecosystem: NIR (the Neuromorphic Intermediate Representation) in and out.

``nir_import`` turns a NIR file into a neurosim :class:`~neurosim.graph.Graph` plus its parameters (weights,
time constants) kept beside it; ``nirsim`` runs such a network in NumPy with stated discretisation; ``nir_export``
writes a neurosim graph as NIR and names in metadata every layer NIR cannot express. The ``nir`` package is
imported lazily (extra ``nir``), so ``import neurosim`` never needs it.
"""
