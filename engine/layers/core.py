"""Core layers: Dense, Activation, Identity, Lambda, Dropout, Flatten, Reshape, Permute,
RepeatVector, Embedding (with mask_zero), Masking, Rescaling."""
import inspect
import math

import numpy as np

import engine
from engine import activations, constraints, initializers, regularizers
from engine.layers.base import InputSpec, Layer, next_seed


def weight_constraints(layer, **arguments):
    """Set each `<weight>_constraint` argument on the layer as a constraint (its add_weight
    passes it on; the optimizer projects the weight with it after each update)."""
    for argument, value in arguments.items():
        setattr(layer, argument, constraints.get(value))


class Dense(Layer):
    """activation(inputs @ kernel + bias) over the last axis."""

    supports_masking = True

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"Received an invalid value for `units`, expected a positive "
                             f"integer. Received: units={units}")
        weight_constraints(self, kernel_constraint=kernel_constraint,
                           bias_constraint=bias_constraint)
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape):
        in_features = input_shape[-1]
        self.kernel = self.add_weight((in_features, self.units), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint, name="kernel")
        self.bias = self.add_weight((self.units,), self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint,
                                    name="bias") if self.use_bias else None
        self.input_spec = InputSpec(min_ndim=2, axes={-1: in_features})

    def call(self, inputs):
        leading = inputs.shape[:-1]
        if inputs.ndim > 2:  # (..., features) as one matrix of rows
            inputs = engine.reshape(inputs, (math.prod(leading), inputs.shape[-1]))
        fused = activations.fused_name(self.activation)
        if fused is not None or self.use_bias:  # one kernel: matmul, bias (and a relu)
            outputs = engine.fused_matmul(inputs, self.kernel, self.bias, fused or "linear")
        else:
            outputs = engine.matmul(inputs, self.kernel)
        if len(leading) > 1:
            outputs = engine.reshape(outputs, leading + (self.units,))
        return outputs if fused is not None else self.activation(outputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint)}


class Activation(Layer):
    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Identity(Layer):
    """Its input, unchanged (a placeholder layer, as in Keras and TF.js)."""

    supports_masking = True

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


class Lambda(Layer):
    """`function(inputs, **arguments)` as a layer (also given mask= and training= when it
    takes them). Its output shape is found by running it on zeros unless `output_shape` (a
    shape without the batch axis, or a function of the input shape) says it; `mask` (a
    tensor, or a function of (inputs, mask)) is the output's mask. A named function saves by
    name (load with custom_objects={name: function}, as Keras); a Python lambda cannot be
    saved: loading would mean running code from the file."""

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise ValueError(f"Layer '{self.name}': `function` must be callable, got "
                             f"{function!r}")
        self.function, self.output_shape, self.mask = function, output_shape, mask
        self.arguments = dict(arguments or {})
        parameters = inspect.signature(function).parameters
        self._function_takes = {name for name in ("mask", "training") if name in parameters}

    def call(self, inputs, mask=None, training=None):
        extra = {"mask": mask, "training": training}
        return self.function(inputs, **self.arguments,
                             **{name: extra[name] for name in self._function_takes})

    def compute_mask(self, inputs, previous_mask):
        return self.mask(inputs, previous_mask) if callable(self.mask) else self.mask

    def compute_output_shape(self, input_shape):
        if self.output_shape is None:
            return super().compute_output_shape(input_shape)
        if callable(self.output_shape):
            return tuple(self.output_shape(input_shape))
        return (input_shape[0],) + tuple(self.output_shape)

    def get_config(self):
        if self.function.__name__ == "<lambda>" or "<locals>" in self.function.__qualname__:
            raise ValueError(f"Layer '{self.name}': its function is a lambda or a local "
                             f"function, which cannot be saved (loading it would run code "
                             f"from the file); define it at module level by name, and load "
                             f"with custom_objects={{'<name>': function}}")
        config = {**super().get_config(),
                  "function": {"class_name": "function", "config": self.function.__name__}}
        if self.output_shape is not None and not callable(self.output_shape):
            config["output_shape"] = list(self.output_shape)
        return {**config, "arguments": self.arguments}


