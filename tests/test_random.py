"""Random ops: the counter-based stream against a pure-Python port, statistics, seeding."""
import math

import numpy as np
import pytest

import engine
from tests.helpers import float64_supported, no_kernel_runs

MASK = 0xFFFFFFFF


def hash32(x):
    """lowbias32 in plain Python integers (independent of the kernels' NumPy uint32 code)."""
    x ^= x >> 16
    x = (x * 0x7FEB352D) & MASK
    x ^= x >> 15
    x = (x * 0x846CA68B) & MASK
    return x ^ (x >> 16)


def python_uniform(counter, seed):
    bits = hash32(hash32(counter & MASK) ^ hash32((seed + 0x9E3779B9) & MASK))
    return (bits >> 8) / 2 ** 24


def python_normal(counter, seed):
    u1, u2 = python_uniform(2 * counter, seed), python_uniform(2 * counter + 1, seed)
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


def python_truncated(counter, size, seed):
    for round_index in range(8):
        z = python_normal(counter + round_index * size, seed)
        if abs(z) <= 2.0:
            return z
    return max(-2.0, min(2.0, z))


def _float_dtype(backend):
    return "float64" if float64_supported(backend) else "float32"


def _tolerance(dtype):
    return dict(rtol=1e-12, atol=1e-12) if dtype == "float64" else dict(rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 7, 123456789, 2 ** 32 + 5, -3])
def test_streams_match_a_pure_python_port(backend, seed):
    dtype = _float_dtype(backend)
    size = 64
    uniform = engine.random_uniform((size,), -2.0, 3.0, dtype=dtype, seed=seed).numpy()
    normal = engine.random_normal((4, 16), 1.5, 0.5, dtype=dtype, seed=seed).numpy().ravel()
    truncated = engine.truncated_normal((size,), dtype=dtype, seed=seed).numpy()
    np.testing.assert_allclose(uniform, [-2.0 + 5.0 * python_uniform(i, seed)
                                         for i in range(size)], **_tolerance(dtype))
    np.testing.assert_allclose(normal, [1.5 + 0.5 * python_normal(i, seed)
                                        for i in range(size)], **_tolerance(dtype))
    np.testing.assert_allclose(truncated, [python_truncated(i, size, seed)
                                           for i in range(size)], **_tolerance(dtype))


def test_truncated_normal_redraws_by_rounds(backend):
    """Find elements whose first draw is out of range: they must take a later round's draw."""
    seed, size = 11, 4096
    redrawn = [i for i in range(size) if abs(python_normal(i, seed)) > 2.0]
    assert redrawn, "expected some first draws beyond two standard deviations"
    out = engine.truncated_normal((size,), seed=seed).numpy()
    np.testing.assert_allclose(out[redrawn], [python_truncated(i, size, seed) for i in redrawn],
                               rtol=1e-6, atol=1e-6)


def test_integer_uniform_is_the_floor_in_range(backend):
    out = engine.random_uniform((1000,), -3, 4, dtype="int32", seed=9)
    assert out.dtype == "int32"
    values = out.numpy()
    expected = [math.floor(-3 + 7 * python_uniform(i, 9)) for i in range(1000)]
    np.testing.assert_array_equal(values, expected)
    assert values.min() == -3 and values.max() == 3


@pytest.mark.parametrize("shape", [(), (0,), (1,), (3, 0, 2), (2, 3, 5)], ids=str)
def test_shapes_and_dtypes(backend, shape):
    for op in (engine.random_uniform, engine.random_normal, engine.truncated_normal):
        out = op(shape, seed=1)
        assert out.shape == shape and out.dtype == "float32"
        assert out.backend == backend


def test_statistics_of_one_hundred_thousand_samples(backend):
    n = 100_000
    uniform = engine.random_uniform((n,), 2.0, 6.0, seed=21).numpy().astype(np.float64)
    assert uniform.min() >= 2.0 and uniform.max() < 6.0
    assert abs(uniform.mean() - 4.0) < 0.02 and abs(uniform.var() - 16.0 / 12.0) < 0.02
    normal = engine.random_normal((n,), -1.0, 3.0, seed=22).numpy().astype(np.float64)
    assert abs(normal.mean() + 1.0) < 0.05 and abs(normal.std() - 3.0) < 0.03
    skew = np.mean(((normal + 1.0) / 3.0) ** 3)
    kurtosis = np.mean(((normal + 1.0) / 3.0) ** 4)
    assert abs(skew) < 0.05 and abs(kurtosis - 3.0) < 0.1
    truncated = engine.truncated_normal((n,), 0.5, 2.0, seed=23).numpy().astype(np.float64)
    assert np.abs(truncated - 0.5).max() <= 4.0 + 1e-5
    # The standard normal cut at +-2 has standard deviation 0.8796.
    assert abs(truncated.mean() - 0.5) < 0.03 and abs(truncated.std() / 2.0 - 0.8796) < 0.01


def test_same_seed_same_numbers_other_seed_other_numbers(backend):
    for op in (engine.random_uniform, engine.random_normal, engine.truncated_normal):
        first = op((100,), seed=5).numpy()
        np.testing.assert_array_equal(first, op((100,), seed=5).numpy())
        assert np.mean(first == op((100,), seed=6).numpy()) < 0.05


def test_set_seed_makes_unseeded_calls_repeatable(backend):
    engine.set_seed(1234)
    first = [engine.random_normal((10,)).numpy(), engine.random_uniform((10,)).numpy()]
    engine.set_seed(1234)
    again = [engine.random_normal((10,)).numpy(), engine.random_uniform((10,)).numpy()]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], engine.random_normal((10,)).numpy())
    assert engine.random.set_seed is engine.set_seed


@pytest.mark.parametrize("call, error, message", [
    (lambda: engine.random_uniform((2,), 1.0, 1.0), ValueError,
     r"Error in random_uniform: minval \(1.0\) must be less than maxval \(1.0\)"),
    (lambda: engine.random_uniform((2,), dtype="bool"), TypeError,
     r"Error in random_uniform: dtype must be a floating-point or integer dtype, got bool"),
    (lambda: engine.random_normal((2,), dtype="int32"), TypeError,
     r"Error in random_normal: dtype must be a floating-point dtype, got int32"),
    (lambda: engine.truncated_normal((2,), stddev=-1.0), ValueError,
     r"Error in truncated_normal: stddev must be >= 0"),
    (lambda: engine.random_normal((2, -1)), ValueError,
     r"Error in random_normal: shape must be non-negative ints, got \(2, -1\)"),
    (lambda: engine.random_uniform((2,), seed=1.5), TypeError,
     r"Error in random_uniform: seed must be an int, got 1.5"),
    (lambda: engine.set_seed("x"), TypeError, r"Error in set_seed: seed must be an int"),
], ids=["equal-bounds", "bool", "int-normal", "stddev", "shape", "seed", "set_seed"])
def test_bad_arguments_name_the_op_and_run_nothing(backend, call, error, message):
    with pytest.raises(error, match=message), no_kernel_runs():
        call()
