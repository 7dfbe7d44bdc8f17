"""ConvLSTM2D against a float64 NumPy reference (loops over time, a direct convolution),
finite differences, real Keras (predictions, SGD steps, config, .keras and .h5 both ways) and
real TF.js."""
import math

import numpy as np
import pytest

import engine
from engine import layers
from tests.helpers import (TOLERANCES, check_gradients, float64_supported, keras_or_skip,
                           keras_file_listing, keras_twins, no_kernel_runs, predicted_by_tfjs,
                           random_array, saved_by_tfjs, sgd_steps_like_keras)

MASK = np.array([[1, 1, 1, 1], [1, 0, 1, 0], [0, 0, 1, 1]], bool)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def conv_reference(x, kernel, strides=(1, 1), padding="valid", dilations=(1, 1)):
    """NHWC x HWIO cross-correlation by direct sums over the kernel taps, TF's 'same' split
    (the smaller half of the padding before)."""
    batch, rows, cols, _ = x.shape
    kh, kw, _, out_channels = kernel.shape
    pads, out = [], []
    for size, k, s, d in zip((rows, cols), (kh, kw), strides, dilations):
        span = (k - 1) * d + 1
        if padding == "same":
            length = math.ceil(size / s)
            total = max((length - 1) * s + span - size, 0)
            pads.append((total // 2, total - total // 2))
        else:
            length = (size - span) // s + 1
            pads.append((0, 0))
        out.append(length)
    padded = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    y = np.zeros((batch, out[0], out[1], out_channels))
    for i in range(out[0]):
        for j in range(out[1]):
            for a in range(kh):
                for b in range(kw):
                    pixel = padded[:, i * strides[0] + a * dilations[0],
                                   j * strides[1] + b * dilations[1], :]
                    y[:, i, j, :] += pixel @ kernel[a, b]
    return y


def conv_lstm_reference(x, kernel, recurrent, bias, strides=(1, 1), padding="valid",
                        dilations=(1, 1), go_backwards=False, mask=None):
    """Keras's ConvLSTM2D equations step by step: (every step's output, h, c). A masked step
    keeps the states and repeats the previous output (zeros before the first kept step)."""
    steps = x.shape[1]
    filters = recurrent.shape[2]
    h = c = None
    outputs = []
    for t in (range(steps - 1, -1, -1) if go_backwards else range(steps)):
        z = conv_reference(x[:, t], kernel, strides, padding, dilations) + bias
        if h is None:
            h = c = np.zeros(z.shape[:3] + (filters,))
        z = z + conv_reference(h, recurrent, padding="same")
        z_i, z_f, z_c, z_o = np.split(z, 4, axis=-1)
        new_c = sigmoid(z_f) * c + sigmoid(z_i) * np.tanh(z_c)
        new_h = sigmoid(z_o) * np.tanh(new_c)
        kept = np.ones(len(x), bool) if mask is None else mask[:, t]
        kept = kept[:, None, None, None]
        previous = outputs[-1] if outputs else np.zeros_like(new_h)
        outputs.append(np.where(kept, new_h, previous))
        h, c = np.where(kept, new_h, h), np.where(kept, new_c, c)
    return np.stack(outputs, axis=1), h, c


OPTIONS = [
    {"kernel_size": 3, "padding": "same"},
    {"kernel_size": (2, 3), "strides": (2, 1), "go_backwards": True},
    {"kernel_size": 2, "dilation_rate": 2, "padding": "same", "masked": True},
    {"kernel_size": (3, 2), "strides": 2, "padding": "same", "go_backwards": True,
     "masked": True, "use_bias": False},
]


@pytest.mark.parametrize("options", OPTIONS)
def test_layer_matches_numpy_reference(backend, options):
    options = dict(options)
    masked = options.pop("masked", False)
    layer = layers.ConvLSTM2D(3, return_sequences=True, return_state=True,
                              bias_initializer="glorot_uniform", **options)
    x = random_array((3, 4, 6, 5, 2), 1)
    mask = MASK if masked else None
    output, h, c = layer(engine.tensor(x), mask=None if mask is None else engine.tensor(mask))
    bias = layer.bias.numpy() if layer.use_bias else 0.0
    want = conv_lstm_reference(
        x.astype(np.float64), layer.kernel.numpy().astype(np.float64),
        layer.recurrent_kernel.numpy().astype(np.float64), bias, layer.strides, layer.padding,
        layer.dilation_rate, layer.go_backwards, mask)
    for got, expected in zip((output, h, c), want):
        assert tuple(got.shape) == expected.shape
        np.testing.assert_allclose(got.numpy(), expected, **TOLERANCES["conv"])
    assert [tuple(output.shape), tuple(h.shape), tuple(c.shape)] == \
        layer.compute_output_shape((3, 4, 6, 5, 2))
    last = layers.ConvLSTM2D.from_config({**layer.get_config(), "return_sequences": False,
                                          "return_state": False})
    last.build((3, 4, 6, 5, 2))
    last.set_weights(layer.get_weights())
    np.testing.assert_allclose(last(engine.tensor(x), mask=mask).numpy(), want[0][:, -1],
                               **TOLERANCES["conv"])


def test_weights_shapes_names_and_forget_bias():
    layer = layers.ConvLSTM2D(4, (3, 2), name="conv")
    layer.build((None, 5, 7, 6, 2))
    assert [(w.name, tuple(w.shape)) for w in layer.weights] == [
        ("conv/kernel", (3, 2, 2, 16)), ("conv/recurrent_kernel", (3, 2, 4, 16)),
        ("conv/bias", (16,))]
    np.testing.assert_array_equal(layer.bias.numpy(), [0] * 4 + [1] * 4 + [0] * 8)
    plain = layers.ConvLSTM2D(2, 1, unit_forget_bias=False, use_bias=False)
    plain.build((None, 3, 4, 4, 1))
    assert [w.name.split("/")[-1] for w in plain.weights] == ["kernel", "recurrent_kernel"]
    assert layer.compute_output_shape((None, 5, 7, 6, 2)) == (None, 5, 5, 4)


def test_initial_state_and_dropout():
    layer = layers.ConvLSTM2D(2, 3, padding="same", return_state=True, dropout=0.5,
                              recurrent_dropout=0.5, seed=3)
    x = engine.tensor(random_array((2, 3, 4, 4, 1), 2))
    h0, c0 = random_array((2, 4, 4, 2), 3), random_array((2, 4, 4, 2), 4)
    output, h, c = layer(x, initial_state=[engine.tensor(h0), engine.tensor(c0)])
    single = layers.ConvLSTM2D(2, 3, padding="same", return_state=True)
    single.build((2, 1, 4, 4, 1))
    single.set_weights(layer.get_weights())
    first = single(engine.slice(x, (0, 0), (2, 1)), initial_state=[engine.tensor(h0),
                                                                   engine.tensor(c0)])
    z_h = conv_reference(h0.astype(np.float64), layer.recurrent_kernel.numpy(), padding="same")
    z = conv_reference(x.numpy()[:, 0].astype(np.float64), layer.kernel.numpy(),
                       padding="same") + layer.bias.numpy() + z_h
    z_i, z_f, z_c, z_o = np.split(z, 4, axis=-1)
    c1 = sigmoid(z_f) * c0 + sigmoid(z_i) * np.tanh(z_c)
    np.testing.assert_allclose(first[2].numpy(), c1, **TOLERANCES["conv"])
    np.testing.assert_allclose(first[1].numpy(), sigmoid(z_o) * np.tanh(c1),
                               **TOLERANCES["conv"])
    assert tuple(output.shape) == tuple(h.shape) == (2, 4, 4, 2)
    plain = layers.ConvLSTM2D(2, 3, padding="same")  # no dropout
    plain.build((2, 3, 4, 4, 1))
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(layer(x)[0].numpy(), plain(x).numpy())  # inference: none
    trained = layer(x, training=True)[0].numpy()
    assert trained.shape == (2, 4, 4, 2) and not np.allclose(trained, plain(x).numpy())


def test_gradients_match_finite_differences(backend):
    dtype = "float64" if float64_supported(backend) else "float32"
    layer = layers.ConvLSTM2D(1, 2, padding="same", go_backwards=True, dtype=dtype,
                              return_sequences=True)
    layer.build((2, 3, 3, 3, 1))
    mask = engine.tensor(MASK[:2, :3])

    def forward(x, kernel, recurrent, bias):
        cell = layer.cell
        cell.kernel, cell.recurrent_kernel, cell.bias = kernel, recurrent, bias
        return layer(x, mask=mask)

    check_gradients(forward, [random_array((2, 3, 3, 3, 1), 5), random_array((2, 2, 1, 4), 6),
                              random_array((2, 2, 1, 4), 7), random_array((4,), 8)], backend)


def test_config_round_trip_and_keras_keys():
    keras = keras_or_skip()
    arguments = dict(filters=3, kernel_size=(2, 3), strides=(1, 2), padding="same",
                     dropout=0.25, recurrent_dropout=0.5, unit_forget_bias=False,
                     return_state=True, go_backwards=True, seed=4, name="c")
    ours = layers.ConvLSTM2D(**arguments)
    theirs = keras.layers.ConvLSTM2D(**arguments).get_config()
    config = ours.get_config()
    assert set(config) == set(theirs)
    for key, value in theirs.items():
        if not isinstance(value, dict):
            assert config[key] == (list(value) if isinstance(value, tuple) else value), key
    assert layers.ConvLSTM2D.from_config(config).get_config() == config
    assert layers.deserialize(layers.serialize(ours)).get_config() == config


def _keras_model(lib):
    L = lib.layers
    return lib.models.Sequential([
        L.Input((4, 6, 5, 2)),
        L.ConvLSTM2D(3, 3, padding="same", return_sequences=True, name="first"),
        L.ConvLSTM2D(2, (2, 3), strides=(2, 1), go_backwards=True, name="second"),
        L.Flatten(), L.Dense(1)])


def test_predictions_and_sgd_steps_match_keras():
    keras, theirs, ours = keras_twins(_keras_model, seed=1)
    x, y = random_array((3, 4, 6, 5, 2), 9), random_array((3, 1), 10)
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(
        theirs.predict(x, verbose=0)), rtol=1e-5, atol=1e-5)
    before = sgd_steps_like_keras(keras, theirs, ours, x, y, 0.1)
    assert not np.allclose(before[0], ours.get_weights()[0])


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_files_move_both_ways_with_keras(tmp_path, suffix):
    keras, theirs, ours = keras_twins(_keras_model, seed=2)
    x = random_array((2, 4, 6, 5, 2), 11)
    theirs.save(str(tmp_path / f"theirs{suffix}"))
    loaded = engine.models.load_model(str(tmp_path / f"theirs{suffix}"))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), np.asarray(
        theirs.predict(x, verbose=0)), rtol=1e-5, atol=1e-5)
    ours.save(str(tmp_path / f"ours{suffix}"))
    back = keras.saving.load_model(str(tmp_path / f"ours{suffix}"))
    np.testing.assert_allclose(np.asarray(back.predict(x, verbose=0)),
                               ours.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    assert type(back.layers[0]).__name__ == "ConvLSTM2D"


def test_keras_file_paths_are_keras_own(tmp_path):
    keras, theirs, ours = keras_twins(_keras_model)
    theirs.save(str(tmp_path / "theirs.keras"))
    ours.save(str(tmp_path / "ours.keras"))
    ours_listing = keras_file_listing(tmp_path / "ours.keras")
    assert ours_listing == keras_file_listing(tmp_path / "theirs.keras")
    assert ("layers/conv_lstm2d_1/cell/vars/1", (2, 3, 2, 8)) in ours_listing


def test_engine_loads_what_tfjs_saved(tmp_path):
    x, want = saved_by_tfjs(tmp_path, """
        const model = tf.sequential();
        model.add(tf.layers.convLstm2d({filters: 3, kernelSize: 3, padding: 'same',
                                        returnSequences: true, inputShape: [4, 6, 5, 2]}));
        model.add(tf.layers.convLstm2d({filters: 2, kernelSize: [2, 3], strides: [2, 1],
                                        goBackwards: true}));
        return model;""", (2, 4, 6, 5, 2))
    model = engine.models.load_model(str(tmp_path / "model.json"))
    assert [type(layer).__name__ for layer in model.layers] == ["ConvLSTM2D"] * 2
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)


