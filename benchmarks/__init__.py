"""Benchmarks for GitHub issue 5: training and inference throughput, robustness, and `reproduce.sh`."""
