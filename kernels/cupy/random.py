"""CuPy random kernels: the counter-based generator of kernels/numpy/random.py, one CUDA thread
per output element, so a seed gives the same numbers as on NumPy.

The uint32 hash is the documented lowbias32 (unsigned int arithmetic wraps mod 2**32 in CUDA
as the NumPy port's uint32 arrays do); the float arithmetic is double, then one cast to the
output dtype, as on NumPy. The element counter is the flat C-order index `i`.
"""
import numpy as np

from engine.backends import cupy_backend
from engine.kernels.cupy.elementwise import define_fused, fused
from engine.registry import register_kernel

_TRUNCATION_ROUNDS = 8
_TRUNCATION_BOUND = 2.0

_PREAMBLE = r"""
__device__ unsigned int engine_hash32(unsigned int x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

// uniform(counter) in [0, 1): 24 random bits.
__device__ double engine_uniform(unsigned int counter, unsigned int key) {
  return (double)(engine_hash32(engine_hash32(counter) ^ key) >> 8) * 5.9604644775390625e-08;
}

// The Box-Muller z of normal counter j, from uniform(2j) and uniform(2j + 1).
__device__ double engine_normal(unsigned int counter, unsigned int key) {
  unsigned int first = counter * 2u;
  double u1 = engine_uniform(first, key);
  double u2 = engine_uniform(first + 1u, key);
  return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}
"""

_OPERATIONS = {
    "uniform": """
        double v = low + span * engine_uniform((unsigned int)i, key);
        y = is_integer ? (T)floor(v) : (T)v;""",
    "normal": "y = (T)(low + span * engine_normal((unsigned int)i, key));",
    "truncated_normal": f"""
        double z = 0.0;
        for (unsigned int attempt = 0; attempt < {_TRUNCATION_ROUNDS}u; ++attempt) {{
          z = engine_normal((unsigned int)i + attempt * size, key);
          if (fabs(z) <= {_TRUNCATION_BOUND!r}) break;
        }}
        z = fmin(fmax(z, -{_TRUNCATION_BOUND!r}), {_TRUNCATION_BOUND!r});
        y = (T)(low + span * z);""",
}


_KERNELS = {name: define_fused(f"random_{name}", operation,
                               "uint32 key, float64 low, float64 span, uint32 size, "
                               "bool is_integer", preamble=_PREAMBLE)
            for name, operation in _OPERATIONS.items()}


def stream_key(seed):
    """hash32((seed + 0x9e3779b9) mod 2**32), computed on the host (no device work)."""
    x = (seed + 0x9E3779B9) % 2 ** 32
    for shift, multiplier in ((16, 0x7FEB352D), (15, 0x846CA68B)):
        x = ((x ^ (x >> shift)) * multiplier) % 2 ** 32
    return np.uint32(x ^ (x >> 16))


def _generate(name, shape, seed, low, span, dtype):
    cp = cupy_backend.cp
    out = cp.empty(shape, dtype=dtype)
    size = np.uint32(out.size % 2 ** 32)
    is_integer = np.dtype(dtype).kind in "iu"
    fused(_KERNELS[name])(stream_key(seed), float(low), float(span), size, is_integer, out)
    return out


@register_kernel("RandomUniform", "cupy")
def random_uniform(shape, seed, minval, maxval, dtype):
    return _generate("uniform", shape, seed, minval, maxval - minval, dtype)


@register_kernel("RandomNormal", "cupy")
def random_normal(shape, seed, mean, stddev, dtype):
    return _generate("normal", shape, seed, mean, stddev, dtype)


@register_kernel("TruncatedNormal", "cupy")
def truncated_normal(shape, seed, mean, stddev, dtype):
    return _generate("truncated_normal", shape, seed, mean, stddev, dtype)
