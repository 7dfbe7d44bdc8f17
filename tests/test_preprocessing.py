"""Image preprocessing and augmentation layers: against real Keras 3 (JAX backend) with the same
inputs (random layers in training with degenerate ranges, which make them deterministic),
against float64 NumPy references, on every backend, and in Keras models both ways."""

import numpy as np
import pytest

import engine
from engine import layers
from tests.helpers import check_gradients, float64_supported, keras_or_skip

IMAGES = np.random.default_rng(0).uniform(0, 255, size=(2, 6, 8, 3)).astype(np.float32)
SQUARE = np.random.default_rng(1).uniform(0, 255, size=(2, 8, 8, 3)).astype(np.float32)
FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("bilinear", "nearest")


@pytest.fixture(scope="module")
def keras():
    return keras_or_skip()


def _ours(name, args, kwargs, images=IMAGES, training=False):
    layer = getattr(layers, name)(*args, **kwargs)
    return layer(engine.tensor(images), training=training).numpy()


def _assert_like_keras(keras, name, args, kwargs, images=IMAGES, training=False):
    theirs = np.asarray(getattr(keras.layers, name)(*args, **kwargs)(images, training=training))
    ours = _ours(name, args, kwargs, images, training)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-3)  # pixels up to 255


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("size", [(3, 5), (9, 13), (12, 8), (6, 8)])
@pytest.mark.parametrize("aspect", [{}, {"crop_to_aspect_ratio": True},
                                    {"pad_to_aspect_ratio": True, "fill_value": 7.0}])
def test_resizing_like_keras(keras, interpolation, size, aspect):
    _assert_like_keras(keras, "Resizing", size, {"interpolation": interpolation, **aspect})


def test_resizing_channels_first_and_single_image_like_keras(keras):
    _assert_like_keras(keras, "Resizing", (5, 4), {"data_format": "channels_first"},
                       IMAGES.transpose(0, 3, 1, 2))
    _assert_like_keras(keras, "Resizing", (9, 3), {}, IMAGES[0])


@pytest.mark.parametrize("size", [(4, 4), (6, 8), (3, 8), (8, 10), (10, 4), (2, 9)])
def test_center_crop_like_keras(keras, size):
    _assert_like_keras(keras, "CenterCrop", size, {})


_AFFINE_CASES = [("RandomRotation", ((0.25, 0.25),)), ("RandomRotation", ((0.1, 0.1),)),
                 ("RandomZoom", ((-0.5, -0.5),)), ("RandomZoom", ((0.3, 0.3), (-0.2, -0.2))),
                 ("RandomTranslation", ((0.2, 0.2), (-0.1, -0.1)))]


@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("name, args", _AFFINE_CASES)
def test_affine_layers_in_training_like_keras(keras, name, args, fill_mode, interpolation):
    _assert_like_keras(keras, name, args, {"fill_mode": fill_mode, "fill_value": 3.0,
                                           "interpolation": interpolation}, training=True)


@pytest.mark.parametrize("name, args, kwargs, scale", [
    ("RandomContrast", ((-0.5, 0.5),), {}, 1.0),
    ("RandomContrast", ((-0.3, 0.3),), {"value_range": (0, 100)}, 1.0),
    ("RandomBrightness", ((0.2, 0.2),), {}, 1.0),
    ("RandomBrightness", ((-0.3, -0.3),), {"value_range": (0, 1)}, 1 / 255),
    ("RandomCrop", (6, 4), {}, 1.0),
    ("RandomCrop", (6, 8), {}, 1.0)])
def test_value_and_crop_layers_in_training_like_keras(keras, name, args, kwargs, scale):
    _assert_like_keras(keras, name, args, kwargs, IMAGES * np.float32(scale), training=True)


@pytest.mark.parametrize("name, args", [
    ("Resizing", (3, 4)), ("CenterCrop", (3, 4)), ("RandomCrop", (3, 4)), ("RandomFlip", ()),
    ("RandomRotation", (0.1,)), ("RandomZoom", (0.1,)), ("RandomTranslation", (0.1, 0.2)),
    ("RandomContrast", (0.3,)), ("RandomBrightness", (0.3,))])
