"""CLI command modules; each defines ``register(app)``. Heavy imports go inside the command functions."""
