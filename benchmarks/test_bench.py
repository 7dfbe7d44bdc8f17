"""The workloads of workloads.py through pytest-benchmark (set up and timed as runner.py does:
first call apart, device work synchronised inside the timed call). Nothing here asserts a time."""
import pytest

from benchmarks import runner
from benchmarks.peers import NotAvailable


def test_workload(benchmark, case):
    workload, implementation = case
    try:
        call, first_call_s = runner.prepare(workload, implementation)
    except NotAvailable as error:
        pytest.skip(f"not available: {error}")
    benchmark.group = workload.name
    benchmark.extra_info.update(implementation=implementation.name, first_call_s=first_call_s,
                                flops=workload.flops, bytes=workload.bytes)
    synchronize = implementation.synchronize

    def timed():
        call()
        synchronize()

    benchmark(timed)
