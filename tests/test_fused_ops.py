"""Fused ops (fused_matmul, fused_conv2d) and ReluGrad on every backend: forward against float64
NumPy formulas, gradients against finite differences, errors before any kernel runs, and the
Dense and Conv2D layers that use them: same values as the unfused formula, one kernel forward.
"""

import numpy as np
import pytest

import engine
from engine.dispatch import run_kernel
from tests.helpers import (check_forward, check_gradients, kernel_calls, no_kernel_runs,
                           random_array)
from tests.test_conv import reference_conv2d

ACTIVATIONS = {"linear": lambda z: z, "relu": lambda z: np.maximum(z, 0.0)}


def quarters(shape, seed):
    """Values on a grid of 1/4: products sum to multiples of 1/16 exactly."""
    return np.round(random_array(shape, seed, -1.0, 1.0) * 4) / 4


def off_grid_bias(size, seed):
    """Multiples of 1/16 plus 1/32: with `quarters` inputs, every pre-activation is at least
    1/32 away from ReLU's kink, further than finite differences step."""
    return np.round(random_array((size,), seed, -1.0, 1.0) * 16) / 16 + 1 / 32


# ---------------------------------------------------------------------------- fused_matmul

MATMUL_CASES = [  # (a shape, b shape, transpose_a, transpose_b)
    ((4, 3), (3, 5), False, False),
    ((3, 4), (3, 5), True, False),
    ((4, 3), (5, 3), False, True),
    ((3, 4), (5, 3), True, True),
    ((33, 17), (17, 19), False, False),  # ragged tiles on OpenCL
]


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("a_shape, b_shape, transpose_a, transpose_b", MATMUL_CASES, ids=str)
def test_fused_matmul_forward(backend, a_shape, b_shape, transpose_a, transpose_b, activation):
    n = b_shape[0] if transpose_b else b_shape[1]

    def reference(a, b, bias):
        a = a.T if transpose_a else a
        b = b.T if transpose_b else b
        return ACTIVATIONS[activation](a @ b + bias)

    check_forward(lambda a, b, bias: engine.fused_matmul(a, b, bias, activation, transpose_a,
                                                         transpose_b),
                  reference, [random_array(a_shape, 1), random_array(b_shape, 2),
                              random_array((n,), 3)], family="matmul")


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_fused_matmul_without_bias_is_matmul_then_activation(backend, activation):
    check_forward(lambda a, b: engine.fused_matmul(a, b, activation=activation),
                  lambda a, b: ACTIVATIONS[activation](a @ b),
                  [random_array((4, 3), 1), random_array((3, 5), 2)], family="matmul")


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("transpose_a, transpose_b", [(False, False), (True, True)])
def test_fused_matmul_gradients(backend, activation, transpose_a, transpose_b):
    a, b = quarters((3, 4), 1), quarters((4, 5), 2)
    arrays = [a.T.copy() if transpose_a else a, b.T.copy() if transpose_b else b,
              off_grid_bias(5, 3)]
    check_gradients(lambda a, b, bias: engine.fused_matmul(a, b, bias, activation, transpose_a,
                                                           transpose_b), arrays, backend)


@pytest.mark.parametrize("call, message", [
    (lambda: engine.fused_matmul(np.ones((2, 3, 4)), np.ones((4, 5)), np.ones(5)),
     "Error in fused_matmul: a and b must be matrices"),
    (lambda: engine.fused_matmul(np.ones((2, 3)), np.ones((4, 5)), np.ones(5)),
     r"Error in fused_matmul: inner shapes \(3\) and \(4\)"),
    (lambda: engine.fused_matmul(np.ones((2, 3)), np.ones((3, 5)), np.ones(3)),
     r"Error in fused_matmul: bias must have shape \(5,\)"),
    (lambda: engine.fused_matmul(np.ones((2, 3)), np.ones((3, 5)), np.ones(5), "tanh"),
     "Error in fused_matmul: activation must be one of"),
])
def test_fused_matmul_errors(backend, call, message):
    with pytest.raises(ValueError, match=message), no_kernel_runs():
        call()


# ---------------------------------------------------------------------------- fused_conv2d