def test_configs_match_keras(keras, name, args):
    def comparable(config):
        config = {k: v for k, v in config.items() if k not in ("name", "dtype", "trainable")}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}

    theirs = getattr(keras.layers, name)(*args).get_config()
    ours = getattr(layers, name)(*args).get_config()
    rebuilt = getattr(layers, name).from_config(ours)
    assert comparable(rebuilt.get_config()) == comparable(ours)
    if name == "RandomCrop":  # Keras draws a seed when given none; ours stays None
        theirs.pop("seed"), ours.pop("seed")
    assert comparable(ours) == comparable(theirs)


# ---------------------------------------------------------------- float64 NumPy references

def _bilinear_resize_reference(image, height, width):
    """Half-pixel-centre bilinear resize of one (H, W, C) image, clamped at the edges."""
    in_height, in_width, _ = image.shape
    out = np.zeros((height, width, image.shape[2]))
    for i in range(height):
        y = min(max((i + 0.5) * in_height / height - 0.5, 0.0), in_height - 1.0)
        for j in range(width):
            x = min(max((j + 0.5) * in_width / width - 0.5, 0.0), in_width - 1.0)
            y0, x0 = int(np.floor(y)), int(np.floor(x))
            y1, x1 = min(y0 + 1, in_height - 1), min(x0 + 1, in_width - 1)
            dy, dx = y - y0, x - x0
            out[i, j] = ((1 - dy) * ((1 - dx) * image[y0, x0] + dx * image[y0, x1])
                         + dy * ((1 - dx) * image[y1, x0] + dx * image[y1, x1]))
    return out


def _rotation_reference(image, degrees, fill_value):
    """One image rotated about its centre (output (x, y) reads the input at the rotated
    position), bilinear, outside pixels reading fill_value."""
    height, width, _ = image.shape
    cos, sin = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    cx, cy = (width - 1) / 2, (height - 1) / 2
    out = np.zeros(image.shape)
    for i in range(height):
        for j in range(width):
            x = cos * (j - cx) - sin * (i - cy) + cx
            y = sin * (j - cx) + cos * (i - cy) + cy
            x0, y0 = int(np.floor(x)), int(np.floor(y))
            for row, weight_y in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
                for col, weight_x in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
                    inside = 0 <= row < height and 0 <= col < width
                    out[i, j] += weight_y * weight_x * (image[row, col] if inside
                                                        else fill_value)
    return out


@pytest.mark.parametrize("size", [(4, 11), (9, 5)])
def test_resizing_bilinear_matches_float64_reference(backend, size):
    dtype = "float64" if float64_supported(backend) else "float32"
    images = IMAGES.astype(np.float64) / 255
    ours = layers.Resizing(*size, dtype=dtype)(engine.tensor(images, dtype=dtype)).numpy()
    want = np.stack([_bilinear_resize_reference(image, *size) for image in images])
    np.testing.assert_allclose(ours, want, atol=1e-12 if dtype == "float64" else 1e-5)


@pytest.mark.parametrize("degrees", [30.0, 90.0])
def test_rotation_matches_float64_reference(backend, degrees):
    dtype = "float64" if float64_supported(backend) else "float32"
    images = IMAGES.astype(np.float64) / 255
    layer = layers.RandomRotation((degrees / 360, degrees / 360), fill_mode="constant",
                                  fill_value=0.5, dtype=dtype)
    ours = layer(engine.tensor(images, dtype=dtype), training=True).numpy()
    want = np.stack([_rotation_reference(image, degrees, 0.5) for image in images])
    np.testing.assert_allclose(ours, want, atol=1e-9 if dtype == "float64" else 1e-5)


def test_gradients_flow_through_resizing(backend):
    for size, interpolation in (((3, 5), "bilinear"), ((5, 2), "nearest")):
        dtype = "float64" if float64_supported(backend) else "float32"
        layer = layers.Resizing(*size, interpolation=interpolation, dtype=dtype)
        check_gradients(layer, [np.random.default_rng(1).uniform(size=(2, 4, 3, 2))], backend)


# ------------------------------------------------------------------ randomness and inference

_RANDOM = [("RandomCrop", (4, 5)), ("RandomFlip", ()), ("RandomRotation", (0.2,)),
           ("RandomZoom", (0.3, 0.2)), ("RandomTranslation", (0.2, 0.3)),
           ("RandomContrast", (0.5,)), ("RandomBrightness", (0.3,))]


