"""Keras 3's EinsumDense: activation(einsum(equation, inputs, kernel) + bias), the kernel's and
the bias's shapes read off the equation as Keras reads them."""
import math
import re

import engine
from engine import activations, constraints, initializers, regularizers
from engine.layers.base import InputSpec, Layer
from engine.layers.core import weight_constraints

# Keras's three equation forms: 'ab,bc->ac', '...ab,bc->...ac' and 'ab...,bc->ac...'.
_PLAIN = re.compile(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)")
_LEFT_ELLIPSIS = re.compile(r"\.\.\.([a-zA-Z]+),([a-zA-Z]+)->\.\.\.([a-zA-Z]+)")
_RIGHT_ELLIPSIS = re.compile(r"([a-zA-Z]{2,})\.\.\.,([a-zA-Z]+)->([a-zA-Z]+)\.\.\.")


def _split(equation):
    """(input spec, kernel spec, output spec, where '...' stands: None, "left" or "right")."""
    forms = ((_PLAIN, None), (_LEFT_ELLIPSIS, "left"), (_RIGHT_ELLIPSIS, "right"))
    for form, ellipsis in forms:
        match = form.fullmatch(equation.replace(" ", "")) if isinstance(equation, str) else None
        if match:
            return match.groups() + (ellipsis,)
    raise ValueError(f"Invalid einsum equation '{equation}'. Equations must be in the form "
                     "[X],[Y]->[Z], ...[X],[Y]->...[Z], or [X]...,[Y]->[Z]....")


def einsum_dense_shapes(equation, bias_axes, input_shape, partial_output_shape):
    """(kernel shape, bias shape or None, full output shape, kernel input axes, kernel output
    axes) of an EinsumDense, as Keras 3 computes them: the output shape is the batch size, the
    axes under '...' and `partial_output_shape` (None: unknown); kernel axes take their sizes
    from the output where they appear there, else from the input. Axes under a leading '...'
    keep their order (Keras's compute_output_shape reverses them when there are two or more;
    its outputs do not)."""
    input_spec, kernel_spec, output_spec, ellipsis = _split(equation)
    input_shape, leads = tuple(input_shape), ellipsis == "left"
    elided = len(input_shape) - len(input_spec)
    if elided < 0 or (elided and ellipsis is None):
        raise ValueError(f"EinsumDense equation '{equation}' names {len(input_spec)} input "
                         f"axes but the input has shape {input_shape}")
    output_shape = [input_shape[0]] + list(partial_output_shape)
    if elided and leads:
        output_shape[1:1] = input_shape[1:elided]
    elif elided:
        output_shape += input_shape[len(input_shape) - elided:]
    offset = elided if leads else 0
    input_axis = {label: i + offset for i, label in enumerate(input_spec)}
    output_axis = {label: i + offset for i, label in enumerate(output_spec)}
    for label in input_spec:
        size, wanted = input_shape[input_axis[label]], _at(output_shape, output_axis.get(label))
        if label in output_axis and wanted is not None and wanted != size:
            raise ValueError(f"Input shape and output shape do not match at shared dimension "
                             f"'{label}'. Input shape is {size}, and output shape is {wanted}.")
    for label in output_spec:
        if label not in input_spec and label not in kernel_spec:
            raise ValueError(f"Dimension '{label}' was specified in the output '{output_spec}' "
                             f"but has no corresponding dim in the input spec '{input_spec}' "
                             f"or weight spec '{kernel_spec}'")
    kernel_shape, input_axes, output_axes = [], [], []
    for i, label in enumerate(kernel_spec):
        if label in output_axis:
            kernel_shape.append(_at(output_shape, output_axis[label]))
            output_axes.append(i)
        elif label in input_axis:
            kernel_shape.append(input_shape[input_axis[label]])
            input_axes.append(i)
        else:
            raise ValueError(f"Weight dimension '{label}' did not have a match in either the "
                             f"input spec '{input_spec}' or the output spec '{output_spec}'. "
                             "For this layer, the weight must be fully specified.")
    if any(size is None for size in kernel_shape):
        raise ValueError(f"EinsumDense equation '{equation}' leaves the kernel shape "
                         f"{tuple(kernel_shape)} unknown for inputs of shape {input_shape}; "
                         f"give the sizes in `output_shape`")
    bias_shape = None
    if bias_axes is not None:
        for label in bias_axes:
            if label not in output_spec:
                raise ValueError(f"Bias dimension '{label}' was requested, but is not part of "
                                 f"the output spec '{output_spec}'")
        first = min(output_spec.index(label) for label in bias_axes)
        bias_shape = [output_shape[output_axis[label]] if label in bias_axes else 1
                      for label in output_spec[first:]] + [1] * (0 if leads else elided)
    return kernel_shape, bias_shape, output_shape, input_axes, output_axes


