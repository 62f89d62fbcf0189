"""neurosim: a neuromorphic hardware simulator and energy estimator for spiking language models.

The data path (see README): workload -> graph -> mapping -> engine -> counters -> energy -> report.
Importing the package is cheap and never pulls in lava, torch or the real-model packages.
"""

__version__ = "0.1.0"

from neurosim.errors import NeurosimError

__all__ = ["NeurosimError", "__version__"]
