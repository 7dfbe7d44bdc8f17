"""BatchNormalization (batch statistics in training, moving averages in inference),
LayerNormalization (per-sample statistics), GroupNormalization (per-sample statistics of channel
groups), UnitNormalization (unit L2 norm) and the preprocessing Normalization (fixed or adapted
statistics)."""
import numpy as np

import engine
from engine import constraints, initializers, regularizers
from engine.layers.base import InputSpec, Layer, assign_state
from engine.layers.core import weight_constraints


class BatchNormalization(Layer):
    """Keras semantics: moving = moving * momentum + batch * (1 - momentum), with the batch's
    population variance; weights gamma, beta, moving_mean, moving_variance."""

    supports_masking = True

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        weight_constraints(self, beta_constraint=beta_constraint,
                           gamma_constraint=gamma_constraint)
        self.axis = axis
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = center, scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.synchronized = synchronized

    def build(self, input_shape):
        axis = self.axis % len(input_shape)
        channels = input_shape[axis]
        self.input_spec = InputSpec(ndim=len(input_shape), axes={axis: channels})
        self.gamma = self.add_weight((channels,), self.gamma_initializer,
                                     regularizer=self.gamma_regularizer,
                                     constraint=self.gamma_constraint,
                                     name="gamma") if self.scale else None
        self.beta = self.add_weight((channels,), self.beta_initializer,
                                    regularizer=self.beta_regularizer,
                                    constraint=self.beta_constraint,
                                    name="beta") if self.center else None
        self.moving_mean = self.add_weight((channels,), self.moving_mean_initializer,
                                           trainable=False, name="moving_mean")
        self.moving_variance = self.add_weight((channels,), self.moving_variance_initializer,
                                               trainable=False, name="moving_variance")

    def call(self, inputs, training=False):
        last = inputs.ndim - 1
        axis = self.axis % inputs.ndim
        perm = [i for i in range(inputs.ndim) if i != axis] + [axis]
        x = inputs if axis == last else engine.transpose(inputs, perm)
        if training and self.trainable:  # a frozen layer normalises as in inference (Keras 3)
            mean, variance = engine.moments(x, tuple(range(last)))
            keep = self.momentum
            assign_state(self.moving_mean, self.moving_mean * keep + mean * (1 - keep))
            assign_state(self.moving_variance, self.moving_variance * keep + variance * (1 - keep))
        else:
            mean, variance = self.moving_mean, self.moving_variance
        outputs = engine.batch_norm(x, mean, variance, self.beta, self.gamma, self.epsilon)
        if axis == last:
            return outputs
        inverse = sorted(range(inputs.ndim), key=perm.__getitem__)
        return engine.transpose(outputs, inverse)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer": initializers.serialize(
                    self.moving_variance_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint),
                "synchronized": self.synchronized}


class _ScaleShift(Layer):
    """Shared by LayerNormalization and GroupNormalization: the optional per-feature gamma
    (scale) and beta (center) applied after normalizing, their arguments and config."""

    supports_masking = True

    def __init__(self, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        weight_constraints(self, beta_constraint=beta_constraint,
                           gamma_constraint=gamma_constraint)
        self.epsilon = float(epsilon)
        self.center, self.scale = center, scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def add_scale_and_shift(self, shape):
        """gamma then beta (Keras's order), each of `shape`, when enabled."""
        self.gamma = self.add_weight(shape, self.gamma_initializer,
                                     regularizer=self.gamma_regularizer,
                                     constraint=self.gamma_constraint,
                                     name="gamma") if self.scale else None
        self.beta = self.add_weight(shape, self.beta_initializer,
                                    regularizer=self.beta_regularizer,
                                    constraint=self.beta_constraint,
                                    name="beta") if self.center else None

    def scale_and_shift(self, outputs, broadcast):
        """outputs * gamma + beta, the weights reshaped to `broadcast`."""
        if self.scale:
            outputs = outputs * engine.reshape(self.gamma, broadcast)
        if self.center:
            outputs = outputs + engine.reshape(self.beta, broadcast)
        return outputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def scale_shift_config(self, head, after_scale=None):
        """The config in Keras's key order: `head` (the subclass's leading keys), epsilon,
        center, scale, `after_scale`, then the weights' arguments."""
        return {**super().get_config(), **head, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, **(after_scale or {}),
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint)}


