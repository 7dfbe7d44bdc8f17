"""Keras 3's image preprocessing and augmentation layers, written with engine ops.

Resizing and CenterCrop always apply. The Random* layers are the identity in inference and in
training draw one set of parameters per sample from their seed (engine's seeded random ops),
so Keras image models that carry their augmentation inside load, predict and train here.
Images are (N, H, W, C) or one (H, W, C) image; data_format="channels_first" is accepted.
"""
import math

import numpy as np

import engine
from engine.layers import image_sampling
from engine.layers.base import Layer, next_seed

DATA_FORMATS = ("channels_last", "channels_first")


def _choice(layer, argument, value, allowed):
    if value not in allowed:
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): unknown {argument} "
                         f"{value!r}; expected one of {', '.join(map(repr, allowed))}")
    return value


def _positive_int(layer, argument, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): {argument} must be a "
                         f"positive integer, got {value!r}")
    return int(value)


def _number(layer, argument, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): {argument} must be a "
                         f"number, got {value!r}")
    return float(value)


def _factor_range(layer, argument, factor, low, high, low_open=False, scalar_low=None):
    """(lower, upper) from a pair, each value in [low, high] (or (low, high] when low_open), or
    from a number f in [scalar_low, high] (scalar_low defaults to low) meaning
    (max(-|f|, scalar_low), |f|): Keras's conventions for augmentation factors."""
    scalar_low = low if scalar_low is None else scalar_low
    is_pair = isinstance(factor, (tuple, list))
    values = list(factor) if is_pair else [factor]
    smallest = low if is_pair else scalar_low
    fits = (len(values) == (2 if is_pair else 1)
            and all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
                    and (smallest < v if low_open else smallest <= v) and v <= high
                    for v in values))
    if not fits:
        bracket = "(" if low_open else "["
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): {argument} must be a "
                         f"number in {bracket}{scalar_low}, {high}] or a pair of numbers in "
                         f"{bracket}{low}, {high}], got {factor!r}")
    if is_pair:
        return tuple(sorted(float(v) for v in values))
    return max(-abs(float(factor)), scalar_low), abs(float(factor))


class _ImageLayer(Layer):
    """Checks image ranks and data formats; subclasses transform (N, H, W, C) in `transform`."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _choice(self, "data_format", data_format or "channels_last",
                                   DATA_FORMATS)

    def _check_rank(self, shape):
        if len(shape) not in (3, 4):
            layout = "H, W, C" if self.data_format == "channels_last" else "C, H, W"
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): expected images of "
                             f"rank 3 ({layout}) or 4 (N, {layout}), got shape {tuple(shape)}")

    def call(self, inputs, training=False):
        self._check_rank(inputs.shape)
        if not engine.dtypes.is_floating(inputs.dtype):
            inputs = engine.cast(inputs, "float32")
        images = inputs if inputs.ndim == 4 else engine.expand_dims(inputs, 0)
        if self.data_format == "channels_first":
            images = engine.transpose(images, (0, 2, 3, 1))
        outputs = self.transform(images, training)
        if self.data_format == "channels_first":
            outputs = engine.transpose(outputs, (0, 3, 1, 2))
        return outputs if inputs.ndim == 4 else outputs[0]

    def transform(self, images, training):
        raise NotImplementedError

    def output_size(self, height, width):
        """(height, width) of the outputs for inputs of that size."""
        return height, width

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        shape = list(input_shape)
        axis = len(shape) - (3 if self.data_format == "channels_last" else 2)
        shape[axis:axis + 2] = self.output_size(shape[axis], shape[axis + 1])
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


def _smart_resize(images, height, width):
    """Keras's smart_resize: the centred window of the target aspect ratio, resized."""
    cropped = image_sampling.crop_to_aspect_ratio(images, height, width)
    return image_sampling.resize(cropped, height, width, "bilinear")


class Resizing(_ImageLayer):
    """Images resized to (height, width); optionally cropped or padded first to keep their
    aspect ratio."""

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0,
                 antialias=False, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.height = _positive_int(self, "height", height)
        self.width = _positive_int(self, "width", width)
        self.interpolation = _choice(self, "interpolation", interpolation,
                                     image_sampling.INTERPOLATIONS)
        self.fill_mode = _choice(self, "fill_mode", fill_mode, ("constant",))
        self.fill_value = _number(self, "fill_value", fill_value)
        if antialias:
            raise ValueError(f"Layer '{self.name}' (Resizing): antialias=True is not supported; "
                             f"use antialias=False")
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(f"Layer '{self.name}' (Resizing): only one of crop_to_aspect_ratio "
                             f"and pad_to_aspect_ratio can be True")
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.antialias = False

    def transform(self, images, training):
        if self.crop_to_aspect_ratio:
            images = image_sampling.crop_to_aspect_ratio(images, self.height, self.width)
        elif self.pad_to_aspect_ratio:
            images = image_sampling.pad_to_aspect_ratio(images, self.height, self.width,
                                                        self.fill_value)
        return image_sampling.resize(images, self.height, self.width, self.interpolation)

    def output_size(self, height, width):
        return self.height, self.width

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation,
                "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": self.pad_to_aspect_ratio, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "antialias": self.antialias}


