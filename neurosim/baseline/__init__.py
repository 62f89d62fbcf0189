"""The conventional baseline: a GPU or CPU running the same workload densely, as a roofline per layer.

* :mod:`.hardware`: conventional hardware models (``hwmodels/conventional/*.yaml``), every figure with its source
  or a stated assumption, validated like the neuromorphic ones;
* :mod:`.roofline`: the engine: per layer, compute time (the cost model's dense MACs and executed ops over the
  device's peak) against memory time (weights, activations and KV cache over its bandwidth), for a prefill or a
  decode step, at a precision (fp32, fp16, int8, int4), giving latency, throughput and energy per token;
* :mod:`.calibrate`: a CPU model measured on the machine running neurosim (NumPy timings).

It is an engine beside the analytic, event-driven, functional and Lava ones: it imports none of them.
"""

from neurosim.baseline.hardware import (
    PRECISIONS,
    ConventionalHardware,
    Precision,
    builtin_conventional,
    load_conventional,
)
from neurosim.baseline.roofline import Phase, RooflineResult, roofline

__all__ = ["PRECISIONS", "ConventionalHardware", "Phase", "Precision", "RooflineResult", "builtin_conventional",
           "load_conventional", "roofline"]
