"""Reference building blocks of a transformer, one idea per module.

Chapters import them after building each piece by hand; the labs ask students to write
their own versions, and tests/test_nn_*.py check these against PyTorch's built-ins.
"""
