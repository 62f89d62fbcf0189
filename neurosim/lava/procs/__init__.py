"""Lava processes defined by neurosim (kept alone in this folder: Lava imports every module beside a process
when it looks for its models)."""
