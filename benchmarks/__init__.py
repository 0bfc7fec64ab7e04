"""Performance measurements of the companion: inference, training, tools and notebooks.

Run ``python -m benchmarks --help``. Each measurement is a ratio of two timings taken in the
same process, so it stays meaningful on a machine shared with other work.
"""
