"""Benchmarks of the reaper: `make bench` (python -m bench.run_all). See docs/performance.md."""
