"""Every op of the contract has a kernel on every backend, and nothing is registered off-contract.

Kernel modules import without their backend's library, so this checks every backend on any
machine. It prints the coverage table (run with -s to see it).
"""
import pytest

from engine.kernel_names import OPS, OPTIMIZER_UPDATES
from engine.kernels import BACKEND_PACKAGES, coverage_table, load_all
from engine.registry import list_kernels

load_all()


def test_coverage_table_prints():
    table = coverage_table()
    print("\n" + table)
    assert table.splitlines()[-1].startswith("| total |")


@pytest.mark.parametrize("backend_name", BACKEND_PACKAGES)
def test_every_contract_op_has_a_kernel(backend_name):
    missing = sorted(set(OPS) - set(list_kernels(backend_name)))
    assert not missing, f"backend '{backend_name}' lacks kernels for: {', '.join(missing)}"


def test_no_kernel_outside_the_contract():
    extra = sorted(set(list_kernels()) - set(OPS))
    assert not extra, f"kernels registered but not in engine/kernel_names.py: {extra}"


def test_every_float_op_with_inputs_has_a_gradient_or_is_declared_flat():
    from engine.registry import list_gradients

    # Ops whose outputs are integer/bool, that make new values from attributes only, or that
    # update optimizer state.
    not_differentiable = {"LogicalNot", "IsNan", "IsFinite", "Equal", "NotEqual", "Less",
                          "LessEqual", "Greater", "GreaterEqual", "LogicalAnd", "LogicalOr",
                          "All", "Any", "ArgMax", "ArgMin", "OneHot", "Fill", "Range",
                          "RandomUniform", "RandomNormal", "TruncatedNormal",
                          *OPTIMIZER_UPDATES}
    import engine  # noqa: F401  (registers the gradients)

    missing = sorted(set(OPS) - not_differentiable - set(list_gradients()))
    assert not missing, f"ops without a registered gradient: {', '.join(missing)}"
