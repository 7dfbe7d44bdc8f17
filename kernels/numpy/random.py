"""NumPy random kernels: a counter-based generator every backend reproduces bit for bit.

The algorithm (port it exactly; every integer operation is on uint32, wrapping mod 2**32):

    hash32(x):                      # "lowbias32" integer hash
        x ^= x >> 16;  x *= 0x7feb352d
        x ^= x >> 15;  x *= 0x846ca68b
        x ^= x >> 16
    key       = hash32((seed + 0x9e3779b9) mod 2**32)
    bits(i)   = hash32(hash32(i) ^ key)            # i: the uint32 element counter
    uniform(i) = (bits(i) >> 8) * 2**-24           # in [0, 1), 24 random bits

The golden-ratio offset in the key keeps small seeds from meeting small counters: with
key = hash32(seed), bits(seed) would be hash32(0) = 0 and streams would be symmetric in
(seed, i).

RandomUniform, element i of the flat (C-order) output:
    minval + (maxval - minval) * uniform(i); for an integer dtype, floor of that value
    (so ints lie in [minval, maxval)).
RandomNormal, element i (Box-Muller on two uniforms):
    u1 = uniform(2i), u2 = uniform(2i + 1)
    z  = sqrt(-2 * log(1 - u1)) * cos(2 * pi * u2)
    mean + stddev * z
TruncatedNormal, element i of an output of `size` elements:
    for round r = 0..7: z = the normal z above drawn with counter i + r * size
    (uniform counters 2(i + r*size) and 2(i + r*size) + 1); keep the first with |z| <= 2.
    If no round succeeds, clip the last z to [-2, 2]. Result mean + stddev * z.

Counters are uint32 and wrap, so streams repeat only past 2**31 normal draws.
The float arithmetic here is float64, then cast to the output dtype; a float32 port agrees
to float32 rounding.
"""
import numpy as np

from engine.registry import register_kernel

_KEY_OFFSET = 0x9E3779B9
_TRUNCATION_ROUNDS = 8
_TRUNCATION_BOUND = 2.0


def hash32(x):
    """lowbias32 on a uint32 array (multiplications wrap mod 2**32)."""
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    return x ^ (x >> np.uint32(16))


def _key(seed):
    """The stream key, as a one-element array (uint32 scalars warn on wrap)."""
    return hash32(np.array([(seed + _KEY_OFFSET) % 2 ** 32], dtype=np.uint32))


def uniform01(counters, key):
    """uniform(i) for a uint32 array of counters, as float64 in [0, 1)."""
    bits = hash32(hash32(counters) ^ key)
    return (bits >> np.uint32(8)).astype(np.float64) * 2.0 ** -24


def standard_normal(counters, key):
    """The Box-Muller z for each normal counter j, from uniform(2j) and uniform(2j + 1)."""
    first = counters * np.uint32(2)
    u1 = uniform01(first, key)
    u2 = uniform01(first + np.uint32(1), key)
    return np.sqrt(-2.0 * np.log(1.0 - u1)) * np.cos(2.0 * np.pi * u2)


def _counters(size):
    return np.arange(size, dtype=np.uint64).astype(np.uint32)


@register_kernel("RandomUniform", "numpy")
def random_uniform(shape, seed, minval, maxval, dtype):
    size = int(np.prod(shape, dtype=np.int64))
    values = minval + (maxval - minval) * uniform01(_counters(size), _key(seed))
    if np.dtype(dtype).kind in "iu":
        values = np.floor(values)
    return values.astype(dtype).reshape(shape)


@register_kernel("RandomNormal", "numpy")
def random_normal(shape, seed, mean, stddev, dtype):
    size = int(np.prod(shape, dtype=np.int64))
    z = standard_normal(_counters(size), _key(seed))
    return (mean + stddev * z).astype(dtype).reshape(shape)


@register_kernel("TruncatedNormal", "numpy")
def truncated_normal(shape, seed, mean, stddev, dtype):
    size = int(np.prod(shape, dtype=np.int64))
    key = _key(seed)
    counters = _counters(size)
    z = standard_normal(counters, key)
    pending = np.flatnonzero(np.abs(z) > _TRUNCATION_BOUND)
    for round_index in range(1, _TRUNCATION_ROUNDS):
        if pending.size == 0:
            break
        offset = np.uint32((round_index * size) % 2 ** 32)
        redraw = standard_normal(counters[pending] + offset, key)
        z[pending] = redraw
        pending = pending[np.abs(redraw) > _TRUNCATION_BOUND]
    z = np.clip(z, -_TRUNCATION_BOUND, _TRUNCATION_BOUND)
    return (mean + stddev * z).astype(dtype).reshape(shape)
