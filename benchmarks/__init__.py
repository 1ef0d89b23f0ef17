"""Benchmarks: every figure is reported as a ratio to a baseline measured in the same run."""