class LayerNormalization(_ScaleShift):
    """(x - mean) / sqrt(var + epsilon) * gamma + beta, statistics over `axis` per sample."""

    def __init__(self, axis=-1, epsilon=1e-3, rms_scaling=False, **kwargs):
        super().__init__(epsilon, **kwargs)
        if rms_scaling:
            raise ValueError("LayerNormalization(rms_scaling=True) is not supported")
        self.axis = axis

    def _axes(self, rank):
        axes = (self.axis,) if isinstance(self.axis, int) else tuple(self.axis)
        return tuple(sorted(a % rank for a in axes))

    def build(self, input_shape):
        self.add_scale_and_shift(tuple(input_shape[a] for a in self._axes(len(input_shape))))

    def call(self, inputs):
        axes = self._axes(inputs.ndim)
        mean, variance = engine.moments(inputs, axes, keepdims=True)
        outputs = (inputs - mean) * engine.rsqrt(variance + self.epsilon)
        broadcast = tuple(inputs.shape[i] if i in axes else 1 for i in range(inputs.ndim))
        return self.scale_and_shift(outputs, broadcast)

    def get_config(self):
        return self.scale_shift_config({"axis": self.axis}, {"rms_scaling": False})


class GroupNormalization(_ScaleShift):
    """The channels of `axis` split into `groups` (-1: one per channel); each sample's group is
    normalized by its mean and variance over every other axis, then scaled by gamma and shifted
    by beta per channel (Keras's order: gamma, beta)."""

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, **kwargs):
        super().__init__(epsilon, **kwargs)
        if not isinstance(axis, int):
            raise ValueError(f"Layer '{self.name}': axis must be one int, got {axis!r}")
        self.groups, self.axis = groups, axis

    def build(self, input_shape):
        ndim = len(input_shape)
        if not -ndim < self.axis < ndim or self.axis % ndim == 0:
            raise ValueError(f"Layer '{self.name}': axis {self.axis} is not a feature axis "
                             f"of inputs of shape {tuple(input_shape)}")
        channels = input_shape[self.axis]
        if channels is None:
            raise ValueError(f"Layer '{self.name}': axis {self.axis} needs a known size, got "
                             f"input shape {tuple(input_shape)}")
        groups = channels if self.groups == -1 else self.groups
        if not 0 < groups <= channels or channels % groups:
            raise ValueError(f"Layer '{self.name}': {channels} channels cannot be split into "
                             f"{self.groups} groups of equal size")
        self.groups = groups
        self.input_spec = InputSpec(ndim=ndim, axes={self.axis: channels})
        self.add_scale_and_shift((channels,))

    def call(self, inputs):
        axis = self.axis % inputs.ndim
        channels = inputs.shape[axis]
        grouped_shape = (inputs.shape[:axis] + (self.groups, channels // self.groups)
                         + inputs.shape[axis + 1:])
        grouped = engine.reshape(inputs, grouped_shape)
        statistics_axes = tuple(a for a in range(1, grouped.ndim) if a != axis)
        mean, variance = engine.moments(grouped, statistics_axes, keepdims=True)
        outputs = engine.reshape((grouped - mean) * engine.rsqrt(variance + self.epsilon),
                                 inputs.shape)
        per_channel = tuple(channels if a == axis else 1 for a in range(inputs.ndim))
        return self.scale_and_shift(outputs, per_channel)

    def get_config(self):
        return self.scale_shift_config({"groups": self.groups, "axis": self.axis})


class UnitNormalization(Layer):
    """Each sample scaled to unit L2 norm over `axis`: x / max(norm, 1e-12), computed as
    x * rsqrt(max(sum(x^2), 1e-24)) so that an all-zero sample has a finite gradient."""

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def build(self, input_shape):
        ndim = len(input_shape)
        axes = (self.axis,) if isinstance(self.axis, int) else tuple(self.axis)
        if any(not -ndim <= a < ndim or a % ndim == 0 for a in axes):
            raise ValueError(f"Layer '{self.name}': axis {self.axis} is not a feature axis "
                             f"of inputs of shape {tuple(input_shape)}")
        self._axes = tuple(sorted(a % ndim for a in axes))

    def call(self, inputs):
        squares = engine.sum(engine.square(inputs), self._axes, keepdims=True)
        return inputs * engine.rsqrt(engine.maximum(squares, 1e-24))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        axis = self.axis if isinstance(self.axis, int) else list(self.axis)
        return {**super().get_config(), "axis": axis}


class Normalization(Layer):
    """Keras's preprocessing Normalization: (x - mean) / max(sqrt(variance), 1e-7) per position
    of the kept `axis` (or the inverse, with `invert`). The statistics are given as `mean` and
    `variance`, or learned from data by `adapt(data)` into the non-trainable weights mean,
    variance and count."""

    supports_masking = True

    EPSILON = 1e-7  # Keras's backend epsilon

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        self.axis = () if axis is None else ((axis,) if isinstance(axis, int) else tuple(axis))
        if (mean is None) != (variance is None):
            raise ValueError(f"Layer '{self.name}': give both `mean` and `variance`, or "
                             f"neither (then call adapt()); got mean={mean}, "
                             f"variance={variance}")
        self.input_mean, self.input_variance, self.invert = mean, variance, invert

    def build(self, input_shape):
        ndim = len(input_shape)
        if any(not -ndim <= a < ndim for a in self.axis):
            raise ValueError(f"Layer '{self.name}': axis {self.axis} is out of range for "
                             f"inputs of rank {ndim}")
        self._keep = tuple(sorted(a % ndim for a in self.axis))
        if any(input_shape[a] is None for a in self._keep):
            raise ValueError(f"Layer '{self.name}': the kept axes {self.axis} need known "
                             f"sizes, got input shape {tuple(input_shape)}")
        self._broadcast = tuple(input_shape[d] if d in self._keep else 1 for d in range(ndim))
        self.input_spec = InputSpec(ndim=ndim, axes={a: input_shape[a] for a in self._keep})
        if self.input_mean is None:
            shape = tuple(input_shape[a] for a in self._keep)
            self.adapt_mean = self.add_weight(shape, "zeros", trainable=False, name="mean")
            self.adapt_variance = self.add_weight(shape, "ones", trainable=False,
                                                  name="variance")
            self.count = self.add_weight((), "zeros", dtype="int32", trainable=False,
                                         name="count")

    def adapt(self, data):
        """Set mean and variance from `data`: an array, or an engine.data.Dataset of batches."""
        from engine.data import Dataset

        if self.input_mean is not None:
            raise ValueError(f"Layer '{self.name}': mean and variance were given; it cannot "
                             f"adapt")
        batches = (data.as_numpy_iterator() if isinstance(data, Dataset)
                   else [np.asarray(data)])
        total = count = squares = None
        for batch in batches:
            batch = np.asarray(batch, np.float64)
            if not self.built:
                self.build((None,) + batch.shape[1:])
            elif batch.ndim != len(self._broadcast) or any(
                    batch.shape[a] != self._broadcast[a] for a in self._keep):
                raise ValueError(f"Layer '{self.name}': adapt() got data of shape "
                                 f"{batch.shape}, but the layer keeps axes {self.axis} of "
                                 f"sizes {tuple(self._broadcast[a] for a in self._keep)}")
            reduce = tuple(d for d in range(batch.ndim) if d not in self._keep)
            sums, sums_sq = batch.sum(axis=reduce), np.square(batch).sum(axis=reduce)
            size = batch.size // max(1, sums.size)
            total, squares = ((sums, sums_sq) if total is None
                              else (total + sums, squares + sums_sq))
            count = size if count is None else count + size
        if count is None:
            raise ValueError(f"Layer '{self.name}': adapt() got no data")
        mean = total / count
        self.adapt_mean.assign(mean.astype(np.float32))
        self.adapt_variance.assign(np.maximum(squares / count - mean ** 2, 0).astype(np.float32))
        self.count.assign(np.array(count, np.int32))

    def _statistics(self):
        if self.input_mean is not None:
            mean, variance = (np.broadcast_to(np.asarray(value, np.float32), self._broadcast)
                              for value in (self.input_mean, self.input_variance))
            return engine.tensor(mean), engine.tensor(variance)
        return (engine.reshape(self.adapt_mean, self._broadcast),
                engine.reshape(self.adapt_variance, self._broadcast))

    def call(self, inputs):
        mean, variance = self._statistics()
        scale = engine.maximum(engine.sqrt(variance), self.EPSILON)
        return inputs * scale + mean if self.invert else (inputs - mean) / scale

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": list(self.axis), "invert": self.invert,
                "mean": np.array(self.input_mean).tolist(),
                "variance": np.array(self.input_variance).tolist()}
