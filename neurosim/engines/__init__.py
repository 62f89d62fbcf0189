"""Engines: analytic (closed form), events (SimPy), functional (NumPy); all emit the counters schema."""
