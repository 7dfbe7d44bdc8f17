"""Elementwise ops: every unary and binary op against float64 formulas written here, gradients
against finite differences, broadcasting and dtype properties, and the error messages."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from tests.helpers import (check_forward, check_gradients, float64_supported,
                           no_kernel_runs, random_array)

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
erf_reference = np.vectorize(math.erf, otypes=[np.float64])

# name: (op, float64 reference, input range, tolerance family)
UNARY = {
    "neg": (engine.neg, lambda x: 0.0 - x, (-3, 3), "elementwise"),
    "abs": (engine.abs, lambda x: np.where(x < 0, -x, x), (-3, 3), "elementwise"),
    "sign": (engine.sign, lambda x: (x > 0) * 1.0 - (x < 0) * 1.0, (-3, 3), "elementwise"),
    "exp": (engine.exp, lambda x: math.e ** x, (-5, 5), "transcendental"),
    "expm1": (engine.expm1, np.expm1, (-2, 2), "transcendental"),
    "log": (engine.log, np.log, (0.1, 5), "transcendental"),
    "log1p": (engine.log1p, lambda x: np.log(1.0 + x), (-0.5, 5), "transcendental"),
    "sqrt": (engine.sqrt, lambda x: x ** 0.5, (0.1, 5), "transcendental"),
    "rsqrt": (engine.rsqrt, lambda x: x ** -0.5, (0.1, 5), "transcendental"),
    "square": (engine.square, lambda x: x * x, (-3, 3), "elementwise"),
    "reciprocal": (engine.reciprocal, lambda x: 1.0 / x, (0.2, 3), "elementwise"),
    "sin": (engine.sin, np.sin, (-4, 4), "transcendental"),
    "cos": (engine.cos, np.cos, (-4, 4), "transcendental"),
    "tanh": (engine.tanh, lambda x: (np.exp(2 * x) - 1) / (np.exp(2 * x) + 1), (-4, 4),
             "transcendental"),
    "sigmoid": (engine.sigmoid, lambda x: 1.0 / (1.0 + np.exp(-x)), (-8, 8), "transcendental"),
    "relu": (engine.relu, lambda x: np.where(x > 0, x, 0.0), (-3, 3), "elementwise"),
    "relu6": (engine.relu6, lambda x: np.where(x < 0, 0.0, np.where(x > 6, 6.0, x)), (-3, 9),
              "elementwise"),
    "elu": (engine.elu, lambda x: np.where(x > 0, x, np.exp(x) - 1.0), (-3, 3),
            "transcendental"),
    "selu": (engine.selu, lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * (np.exp(x) - 1)),
             (-3, 3), "transcendental"),
    "softplus": (engine.softplus, lambda x: np.log(1.0 + np.exp(x)), (-10, 10), "transcendental"),
    "erf": (engine.erf, erf_reference, (-3, 3), "transcendental"),
    "floor": (engine.floor, lambda x: x - np.mod(x, 1.0), (-3, 3), "exact"),
    "ceil": (engine.ceil, lambda x: -(-x - np.mod(-x, 1.0)), (-3, 3), "exact"),
    "round": (engine.round, np.round, (-3, 3), "exact"),  # np.round: half to even
    "leaky_relu": (engine.leaky_relu, lambda x: np.where(x >= 0, x, 0.2 * x), (-3, 3),
                   "elementwise"),
    "gelu": (engine.gelu, lambda x: 0.5 * x * (1.0 + erf_reference(x / math.sqrt(2.0))),
             (-4, 4), "transcendental"),
    "gelu_tanh": (lambda x: engine.gelu(x, approximate=True),
                  lambda x: 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi)
                                                     * (x + 0.044715 * x ** 3))),
                  (-4, 4), "transcendental"),
}

EDGE_SHAPES = [(7,), (0,), (1, 1, 1), (3, 0, 2), (), (5, 3)]


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_matches_reference(backend, name):
    op, reference, (low, high), family = UNARY[name]
    for index, shape in enumerate(EDGE_SHAPES):
        x = random_array(shape, seed=index, low=low, high=high)
        check_forward(op, reference, [x], family)
    transposed = random_array((5, 3), seed=9, low=low, high=high).T  # non-contiguous input
    check_forward(op, reference, [transposed], family)


def away_from_kinks(shape, low, high, seed=0):
    """Random points whose fractional part avoids 0 and 0.5 (where abs, relu, relu6, floor,
    round and friends have kinks or jumps), so finite differences see a smooth function."""
    rng = np.random.default_rng(seed)
    whole = np.floor(rng.uniform(low, high - 1, size=shape))
    return whole + rng.choice([0.2, 0.3, 0.7, 0.8], size=shape)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_gradient(backend, name):
    op, _, (low, high), _ = UNARY[name]
    check_gradients(op, [away_from_kinks((3, 4), low, high)], backend)


def test_round_is_half_to_even_and_floor_ceil_on_negatives(backend):
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -0.3, 0.7, -1.7], dtype=np.float32)
    np.testing.assert_array_equal(engine.round(x).numpy(), [-2, -2, -0, 0, 2, 2, -0, 1, -2])
    np.testing.assert_array_equal(engine.floor(x).numpy(), [-3, -2, -1, 0, 1, 2, -1, 0, -2])
    np.testing.assert_array_equal(engine.ceil(x).numpy(), [-2, -1, -0, 1, 2, 3, -0, 1, -1])


def test_leaky_relu_alpha_and_integer_relu(backend):
    x = random_array((4, 5), low=-2, high=2)
    check_forward(lambda t: engine.leaky_relu(t, alpha=0.01),
                  lambda a: np.where(a >= 0, a, 0.01 * a), [x])
    ints = np.array([-3, 0, 4, 9], dtype=np.int32)
    out = engine.relu(ints)
    assert out.dtype == "int32"
    np.testing.assert_array_equal(out.numpy(), [0, 0, 4, 9])
    np.testing.assert_array_equal(engine.relu6(ints).numpy(), [0, 0, 4, 6])
    np.testing.assert_array_equal(engine.abs(ints).numpy(), [3, 0, 4, 9])
    np.testing.assert_array_equal(engine.neg(ints).numpy(), [3, 0, -4, -9])


def test_logical_and_special_value_predicates(backend):
    flags = np.array([[True, False], [False, True]])
    np.testing.assert_array_equal(engine.logical_not(flags).numpy(), ~flags)
    x = np.array([0.0, -np.inf, np.inf, np.nan, 1.5], dtype=np.float32)
    np.testing.assert_array_equal(engine.is_nan(x).numpy(), [False, False, False, True, False])
    np.testing.assert_array_equal(engine.is_finite(x).numpy(), [True, False, False, False, True])
    assert engine.is_nan(x).dtype == "bool"


@pytest.mark.parametrize("source, target, data, expected", [
    ("float32", "int32", [-1.7, -0.5, 0.5, 1.7, 2.0], [-1, 0, 0, 1, 2]),  # toward zero
    ("int32", "float32", [-3, 0, 7], [-3.0, 0.0, 7.0]),
    ("int32", "bool", [-3, 0, 7], [True, False, True]),
    ("bool", "float32", [True, False], [1.0, 0.0]),
    ("float32", "bool", [0.0, -0.5, 2.0], [False, True, True]),
    ("int32", "int64", [-3, 5], [-3, 5]),
], ids=str)
def test_cast(backend, source, target, data, expected):
    out = engine.cast(engine.tensor(data, dtype=source), target)
    assert out.dtype == target
    np.testing.assert_array_equal(out.numpy(), np.array(expected, dtype=target))


def test_cast_gradient_comes_back_in_the_input_dtype(backend):
    if not float64_supported(backend):
        pytest.skip(f"{backend} has no float64 to cast between float types")
    x = engine.tensor([0.1, -2.0, 3.5], dtype="float32")
    grad = engine.grad(lambda t: engine.sum(engine.cast(t, "float64") * 3.0))(x)
    assert grad.dtype == "float32"
    np.testing.assert_array_equal(grad.numpy(), [3.0, 3.0, 3.0])


def test_clip(backend):
    x = random_array((4, 7), low=-3, high=3).T
    check_forward(lambda t: engine.clip(t, -1.0, 0.5), lambda a: np.minimum(np.maximum(a, -1.0),
                                                                            0.5), [x])
    check_gradients(lambda t: engine.clip(t, -1.0, 0.5), [away_from_kinks((3, 4), -3, 3)],
                    backend)
    ints = engine.clip(engine.tensor([-5, 0, 5]), -2, 3)
    assert ints.dtype == "int32"
    np.testing.assert_array_equal(ints.numpy(), [-2, 0, 3])


# ---------------------------------------------------------------------------- binary ops

def _python_floor_div(a, b):
    return np.array([x // y for x, y in zip(a.ravel().tolist(), b.ravel().tolist())]
                    ).reshape(a.shape)


def _python_mod(a, b):
    return np.array([x % y for x, y in zip(a.ravel().tolist(), b.ravel().tolist())]
                    ).reshape(a.shape)


# name: (op, float64 reference, range of a, range of b, family)
BINARY = {
    "add": (engine.add, lambda a, b: a + b, (-3, 3), (-3, 3), "elementwise"),
    "sub": (engine.sub, lambda a, b: a - b, (-3, 3), (-3, 3), "elementwise"),
    "mul": (engine.mul, lambda a, b: a * b, (-3, 3), (-3, 3), "elementwise"),
    "div": (engine.div, lambda a, b: a / b, (-3, 3), (0.5, 3), "elementwise"),
    "pow": (engine.pow, lambda a, b: np.exp(b * np.log(a)), (0.2, 3), (-2, 2), "transcendental"),
    "maximum": (engine.maximum, lambda a, b: np.where(a >= b, a, b), (-3, 3), (-3, 3),
                "elementwise"),
    "minimum": (engine.minimum, lambda a, b: np.where(a <= b, a, b), (-3, 3), (-3, 3),
                "elementwise"),
    "squared_difference": (engine.squared_difference, lambda a, b: (a - b) * (a - b), (-3, 3),
                           (-3, 3), "elementwise"),
    "floor_div": (engine.floor_div, lambda a, b: np.floor(a / b), (-3, 3), (0.5, 2), "exact"),
    "mod": (engine.mod, lambda a, b: a - b * np.floor(a / b), (-3, 3), (0.5, 2), "elementwise"),
}
COMPARISONS = {
    "equal": (engine.equal, lambda a, b: a == b),
    "not_equal": (engine.not_equal, lambda a, b: a != b),
    "less": (engine.less, lambda a, b: a < b),
    "less_equal": (engine.less_equal, lambda a, b: a <= b),
    "greater": (engine.greater, lambda a, b: a > b),
    "greater_equal": (engine.greater_equal, lambda a, b: a >= b),
}
BROADCAST_SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((2, 1, 5), (3, 1)),
    ((1,), (2, 3)),
    ((), (2, 3)),
    ((5, 1), (1, 7)),
    ((0, 3), (1, 3)),
    ((0, 3), (3,)),
    ((1, 1), (1,)),
]


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_matches_reference_with_broadcasting(backend, name):
    op, reference, range_a, range_b, family = BINARY[name]
    for index, (shape_a, shape_b) in enumerate(BROADCAST_SHAPES):
        a = random_array(shape_a, seed=index, low=range_a[0], high=range_a[1])
        b = random_array(shape_b, seed=index + 50, low=range_b[0], high=range_b[1])
        check_forward(op, reference, [a, b], family)
    a = random_array((6, 3), low=range_a[0], high=range_a[1]).T  # non-contiguous inputs
    b = random_array((6, 1), seed=1, low=range_b[0], high=range_b[1]).T
    check_forward(op, reference, [a, b], family)


@pytest.mark.parametrize("name", sorted(COMPARISONS))
def test_comparisons_with_ties_and_broadcasting(backend, name):
    op, reference = COMPARISONS[name]
    a = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], dtype=np.float32)
    b = np.array([2.0, 2.0, 2.0], dtype=np.float32)
    for x, y in ((a, b), (b, a), (a.T, a.T[:, :1])):
        out = op(x, y)
        assert out.dtype == "bool"
        np.testing.assert_array_equal(out.numpy(), reference(x, y))
    ints = np.array([-1, 0, 4], dtype=np.int32)
    np.testing.assert_array_equal(op(ints, 0).numpy(), reference(ints, 0))


def test_logical_binary_ops(backend):
    a = np.array([[True, False], [True, True]])
    b = np.array([True, False])
    np.testing.assert_array_equal(engine.logical_and(a, b).numpy(), a & b)
    np.testing.assert_array_equal(engine.logical_or(a, b).numpy(), a | b)
    np.testing.assert_array_equal(engine.logical_and(a, True).numpy(), a)


def test_integer_division_follows_python(backend):
    a = np.array([7, -7, 7, -7, 0, 9, -9, 1], dtype=np.int32)
    b = np.array([2, 2, -2, -2, 3, 4, 4, 7], dtype=np.int32)
    quotient, remainder = engine.floor_div(a, b), engine.mod(a, b)
    assert quotient.dtype == remainder.dtype == "int32"
    np.testing.assert_array_equal(quotient.numpy(), _python_floor_div(a, b))
    np.testing.assert_array_equal(remainder.numpy(), _python_mod(a, b))
    true_division = engine.div(a, b)
    assert true_division.dtype == "float32"
    np.testing.assert_allclose(true_division.numpy(), [x / y for x, y in zip(a.tolist(),
                                                                             b.tolist())],
                               rtol=1e-7)


def test_float_floor_div_and_mod_with_negatives_follow_python(backend):
    a = np.array([7.5, -7.5, 7.5, -7.5, -0.25, 3.0], dtype=np.float32)
    b = np.array([2.0, 2.0, -2.0, -2.0, 1.0, 1.5], dtype=np.float32)
    np.testing.assert_array_equal(engine.floor_div(a, b).numpy(), _python_floor_div(a, b))
    np.testing.assert_allclose(engine.mod(a, b).numpy(), _python_mod(a, b), rtol=1e-6)


def test_integer_arithmetic_and_pow(backend):
    a = np.array([[2, -3, 0]], dtype=np.int32)
    b = np.array([[3], [2]], dtype=np.int32)
    for op, reference in ((engine.add, np.add), (engine.sub, np.subtract),
                          (engine.mul, np.multiply), (engine.pow, np.power),
                          (engine.maximum, np.maximum), (engine.minimum, np.minimum),
                          (engine.squared_difference, lambda x, y: (x - y) ** 2)):
        out = op(a, b)
        assert out.dtype == "int32", op.__name__
        np.testing.assert_array_equal(out.numpy(), reference(a.astype(np.int64), b), op.__name__)


def test_dtype_promotion_and_scalars(backend):
    ints, floats = engine.tensor([1, 2, 3]), engine.tensor([0.5, 0.5, 0.5])
    assert (ints + floats).dtype == "float32"
    np.testing.assert_allclose((ints + floats).numpy(), [1.5, 2.5, 3.5])
    assert (ints * 2).dtype == "int32" and (ints * 2.5).dtype == "float32"
    np.testing.assert_allclose((ints * 2.5).numpy(), [2.5, 5.0, 7.5])
    np.testing.assert_allclose((1.0 - floats).numpy(), [0.5, 0.5, 0.5])
    np.testing.assert_allclose((2 ** ints).numpy(), [2, 4, 8])


def test_where_broadcasts_all_three(backend):
    condition = np.array([[True], [False], [True]])
    a = random_array((3, 4), seed=1)
    b = random_array((4,), seed=2)
    check_forward(lambda c, x, y: engine.where(c, x, y),
                  lambda c, x, y: np.array([[x[i, j] if c[i, 0] else y[j] for j in range(4)]
                                            for i in range(3)]), [condition, a, b])
    np.testing.assert_array_equal(engine.where(condition, 1, 0).numpy(), [[1], [0], [1]])


# ---------------------------------------------------------------------------- gradients

GRADIENT_SHAPES = [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 4))]


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_gradients_reduce_broadcast_dims(backend, name):
    op, _, range_a, range_b, _ = BINARY[name]
    for shape_a, shape_b in GRADIENT_SHAPES:
        a = random_array(shape_a, seed=3, low=range_a[0], high=range_a[1]).astype(np.float64)
        b = random_array(shape_b, seed=4, low=range_b[0], high=range_b[1]).astype(np.float64)
        if name in ("maximum", "minimum"):  # keep a and b apart: ties are the kinks
            a = away_from_kinks(shape_a, -3, 3)
            b = np.floor(b) + 0.5
        if name in ("floor_div", "mod"):  # keep a / b off the integers, where they jump
            if len(shape_a) < len(shape_b) or 1 in shape_a:
                continue
            a = np.broadcast_to(b, shape_a) * away_from_kinks(shape_a, -3, 3)
        check_gradients(op, [a, b], backend)


def test_where_gradient_routes_dy(backend):
    condition = np.array([[True, False, True, False]])
    a, b = random_array((3, 4), seed=5), random_array((3, 1), seed=6)
    check_gradients(lambda x, y: engine.where(engine.tensor(condition), x, y), [a, b], backend)


def test_pow_gradient_for_the_exponent_at_zero_base_is_zero(backend):
    grads = engine.grad(lambda a, b: engine.sum(engine.pow(a, b)), argnums=(0, 1))(
        engine.tensor([0.0, 2.0]), engine.tensor([2.0, 3.0]))
    np.testing.assert_allclose(grads[0].numpy(), [0.0, 12.0])
    np.testing.assert_allclose(grads[1].numpy(), [0.0, 8.0 * math.log(2.0)], rtol=1e-6)


# ---------------------------------------------------------------------------- properties

@st.composite
def _broadcastable_shapes(draw):
    shape = draw(st.lists(st.integers(1, 4), min_size=0, max_size=4))
    other = [1 if draw(st.booleans()) else d for d in shape]
    other = other[draw(st.integers(0, len(other))):]
    return (tuple(shape), tuple(other)) if draw(st.booleans()) else (tuple(other), tuple(shape))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # backend is fixed per test
@given(shapes=_broadcastable_shapes(), seed=st.integers(0, 1000),
       name=st.sampled_from(["add", "sub", "mul", "maximum", "squared_difference"]))
def test_property_binary_broadcasting(backend, shapes, seed, name):
    op, reference, range_a, range_b, family = BINARY[name]
    a = random_array(shapes[0], seed=seed, low=range_a[0], high=range_a[1])
    b = random_array(shapes[1], seed=seed + 1, low=range_b[0], high=range_b[1])
    out = check_forward(op, reference, [a, b], family)
    assert out.shape == np.broadcast_shapes(*shapes)


# ---------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call, error, message", [
    (lambda: engine.add(np.ones((2, 3), np.float32), np.ones((4,), np.float32)), ValueError,
     r"^Error in add: operands could not be broadcast together with shapes \(2, 3\) and "
     r"\(4,\)$"),
    (lambda: engine.mul(engine.tensor(np.ones((2, 3), np.int32)), np.ones((3, 2), np.float32)),
     ValueError, r"Error in mul: operands could not be broadcast together with shapes"),
    (lambda: engine.where(engine.tensor([True, False, True]), engine.tensor([1, 2]),
                          np.ones((2,), np.float32)),
     ValueError, r"Error in where: operands could not be broadcast"),
    (lambda: engine.exp(engine.tensor([1, 2])), TypeError,
     r"Error in exp: expected a floating-point tensor, got int32"),
    (lambda: engine.gelu(engine.tensor([1, 2])), TypeError, r"Error in gelu: expected a "
                                                            r"floating-point tensor, got int32"),
    (lambda: engine.leaky_relu(engine.tensor([1, 2])), TypeError, r"Error in leaky_relu"),
    (lambda: engine.logical_and(engine.tensor([1.0]), engine.tensor([True])), TypeError,
     r"Error in logical_and: expected a bool tensor, got float32"),
    (lambda: engine.logical_not(engine.tensor([1.0])), TypeError, r"Error in logical_not"),
    (lambda: engine.sub(engine.tensor([True]), engine.tensor([False])), TypeError,
     r"Error in sub: expected a numeric tensor, got bool"),
    (lambda: engine.neg(engine.tensor([True])), TypeError, r"Error in neg: expected a numeric"),
    (lambda: engine.where(engine.tensor([1.0]), 1.0, 0.0), TypeError,
     r"Error in where: expected a bool tensor, got float32"),
    (lambda: engine.clip(engine.tensor([1.0]), 2.0, 1.0), ValueError,
     r"Error in clip: min_value \(2.0\) must be <= max_value \(1.0\)"),
    (lambda: engine.cast(engine.tensor([1.0]), "complex64"), TypeError,
     r"Unsupported dtype 'complex64'"),
], ids=["broadcast", "broadcast-mixed-dtypes", "where-broadcast", "exp-int", "gelu-int",
        "leaky-int", "and-float", "not-float", "sub-bool", "neg-bool", "where-condition",
        "clip-bounds", "cast-dtype"])
def test_bad_inputs_name_the_op_and_run_nothing(backend, call, error, message):
    with pytest.raises(error, match=message), no_kernel_runs():
        call()
