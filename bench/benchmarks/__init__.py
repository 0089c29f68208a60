"""Benchmarks run by ``gridbench <area> bench`` (never timed tests)."""
