"""Conv1DTranspose, DepthwiseConv1D and SeparableConv1D: against float64 NumPy loops on every
backend, finite differences, and real Keras (predictions, training, configs, files)."""
import math

import numpy as np
import pytest

import engine
from engine import layers
from tests.helpers import (TOLERANCES, check_gradients, float64_supported, keras_or_skip,
                           keras_twins, random_array, sgd_steps_like_keras)

# ---------------------------------------------------------------------------- references


def same_padding(length, kernel, stride):
    """TensorFlow's 'same' padding (before, after) of a convolution: the smaller half first."""
    total = max((math.ceil(length / stride) - 1) * stride + kernel - length, 0)
    return total // 2, total - total // 2


def depthwise_reference(x, kernel, stride, padding, dilation):
    """out[b, i, c * M + m] = sum_t x[b, i * stride + t * dilation, c] * kernel[t, c, m]."""
    steps, (k, channels, multiplier) = x.shape[1], kernel.shape
    reach = (k - 1) * dilation + 1
    pads = same_padding(steps, reach, stride) if padding == "same" else (0, 0)
    padded = np.pad(x, ((0, 0), pads, (0, 0)))
    length = (padded.shape[1] - reach) // stride + 1
    out = np.zeros((x.shape[0], length, channels * multiplier))
    for i in range(length):
        for t in range(k):
            for c in range(channels):
                for m in range(multiplier):
                    out[:, i, c * multiplier + m] += (padded[:, i * stride + t * dilation, c]
                                                      * kernel[t, c, m])
    return out


def transposed_reference(x, kernel, stride, padding, output_padding, dilation):
    """Every input step scatters kernel[t] @ x to step i * stride + t * dilation of the full
    output; Keras keeps (steps - 1) * stride + max(reach, stride) of it for 'valid' and
    steps * stride for 'same' (with output_padding: (steps - 1) * stride + reach + pad, and
    'same' + reach % 2 + pad), cutting the smaller half of the excess from the start."""
    steps, (k, filters, _) = x.shape[1], kernel.shape
    reach = (k - 1) * dilation + 1
    full = np.zeros((x.shape[0], (steps - 1) * stride + reach + stride, filters))
    for i in range(steps):
        for t in range(k):
            full[:, i * stride + t * dilation] += x[:, i] @ kernel[t].T
    natural = (steps - 1) * stride + reach
    if padding == "valid":
        length = natural + (max(stride - reach, 0) if output_padding is None else output_padding)
        start = 0
    else:
        length = (steps * stride if output_padding is None
                  else (steps - 1) * stride + reach % 2 + output_padding)
        start = max(natural - length, 0) // 2
    return full[:, start:start + length]


def separable_reference(x, depthwise, pointwise, stride, padding, dilation):
    return depthwise_reference(x, depthwise, stride, padding, dilation) @ pointwise[0]


def run(layer, x):
    return layer(engine.tensor(x)).numpy()


def random_weights(layer, seed=0):
    """Uniform [-0.5, 0.5] weights set on the built layer, returned in float64."""
    values = [random_array(w.shape, seed + i, -0.5, 0.5) for i, w in enumerate(layer.weights)]
    layer.set_weights(values)
    return [v.astype(np.float64) for v in values]


GEOMETRIES = [dict(strides=1, padding="valid", dilation_rate=1),
              dict(strides=2, padding="valid", dilation_rate=1),
              dict(strides=3, padding="same", dilation_rate=1),
              dict(strides=1, padding="same", dilation_rate=2),
              dict(strides=1, padding="valid", dilation_rate=3)]