CONV_CASES = [  # (x shape, filter shape, strides, padding, dilations)
    ((2, 7, 6, 3), (3, 3, 3, 4), 1, "valid", 1),
    ((2, 7, 6, 3), (3, 2, 3, 4), (2, 1), "same", 1),
    ((1, 8, 8, 2), (2, 2, 2, 3), 1, [[1, 0], [0, 1]], 2),
    ((2, 5, 5, 3), (1, 1, 3, 4), 1, "valid", 1),  # pointwise: one GEMM on numpy
    ((2, 6, 8, 1), (3, 3, 1, 4), 1, "same", 1),  # one channel: two cells per GEMM row on numpy
    ((64, 16, 16, 8), (3, 3, 8, 16), 1, "same", 1),  # several batch chunks on numpy
]


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("x_shape, f_shape, strides, padding, dilations", CONV_CASES, ids=str)
def test_fused_conv2d_forward(backend, x_shape, f_shape, strides, padding, dilations,
                              activation):
    def reference(x, f, bias):
        return ACTIVATIONS[activation](reference_conv2d(x, f, strides, padding, dilations) + bias)

    check_forward(lambda x, f, bias: engine.fused_conv2d(x, f, bias, strides, padding, dilations,
                                                         activation),
                  reference, [random_array(x_shape, 1), random_array(f_shape, 2),
                              random_array(f_shape[3:], 3)], family="conv")


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_fused_conv2d_without_bias_is_conv2d_then_activation(backend, activation):
    check_forward(lambda x, f: engine.fused_conv2d(x, f, padding="same", activation=activation),
                  lambda x, f: ACTIVATIONS[activation](reference_conv2d(x, f, 1, "same")),
                  [random_array((2, 5, 5, 3), 1), random_array((3, 3, 3, 2), 2)], family="conv")


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("strides, padding", [(1, "same"), (2, "valid")])
def test_fused_conv2d_gradients(backend, activation, strides, padding):
    arrays = [quarters((2, 5, 5, 2), 1), quarters((3, 3, 2, 3), 2), off_grid_bias(3, 3)]
    check_gradients(lambda x, f, bias: engine.fused_conv2d(x, f, bias, strides, padding,
                                                           activation=activation),
                    arrays, backend)


@pytest.mark.parametrize("call, error, message", [
    (lambda: engine.fused_conv2d(np.ones((1, 4, 4, 3)), np.ones((2, 2, 2, 5)), np.ones(5)),
     ValueError, r"Error in fused_conv2d: depth of input \(3\)"),
    (lambda: engine.fused_conv2d(np.ones((1, 4, 4, 3)), np.ones((2, 2, 3, 5)), np.ones(3)),
     ValueError, r"Error in fused_conv2d: bias must have shape \(5,\)"),
    (lambda: engine.fused_conv2d(np.ones((4, 4, 3)), np.ones((2, 2, 3, 5)), np.ones(5)),
     ValueError, "Error in fused_conv2d: x must be rank 4"),
    (lambda: engine.fused_conv2d(np.ones((1, 4, 4, 3)), np.ones((2, 2, 3, 5)), np.ones(5),
                                 activation="sigmoid"),
     ValueError, "Error in fused_conv2d: activation must be one of"),
    (lambda: engine.fused_conv2d(np.ones((1, 4, 4, 3), np.float32),
                                 np.ones((2, 2, 3, 5), np.float32), np.ones(5, np.int32)),
     TypeError, "Error in fused_conv2d: bias must be floating point"),
])
def test_fused_conv2d_errors(backend, call, error, message):
    with pytest.raises(error, match=message), no_kernel_runs():
        call()


# ---------------------------------------------------------------------------- ReluGrad

def test_relu_grad_kernel_matches_formula(backend):
    dy = random_array((5, 7), 1)
    y = np.maximum(random_array((5, 7), 2), 0.0)  # a relu output: zeros included
    check_forward(lambda dy, y: run_kernel("ReluGrad", (dy, y)),
                  lambda dy, y: np.where(y > 0, dy, 0.0), [dy, y], family="exact")


def test_relu_gradient_is_one_relu_grad_kernel(backend):
    x = engine.tensor([[-1.5, 0.0, 2.0], [0.5, -0.25, 3.0]])
    with engine.GradientTape() as tape:
        tape.watch(x)
        y = engine.relu(x)
    with kernel_calls() as calls:
        grad = tape.gradient(y, x, output_gradients=engine.tensor(np.full((2, 3), 2.0)))
    assert calls == ["ReluGrad"]
    np.testing.assert_array_equal(grad.numpy(), [[0, 0, 2], [2, 0, 2]])  # TF: 0 at x == 0


def test_relu_grad_gradient_masks_like_the_forward(backend):
    y = np.maximum(quarters((3, 4), 5), 0.0)
    check_gradients(lambda dy: run_kernel("ReluGrad", (dy, engine.tensor(y, dtype=dy.dtype))),
                    [random_array((3, 4), 6)], backend)


# ---------------------------------------------------------------------------- SigmoidGrad, TanhGrad

@pytest.mark.parametrize("op, activation, formula", [
    ("SigmoidGrad", lambda x: 1 / (1 + np.exp(-x)), lambda dy, y: dy * y * (1 - y)),
    ("TanhGrad", np.tanh, lambda dy, y: dy * (1 - y * y))])
