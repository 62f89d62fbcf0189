"""The event-driven simulator: a SimPy model of the mapped cores, links and barriers (see docs/events.md)."""
