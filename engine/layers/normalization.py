"""BatchNormalization (batch statistics in training, moving averages in inference) and
LayerNormalization (per-sample statistics)."""
import engine
from engine import initializers, regularizers
from engine.layers.base import InputSpec, Layer, assign_state
from engine.layers.core import no_constraint


class BatchNormalization(Layer):
    """Keras semantics: moving = moving * momentum + batch * (1 - momentum), with the batch's
    population variance; weights gamma, beta, moving_mean, moving_variance."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        no_constraint(self.name, beta_constraint=beta_constraint,
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
                                     name="gamma") if self.scale else None
        self.beta = self.add_weight((channels,), self.beta_initializer,
                                    regularizer=self.beta_regularizer,
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
                "beta_constraint": None, "gamma_constraint": None,
                "synchronized": self.synchronized}


class LayerNormalization(Layer):
    """(x - mean) / sqrt(var + epsilon) * gamma + beta, statistics over `axis` per sample."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        no_constraint(self.name, beta_constraint=beta_constraint,
                      gamma_constraint=gamma_constraint)
        if rms_scaling:
            raise ValueError("LayerNormalization(rms_scaling=True) is not supported")
        self.axis = axis
        self.epsilon = float(epsilon)
        self.center, self.scale = center, scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def _axes(self, rank):
        axes = (self.axis,) if isinstance(self.axis, int) else tuple(self.axis)
        return tuple(sorted(a % rank for a in axes))

    def build(self, input_shape):
        axes = self._axes(len(input_shape))
        shape = tuple(input_shape[a] for a in axes)
        self.gamma = self.add_weight(shape, self.gamma_initializer,
                                     regularizer=self.gamma_regularizer,
                                     name="gamma") if self.scale else None
        self.beta = self.add_weight(shape, self.beta_initializer,
                                    regularizer=self.beta_regularizer,
                                    name="beta") if self.center else None

    def call(self, inputs):
        axes = self._axes(inputs.ndim)
        mean, variance = engine.moments(inputs, axes, keepdims=True)
        outputs = (inputs - mean) * engine.rsqrt(variance + self.epsilon)
        broadcast = tuple(inputs.shape[i] if i in axes else 1 for i in range(inputs.ndim))
        if self.scale:
            outputs = outputs * engine.reshape(self.gamma, broadcast)
        if self.center:
            outputs = outputs + engine.reshape(self.beta, broadcast)
        return outputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, "rms_scaling": False,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": None, "gamma_constraint": None}
