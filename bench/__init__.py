"""Benchmarks: one harness (bench/harness.py: the stack, load generation with wrk, CPU metering,
one report format) and its scenarios (bench/scenarios/). Run `python -m bench --help`."""
