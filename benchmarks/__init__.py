"""Benchmarks: the runner that wires scenarios, methods and metrics (``python -m benchmarks.run``)."""
