"""Tensor creation, dtypes, conversion, operators and DLPack."""
import numpy as np
import pytest

import engine


def test_float_data_defaults_to_float32_and_ints_to_int32(backend):
    assert engine.tensor([1.0, 2.0]).dtype == "float32"
    assert engine.tensor(np.arange(3, dtype=np.float64)).dtype == "float32"
    assert engine.tensor([1, 2]).dtype == "int32"
    assert engine.tensor([True, False]).dtype == "bool"
    assert engine.tensor([1, 2], dtype="float16").dtype == "float16"


def test_tensor_attributes(backend):
    x = engine.tensor(np.ones((2, 3, 4)))
    assert (x.shape, x.ndim, x.size, x.backend) == ((2, 3, 4), 3, 24, backend)
    assert x.numpy().shape == (2, 3, 4) and np.asarray(x).dtype == np.float32
    assert engine.tensor([[5.0]]).item() == 5.0
    assert "shape=(2, 3, 4)" in repr(x) and f"backend={backend}" in repr(x)


def test_item_of_many_elements_raises(backend):
    with pytest.raises(ValueError, match="item\\(\\) needs a tensor of one element"):
        engine.tensor([1.0, 2.0]).item()


def test_creation_functions_match_numpy(backend):
    np.testing.assert_array_equal(engine.zeros((2, 3)).numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(engine.ones((2,), dtype="int32").numpy(), [1, 1])
    np.testing.assert_array_equal(engine.full((2, 2), 7.5).numpy(), np.full((2, 2), 7.5))
    np.testing.assert_array_equal(engine.arange(5).numpy(), np.arange(5))
    np.testing.assert_allclose(engine.arange(0.5, 2.0, 0.5).numpy(), [0.5, 1.0, 1.5])
    np.testing.assert_allclose(engine.linspace(0, 1, 5).numpy(), np.linspace(0, 1, 5))
    np.testing.assert_array_equal(engine.eye(3, 4).numpy(), np.eye(3, 4))
    x = engine.tensor([[1.0, 2.0]])
    assert engine.zeros_like(x).shape == (1, 2) and engine.ones_like(x).numpy().sum() == 2


def test_python_operators_match_numpy(backend):
    a = np.array([[1.5, -2.0], [3.0, 4.0]], np.float32)
    b = np.array([0.5, 3.0], np.float32)
    x, y = engine.tensor(a), engine.tensor(b)
    cases = [(x + y, a + b), (x - y, a - b), (x * y, a * b), (x / y, a / b),
             (x // y, a // b), (x % y, a % b), (x ** 2, a ** 2), (-x, -a), (2 - x, 2 - a),
             (x @ x, a @ a), (abs(x), np.abs(a)), (x > y, a > b), (x <= 1.5, a <= 1.5),
             (x == y, a == b), (x != y, a != b)]
    for got, want in cases:
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)


def test_scalar_operands_keep_the_tensor_dtype(backend):
    assert (engine.tensor([1, 2]) * 3).dtype == "int32"
    assert (engine.tensor([1, 2]) * 0.5).dtype == "float32"
    assert (engine.tensor([1.0], dtype="float16") + 1.0).dtype == "float16"


def test_mixed_dtypes_promote_to_the_wider(backend):
    assert (engine.tensor([1, 2]) + engine.tensor([0.5, 0.5])).dtype == "float32"


def test_to_numpy_backend_round_trip(backend):
    x = engine.tensor([[1.0, 2.0]])
    np.testing.assert_array_equal(x.to("numpy").to(backend).numpy(), [[1.0, 2.0]])


def test_dlpack_from_and_to_numpy():
    engine.set_backend("numpy")
    source = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = engine.from_dlpack(source)
    np.testing.assert_array_equal(x.numpy(), source)
    np.testing.assert_array_equal(np.from_dlpack(x), source)


def test_dlpack_with_torch():
    torch = pytest.importorskip("torch")
    engine.set_backend("numpy")
    t = torch.arange(4, dtype=torch.float32)
    x = engine.from_dlpack(t)
    np.testing.assert_array_equal(x.numpy(), [0, 1, 2, 3])
    back = torch.from_dlpack(engine.tensor([1.0, 2.0]))
    assert back.tolist() == [1.0, 2.0]


class _CudaArrayStandIn:
    """Reports DLPack device kDLCUDA, as a CuPy array or torch.cuda tensor does."""

    def __dlpack_device__(self):
        return (2, 0)


def test_implicit_conversion_of_device_arrays_is_refused():
    with pytest.raises(TypeError, match="on a device implicitly; use engine.from_dlpack"):
        engine.tensor(_CudaArrayStandIn())


def test_cpu_torch_tensors_convert_as_host_data():
    torch = pytest.importorskip("torch")
    np.testing.assert_array_equal(engine.tensor(torch.arange(3.0)).numpy(), [0.0, 1.0, 2.0])


def test_unsupported_dtype_is_named():
    with pytest.raises(TypeError, match="Unsupported dtype 'complex64'"):
        engine.tensor([1.0], dtype="complex64")


def test_variable_item_follows_every_assign(backend):
    # item() is served from a host copy until an assign replaces the value.
    step = engine.Variable(0, trainable=False, dtype="int32")
    assert step.item() == 0
    step.assign_add(1)
    assert step.item() == 1
    step.assign(7)
    assert step.item() == 7 and step.item() == int(step.numpy())
    rate = engine.Variable(0.5, trainable=False)
    rate.assign(0.25)
    assert rate.item() == 0.25