# ---------------------------------------------------------------------------- forward


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_depthwise_and_separable_match_numpy_loops(backend, geometry):
    x = random_array((2, 10, 3))
    args = (geometry["strides"], geometry["padding"], geometry["dilation_rate"])
    depthwise = layers.DepthwiseConv1D(3, depth_multiplier=2, **geometry)
    depthwise.build(x.shape)
    kernel, bias = random_weights(depthwise)
    want = depthwise_reference(x.astype(np.float64), kernel, *args) + bias
    np.testing.assert_allclose(run(depthwise, x), want, **TOLERANCES["conv"])
    assert depthwise.compute_output_shape((None, 10, 3)) == (None,) + want.shape[1:]

    separable = layers.SeparableConv1D(4, 3, depth_multiplier=2, activation="tanh", **geometry)
    separable.build(x.shape)
    dk, pk, b = random_weights(separable, seed=3)
    want = np.tanh(separable_reference(x.astype(np.float64), dk, pk, *args) + b)
    np.testing.assert_allclose(run(separable, x), want, **TOLERANCES["conv"])
    assert separable.compute_output_shape((None, 10, 3)) == (None,) + want.shape[1:]


@pytest.mark.parametrize("kernel_size, strides, padding, output_padding, dilation_rate", [
    (3, 1, "valid", None, 1), (3, 2, "valid", None, 1), (2, 3, "valid", None, 1),
    (3, 2, "same", None, 1), (4, 2, "same", None, 1), (1, 3, "same", None, 1),
    (3, 2, "valid", 1, 1), (3, 3, "same", 2, 1), (4, 2, "same", 0, 1), (3, 2, "same", 1, 1),
    (3, 1, "valid", None, 2), (3, 1, "same", None, 2), (2, 1, "same", None, 3)])
def test_conv1d_transpose_matches_numpy_scatter(backend, kernel_size, strides, padding,
                                                output_padding, dilation_rate):
    x = random_array((2, 5, 3))
    layer = layers.Conv1DTranspose(2, kernel_size, strides=strides, padding=padding,
                                   output_padding=output_padding, dilation_rate=dilation_rate)
    layer.build(x.shape)
    kernel, bias = random_weights(layer)
    assert kernel.shape == (kernel_size, 2, 3)
    want = transposed_reference(x.astype(np.float64), kernel, strides, padding, output_padding,
                                dilation_rate) + bias
    np.testing.assert_allclose(run(layer, x), want, **TOLERANCES["conv"])
    assert layer.compute_output_shape((None, 5, 3)) == (None,) + want.shape[1:]


def test_weights_are_named_and_shaped_as_in_keras():
    cases = [(layers.Conv1DTranspose(4, 3), ["kernel", "bias"], [(3, 4, 2), (4,)]),
             (layers.DepthwiseConv1D(3, depth_multiplier=2), ["kernel", "bias"],
              [(3, 2, 2), (4,)]),
             (layers.SeparableConv1D(5, 3, depth_multiplier=3),
              ["depthwise_kernel", "pointwise_kernel", "bias"], [(3, 2, 3), (1, 6, 5), (5,)])]
    for layer, names, shapes in cases:
        layer.build((None, 7, 2))
        assert [w.name.split("/")[-1] for w in layer.weights] == names
        assert [tuple(w.shape) for w in layer.weights] == shapes


# ---------------------------------------------------------------------------- gradients


def gradient_dtype(backend):
    return "float64" if float64_supported(backend) else "float32"


def test_gradients_match_finite_differences(backend):
    dtype = gradient_dtype(backend)
    transposed = layers.Conv1DTranspose(2, 3, strides=2, padding="same", output_padding=1,
                                        dtype=dtype)
    transposed.build((None, 4, 3))

    def transpose(x, kernel, bias):
        transposed.kernel, transposed.bias = kernel, bias
        return transposed(x)

    check_gradients(transpose, [random_array((2, 4, 3)), random_array((3, 2, 3), 1),
                                random_array((2,), 2)], backend)

    depthwise = layers.DepthwiseConv1D(3, padding="same", dilation_rate=2, depth_multiplier=2,
                                       dtype=dtype)
    depthwise.build((None, 6, 2))

    def depthwise_forward(x, kernel, bias):
        depthwise.kernel, depthwise.bias = kernel, bias
        return depthwise(x)

    check_gradients(depthwise_forward, [random_array((2, 6, 2)), random_array((3, 2, 2), 1),
                                        random_array((4,), 2)], backend)

    separable = layers.SeparableConv1D(3, 2, strides=2, activation="tanh", dtype=dtype)
    separable.build((None, 7, 2))

    def separable_forward(x, depthwise_kernel, pointwise_kernel, bias):
        separable.depthwise_kernel, separable.pointwise_kernel = depthwise_kernel, pointwise_kernel
        separable.bias = bias
        return separable(x)

    check_gradients(separable_forward, [random_array((2, 7, 2)), random_array((2, 2, 1), 1),
                                        random_array((1, 2, 3), 2), random_array((3,), 3)],
                    backend)


