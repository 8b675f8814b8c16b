"""Benchmarks: run by hand (see bench/README.md), never inside the test suite."""
