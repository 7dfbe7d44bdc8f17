"""pytest-benchmark front end: every (workload, implementation) pair of the suite as one test.

  pytest benchmarks --benchmark-only                       every workload, backend and peer
  pytest benchmarks --benchmark-only --bench-quick --bench-backend opencl
Results are grouped by workload, so the backends and peers of one workload sit side by side.
"""
import pytest

from benchmarks import peers, workloads


def pytest_addoption(parser):
    group = parser.getgroup("engine benchmarks")
    group.addoption("--bench-backend", action="append", default=None, metavar="NAME",
                    help="engine backend to measure (repeatable; default: all)")
    group.addoption("--bench-peers", nargs="*", default=None, metavar="PEER",
                    help="peers to run (default: those matching the backends)")
    group.addoption("--bench-quick", action="store_true", help="the --quick workload subset")
    group.addoption("--bench-workloads", nargs="+", default=None, metavar="TEXT",
                    help="only workloads whose name or group contains one of these")


def _implementations(config):
    """Started implementations, and the reasons of those that cannot start (once a session)."""
    if not hasattr(config, "_bench_implementations"):
        engines, missing = peers.engine_backends(config.getoption("--bench-backend"))
        classes = {impl.device_class for impl in engines}
        started, missing_peers = peers.start_peers(classes, config.getoption("--bench-peers"))
        config._bench_implementations = (engines + started, {**missing, **missing_peers})
    return config._bench_implementations


def pytest_generate_tests(metafunc):
    if "case" not in metafunc.fixturenames:
        return
    config = metafunc.config
    implementations, missing = _implementations(config)
    chosen = workloads.select(config.getoption("--bench-workloads"),
                              config.getoption("--bench-quick"))
    params = [pytest.param((workload, impl), id=f"{workload.name} | {impl.name}")
              for workload in chosen for impl in implementations
              if impl.family in workload.setups]
    params += [pytest.param(None, id=name, marks=pytest.mark.skip(reason=f"{name}: {reason}"))
               for name, reason in missing.items()]
    metafunc.parametrize("case", params)