class CenterCrop(_ImageLayer):
    """The centred (height, width) window; images smaller than that on a side are first cropped
    to its aspect ratio and resized (Keras's smart_resize)."""

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.height = _positive_int(self, "height", height)
        self.width = _positive_int(self, "width", width)

    def transform(self, images, training):
        _, in_height, in_width, _ = images.shape
        if in_height < self.height or in_width < self.width:
            return _smart_resize(images, self.height, self.width)
        top, left = (in_height - self.height) // 2, (in_width - self.width) // 2
        return images[:, top:top + self.height, left:left + self.width, :]

    def output_size(self, height, width):
        return self.height, self.width

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


class _RandomLayer(_ImageLayer):
    """An augmentation: identity in inference, `augment(images)` in training."""

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.seed = seed

    def transform(self, images, training):
        return self.augment(images) if training else images

    def augment(self, images):
        raise NotImplementedError

    def uniform(self, count, lower, upper, dtype):
        """`count` draws from [lower, upper) (always `lower` when the two are equal)."""
        draws = engine.random_uniform((count,), dtype=dtype, seed=next_seed(self))
        return draws * (upper - lower) + lower

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


class RandomCrop(_RandomLayer):
    """A random (height, width) window per sample in training; in inference (and in training
    when the images are not larger on both sides) the centred window of the target aspect
    ratio, resized. (Keras 3.15 returns uncropped images in inference, against its own
    output shape; Keras 2 cropped as here.)"""

    def __init__(self, height, width, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.height = _positive_int(self, "height", height)
        self.width = _positive_int(self, "width", width)

    def transform(self, images, training):
        _, in_height, in_width, _ = images.shape
        if training and in_height > self.height and in_width > self.width:
            return self.augment(images)
        if (in_height, in_width) == (self.height, self.width):
            return images
        return _smart_resize(images, self.height, self.width)

    def augment(self, images):
        batch, in_height, in_width, _ = images.shape
        tops = engine.floor(self.uniform(batch, 0.0, in_height - self.height + 1, images.dtype))
        lefts = engine.floor(self.uniform(batch, 0.0, in_width - self.width + 1, images.dtype))
        rows = engine.reshape(tops, (batch, 1, 1)) + engine.tensor(
            np.arange(self.height).reshape(1, self.height, 1), dtype=images.dtype)
        cols = engine.reshape(lefts, (batch, 1, 1)) + engine.tensor(
            np.arange(self.width).reshape(1, 1, self.width), dtype=images.dtype)
        return image_sampling.sample(images, rows, cols, "nearest")

    def output_size(self, height, width):
        return self.height, self.width

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


class RandomFlip(_RandomLayer):
    """Each sample flipped with probability 1/2: left-right ('horizontal'), upside down
    ('vertical'), or both at once ('horizontal_and_vertical', one draw for both, as Keras)."""

    MODES = ("horizontal_and_vertical", "horizontal", "vertical")

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.mode = _choice(self, "mode", mode, self.MODES)

    def augment(self, images):
        draws = self.uniform(images.shape[0], 0.0, 1.0, images.dtype)
        flips = engine.reshape(engine.less_equal(draws, 0.5), (-1, 1, 1, 1))
        axes = {"horizontal": (2,), "vertical": (1,), "horizontal_and_vertical": (1, 2)}
        return engine.where(flips, engine.reverse(images, axes[self.mode]), images)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class _AffineLayer(_RandomLayer):
    """A random affine resampling per sample, with Keras's fill modes and interpolations."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.fill_mode = _choice(self, "fill_mode", fill_mode, image_sampling.FILL_MODES)
        self.interpolation = _choice(self, "interpolation", interpolation,
                                     image_sampling.INTERPOLATIONS)
        self.fill_value = _number(self, "fill_value", fill_value)

    def augment(self, images):
        matrices = engine.stack(self.matrix_rows(images), axis=1)
        return image_sampling.affine_transform(images, matrices, self.interpolation,
                                               self.fill_mode, self.fill_value)

    def matrix_rows(self, images):
        """[a0, a1, a2, b0, b1, b2]: (N,) tensors mapping output (x, y) to input positions."""
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode,
                "interpolation": self.interpolation, "fill_value": self.fill_value}


class RandomRotation(_AffineLayer):
    """Rotation about the image centre by factor * 360 degrees, factor drawn from
    [lower, upper] (a number f means [-f, f])."""

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.factor = _factor_range(self, "factor", factor, -1.0, 1.0)

    def matrix_rows(self, images):
        batch, height, width, _ = images.shape
        lower, upper = (f * 2 * math.pi for f in self.factor)
        angles = self.uniform(batch, lower, upper, images.dtype)
        cos, sin = engine.cos(angles), engine.sin(angles)
        centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
        return [cos, -sin, centre_x - centre_x * cos + centre_y * sin,
                sin, cos, centre_y - centre_x * sin - centre_y * cos]

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomZoom(_AffineLayer):
    """Zoom about the image centre: each side scaled by 1 + factor (factor in (-1, 1]:
    negative zooms in, positive out); width follows height unless width_factor is given."""

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = _factor_range(self, "height_factor", height_factor, -1.0, 1.0,
                                          low_open=True)
        self.width_range = (None if width_factor is None else
                            _factor_range(self, "width_factor", width_factor, -1.0, 1.0,
                                          low_open=True))

    def matrix_rows(self, images):
        batch, height, width, _ = images.shape
        height_zoom = self.uniform(batch, *(1.0 + f for f in self.height_range), images.dtype)
        width_zoom = height_zoom if self.width_range is None else self.uniform(
            batch, *(1.0 + f for f in self.width_range), images.dtype)
        zero = height_zoom * 0.0
        return [width_zoom, zero, (width - 1) / 2 * (1.0 - width_zoom),
                zero, height_zoom, (height - 1) / 2 * (1.0 - height_zoom)]

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor,
                "width_factor": self.width_factor}


class RandomTranslation(_AffineLayer):
    """Shift by factor * size pixels down (height) and right (width), factors in [-1, 1]."""

    def __init__(self, height_factor, width_factor, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = _factor_range(self, "height_factor", height_factor, -1.0, 1.0)
        self.width_range = _factor_range(self, "width_factor", width_factor, -1.0, 1.0)

    def matrix_rows(self, images):
        batch, height, width, _ = images.shape
        down = self.uniform(batch, *self.height_range, images.dtype) * float(height)
        right = self.uniform(batch, *self.width_range, images.dtype) * float(width)
        zero, one = down * 0.0, down * 0.0 + 1.0
        return [one, zero, -right, zero, one, -down]

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor,
                "width_factor": self.width_factor}


class _ValueRangeLayer(_RandomLayer):
    """An intensity augmentation whose outputs are clipped to value_range."""

    def __init__(self, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if (not isinstance(value_range, (tuple, list)) or len(value_range) != 2
                or not all(isinstance(v, (int, float, np.number)) for v in value_range)):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): value_range must be "
                             f"a pair of numbers, got {value_range!r}")
        self.value_range = value_range

    def clip(self, images):
        low, high = sorted(float(v) for v in self.value_range)
        return engine.clip(images, low, high)

    def per_sample(self, images, lower, upper):
        """One draw per sample from [lower, upper), shaped (N, 1, 1, 1)."""
        return engine.reshape(self.uniform(images.shape[0], lower, upper, images.dtype),
                              (-1, 1, 1, 1))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomContrast(_ValueRangeLayer):
    """(x - mean) * c + mean per sample and channel (mean over the pixels), c drawn from
    [1 - lower, 1 + upper] for factor (lower, upper) (a number f means (0, f))."""

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(value_range, seed, **kwargs)
        self.factor = _factor_range(self, "factor", factor, -1.0, 1.0, scalar_low=0.0)

    def augment(self, images):
        lower, upper = self.factor
        contrast = self.per_sample(images, 1.0 - lower, 1.0 + upper)
        mean = engine.mean(images, axis=(1, 2), keepdims=True)
        return self.clip((images - mean) * contrast + mean)


class RandomBrightness(_ValueRangeLayer):
    """x + delta per sample, delta drawn from factor * (value_range width); factor in [-1, 1]
    (a number f means [-f, f])."""

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(value_range, seed, **kwargs)
        self.factor = _factor_range(self, "factor", factor, -1.0, 1.0)
        self.value_range = sorted(value_range)

    def augment(self, images):
        low, high = self.value_range
        lower, upper = (f * (high - low) for f in self.factor)
        return self.clip(images + self.per_sample(images, lower, upper))