def test_tfjs_loads_what_engine_saved(tmp_path):
    engine.layers.clear_session()
    model = _keras_model(engine)
    rng = np.random.default_rng(3)
    model.set_weights([rng.uniform(-0.5, 0.5, w.shape) for w in model.get_weights()])
    x = random_array((2, 4, 6, 5, 2), 12)
    model.save(str(tmp_path / "conv_lstm"))
    got = predicted_by_tfjs({"conv_lstm": (tmp_path / "conv_lstm", x)})["conv_lstm"]
    np.testing.assert_allclose(got, model.predict(x, verbose=0).ravel(), rtol=1e-5, atol=1e-5)


def test_bad_arguments_are_refused_by_name():
    refused = [
        ({"filters": 0}, "filters must be a positive integer"),
        ({"kernel_size": (3,)}, "The `kernel_size` argument must be a tuple of 2"),
        ({"padding": "causal"}, "padding must be 'valid' or 'same'"),
        ({"strides": 2, "dilation_rate": 2}, "strides .* dilation_rate"),
        ({"data_format": "channels_first"}, "only data_format='channels_last'"),
        ({"dropout": 1.5}, r"dropout must be a number in \[0, 1\)"),
        ({"stateful": True}, "stateful=True is not supported"),
    ]
    for change, message in refused:
        arguments = {"filters": 2, "kernel_size": 3, "name": "c", **change}
        with pytest.raises(ValueError, match=f"ConvLSTM2D layer 'c': {message}"):
            layers.ConvLSTM2D(**arguments)
    layer = layers.ConvLSTM2D(2, 3, padding="same", name="c")
    x = engine.tensor(random_array((2, 3, 4, 4, 1)))
    layer(x)
    before = layer.get_weights()
    wrong = [engine.zeros((2, 4, 4, 3)), engine.zeros((2, 4, 4, 3))]  # 3 filters, not 2
    with no_kernel_runs(), pytest.raises(ValueError, match="ConvLSTM2D layer 'c': "
                                                           "initial_state must be 2 tensors"):
        layer(x, initial_state=wrong)
    with pytest.raises(ValueError, match="'c'"):
        layer(engine.tensor(random_array((2, 3, 4, 4))))
    for got, want in zip(layer.get_weights(), before):
        np.testing.assert_array_equal(got, want)
