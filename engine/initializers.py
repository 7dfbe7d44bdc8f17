"""Weight initializers with Keras 3 class names, formulas and configs, made with engine ops.

Each initializer is called as `init(shape, dtype="float32")` and returns a Tensor on the
current backend. A seeded initializer gives the same values on every call and backend.
"""
import math

import engine
from engine import keras_objects


class Initializer:
    def __call__(self, shape, dtype="float32"):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Zeros(Initializer):
    def __call__(self, shape, dtype="float32"):
        return engine.zeros(tuple(shape), dtype)


class Ones(Initializer):
    def __call__(self, shape, dtype="float32"):
        return engine.ones(tuple(shape), dtype)


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype="float32"):
        return engine.full(tuple(shape), float(self.value), dtype)

    def get_config(self):
        return {"value": self.value}


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape, dtype="float32"):
        return engine.random_uniform(tuple(shape), minval=self.minval, maxval=self.maxval,
                                     dtype=dtype, seed=self.seed)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype="float32"):
        return engine.random_normal(tuple(shape), mean=self.mean, stddev=self.stddev,
                                    dtype=dtype, seed=self.seed)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    def __call__(self, shape, dtype="float32"):
        return engine.truncated_normal(tuple(shape), mean=self.mean, stddev=self.stddev,
                                       dtype=dtype, seed=self.seed)


def compute_fans(shape):
    """Keras's (fan_in, fan_out): conv kernels multiply by the receptive field size."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


class VarianceScaling(Initializer):
    """Samples with variance scale / n, n the fan_in, fan_out or their average."""

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if scale <= 0:
            raise ValueError(f"Argument `scale` must be positive, got {scale}")
        if mode not in self._MODES:
            raise ValueError(f"Invalid `mode` {mode!r}; expected one of {self._MODES}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in self._DISTRIBUTIONS:
            raise ValueError(f"Invalid `distribution` {distribution!r}; expected one of "
                             f"{self._DISTRIBUTIONS}")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape, dtype="float32"):
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, fan)
        shape = tuple(shape)
        if self.distribution == "truncated_normal":
            # 0.8796... is the stddev of a unit normal truncated to two standard deviations.
            stddev = math.sqrt(variance) / 0.87962566103423978
            return engine.truncated_normal(shape, mean=0.0, stddev=stddev, dtype=dtype,
                                           seed=self.seed)
        if self.distribution == "untruncated_normal":
            return engine.random_normal(shape, mean=0.0, stddev=math.sqrt(variance),
                                        dtype=dtype, seed=self.seed)
        limit = math.sqrt(3.0 * variance)
        return engine.random_uniform(shape, minval=-limit, maxval=limit, dtype=dtype,
                                     seed=self.seed)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


def _variance_scaling_preset(class_name, scale, mode, distribution):
    """A named VarianceScaling preset whose config is only its seed, as in Keras."""

    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(class_name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config,
                                                 "__doc__": f"VarianceScaling({scale}, "
                                                            f"{mode!r}, {distribution!r})."})


GlorotUniform = _variance_scaling_preset("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _variance_scaling_preset("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _variance_scaling_preset("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _variance_scaling_preset("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _variance_scaling_preset("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _variance_scaling_preset("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(Initializer):
    """A (scaled) orthogonal matrix: Gram-Schmidt on a normal sample, which equals Keras's
    QR with the sign of R's diagonal folded into Q."""

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = gain, seed

    def __call__(self, shape, dtype="float32"):
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal initializer needs a shape of rank >= 2, got {shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        tall = (max(rows, cols), min(rows, cols))
        sample = engine.random_normal(tall, mean=0.0, stddev=1.0, dtype=dtype, seed=self.seed)
        q = _gram_schmidt(sample)
        if rows < cols:
            q = engine.transpose(q)
        return engine.reshape(q * self.gain, shape)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


def _gram_schmidt(matrix):
    """Orthonormal columns spanning `matrix`'s columns, in order (re-orthogonalised twice)."""
    basis = None
    for column in engine.split(matrix, matrix.shape[1], axis=1):
        for _ in range(2):
            if basis is not None:
                column = column - engine.matmul(basis, engine.matmul(basis, column,
                                                                     transpose_a=True))
        column = column / engine.sqrt(engine.sum(column * column))
        basis = column if basis is None else engine.concat([basis, column], axis=1)
    return basis


_ALIASES = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "uniform": RandomUniform,
    "random_uniform": RandomUniform, "normal": RandomNormal, "random_normal": RandomNormal,
    "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "he_uniform": HeUniform,
    "he_normal": HeNormal, "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal,
}
_CLASSES = {cls.__name__: cls for cls in set(_ALIASES.values())}


get = keras_objects.getter("initializer", _CLASSES, _ALIASES)
serialize = keras_objects.serialize