# ---------------------------------------------------------------------------- Keras


KERAS_CASES = [
    ("Conv1DTranspose", dict(filters=3, kernel_size=3, strides=2, padding="same")),
    ("Conv1DTranspose", dict(filters=3, kernel_size=4, strides=3, padding="valid",
                             output_padding=2, activation="relu")),
    ("Conv1DTranspose", dict(filters=2, kernel_size=3, padding="same", dilation_rate=2,
                             output_padding=0)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=(3, 2), strides=(2, 3), padding="same",
                             output_padding=(1, 2))),
    ("Conv2DTranspose", dict(filters=2, kernel_size=(2, 3), dilation_rate=(1, 2))),
    ("DepthwiseConv1D", dict(kernel_size=3, strides=2, padding="same", depth_multiplier=2)),
    ("DepthwiseConv1D", dict(kernel_size=2, dilation_rate=3, use_bias=False)),
    ("SeparableConv1D", dict(filters=4, kernel_size=3, strides=3, padding="same",
                             depth_multiplier=2, activation="tanh")),
    ("SeparableConv1D", dict(filters=2, kernel_size=3, dilation_rate=2)),
]


@pytest.mark.parametrize("name, options", KERAS_CASES, ids=[n for n, _ in KERAS_CASES])
def test_predictions_configs_and_shapes_equal_keras(name, options):
    keras = keras_or_skip()
    x = random_array((2, 7, 3) if "1D" in name else (2, 4, 5, 3), seed=4)
    theirs = getattr(keras.layers, name)(**options)
    want = np.asarray(theirs(x))
    ours = getattr(layers, name)(**options)
    ours.build(x.shape)
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    np.testing.assert_allclose(run(ours, x), want, rtol=1e-5, atol=1e-5)
    batchless = (None,) + x.shape[1:]
    assert ours.compute_output_shape(batchless) == tuple(theirs.compute_output_shape(batchless))
    their_config = theirs.get_config()
    config = ours.get_config()
    assert set(config) == set(their_config) - {"activity_regularizer"}
    for key in ("kernel_size", "strides", "dilation_rate", "output_padding"):
        if key in config:
            want_value = their_config[key]
            assert config[key] == (None if want_value is None else list(want_value)), key
    rebuilt = type(ours).from_config(config)
    assert rebuilt.get_config() == config
    assert type(layers.deserialize(layers.serialize(ours))) is type(ours)
    getattr(keras.layers, name).from_config(config)  # Keras takes our config too


def conv1d_model(lib):
    inputs = lib.layers.Input((8, 2))
    hidden = lib.layers.SeparableConv1D(4, 3, padding="same", depth_multiplier=2,
                                        activation="tanh", name="separable")(inputs)
    hidden = lib.layers.DepthwiseConv1D(3, strides=2, depth_multiplier=2, name="depthwise")(
        hidden)
    outputs = lib.layers.Conv1DTranspose(2, 3, strides=2, padding="same", output_padding=1,
                                         name="transposed")(hidden)
    return lib.Model(inputs, outputs)


