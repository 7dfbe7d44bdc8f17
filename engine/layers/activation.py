"""Activation layers with arguments, as in keras.layers: ReLU, LeakyReLU, PReLU, ELU, Softmax."""
import engine
from engine import activations, constraints, initializers, regularizers
from engine.layers.base import Layer
from engine.layers.core import weight_constraints


class ActivationLayer(Layer):
    """A shape-keeping layer; subclasses give `call` and their config keys in `ARGUMENTS`."""

    supports_masking = True

    ARGUMENTS = ()

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), **{key: getattr(self, key) for key in self.ARGUMENTS}}


def _non_negative(layer, **values):
    for name, value in values.items():
        if value is not None and value < 0:
            raise ValueError(f"Layer '{layer.name}': `{name}` must be >= 0, got {value}")


class ReLU(ActivationLayer):
    """x from `threshold` up to `max_value`, negative_slope * (x - threshold) below it (Keras's
    keras.activations.relu with its three arguments)."""

    ARGUMENTS = ("max_value", "negative_slope", "threshold")

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        _non_negative(self, max_value=max_value, negative_slope=negative_slope,
                      threshold=threshold)
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope = float(negative_slope)
        self.threshold = float(threshold)

    def call(self, inputs):
        slope, top, threshold = self.negative_slope, self.max_value, self.threshold
        if slope and top is None and not threshold:
            return engine.leaky_relu(inputs, slope)
        if threshold:
            outputs = inputs * engine.cast(inputs > threshold, inputs.dtype)
        else:
            outputs = engine.relu(inputs)
        if top is not None:
            outputs = engine.clip(outputs, 0.0, top)
        if slope:
            outputs = outputs - engine.relu(threshold - inputs) * slope
        return outputs


class LeakyReLU(ActivationLayer):
    """x, or negative_slope * x below 0 (Keras 2 and TF.js call the slope `alpha`)."""

    ARGUMENTS = ("negative_slope",)

    def __init__(self, negative_slope=0.3, alpha=None, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = float(negative_slope if alpha is None else alpha)
        _non_negative(self, negative_slope=self.negative_slope)

    def call(self, inputs):
        return engine.leaky_relu(inputs, self.negative_slope)


class PReLU(ActivationLayer):
    """x, or alpha * x below 0, with a learned alpha per input position (shared, size 1, along
    `shared_axes`)."""

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        weight_constraints(self, alpha_constraint=alpha_constraint)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.shared_axes = (None if shared_axes is None else
                            [shared_axes] if isinstance(shared_axes, int) else list(shared_axes))

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or []:
            if not 1 <= axis < len(input_shape):
                raise ValueError(f"Layer '{self.name}': shared_axes {self.shared_axes} must "
                                 f"name axes 1..{len(input_shape) - 1} of inputs of shape "
                                 f"{tuple(input_shape)}")
            shape[axis - 1] = 1
        self.alpha = self.add_weight(tuple(shape), self.alpha_initializer,
                                     regularizer=self.alpha_regularizer,
                                     constraint=self.alpha_constraint, name="alpha")

    def call(self, inputs):
        return engine.relu(inputs) - self.alpha * engine.relu(-inputs)

    def get_config(self):
        return {**super().get_config(),
                "alpha_initializer": initializers.serialize(self.alpha_initializer),
                "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
                "alpha_constraint": constraints.serialize(self.alpha_constraint),
                "shared_axes": self.shared_axes}


class ELU(ActivationLayer):
    ARGUMENTS = ("alpha",)

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def call(self, inputs):
        return activations.elu(inputs, self.alpha)


class Softmax(ActivationLayer):
    ARGUMENTS = ("axis",)

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        return engine.softmax(inputs, self.axis)
