"""Convolution layers (channels_last): Conv, ConvTranspose, DepthwiseConv and SeparableConv
of rank 1 and 2 (Conv1D, Conv2D, Conv1DTranspose, ...; a 1-D layer runs the 2-D op on its
sequences seen as one-row images), and the resampling layers ZeroPadding, Cropping and
UpSampling of rank 1 and 2."""
import numbers

import engine
from engine import activations, constraints, initializers, regularizers
from engine.layers.base import InputSpec, Layer
from engine.layers.core import weight_constraints


def as_tuple(value, rank, name, minimum=1):
    values = (value,) * rank if isinstance(value, int) else tuple(value)
    if len(values) != rank or not all(isinstance(v, int) and v >= minimum for v in values):
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"The `{name}` argument must be a tuple of {rank} {kind} integers. "
                         f"Received {name}={value}")
    return values


def conv_output_length(length, kernel, padding, stride, dilation=1):
    """Output size along one axis (None stays None): Keras's conv_utils rule."""
    if length is None:
        return None
    dilated = (kernel - 1) * dilation + 1
    if padding in ("same", "causal"):
        return (length + stride - 1) // stride
    return (length - dilated + stride) // stride


def transposed_axis(length, kernel, stride, padding, output_padding=None, dilation=1):
    """(output length, (before, after) padding of the convolution it transposes) along one
    axis, as Keras computes a transposed convolution: 'valid' gives (length - 1) * stride +
    max(kernel, stride), 'same' length * stride; an output_padding (below the stride) sets
    the steps after the last window instead. None length stays None."""
    kernel = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(kernel, stride) - kernel if output_padding is None else output_padding
        spread = 2 * (kernel - 1) + extra  # zeros around the stride-dilated input
        before = kernel - 1
    else:
        spread = (stride + kernel - 2 if output_padding is None
                  else kernel + kernel % 2 - 2 + output_padding)
        before = min((spread + 1) // 2, kernel - 1)
    out = None if length is None else (length - 1) * stride + spread - kernel + 2
    # Past the last window (after < 0) the output stays zero: padding 0 covers the same steps.
    return out, (kernel - 1 - before, max(kernel - 1 - (spread - before), 0))


def _channels_last_only(data_format):
    if data_format not in (None, "channels_last"):
        raise ValueError(f"Only data_format='channels_last' is supported, got {data_format!r}")
    return "channels_last"


class Conv(Layer):
    """Shared arguments, weights and config of the convolution layers of one rank."""

    rank = 2
    paddings = ("valid", "same")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        weight_constraints(self, kernel_constraint=kernel_constraint,
                           bias_constraint=bias_constraint)
        if groups != 1:
            raise ValueError(f"Layer '{self.name}': groups={groups} is not supported (only 1)")
        padding = padding.lower() if isinstance(padding, str) else padding
        if padding not in self.paddings:
            raise ValueError(f"Invalid padding {padding!r} for {type(self).__name__} "
                             f"'{self.name}'; expected one of {self.paddings}")
        if filters is not None and not (isinstance(filters, numbers.Integral) and filters > 0):
            raise ValueError(f"Layer '{self.name}': filters must be a positive integer, got "
                             f"{filters!r}")
        self.filters = filters
        self.kernel_size = as_tuple(kernel_size, self.rank, "kernel_size")
        self.strides = as_tuple(strides, self.rank, "strides")
        self.dilation_rate = as_tuple(dilation_rate, self.rank, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"Layer '{self.name}': strides {self.strides} > 1 together with "
                             f"dilation_rate {self.dilation_rate} > 1 is not supported")
        self.padding = padding
        self.data_format = _channels_last_only(data_format)
        self.groups = groups
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def kernel_shape(self, in_channels):
        return self.kernel_size + (in_channels, self.filters)

    def build(self, input_shape):
        in_channels = input_shape[-1]
        self.kernel = self.add_weight(self.kernel_shape(in_channels), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint, name="kernel")
        self.bias = self.add_weight((self.filters,), self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint,
                                    name="bias") if self.use_bias else None
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={-1: in_channels})

    def on_images(self, op, inputs, *kernels, **kwargs):
        """The 2-D op over the inputs and kernels with the layer's strides and dilations (and
        `kwargs`); a 1-D layer runs it on its sequences as one-row images, kernels one row
        high."""
        lead = (1,) * (2 - self.rank)
        if self.rank == 1:
            inputs = engine.expand_dims(inputs, 1)
            kernels = [engine.expand_dims(kernel, 0) for kernel in kernels]
        outputs = op(inputs, *kernels, strides=lead + self.strides,
                     dilations=lead + self.dilation_rate, **kwargs)
        return engine.squeeze(outputs, 1) if self.rank == 1 else outputs

    def finish(self, outputs):
        """Add the bias and apply the activation."""
        if self.use_bias:
            outputs = outputs + self.bias
        return self.activation(outputs)

    def compute_output_shape(self, input_shape):
        spatial = tuple(conv_output_length(n, k, self.padding, s, d) for n, k, s, d in zip(
            input_shape[1:-1], self.kernel_size, self.strides, self.dilation_rate))
        return (input_shape[0],) + spatial + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": list(self.dilation_rate), "groups": self.groups,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint)}


