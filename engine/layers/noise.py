"""Layers that perturb their inputs in training only (identity in inference), as in Keras:
SpatialDropout1D/2D (whole feature maps), GaussianNoise and GaussianDropout."""
import math

import engine
from engine.layers.base import Layer, next_seed
from engine.layers.core import Dropout


class SpatialDropout1D(Dropout):
    """Dropout of whole channels: one keep/drop draw per (sample, channel), shared over the
    steps of a (N, steps, C) input."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        shape = (inputs.shape[0],) + (1,) * (inputs.ndim - 2) + (inputs.shape[-1],)
        return engine.dropout(inputs, self.rate, seed=next_seed(self), noise_shape=shape)

    def get_config(self):
        """Keras's keys: its SpatialDropout layers take no noise_shape or trainable."""
        config = super().get_config()
        del config["noise_shape"], config["trainable"]
        return config


class SpatialDropout2D(SpatialDropout1D):
    """SpatialDropout1D for (N, H, W, C) feature maps (channels_last)."""

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        if data_format not in (None, "channels_last"):
            raise ValueError(f"Only data_format='channels_last' is supported, got "
                             f"{data_format!r}")
        super().__init__(rate, seed=seed, **kwargs)

    def get_config(self):
        return {**super().get_config(), "data_format": "channels_last"}


class _Noise(Layer):
    """inputs combined with normal noise `noise(inputs, normal draws)` in training only."""

    supports_masking = True

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed

    def draws(self, inputs, mean, stddev):
        return engine.random_normal(inputs.shape, mean, stddev, dtype=inputs.dtype,
                                    seed=next_seed(self))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


class GaussianNoise(_Noise):
    """inputs + N(0, stddev) noise in training."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        self.stddev = stddev

    def call(self, inputs, training=False):
        if not training or self.stddev == 0:
            return inputs
        return inputs + self.draws(inputs, 0.0, self.stddev)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev}


class GaussianDropout(_Noise):
    """inputs * N(1, sqrt(rate / (1 - rate))) noise in training."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"Layer '{self.name}': rate must be in [0, 1), got {rate}")
        self.rate = rate

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        return inputs * self.draws(inputs, 1.0, math.sqrt(self.rate / (1.0 - self.rate)))

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}
