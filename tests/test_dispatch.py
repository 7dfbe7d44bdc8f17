"""The one dispatch path: each arity, attributes, and refusals before any kernel runs."""
import numpy as np
import pytest

import engine
from engine.dispatch import run_kernel
from tests.helpers import no_kernel_runs


def _tensors(*shapes):
    rng = np.random.default_rng(0)
    return [engine.tensor(rng.standard_normal(shape).astype(np.float32)) for shape in shapes]


def test_one_two_and_three_inputs_reach_the_kernel_in_order(backend):
    x, y = _tensors((3,), (3,))
    condition = engine.tensor([True, False, True])
    np.testing.assert_allclose(run_kernel("Neg", (x,)).numpy(), -x.numpy())
    np.testing.assert_allclose(run_kernel("Sub", (x, y)).numpy(), x.numpy() - y.numpy(),
                               rtol=1e-6)
    np.testing.assert_allclose(run_kernel("Select", (condition, x, y)).numpy(),
                               np.where(condition.numpy(), x.numpy(), y.numpy()))


def test_attributes_reach_the_kernel(backend):
    (x,) = _tensors((4,))
    out = run_kernel("LeakyRelu", (x,), alpha=0.5)
    expected = np.where(x.numpy() >= 0, x.numpy(), 0.5 * x.numpy())
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)


def test_outputs_are_plain_tensors_on_the_inputs_backend(backend):
    x, y = _tensors((2, 3), (2, 3))
    out = engine.add(x, y)
    assert type(out) is engine.Tensor
    assert out.backend == backend and out.shape == (2, 3) and out.dtype == "float32"


def test_same_dtype_tensors_of_unbroadcastable_shapes_are_refused(backend):
    x, y = _tensors((2, 3), (4,))
    with pytest.raises(ValueError, match=r"^Error in add: operands could not be broadcast "
                                         r"together with shapes \(2, 3\) and \(4,\)$"), \
            no_kernel_runs():
        engine.add(x, y)


@pytest.mark.parametrize("op, call", [
    ("Add", lambda here, there: engine.add(here, there)),
    ("Select", lambda here, there: engine.where(engine.tensor([True, False], backend="numpy"),
                                                here, there)),
], ids=["two-inputs", "three-inputs"])
def test_inputs_on_two_backends_are_refused_before_any_kernel(op, call):
    others = [name for name in engine.runtime.available_backends() if name != "numpy"]
    if not others:
        pytest.skip("needs a second backend")
    here = engine.tensor([1.0, 2.0], backend="numpy")
    there = engine.tensor([1.0, 2.0], backend=others[0])
    with pytest.raises(ValueError, match=rf"^Error in {op}: inputs live on different backends "
                                         rf"\('numpy' and '{others[0]}'\); move one with "
                                         rf"\.to\('numpy'\)$"), no_kernel_runs():
        call(here, there)
