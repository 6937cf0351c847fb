"""Benchmarks of the course: `python -m benchmarks` (or `make bench`)."""