class Conv2D(Conv):
    def call(self, inputs):
        fused = activations.fused_name(self.activation)
        if fused is not None or self.use_bias:  # one kernel: convolution, bias (and a relu)
            outputs = engine.fused_conv2d(inputs, self.kernel, self.bias, self.strides,
                                          self.padding, self.dilation_rate, fused or "linear")
            return outputs if fused is not None else self.activation(outputs)
        return self.finish(engine.conv2d(inputs, self.kernel, self.strides, self.padding,
                                         self.dilation_rate))


class Conv1D(Conv):
    """1-D convolution over (batch, steps, channels); 'causal' pads only the past."""

    rank = 1
    paddings = ("valid", "same", "causal")

    def call(self, inputs):
        padding = self.padding
        if padding == "causal":
            left = (self.kernel_size[0] - 1) * self.dilation_rate[0]
            inputs = engine.pad(inputs, ((0, 0), (left, 0), (0, 0)))
            padding = "valid"
        return self.finish(engine.conv1d(inputs, self.kernel, self.strides[0], padding,
                                         self.dilation_rate[0]))


class Conv2DTranspose(Conv):
    """The transpose (gradient) of Conv2D: upsamples by `strides`. Kernel (kh, kw, filters,
    in_channels) as in Keras."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate,
                         **kwargs)
        if output_padding is not None:
            output_padding = as_tuple(output_padding, self.rank, "output_padding", minimum=0)
            if any(p >= s for p, s in zip(output_padding, self.strides)):
                raise ValueError(f"Layer '{self.name}': output_padding {output_padding} must "
                                 f"be below the strides {self.strides}")
        self.output_padding = output_padding

    def kernel_shape(self, in_channels):
        return self.kernel_size + (self.filters, in_channels)

    def geometry(self, spatial):
        """Per axis: (output length, (before, after) padding of the transposed convolution)."""
        output_padding = self.output_padding or (None,) * self.rank
        return [transposed_axis(n, k, s, self.padding, p, d) for n, k, s, p, d in zip(
            spatial, self.kernel_size, self.strides, output_padding, self.dilation_rate)]

    def call(self, inputs):
        lengths, pads = zip(*self.geometry(inputs.shape[1:-1]))
        lead = (1,) * (2 - self.rank)
        return self.finish(self.on_images(engine.conv2d_transpose, inputs, self.kernel,
                                          output_shape=lead + lengths,
                                          padding=((0, 0),) * len(lead) + pads))

    def compute_output_shape(self, input_shape):
        spatial = tuple(length for length, _ in self.geometry(input_shape[1:-1]))
        return (input_shape[0],) + spatial + (self.filters,)

    def get_config(self):
        config = super().get_config()
        del config["groups"]  # Keras's transposed convolutions have none
        output_padding = None if self.output_padding is None else list(self.output_padding)
        return {**config, "output_padding": output_padding}


class Conv1DTranspose(Conv2DTranspose):
    """The transpose (gradient) of Conv1D over (batch, steps, channels): upsamples by
    `strides`. Kernel (k, filters, in_channels) as in Keras."""

    rank = 1


class DepthwiseConv2D(Conv):
    """Each input channel convolved with its own `depth_multiplier` filters."""

    kernel_name = "depthwise_kernel"  # Keras 2's and TF.js's name

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, depthwise_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(None, kernel_size, strides, padding, data_format, dilation_rate,
                         activation=activation, use_bias=use_bias,
                         kernel_initializer=depthwise_initializer,
                         bias_initializer=bias_initializer,
                         kernel_regularizer=depthwise_regularizer,
                         bias_regularizer=bias_regularizer,
                         kernel_constraint=depthwise_constraint,
                         bias_constraint=bias_constraint, **kwargs)
        self.depth_multiplier = positive_multiplier(self.name, depth_multiplier)

    def build(self, input_shape):
        in_channels = input_shape[-1]
        self.filters = in_channels * self.depth_multiplier
        self.kernel = self.add_weight(self.kernel_size + (in_channels, self.depth_multiplier),
                                      self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint,
                                      name=self.kernel_name)
        self.depthwise_kernel = self.kernel
        self.bias = self.add_weight((self.filters,), self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint,
                                    name="bias") if self.use_bias else None
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={-1: in_channels})

    def call(self, inputs):
        return self.finish(self.on_images(engine.depthwise_conv2d, inputs, self.kernel,
                                          padding=self.padding))

    def compute_output_shape(self, input_shape):
        shape = super().compute_output_shape(input_shape)
        channels = None if input_shape[-1] is None else input_shape[-1] * self.depth_multiplier
        return shape[:-1] + (channels,)

    def get_config(self):
        config = super().get_config()
        for name in ("filters", "groups"):
            config.pop(name)
        for suffix in ("initializer", "regularizer", "constraint"):
            config[f"depthwise_{suffix}"] = config.pop(f"kernel_{suffix}")
        return {**config, "depth_multiplier": self.depth_multiplier}


class DepthwiseConv1D(DepthwiseConv2D):
    """Each channel of a (batch, steps, channels) sequence convolved with its own
    `depth_multiplier` filters; kernel (k, channels, depth_multiplier)."""

    rank = 1
    kernel_name = "kernel"  # Keras 3's name (Keras 3 names DepthwiseConv2D's so too)


def positive_multiplier(layer_name, depth_multiplier):
    if not (isinstance(depth_multiplier, numbers.Integral) and depth_multiplier > 0):
        raise ValueError(f"Layer '{layer_name}': depth_multiplier must be a positive integer, "
                         f"got {depth_multiplier!r}")
    return depth_multiplier


class SeparableConv2D(Conv):
    """A depthwise convolution followed by a 1x1 convolution to `filters` channels."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate,
                         activation=activation, use_bias=use_bias,
                         bias_initializer=bias_initializer, bias_regularizer=bias_regularizer,
                         bias_constraint=bias_constraint, **kwargs)
        weight_constraints(self, depthwise_constraint=depthwise_constraint,
                           pointwise_constraint=pointwise_constraint)
        self.depth_multiplier = positive_multiplier(self.name, depth_multiplier)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)

    def build(self, input_shape):
        in_channels = input_shape[-1]
        self.depthwise_kernel = self.add_weight(
            self.kernel_size + (in_channels, self.depth_multiplier), self.depthwise_initializer,
            regularizer=self.depthwise_regularizer, constraint=self.depthwise_constraint,
            name="depthwise_kernel")
        self.pointwise_kernel = self.add_weight(
            (1,) * self.rank + (in_channels * self.depth_multiplier, self.filters),
            self.pointwise_initializer, regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint,
            name="pointwise_kernel")
        self.bias = self.add_weight((self.filters,), self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint,
                                    name="bias") if self.use_bias else None
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={-1: in_channels})

    def call(self, inputs):
        return self.finish(self.on_images(engine.separable_conv2d, inputs, self.depthwise_kernel,
                                          self.pointwise_kernel, padding=self.padding))

    def get_config(self):
        config = super().get_config()
        for name in ("groups", "kernel_initializer", "kernel_regularizer", "kernel_constraint"):
            config.pop(name)
        return {**config, "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
                "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
                "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
                "pointwise_regularizer": regularizers.serialize(self.pointwise_regularizer),
                "depthwise_constraint": constraints.serialize(self.depthwise_constraint),
                "pointwise_constraint": constraints.serialize(self.pointwise_constraint)}


