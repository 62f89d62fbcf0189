"""Fuzzing every input format through the CLI (see harness, formats, run; ``make fuzz``; docs/reliability.md)."""
