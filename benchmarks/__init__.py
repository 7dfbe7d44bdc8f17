"""Benchmarks: the engine's backends against peers (NumPy, PyTorch, CuPy, CLBlast, tinygrad).

`python -m benchmarks` runs every workload of `workloads.py` on each available engine backend
and each installed peer, prints a table, and writes a JSON file and a PNG chart of the ratios.
`pytest benchmarks --benchmark-only` runs the same workloads through pytest-benchmark.
Benchmarks report; they never assert timings.
"""