class Dropout(Layer):
    """Zeroes a `rate` fraction of inputs and scales the rest by 1 / (1 - rate), in training
    only. `noise_shape` shares one mask along its size-1 (or None -> input) dims."""

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"Invalid value received for argument `rate`. Expected a float "
                             f"value in [0, 1). Received: rate={rate}")
        self.rate = rate
        self.noise_shape = tuple(noise_shape) if noise_shape is not None else None
        self.seed = seed

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        noise_shape = None if self.noise_shape is None else tuple(
            i if n is None else n for n, i in zip(self.noise_shape, inputs.shape))
        return engine.dropout(inputs, self.rate, seed=next_seed(self), noise_shape=noise_shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate,
                "noise_shape": list(self.noise_shape) if self.noise_shape else None,
                "seed": self.seed}


class Flatten(Layer):
    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format or "channels_last"

    def call(self, inputs):
        return engine.reshape(inputs, (inputs.shape[0], math.prod(inputs.shape[1:])))

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else math.prod(rest))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshape each sample to `target_shape` (one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)

    def call(self, inputs):
        return engine.reshape(inputs, (inputs.shape[0],) + self.target_shape)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        if -1 in self.target_shape:
            known = math.prod(d for d in self.target_shape if d != -1)
            missing = None if None in rest else math.prod(rest) // known
            return (input_shape[0],) + tuple(missing if d == -1 else d for d in self.target_shape)
        return (input_shape[0],) + self.target_shape

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Permute(Layer):
    """Permute the non-batch axes; `dims` counts from 1, as in Keras."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Invalid permutation argument `dims` for Permute Layer. The set of "
                             f"indices in `dims` must be consecutive and start from 1. "
                             f"Received dims={dims}")

    def call(self, inputs):
        return engine.transpose(inputs, (0,) + self.dims)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


class RepeatVector(Layer):
    """(batch, features) -> (batch, n, features)."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = n
        self.input_spec = InputSpec(ndim=2)

    def call(self, inputs):
        return engine.tile(engine.expand_dims(inputs, 1), (1, self.n, 1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self):
        return {**super().get_config(), "n": self.n}


class Embedding(Layer):
    """Maps integer ids in [0, input_dim) to rows of an (input_dim, output_dim) matrix."""

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 **kwargs):
        super().__init__(**kwargs)
        weight_constraints(self, embeddings_constraint=embeddings_constraint)
        self.mask_zero = self.supports_masking = bool(mask_zero)
        self.input_dim, self.output_dim = input_dim, output_dim
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)

    def build(self, input_shape):
        self.embeddings = self.add_weight((self.input_dim, self.output_dim),
                                          self.embeddings_initializer,
                                          regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint,
                                          name="embeddings")

    def call(self, inputs):
        if inputs.dtype != "int32":
            inputs = engine.cast(inputs, "int32")
        return engine.gather(self.embeddings, inputs, axis=0)

    def compute_mask(self, inputs, previous_mask):
        """With mask_zero, id 0 is padding: its steps are masked for the layers after."""
        return engine.not_equal(inputs, 0) if self.mask_zero else None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim,
                "output_dim": self.output_dim,
                "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
                "embeddings_constraint": constraints.serialize(self.embeddings_constraint),
                "mask_zero": self.mask_zero}


class Masking(Layer):
    """Steps whose features all equal `mask_value` are zeroed and masked for the layers after
    (an RNN skips them)."""

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value

    def compute_mask(self, inputs, previous_mask):
        return engine.any(engine.not_equal(inputs, self.mask_value), axis=-1)

    def call(self, inputs):
        kept = engine.any(engine.not_equal(inputs, self.mask_value), axis=-1, keepdims=True)
        return engine.where(kept, inputs, 0.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}


class Rescaling(Layer):
    """inputs * scale + offset in float32 (Keras's preprocessing layer: 1/255 for pixels); scale
    and offset may be per-channel lists."""

    supports_masking = True

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("scale", scale), ("offset", offset)):
            try:
                np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"Layer '{self.name}': `{name}` must be a number or a list "
                                 f"of numbers, got {value!r}") from None
        self.scale, self.offset = scale, offset

    def call(self, inputs):
        if not engine.dtypes.is_floating(inputs.dtype):
            inputs = engine.cast(inputs, "float32")
        scale, offset = (engine.tensor(value, dtype=inputs.dtype)
                         for value in (self.scale, self.offset))
        return inputs * scale + offset

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}
