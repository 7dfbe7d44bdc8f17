"""Registry, dispatch, backend selection and the tape."""
import numpy as np
import pytest

import engine
from engine import runtime
from tests.helpers import check_forward, check_gradients, random_array


def test_add_matches_numpy(backend):
    a, b = random_array((3, 4)), random_array((4,), seed=1)
    check_forward(engine.add, np.add, [a, b])


def test_mul_gradient_reduces_broadcast(backend):
    a, b = random_array((3, 4)), random_array((1, 4), seed=1)
    check_gradients(engine.mul, [a, b], backend)


def test_unknown_backend_lists_known_ones():
    with pytest.raises(ValueError, match="Unknown backend 'tpu'. Known backends: .*numpy"):
        engine.set_backend("tpu")


def test_missing_kernel_names_op_backend_and_where_it_exists():
    @engine.register_kernel("OnlyOnNumpyForTest", "numpy")
    def only(x):
        return x

    with pytest.raises(NotImplementedError,
                       match="Kernel 'Missing' is not registered for backend 'numpy'"):
        engine.dispatch.run_kernel("Missing", (engine.tensor([1.0], backend="numpy"),))
    assert "OnlyOnNumpyForTest" in engine.list_kernels("numpy")
    del engine.registry._KERNELS[("OnlyOnNumpyForTest", "numpy")]


def test_duplicate_kernel_registration_raises():
    with pytest.raises(ValueError, match="already registered"):
        engine.register_kernel("Add", "numpy")(lambda a, b: a)


def test_engine_backend_variable_is_read_at_first_use(monkeypatch):
    monkeypatch.setattr(runtime, "_state", {"current": None, "discovered": True})
    monkeypatch.setenv("ENGINE_BACKEND", "cpu")
    assert engine.get_backend() == "numpy"


def test_gradient_tape_watches_variables():
    w = engine.Variable([1.0, 2.0, 3.0])
    with engine.GradientTape() as tape:
        loss = engine.sum(w * w)
    np.testing.assert_allclose(tape.gradient(loss, w).numpy(), [2.0, 4.0, 6.0])


def test_non_persistent_tape_can_be_used_once():
    x = engine.tensor([1.0])
    with engine.GradientTape() as tape:
        tape.watch(x)
        y = x * 3.0
    tape.gradient(y, x)
    with pytest.raises(RuntimeError, match="only once"):
        tape.gradient(y, x)


def test_value_and_grad_returns_both():
    value, grads = engine.value_and_grad(lambda a, b: engine.sum(a * b), argnums=(0, 1))(
        engine.tensor([1.0, 2.0]), engine.tensor([3.0, 4.0]))
    assert value.item() == 11.0
    np.testing.assert_allclose(grads[0].numpy(), [3.0, 4.0])
    np.testing.assert_allclose(grads[1].numpy(), [1.0, 2.0])


def test_variable_assign_checks_shape_and_keeps_value_on_error():
    v = engine.Variable([1.0, 2.0], name="w")
    with pytest.raises(ValueError, match="Variable 'w'.*shape \\(3,\\)"):
        v.assign([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0])


def test_memory_counts_live_tensors():
    engine.zeros((1,), backend="numpy")
    before = engine.memory()["numpy"]["num_tensors"]
    keep = [engine.zeros((10,), backend="numpy") for _ in range(5)]
    assert engine.memory()["numpy"]["num_tensors"] >= before + 5
    del keep
