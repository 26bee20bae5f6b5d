"""Synthetic scans of Vietnamese ID cards with ground truth, for tests and benchmarks."""