def test_two_sgd_steps_equal_keras():
    keras, theirs, ours = keras_twins(conv1d_model, seed=0)
    x = random_array((3, 8, 2), seed=1)
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(theirs.predict(
        x, verbose=0)), rtol=1e-5, atol=1e-5)
    y = random_array(ours.predict(x, verbose=0).shape, seed=2)
    before = sgd_steps_like_keras(keras, theirs, ours, x, y, learning_rate=0.1)
    assert any(not np.allclose(b, a) for b, a in zip(before, ours.get_weights()))


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_files_load_both_ways_with_keras(tmp_path, suffix):
    keras, theirs, ours = keras_twins(conv1d_model, seed=5)
    x = random_array((2, 8, 2), seed=6)
    want = np.asarray(theirs.predict(x, verbose=0))
    ours.save(str(tmp_path / f"ours{suffix}"))
    loaded_by_keras = keras.saving.load_model(str(tmp_path / f"ours{suffix}"))
    np.testing.assert_allclose(np.asarray(loaded_by_keras.predict(x, verbose=0)), want,
                               rtol=1e-5, atol=1e-5)
    theirs.save(str(tmp_path / f"theirs{suffix}"))
    loaded = engine.models.load_model(str(tmp_path / f"theirs{suffix}"))
    assert [type(layer).__name__ for layer in loaded.layers[1:]] == [
        "SeparableConv1D", "DepthwiseConv1D", "Conv1DTranspose"]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)


def test_tfjs_refuses_what_it_lacks(tmp_path):
    engine.layers.clear_session()
    with pytest.raises(ValueError, match="Layer 'separable': TF.js has no SeparableConv1D"):
        conv1d_model(engine).save(str(tmp_path / "web"))
    inputs = layers.Input((4, 4, 2))
    padded = engine.Model(inputs, layers.Conv2DTranspose(2, 3, strides=2, output_padding=1,
                                                         name="up")(inputs))
    with pytest.raises(ValueError, match="Layer 'up': TF.js's Conv2DTranspose ignores"):
        padded.save(str(tmp_path / "web2"))


def test_aliases():
    assert layers.Convolution1DTranspose is layers.Conv1DTranspose
    assert layers.SeparableConvolution1D is layers.SeparableConv1D
    config = {"class_name": "SeparableConvolution1D",
              "config": layers.SeparableConv1D(2, 3).get_config()}
    assert type(layers.deserialize(config)) is layers.SeparableConv1D


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("make, message", [
    (lambda: layers.Conv1DTranspose(2, 3, padding="causal", name="t"), r"padding 'causal'.*'t'"),
    (lambda: layers.Conv1DTranspose(2, 3, strides=2, output_padding=2, name="t"),
     r"Layer 't': output_padding \(2,\) must be below the strides \(2,\)"),
    (lambda: layers.Conv1DTranspose(2, 3, output_padding=-1), r"`output_padding`.*non-negative"),
    (lambda: layers.Conv1DTranspose(2, 3, strides=2, dilation_rate=2, name="t"),
     r"Layer 't': strides \(2,\) > 1 together with dilation_rate"),
    (lambda: layers.Conv1DTranspose(0, 3, name="t"), r"Layer 't': filters must be a positive"),
    (lambda: layers.DepthwiseConv1D(3, depth_multiplier=0, name="d"),
     r"Layer 'd': depth_multiplier must be a positive"),
    (lambda: layers.DepthwiseConv1D(3, padding="causal", name="d"), r"padding 'causal'.*'d'"),
    (lambda: layers.DepthwiseConv1D((3, 3)), r"`kernel_size` argument must be a tuple of 1"),
    (lambda: layers.DepthwiseConv1D(3, data_format="channels_first"), r"channels_last"),
    (lambda: layers.SeparableConv1D(2, 3, depth_multiplier=-1, name="s"),
     r"Layer 's': depth_multiplier must be a positive"),
    (lambda: layers.SeparableConv1D(2, 0), r"`kernel_size` argument must be a tuple of 1"),
    (lambda: layers.SeparableConv1D(2, 3, strides=2, dilation_rate=2, name="s"),
     r"Layer 's': strides"),
])
def test_bad_arguments_are_refused_by_name(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("layer", [layers.Conv1DTranspose(2, 3), layers.DepthwiseConv1D(3),
                                   layers.SeparableConv1D(2, 3)], ids=lambda l: type(l).__name__)
def test_bad_inputs_are_refused_before_building(layer):
    with pytest.raises(ValueError, match=layer.name):
        layer(engine.tensor(random_array((2, 5, 3, 1))))
    assert not layer.built and not layer.weights
    layer(engine.tensor(random_array((2, 5, 3))))
    with pytest.raises(ValueError, match=layer.name):
        layer(engine.tensor(random_array((2, 5, 4))))
