"""Design-space sweeps on Dask: workloads x hardware x mapping strategy x encoding settings x engine.

``spec`` validates the sweep file, ``evaluate`` runs one point (on a worker), ``runner`` fans points out on a
Dask cluster and keeps every finished point so an interrupted sweep resumes, ``plot`` draws the Pareto fronts.
"""

from neurosim.sweep.spec import SweepSpec, load_sweep, sweep_from_dict

__all__ = ["SweepSpec", "load_sweep", "sweep_from_dict"]
