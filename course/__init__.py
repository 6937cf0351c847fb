"""Transformers from Scratch: the course's importable code (data, plots, grading)."""
