"""Benchmarks: never part of the test run. Each prints its figure beside a
bare baseline measured in the same run (see docs/benchmarks.md)."""
