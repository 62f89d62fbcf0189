"""Workload specs (YAML) and the builders that turn them into graphs."""

from neurosim.workloads.builders import build_graph, load_graph
from neurosim.workloads.spec import WorkloadSpec, load_workload

__all__ = ["WorkloadSpec", "build_graph", "load_graph", "load_workload"]
