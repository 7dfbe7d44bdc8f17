"""Pooling layers (channels_last): windowed max/average and global max/average."""
import engine
from engine.layers.base import InputSpec, Layer
from engine.layers.conv import _channels_last_only, as_tuple, conv_output_length


class Pooling2D(Layer):
    """Shared arguments of the windowed pools; `pool` is the engine op."""

    pool = None

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.pool_size = as_tuple(pool_size, 2, "pool_size")
        self.strides = as_tuple(strides, 2, "strides") if strides is not None else self.pool_size
        self.padding = padding.lower()
        if self.padding not in ("valid", "same"):
            raise ValueError(f"Invalid padding {padding!r}; expected 'valid' or 'same'")
        self.data_format = _channels_last_only(data_format)
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        return type(self).pool(inputs, self.pool_size, self.strides, self.padding)

    def compute_output_shape(self, input_shape):
        spatial = tuple(conv_output_length(n, k, self.padding, s)
                        for n, k, s in zip(input_shape[1:3], self.pool_size, self.strides))
        return (input_shape[0],) + spatial + (input_shape[3],)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size),
                "padding": self.padding, "strides": list(self.strides),
                "data_format": self.data_format}


class MaxPooling2D(Pooling2D):
    pool = engine.max_pool2d


class AveragePooling2D(Pooling2D):
    pool = engine.avg_pool2d


class GlobalPooling2D(Layer):
    """Reduce over height and width; `keepdims` keeps them as size 1."""

    reduce = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _channels_last_only(data_format)
        self.keepdims = keepdims
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        return type(self).reduce(inputs, (1, 2), self.keepdims)

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0], 1, 1, input_shape[3])
        return (input_shape[0], input_shape[3])

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format,
                "keepdims": self.keepdims}


class GlobalAveragePooling2D(GlobalPooling2D):
    reduce = engine.mean


class GlobalMaxPooling2D(GlobalPooling2D):
    reduce = engine.max