class SeparableConv1D(SeparableConv2D):
    """A depthwise convolution of a (batch, steps, channels) sequence followed by a
    pointwise (kernel size 1) convolution to `filters` channels."""

    rank = 1


def edge_pairs(value, rank, name):
    """((before, after),) * rank from an int, one int per axis, or the pairs themselves (rank
    1 also takes a bare (before, after) pair)."""
    if isinstance(value, int):
        pairs = ((value, value),) * rank
    elif rank == 1 and len(value) == 2 and all(isinstance(v, int) for v in value):
        pairs = (tuple(value),)
    elif all(isinstance(v, int) for v in value):
        pairs = tuple((v, v) for v in value)
    else:
        pairs = tuple(tuple(v) for v in value)
    if len(pairs) != rank or not all(len(p) == 2 and all(isinstance(v, int) and v >= 0
                                                           for v in p) for p in pairs):
        raise ValueError(f"The `{name}` argument must be an int, {rank} ints or {rank} pairs "
                         f"of non-negative ints. Received {name}={value}")
    return pairs


def _edge_config(pairs):
    """Keras's config form: [before, after] for one axis, [[before, after], ...] for more."""
    return list(pairs[0]) if len(pairs) == 1 else [list(p) for p in pairs]


class _EdgeLayer(Layer):
    """Cells added at (ZeroPadding) or cut from (Cropping) both edges of each spatial axis:
    `edges` an int, one int per axis, or (before, after) pairs; `argument` names them in
    the layer's arguments and config, `growth` is +1 for padding, -1 for cropping."""

    rank = 2
    argument, growth = None, 1

    def __init__(self, edges, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.edges = edge_pairs(edges, self.rank, self.argument)
        self.data_format = _channels_last_only(data_format)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def compute_output_shape(self, input_shape):
        spatial = tuple(None if n is None else n + self.growth * sum(pair)
                        for n, pair in zip(input_shape[1:-1], self.edges))
        return (input_shape[0],) + spatial + (input_shape[-1],)

    def get_config(self):
        return {**super().get_config(), self.argument: _edge_config(self.edges),
                "data_format": self.data_format}


class ZeroPadding2D(_EdgeLayer):
    """Zeros around the image: padding int, (rows, cols) or ((top, bottom), (left, right))."""

    argument = "padding"

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)

    def call(self, inputs):
        return engine.pad(inputs, ((0, 0),) + self.edges + ((0, 0),))