def test_activation_grad_kernels_match_formulas_and_are_the_gradient(backend, op, activation,
                                                                     formula):
    dy, x = random_array((5, 7), 3), random_array((5, 7), 4, low=-3, high=3)
    y = activation(x.astype(np.float64)).astype(np.float32)
    check_forward(lambda dy, y: run_kernel(op, (dy, y)), formula, [dy, y])
    forward = getattr(engine, "sigmoid" if op == "SigmoidGrad" else "tanh")
    xt = engine.tensor(x)
    with engine.GradientTape() as tape:
        tape.watch(xt)
        out = forward(xt)
    with kernel_calls() as calls:
        tape.gradient(out, xt, output_gradients=engine.tensor(dy))
    assert calls == [op]
    check_gradients(lambda dy, y: run_kernel(op, (dy, y)), [dy, y], backend)


# ---------------------------------------------------------------------------- layers

def _built(layer, x):
    layer(x)  # builds the weights
    for weight in layer.weights:  # a nonzero bias, so that adding it shows
        weight.assign(random_array(weight.shape, weight.shape[-1]))
    return layer


def _composed_dense(x, layer, activation):
    return activation(engine.matmul(x, layer.kernel) + layer.bias)


@pytest.mark.parametrize("activation, function", [("relu", engine.relu), ("linear", None),
                                                  (engine.relu, engine.relu)], ids=str)
def test_dense_output_and_gradients_match_the_unfused_formula(backend, activation, function):
    function = function or (lambda z: z)
    x = engine.tensor(random_array((6, 4), 1))
    layer = _built(engine.layers.Dense(5, activation=activation), x)
    with engine.GradientTape(persistent=True) as tape:
        fused = engine.sum(layer(x) * engine.tensor(random_array((6, 5), 2)))
        composed = engine.sum(_composed_dense(x, layer, function)
                              * engine.tensor(random_array((6, 5), 2)))
    np.testing.assert_array_equal(fused.numpy(), composed.numpy())
    for got, want in zip(tape.gradient(fused, layer.weights),
                         tape.gradient(composed, layer.weights)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-7)


def test_dense_on_a_batch_of_sequences_matches_the_unfused_formula(backend):
    x = engine.tensor(random_array((2, 3, 4), 1))
    layer = _built(engine.layers.Dense(5, activation="relu"), x)
    want = engine.relu(engine.matmul(x, layer.kernel) + layer.bias)
    np.testing.assert_array_equal(layer(x).numpy(), want.numpy())


@pytest.mark.parametrize("activation", ["relu", "linear"])
@pytest.mark.parametrize("padding, strides", [("same", 1), ("valid", 2)])
def test_conv2d_layer_matches_the_unfused_formula(backend, activation, padding, strides):
    x = engine.tensor(random_array((2, 7, 7, 3), 1))
    layer = _built(engine.layers.Conv2D(4, 3, strides, padding, activation=activation), x)
    want = engine.activations.get(activation)(
        engine.conv2d(x, layer.kernel, strides, padding) + layer.bias)
    np.testing.assert_array_equal(layer(x).numpy(), want.numpy())


@pytest.mark.parametrize("make, x_shape, kernel", [
    (lambda: engine.layers.Dense(5, activation="relu"), (6, 4), "FusedMatMul"),
    (lambda: engine.layers.Conv2D(4, 3, activation="relu"), (2, 6, 6, 3), "FusedConv2D"),
], ids=["Dense", "Conv2D"])
def test_layer_with_bias_and_relu_runs_one_kernel_forward(backend, make, x_shape, kernel):
    x = engine.tensor(random_array(x_shape, 1))
    layer = make()
    layer(x)
    with kernel_calls() as calls:
        layer(x)
    assert calls == [kernel]


def test_other_activations_follow_the_fused_matmul_and_bias(backend):
    x = engine.tensor(random_array((6, 4), 1))
    layer = _built(engine.layers.Dense(5, activation="sigmoid"), x)
    with kernel_calls() as calls:
        y = layer(x)
    assert calls == ["FusedMatMul", "Sigmoid"]  # the bias added in the matmul's kernel
    np.testing.assert_array_equal(y.numpy(), _composed_dense(x, layer, engine.sigmoid).numpy())


@pytest.mark.parametrize("rows, channels", [(1, 3), (31, 8), (33, 8), (100, 1), (5, 300),
                                           (1000, 8), (1000, 3), (600, 1)])
def test_numpy_bias_epilogue_adds_in_long_runs_exactly(rows, channels):
    # The NumPy epilogue adds the bias repeated across several rows at once, the leftover rows
    # one by one: the same float32 additions as a broadcast add.
    from engine.kernels.numpy.fused import bias_and_activation

    rng = np.random.default_rng(rows + channels)
    out = rng.standard_normal((rows, channels)).astype(np.float32)
    bias = rng.standard_normal(channels).astype(np.float32)
    want = np.maximum(out + bias, 0)
    bias_and_activation(bias, "relu")(out)
    np.testing.assert_array_equal(out, want)
