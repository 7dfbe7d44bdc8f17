"""Fused optimizer-update kernels (ApplyAdam, ApplyMomentum, ApplyRMSProp) on every backend,
stepped several times against float64 NumPy formulas of Keras 3's updates written here.

The optimizers' own behaviour (slots, weight decay, clipping, Keras configs) is tested in
test_optimizers.py; this file checks the kernels and that they leave their inputs untouched.
"""
import math

import numpy as np
import pytest

import engine
from engine.dispatch import run_kernel
from tests.helpers import float64_supported

STEPS = 5
SIZES = [(1,), (7,), (1000,), (3, 5, 2)]


def adam_reference(w, g, m, v, alpha, beta_1, beta_2, epsilon):
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g * g
    return w - alpha * m / (np.sqrt(v) + epsilon), m, v


def momentum_reference(w, g, m, learning_rate, momentum, nesterov):
    m = momentum * m - learning_rate * g
    return w + (momentum * m - learning_rate * g if nesterov else m), m


def rmsprop_reference(w, g, v, learning_rate, rho, epsilon):
    v = rho * v + (1 - rho) * g * g
    return w - learning_rate * g / np.sqrt(v + epsilon), v


def _adam_attrs(step):
    beta_1, beta_2, learning_rate = 0.9, 0.999, 0.01
    alpha = learning_rate * math.sqrt(1 - beta_2 ** step) / (1 - beta_1 ** step)
    return dict(alpha=alpha, beta_1=beta_1, beta_2=beta_2, epsilon=1e-7)


CASES = {
    "adam": ("ApplyAdam", 2, adam_reference, _adam_attrs),
    "momentum": ("ApplyMomentum", 1, momentum_reference,
                 lambda step: dict(learning_rate=0.05, momentum=0.9, nesterov=False)),
    "nesterov": ("ApplyMomentum", 1, momentum_reference,
                 lambda step: dict(learning_rate=0.05, momentum=0.8, nesterov=True)),
    "rmsprop": ("ApplyRMSProp", 1, rmsprop_reference,
                lambda step: dict(learning_rate=0.01, rho=0.9, epsilon=1e-7)),
}


@pytest.mark.parametrize("shape", SIZES, ids=str)
@pytest.mark.parametrize("case", sorted(CASES))
def test_kernel_steps_match_keras_formula(backend, case, shape):
    op, slot_count, reference, attrs_at = CASES[case]
    rng = np.random.default_rng(sum(shape))
    variable = rng.normal(size=shape).astype(np.float32)
    slots = [np.zeros(shape, np.float32) for _ in range(slot_count)]  # Keras starts slots at 0
    expected = [variable.astype(np.float64)] + [s.astype(np.float64) for s in slots]
    for step in range(1, STEPS + 1):
        gradient = rng.normal(0, 2.0, size=shape).astype(np.float32)
        inputs = [engine.tensor(a) for a in [variable, gradient, *slots]]
        outputs = run_kernel(op, inputs, **attrs_at(step))
        expected = reference(expected[0], gradient.astype(np.float64), *expected[1:],
                             **attrs_at(step))
        assert len(outputs) == 1 + slot_count
        for output, want in zip(outputs, expected):
            assert output.dtype == "float32" and output.shape == shape
            np.testing.assert_allclose(output.numpy(), want, rtol=2e-5, atol=1e-6)
        np.testing.assert_array_equal(inputs[0].numpy(), variable)  # inputs stay as they were
        np.testing.assert_array_equal(inputs[1].numpy(), gradient)
        variable, *slots = [output.numpy() for output in outputs]


@pytest.mark.parametrize("case", sorted(CASES))
def test_kernel_keeps_float64_in_float64(backend, case):
    if not float64_supported(backend):
        pytest.skip(f"{backend} has no float64 on this device")
    op, slot_count, reference, attrs_at = CASES[case]
    rng = np.random.default_rng(3)
    arrays = [rng.normal(size=(9,))] + [rng.uniform(0.1, 1.0, size=(9,))
                                        for _ in range(1 + slot_count)]
    outputs = run_kernel(op, [engine.tensor(a, dtype="float64") for a in arrays], **attrs_at(2))
    for output, want in zip(outputs, reference(*arrays, **attrs_at(2))):
        assert output.dtype == "float64"
        np.testing.assert_allclose(output.numpy(), want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("optimizer, op", [
    (lambda: engine.optimizers.Adam(), "ApplyAdam"),
    (lambda: engine.optimizers.AdamW(), "ApplyAdam"),
    (lambda: engine.optimizers.SGD(momentum=0.9), "ApplyMomentum"),
    (lambda: engine.optimizers.RMSprop(), "ApplyRMSProp"),
])
def test_optimizers_run_one_fused_kernel_per_variable(backend, optimizer, op, monkeypatch):
    from engine.optimizers import base

    calls = []
    monkeypatch.setattr(base, "run_kernel",
                        lambda name, *args, **kwargs: calls.append(name) or
                        run_kernel(name, *args, **kwargs))
    variables = [engine.Variable(np.ones(shape, np.float32)) for shape in ((4, 3), (3,))]
    optimizer().apply_gradients((engine.ones_like(v), v) for v in variables)
    assert calls == [op, op]


@pytest.mark.parametrize("optimizer, slot_decays", [
    (lambda: engine.optimizers.Adam(), {"momentum": 0.9, "velocity": 0.999}),
    (lambda: engine.optimizers.SGD(momentum=0.9), {"momentum": 0.9}),
    (lambda: engine.optimizers.RMSprop(rho=0.9), {"velocity": 0.9}),
])
def test_optimizers_zero_subnormal_slots_every_few_steps(backend, optimizer, slot_decays):
    # A dead unit's momentum decays into the subnormal range and sticks there (m (1 - b1)
    # rounds to nothing), making every later pass over the slot 50-100x slower on x86.
    from engine.optimizers.base import FLUSH_EVERY

    tiny = np.finfo(np.float32).tiny
    values = np.array([0, 3e-45, 1e-40, tiny / 2, tiny, 1e-35, 1e-20, 0.5], np.float32)
    variable = engine.Variable(np.ones_like(values))
    optimizer = optimizer()
    optimizer.build([variable])
    slots = [optimizer.slot(variable, name) for name in slot_decays]
    for slot in slots:
        slot.assign(values)

    def subnormal_counts():
        return [int(np.sum((s.numpy() != 0) & (np.abs(s.numpy()) < tiny))) for s in slots]

    for _ in range(FLUSH_EVERY - 1):
        optimizer.apply_gradients([(engine.zeros_like(variable), variable)])
    assert all(subnormal_counts())  # stuck where Keras's formulas leave them
    before = [s.numpy() for s in slots]
    optimizer.apply_gradients([(engine.zeros_like(variable), variable)])
    assert subnormal_counts() == [0] * len(slots)
    for slot, old, decay in zip(slots, before, slot_decays.values()):
        normal = np.abs(old) >= tiny  # decay as the formula says, to the flush's one rounding
        np.testing.assert_allclose(slot.numpy()[normal], old[normal] * decay, rtol=1e-6,
                                   atol=2 * tiny)