class ZeroPadding1D(ZeroPadding2D):
    """Zeros at both ends of a sequence: padding int or (before, after)."""

    rank = 1


class Cropping2D(_EdgeLayer):
    """Cells cut from the image's edges: cropping int, (rows, cols) or ((top, bottom), (left,
    right))."""

    argument, growth = "cropping", -1

    def __init__(self, cropping=0, data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)

    def build(self, input_shape):
        for size, (before, after) in zip(input_shape[1:-1], self.edges):
            if size is not None and before + after >= size:
                raise ValueError(f"Layer '{self.name}': cropping {self.edges} leaves nothing "
                                 f"of an input of shape {tuple(input_shape)}")

    def call(self, inputs):
        kept = tuple(slice(before, size - after)
                     for size, (before, after) in zip(inputs.shape[1:-1], self.edges))
        return inputs[(slice(None),) + kept]


class Cropping1D(Cropping2D):
    """Steps cut from both ends of a sequence: cropping int or (before, after)."""

    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["data_format"]  # Keras's Cropping1D has none
        return config


class UpSampling2D(Layer):
    """Repeat rows and columns `size` times (nearest-neighbour interpolation)."""

    rank = 2

    def __init__(self, size=2, data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        if interpolation != "nearest":
            raise ValueError(f"{type(self).__name__}: only interpolation='nearest' is "
                             f"supported, got {interpolation!r}")
        self.size = as_tuple(size, self.rank, "size")
        self.data_format = _channels_last_only(data_format)
        self.interpolation = interpolation
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def call(self, inputs):
        """Each spatial axis n gets a size-1 axis after it, tiled `size` times: (n, size)."""
        batch, *spatial, channels = inputs.shape
        spread = sum(((n, 1) for n in spatial), ())
        grid = engine.reshape(inputs, (batch,) + spread + (channels,))
        grid = engine.tile(grid, (1,) + sum(((1, s) for s in self.size), ()) + (1,))
        return engine.reshape(grid, self.compute_output_shape(inputs.shape))

    def compute_output_shape(self, input_shape):
        spatial = tuple(None if n is None else n * s
                        for n, s in zip(input_shape[1:-1], self.size))
        return (input_shape[0],) + spatial + (input_shape[-1],)

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "data_format": self.data_format,
                "interpolation": self.interpolation}


class UpSampling1D(UpSampling2D):
    """Repeat each step of a sequence `size` times."""

    rank = 1

    def __init__(self, size=2, **kwargs):
        super().__init__(size, **kwargs)

    def get_config(self):
        config = super().get_config()
        for key in ("data_format", "interpolation"):  # Keras's UpSampling1D has neither
            del config[key]
        return {**config, "size": self.size[0]}
