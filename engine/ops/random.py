"""Random tensors from a counter-based generator: the same seed gives the same numbers on every
backend (the algorithm is written out in kernels/numpy/random.py).

Without a `seed`, each call draws a fresh 31-bit seed from a module-level generator, so
`set_seed(s)` makes a whole program's sequence of random ops repeatable (tf.random.set_seed).
"""
import numpy as np

from engine import dtypes, runtime, tracing
from engine.dispatch import run_source_kernel

__all__ = ["random_uniform", "random_normal", "truncated_normal", "set_seed"]

_SEEDS = {"generator": np.random.default_rng()}


def set_seed(seed):
    """Seed the generator that picks the seed of every random op called without one."""
    _SEEDS["generator"] = np.random.default_rng(_check_seed("set_seed", seed))


def _fresh_seed():
    return int(_SEEDS["generator"].integers(0, 2 ** 31))


def _op_seed(op_name, seed):
    if seed is None:
        seed = _fresh_seed()
        tracing.seed_drawn(seed, _fresh_seed)
        return seed
    return _check_seed(op_name, seed)


def _check_seed(op_name, seed):
    if not hasattr(seed, "__index__") or isinstance(seed, bool):
        raise TypeError(f"Error in {op_name}: seed must be an int, got {seed!r}")
    return int(seed)


def _check_shape(op_name, shape):
    shape = (shape,) if hasattr(shape, "__index__") else tuple(shape)
    if any(not hasattr(d, "__index__") or isinstance(d, bool) or d < 0 for d in shape):
        raise ValueError(f"Error in {op_name}: shape must be non-negative ints, got {shape}")
    return tuple(int(d) for d in shape)


def _check_dtype(op_name, dtype, allowed, wanted):
    dtype = dtypes.as_dtype(dtype)
    if dtype not in allowed:
        raise TypeError(f"Error in {op_name}: dtype must be {wanted}, got {dtype}")
    return dtype


def random_uniform(shape, minval=0, maxval=1, dtype="float32", seed=None):
    """Uniform values in [minval, maxval); an int dtype gives ints in that range."""
    dtype = _check_dtype("random_uniform", dtype, dtypes.FLOATS + dtypes.INTS,
                         "a floating-point or integer dtype")
    if not minval < maxval:
        raise ValueError(f"Error in random_uniform: minval ({minval}) must be less than maxval "
                         f"({maxval})")
    return run_source_kernel("RandomUniform", runtime.current(),
                             shape=_check_shape("random_uniform", shape),
                             seed=_op_seed("random_uniform", seed), minval=float(minval),
                             maxval=float(maxval), dtype=dtype)


def _normal(kernel_name, op_name, shape, mean, stddev, dtype, seed):
    dtype = _check_dtype(op_name, dtype, dtypes.FLOATS, "a floating-point dtype")
    if stddev < 0:
        raise ValueError(f"Error in {op_name}: stddev must be >= 0, got {stddev}")
    return run_source_kernel(kernel_name, runtime.current(), shape=_check_shape(op_name, shape),
                             seed=_op_seed(op_name, seed), mean=float(mean),
                             stddev=float(stddev), dtype=dtype)


def random_normal(shape, mean=0.0, stddev=1.0, dtype="float32", seed=None):
    """Normally distributed values (Box-Muller on the uniform stream)."""
    return _normal("RandomNormal", "random_normal", shape, mean, stddev, dtype, seed)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype="float32", seed=None):
    """Normal values redrawn until within two standard deviations of the mean."""
    return _normal("TruncatedNormal", "truncated_normal", shape, mean, stddev, dtype, seed)