@pytest.mark.parametrize("name, args", [case for case in _RANDOM if case[0] != "RandomCrop"])
def test_random_layers_are_the_identity_in_inference(name, args):
    layer = getattr(layers, name)(*args, seed=1)
    np.testing.assert_array_equal(layer(engine.tensor(IMAGES)).numpy(), IMAGES)
    np.testing.assert_array_equal(layer(engine.tensor(IMAGES), training=False).numpy(), IMAGES)


def test_random_crop_in_inference_resizes_the_centred_window_of_its_aspect_ratio(keras):
    """As Keras documents (and Keras 2 did; Keras 3.15 returns the images uncropped)."""
    ours = layers.RandomCrop(4, 6, seed=1)(engine.tensor(IMAGES)).numpy()
    want = keras.layers.Resizing(4, 6, crop_to_aspect_ratio=True)(IMAGES)
    np.testing.assert_allclose(ours, np.asarray(want), rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("name, args", _RANDOM)
def test_random_layers_draw_per_sample_and_repeat_with_a_seed(backend, name, args):
    batch = np.repeat(IMAGES[:1], 6, axis=0) / 255  # identical samples: only draws differ

    def run():
        layer = getattr(layers, name)(*args, seed=7)
        return [layer(engine.tensor(batch), training=True).numpy() for _ in range(2)]

    first, second = run()
    assert len({out.tobytes() for out in first}) > 1, "every sample got the same draw"
    assert not np.array_equal(first, second), "the second call repeated the first's draws"
    engine.set_backend("numpy")  # the backend fixture restores the previous one afterwards
    reference_first, reference_second = run()
    np.testing.assert_allclose(first, reference_first, atol=1e-5)
    np.testing.assert_allclose(second, reference_second, atol=1e-5)


@pytest.mark.parametrize("mode, axes", [("horizontal", (2,)), ("vertical", (1,)),
                                        ("horizontal_and_vertical", (1, 2))])
def test_random_flip_flips_exactly_the_samples_it_chose(backend, mode, axes):
    batch = np.random.default_rng(2).uniform(size=(16, 5, 4, 2)).astype(np.float32)
    out = layers.RandomFlip(mode, seed=3)(engine.tensor(batch), training=True).numpy()
    flipped = [np.array_equal(o, np.flip(x, axis=[a - 1 for a in axes]))
               for o, x in zip(out, batch)]
    kept = [np.array_equal(o, x) for o, x in zip(out, batch)]
    assert all(f != k for f, k in zip(flipped, kept))  # each sample: exactly one of the two
    assert any(flipped) and any(kept)


def test_random_crop_windows_lie_inside_each_image(backend):
    batch = np.arange(8 * 7 * 9, dtype=np.float32).reshape(8, 7, 9, 1)
    out = layers.RandomCrop(3, 4, seed=5)(engine.tensor(batch), training=True).numpy()
    tops = set()
    for o, x in zip(out, batch):
        top, left = divmod(int(o[0, 0, 0]) - int(x[0, 0, 0]), 9)
        np.testing.assert_array_equal(o, x[top:top + 3, left:left + 4])
        tops.add((top, left))
    assert len(tops) > 1


# ------------------------------------------------------------------------- Keras models

def _keras_augmented_model(keras):
    k = keras.layers
    return keras.Sequential([
        keras.Input((8, 8, 3)), k.Rescaling(1 / 255), k.RandomFlip(seed=1),
        k.RandomRotation(0.1, seed=2), k.RandomZoom(0.1, seed=3), k.Resizing(6, 6),
        k.Conv2D(4, 3, activation="relu"), k.GlobalAveragePooling2D(), k.Dense(2)])


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras_augmented_models_load_predict_and_train_here(keras, tmp_path, suffix):
    theirs = _keras_augmented_model(keras)
    path = str(tmp_path / f"model{suffix}")
    theirs.save(path)
    ours = engine.models.load_model(path, compile=False)
    assert [type(layer).__name__ for layer in ours.layers] == \
        [type(layer).__name__ for layer in theirs.layers]
    np.testing.assert_allclose(ours.predict(SQUARE, verbose=0),
                               np.asarray(theirs.predict(SQUARE, verbose=0)), atol=1e-5)
    ours.compile(optimizer="sgd", loss="mse")
    before = ours.get_weights()
    history = ours.fit(SQUARE, np.ones((2, 2), np.float32), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, ours.get_weights()))


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras_loads_augmented_models_saved_here(keras, tmp_path, suffix):
    ours = engine.models.Sequential([
        layers.Input((8, 8, 3)), layers.Rescaling(1 / 255), layers.RandomFlip(seed=1),
        layers.RandomTranslation(0.1, 0.1, seed=2), layers.CenterCrop(6, 6),
        layers.RandomContrast(0.2), layers.Conv2D(4, 3), layers.GlobalAveragePooling2D(),
        layers.Dense(2)])
    path = str(tmp_path / f"ours{suffix}")
    ours.save(path)
    theirs = keras.saving.load_model(path)
    np.testing.assert_allclose(np.asarray(theirs.predict(SQUARE, verbose=0)),
                               ours.predict(SQUARE, verbose=0), atol=1e-5)


