"""Image resampling with engine ops: per-pixel source coordinates -> gathered, weighted pixels.

The preprocessing layers (Resizing, RandomRotation, RandomZoom, ...) all reduce to `sample`.
Images are (N, H, W, C); source coordinates are row (y) and column (x) positions in pixels.
Interpolation and the handling of coordinates outside the image follow Keras 3 (its JAX
backend: jax.image.resize and jax.scipy.ndimage.map_coordinates).
"""
import numpy as np

import engine

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("bilinear", "nearest")


def _round_half_away_from_zero(x):
    return engine.sign(x) * engine.floor(engine.abs(x) + 0.5)


def _nodes(coordinate, interpolation):
    """[(index, weight)] of one axis; indices are whole numbers in float, weight None means 1."""
    if interpolation == "nearest":
        return [(_round_half_away_from_zero(coordinate), None)]
    lower = engine.floor(coordinate)
    upper_weight = coordinate - lower
    return [(lower, 1.0 - upper_weight), (lower + 1.0, upper_weight)]


def _inside(index, size, fill_mode):
    """index mapped into [0, size) as fill_mode says ('constant' clamps: the caller masks)."""
    if fill_mode == "wrap":
        return engine.mod(index, float(size))
    if fill_mode == "reflect":  # mirror about the pixel edges: -1 -> 0, size -> size - 1
        folded = engine.abs(engine.mod(2.0 * index + (2.0 * size + 1.0), 4.0 * size)
                            - 2.0 * size)
        return engine.floor((folded - 1.0) / 2.0)
    return engine.clip(index, 0.0, size - 1.0)


def _in_bounds(index, size):
    inside = engine.logical_and(engine.greater_equal(index, 0.0),
                                engine.less_equal(index, size - 1.0))
    return engine.cast(inside, index.dtype)


def _product(a, b):
    return b if a is None else a if b is None else a * b


def sample(images, rows, cols, interpolation="bilinear", fill_mode="nearest", fill_value=0.0):
    """out[n, i, j, :] = images[n] read at (rows[n, i, j], cols[n, i, j]).

    rows and cols are tensors of the images' dtype that broadcast to (N, H_out, W_out).
    Bilinear reads blend the four neighbours; in 'constant' mode a neighbour outside the image
    reads fill_value, in the other modes it is mapped inside (clamped, wrapped, reflected).
    """
    batch, height, width, channels = images.shape
    flat = engine.reshape(images, (batch * height * width, channels))
    first_pixel = engine.tensor(np.arange(batch, dtype=np.int32).reshape(batch, 1, 1)
                                * (height * width))
    total = None
    for row, row_weight in _nodes(rows, interpolation):
        for col, col_weight in _nodes(cols, interpolation):
            row_index = engine.cast(_inside(row, height, fill_mode), "int32")
            col_index = engine.cast(_inside(col, width, fill_mode), "int32")
            pixels = engine.gather(flat, first_pixel + row_index * width + col_index)
            if fill_mode == "constant":
                valid = engine.expand_dims(_in_bounds(row, height) * _in_bounds(col, width), -1)
                pixels = pixels * valid + (1.0 - valid) * fill_value
            weight = _product(row_weight, col_weight)
            term = pixels if weight is None else pixels * engine.expand_dims(weight, -1)
            total = term if total is None else total + term
    return total


def resize_coordinates(in_size, out_size, interpolation):
    """Source positions of out_size pixels resampled from in_size (half-pixel centres)."""
    centres = (np.arange(out_size, dtype=np.float64) + 0.5) * in_size / out_size
    if interpolation == "nearest":
        return np.minimum(np.floor(centres), in_size - 1)
    return centres - 0.5


def resize(images, height, width, interpolation="bilinear"):
    """Resize (N, H, W, C) images to (N, height, width, C), as jax.image.resize without
    antialiasing: bilinear clamps at the edges, nearest takes floor of the centre position."""
    _, in_height, in_width, _ = images.shape
    rows = resize_coordinates(in_height, height, interpolation).reshape(1, height, 1)
    cols = resize_coordinates(in_width, width, interpolation).reshape(1, 1, width)
    return sample(images, engine.tensor(rows, dtype=images.dtype),
                  engine.tensor(cols, dtype=images.dtype), interpolation, "nearest")


def affine_transform(images, matrices, interpolation, fill_mode, fill_value):
    """Images resampled through per-sample affine maps (Keras's 8-number transforms, last two
    zero): output pixel (x, y) reads input (a0 x + a1 y + a2, b0 x + b1 y + b2).

    matrices: (N, 6) tensor [a0, a1, a2, b0, b1, b2] of the images' dtype.
    """
    _, height, width, _ = images.shape
    a0, a1, a2, b0, b1, b2 = (engine.reshape(matrices[:, k], (-1, 1, 1)) for k in range(6))
    x = engine.tensor(np.arange(width).reshape(1, 1, width), dtype=images.dtype)
    y = engine.tensor(np.arange(height).reshape(1, height, 1), dtype=images.dtype)
    return sample(images, b0 * x + b1 * y + b2, a0 * x + a1 * y + a2, interpolation, fill_mode,
                  fill_value)


def crop_to_aspect_ratio(images, height, width):
    """The largest centred window of the images with the aspect ratio height : width."""
    _, in_height, in_width, _ = images.shape
    crop_height = max(min(in_height, int(in_width * height / width)), 1)
    crop_width = max(min(in_width, int(in_height * width / height)), 1)
    top, left = (in_height - crop_height) // 2, (in_width - crop_width) // 2
    return images[:, top:top + crop_height, left:left + crop_width, :]


def pad_to_aspect_ratio(images, height, width, fill_value):
    """The images padded evenly with fill_value on their short side towards height : width."""
    _, in_height, in_width, _ = images.shape
    top = (max(in_height, int(in_width * height / width)) - in_height) // 2
    left = (max(in_width, int(in_height * width / height)) - in_width) // 2
    if top > 0:
        return engine.pad(images, ((0, 0), (top, top), (0, 0), (0, 0)),
                          constant_values=fill_value)
    if left > 0:
        return engine.pad(images, ((0, 0), (0, 0), (left, left), (0, 0)),
                          constant_values=fill_value)
    return images
