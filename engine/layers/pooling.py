"""Pooling layers (channels_last) of rank 1 and 2: windowed max/average and global max/average.
A 1-D pool is the 2-D op on its sequence seen as one row of cells, as Keras computes it."""
import engine
from engine.layers.base import InputSpec, Layer
from engine.layers.conv import _channels_last_only, as_tuple, conv_output_length


class Pooling(Layer):
    """Shared arguments of the windowed pools; `pool` is the engine op, `rank` 1 or 2."""

    pool = None
    rank = 2

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = as_tuple(pool_size, self.rank, "pool_size")
        self.strides = (as_tuple(strides, self.rank, "strides") if strides is not None
                        else self.pool_size)
        self.padding = padding.lower()
        if self.padding not in ("valid", "same"):
            raise ValueError(f"Invalid padding {padding!r}; expected 'valid' or 'same'")
        self.data_format = _channels_last_only(data_format)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def call(self, inputs):
        if self.rank == 2:
            return type(self).pool(inputs, self.pool_size, self.strides, self.padding)
        row = engine.expand_dims(inputs, 1)
        pooled = type(self).pool(row, (1,) + self.pool_size, (1,) + self.strides, self.padding)
        return engine.squeeze(pooled, 1)

    def compute_output_shape(self, input_shape):
        spatial = tuple(conv_output_length(n, k, self.padding, s) for n, k, s in
                        zip(input_shape[1:-1], self.pool_size, self.strides))
        return (input_shape[0],) + spatial + (input_shape[-1],)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size),
                "padding": self.padding, "strides": list(self.strides),
                "data_format": self.data_format}


class MaxPooling2D(Pooling):
    pool = engine.max_pool2d


class AveragePooling2D(Pooling):
    pool = engine.avg_pool2d


class MaxPooling1D(Pooling):
    pool, rank = engine.max_pool2d, 1


class AveragePooling1D(Pooling):
    pool, rank = engine.avg_pool2d, 1


class GlobalPooling(Layer):
    """Reduce over the spatial axes; `keepdims` keeps them as size 1."""

    reduce = None
    rank = 2

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _channels_last_only(data_format)
        self.keepdims = keepdims
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def call(self, inputs):
        return type(self).reduce(inputs, tuple(range(1, self.rank + 1)), self.keepdims)

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0],) + (1,) * self.rank + (input_shape[-1],)
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format,
                "keepdims": self.keepdims}


class GlobalAveragePooling2D(GlobalPooling):
    reduce = engine.mean


class GlobalMaxPooling2D(GlobalPooling):
    reduce = engine.max


class GlobalAveragePooling1D(GlobalPooling):
    """With a mask (Keras's rule), the mean over the unmasked steps only; the output has no
    mask."""

    reduce, rank = engine.mean, 1

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        kept = engine.expand_dims(engine.cast(mask, inputs.dtype), -1)
        total = engine.sum(engine.where(kept > 0, inputs, 0.0), 1, keepdims=self.keepdims)
        return total / engine.sum(kept, 1, keepdims=self.keepdims)

    def compute_mask(self, inputs, previous_mask):
        return None


class GlobalMaxPooling1D(GlobalPooling):
    reduce, rank = engine.max, 1