def _at(shape, axis):
    return None if axis is None or axis >= len(shape) else shape[axis]


class _FanAxesInitializer:
    """A VarianceScaling initializer whose fans are the products of the kernel's input and
    output axes (Keras 3's input_axes / output_axes), not the conv-kernel rule."""

    def __init__(self, initializer, fan_in, fan_out):
        self.initializer, self.fan_in, self.fan_out = initializer, fan_in, fan_out

    def __call__(self, shape, dtype="float32"):
        # The draws are independent, so a (fan_in, fan_out) sample reshaped is one of `shape`.
        return engine.reshape(self.initializer((self.fan_in, self.fan_out), dtype), shape)


class EinsumDense(Layer):
    """activation(einsum(equation, inputs, kernel) + bias), the bias over `bias_axes` only.

    `output_shape` gives the output's sizes past the batch axis and the axes under '...';
    None takes a size from the input. lora_rank and quantization (Keras 3 options) are not
    supported.
    """

    def __init__(self, equation, output_shape, activation=None, bias_axes=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, lora_rank=None, lora_alpha=None,
                 quantization_config=None, **kwargs):
        super().__init__(**kwargs)
        _split(equation)
        weight_constraints(self, kernel_constraint=kernel_constraint,
                           bias_constraint=bias_constraint)
        for argument, value in (("lora_rank", lora_rank), ("lora_alpha", lora_alpha),
                                ("quantization_config", quantization_config)):
            if value is not None:
                raise ValueError(f"Layer '{self.name}': `{argument}` is not supported "
                                 f"(got {value!r}); pass None")
        self.equation = equation
        self.partial_output_shape = ((output_shape,) if isinstance(output_shape, int)
                                     else tuple(output_shape))
        self.bias_axes = bias_axes
        self.activation = activations.get(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def build(self, input_shape):
        kernel_shape, bias_shape, _, input_axes, output_axes = einsum_dense_shapes(
            self.equation, self.bias_axes, input_shape, self.partial_output_shape)
        initializer = self.kernel_initializer
        if isinstance(initializer, initializers.VarianceScaling):
            initializer = _FanAxesInitializer(
                initializer, math.prod(kernel_shape[i] for i in input_axes),
                math.prod(kernel_shape[i] for i in output_axes))
        self.kernel = self.add_weight(tuple(kernel_shape), initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint, name="kernel")
        self.bias = None if bias_shape is None else self.add_weight(
            tuple(bias_shape), self.bias_initializer, regularizer=self.bias_regularizer,
            constraint=self.bias_constraint,
            name="bias")
        self.input_spec = InputSpec(ndim=len(input_shape))

    def call(self, inputs):
        outputs = engine.einsum(self.equation, inputs, self.kernel)
        if self.bias is not None:
            outputs = outputs + self.bias
        return self.activation(outputs)

    def compute_output_shape(self, input_shape):
        return tuple(einsum_dense_shapes(self.equation, self.bias_axes, input_shape,
                                         self.partial_output_shape)[2])

    def get_config(self):
        return {**super().get_config(), "output_shape": list(self.partial_output_shape),
                "equation": self.equation,
                "activation": activations.serialize(self.activation),
                "bias_axes": self.bias_axes,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint),
                "quantization_config": None}