def test_tfjs_refuses_preprocessing_layers(tmp_path):
    for layer in (layers.Resizing(4, 4), layers.CenterCrop(2, 2), layers.RandomFlip()):
        model = engine.models.Sequential([layers.Input((6, 8, 3)), layer, layers.Flatten()])
        with pytest.raises(ValueError, match=f"Layer '{layer.name}': TF.js"):
            model.save(str(tmp_path / layer.name))


# ------------------------------------------------------------------------- bad arguments

@pytest.mark.parametrize("name, args, kwargs, message", [
    ("Resizing", (0, 4), {}, "height must be a positive integer"),
    ("Resizing", (4, 2.5), {}, "width must be a positive integer"),
    ("Resizing", (4, 4), {"interpolation": "bicubic"}, "unknown interpolation 'bicubic'"),
    ("Resizing", (4, 4), {"antialias": True}, "antialias=True is not supported"),
    ("Resizing", (4, 4), {"fill_mode": "reflect"}, "unknown fill_mode 'reflect'"),
    ("Resizing", (4, 4), {"crop_to_aspect_ratio": True, "pad_to_aspect_ratio": True},
     "only one of"),
    ("Resizing", (4, 4), {"data_format": "nhwc"}, "unknown data_format 'nhwc'"),
    ("CenterCrop", (-1, 4), {}, "height must be a positive integer"),
    ("RandomCrop", (4, None), {}, "width must be a positive integer"),
    ("RandomFlip", ("diagonal",), {}, "unknown mode 'diagonal'"),
    ("RandomRotation", (1.5,), {}, r"factor must be a number in \[-1.0, 1.0\]"),
    ("RandomRotation", ((0.1, 0.2, 0.3),), {}, "factor must be"),
    ("RandomRotation", (0.1,), {"fill_mode": "mirror"}, "unknown fill_mode 'mirror'"),
    ("RandomRotation", (0.1,), {"interpolation": "cubic"}, "unknown interpolation 'cubic'"),
    ("RandomZoom", (-1.0,), {}, r"height_factor must be a number in \(-1.0, 1.0\]"),
    ("RandomZoom", (0.1, "big"), {}, "width_factor must be"),
    ("RandomTranslation", (0.1, (0.2, 1.5)), {}, "width_factor must be"),
    ("RandomContrast", (-0.2,), {}, r"factor must be a number in \[0.0, 1.0\]"),
    ("RandomContrast", (0.2,), {"value_range": 255}, "value_range must be a pair"),
    ("RandomBrightness", ((0.1, 2.0),), {}, "factor must be")])
def test_bad_arguments_are_refused_naming_the_layer(name, args, kwargs, message):
    with pytest.raises(ValueError, match=f"Layer 'bad' \\({name}\\): .*{message}"):
        getattr(layers, name)(*args, name="bad", **kwargs)


@pytest.mark.parametrize("name, args", [("Resizing", (3, 3)), ("CenterCrop", (2, 2))] + _RANDOM)
def test_images_of_the_wrong_rank_are_refused_before_any_draw(name, args):
    seeded = {} if name in ("Resizing", "CenterCrop") else {"seed": 4}
    layer = getattr(layers, name)(*args, name="aug", **seeded)
    with pytest.raises(ValueError, match=rf"Layer 'aug' \({name}\): expected images of rank 3"):
        layer(engine.tensor(IMAGES[0, :, :, 0]), training=True)
    fresh = getattr(layers, name)(*args, **seeded)
    np.testing.assert_array_equal(layer(engine.tensor(IMAGES), training=True).numpy(),
                                  fresh(engine.tensor(IMAGES), training=True).numpy())
