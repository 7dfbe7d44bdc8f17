"""`python -m engine.kernels`: print the op x backend coverage table."""
from engine.kernels import coverage_table

print(coverage_table())
