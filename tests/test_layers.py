"""Layers against NumPy formulas written here, gradients against finite differences, configs
round-tripped; activations, initializers and regularizers against their Keras definitions."""
import json

import numpy as np
import pytest

import engine
from engine import activations, initializers, layers, regularizers
from engine.layers.base import deferred_state_updates
from tests.helpers import (TOLERANCES, check_gradients, float64_supported, keras_or_skip,
                           random_array)


def run(layer, *arrays, training=False):
    inputs = [engine.tensor(a) for a in arrays]
    out = layer(inputs if len(inputs) > 1 else inputs[0], training=training)
    return [o.numpy() for o in out] if isinstance(out, list) else out.numpy()


def set_random_weights(layer, seed=0):
    layer.set_weights([random_array(w.shape, seed + i, -0.5, 0.5) for i, w in
                       enumerate(layer.weights)])
    return [w.numpy().astype(np.float64) for w in layer.weights]


def gradient_dtype(backend):
    """The dtype check_gradients computes in, which the layer under test must share."""
    return "float64" if float64_supported(backend) else "float32"


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# ---------------------------------------------------------------------------- core

def test_dense_matches_numpy_on_rank_2_and_3(backend):
    layer = layers.Dense(5, activation="tanh")
    x = random_array((2, 3, 4))
    layer.build((None, 3, 4))
    kernel, bias = set_random_weights(layer)
    np.testing.assert_allclose(run(layer, x), np.tanh(x.astype(np.float64) @ kernel + bias),
                               **TOLERANCES["matmul"])
    assert [w.name for w in layer.weights] == [f"{layer.name}/kernel", f"{layer.name}/bias"]


def test_dense_gradients_match_finite_differences(backend):
    layer = layers.Dense(3, activation="sigmoid", dtype=gradient_dtype(backend))
    layer.build((None, 4))

    def forward(x, kernel, bias):
        layer.kernel, layer.bias = kernel, bias
        return layer(x)

    check_gradients(forward, [random_array((2, 4)), random_array((4, 3), 1),
                              random_array((3,), 2)], backend)


def test_shape_layers_match_numpy(backend):
    x = random_array((2, 3, 4))
    np.testing.assert_array_equal(run(layers.Flatten(), x), x.reshape(2, 12))
    np.testing.assert_array_equal(run(layers.Reshape((4, -1)), x), x.reshape(2, 4, 3))
    np.testing.assert_array_equal(run(layers.Permute((2, 1)), x), x.transpose(0, 2, 1))
    v = random_array((2, 5))
    np.testing.assert_array_equal(run(layers.RepeatVector(3), v),
                                  np.repeat(v[:, None, :], 3, axis=1))
    np.testing.assert_allclose(run(layers.Activation("softplus"), v), np.log1p(np.exp(v)),
                               **TOLERANCES["transcendental"])


def test_dropout_only_in_training(backend):
    x = np.ones((50, 40), np.float32)
    layer = layers.Dropout(0.25, seed=3)
    np.testing.assert_array_equal(run(layer, x), x)
    dropped = run(layer, x, training=True)
    assert set(np.unique(dropped)) <= {0.0, np.float32(1 / 0.75)}
    assert 0.15 < np.mean(dropped == 0) < 0.35
    assert not np.array_equal(dropped, run(layer, x, training=True))  # a new mask per call


def test_embedding_looks_up_rows(backend):
    layer = layers.Embedding(10, 3)
    layer.build((None, 4))
    (table,) = set_random_weights(layer)
    ids = np.array([[0, 9, 3, 3], [1, 2, 8, 0]])
    np.testing.assert_allclose(run(layer, ids), table[ids], rtol=1e-6)
    assert layer.weights[0].name == f"{layer.name}/embeddings"


# ---------------------------------------------------------------------------- convolution

def conv2d_reference(x, kernel, stride=1, padding="valid"):
    """Direct cross-correlation, NHWC x HWIO, with TensorFlow's 'same' padding split."""
    kh, kw = kernel.shape[:2]
    if padding == "same":
        pads = []
        for size, k in zip(x.shape[1:3], (kh, kw)):
            total = max((-(-size // stride) - 1) * stride + k - size, 0)
            pads.append((total // 2, total - total // 2))
        x = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    out_h = (x.shape[1] - kh) // stride + 1
    out_w = (x.shape[2] - kw) // stride + 1
    out = np.zeros((x.shape[0], out_h, out_w, kernel.shape[3]))
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            out[:, i, j, :] = np.tensordot(window, kernel, axes=([1, 2, 3], [0, 1, 2]))
    return out


@pytest.mark.parametrize("stride,padding", [(1, "valid"), (2, "same")])
def test_conv2d_matches_direct_formula(backend, stride, padding):
    layer = layers.Conv2D(3, 3, strides=stride, padding=padding, activation="relu")
    x = random_array((2, 5, 6, 2))
    layer.build(x.shape)
    kernel, bias = set_random_weights(layer)
    want = np.maximum(conv2d_reference(x.astype(np.float64), kernel, stride, padding) + bias, 0)
    got = run(layer, x)
    np.testing.assert_allclose(got, want, **TOLERANCES["conv"])
    assert layer.compute_output_shape((None, 5, 6, 2)) == (None,) + want.shape[1:]


def test_conv1d_causal_matches_padded_formula(backend):
    layer = layers.Conv1D(2, 3, padding="causal", dilation_rate=1)
    x = random_array((2, 7, 3))
    layer.build(x.shape)
    kernel, bias = set_random_weights(layer)
    padded = np.pad(x.astype(np.float64), ((0, 0), (2, 0), (0, 0)))
    want = conv2d_reference(padded[:, None], kernel[None]) [:, 0] + bias
    np.testing.assert_allclose(run(layer, x), want, **TOLERANCES["conv"])


def test_depthwise_and_separable_conv_match_per_channel_formula(backend):
    x = random_array((1, 5, 5, 2)).astype(np.float64)
    depthwise = layers.DepthwiseConv2D(3, depth_multiplier=2)
    depthwise.build(x.shape)
    kernel, bias = set_random_weights(depthwise)
    per_channel = [conv2d_reference(x[..., c:c + 1], kernel[:, :, c:c + 1, :]) for c in range(2)]
    want = np.concatenate(per_channel, axis=-1) + bias  # channel c, multiplier m -> c * M + m
    np.testing.assert_allclose(run(depthwise, x.astype(np.float32)), want, **TOLERANCES["conv"])
    assert [w.name.split("/")[1] for w in depthwise.weights] == ["depthwise_kernel", "bias"]

    separable = layers.SeparableConv2D(4, 3, depth_multiplier=2)
    separable.build(x.shape)
    dk, pk, b = set_random_weights(separable, seed=5)
    inner = np.concatenate([conv2d_reference(x[..., c:c + 1], dk[:, :, c:c + 1, :])
                            for c in range(2)], axis=-1)
    np.testing.assert_allclose(run(separable, x.astype(np.float32)),
                               conv2d_reference(inner, pk) + b, **TOLERANCES["conv"])
    assert [w.name.split("/")[1] for w in separable.weights] == [
        "depthwise_kernel", "pointwise_kernel", "bias"]


@pytest.mark.parametrize("kernel_size, strides, x_shape, out_shape", [
    (3, 2, (1, 3, 2, 4), (1, 7, 5, 2)),
    # Kernel shorter than the stride: Keras's and TF.js's 'valid' output is size * stride, the
    # last stride - kernel rows and columns left at the bias.
    (2, 3, (1, 2, 3, 4), (1, 6, 9, 2)),
])
def test_conv2d_transpose_scatters_each_input_pixel(backend, kernel_size, strides, x_shape,
                                                    out_shape):
    layer = layers.Conv2DTranspose(2, kernel_size, strides=strides)
    x = random_array(x_shape)
    layer.build(x.shape)
    kernel, bias = set_random_weights(layer)  # (kh, kw, filters, in)
    want = np.zeros(out_shape)
    for i in range(x_shape[1]):
        for j in range(x_shape[2]):
            want[0, strides * i:strides * i + kernel_size,
                 strides * j:strides * j + kernel_size, :] += np.einsum(
                "c,hwfc->hwf", x[0, i, j].astype(np.float64), kernel)
    np.testing.assert_allclose(run(layer, x), want + bias, **TOLERANCES["conv"])
    assert layer.compute_output_shape((None,) + x_shape[1:]) == (None,) + out_shape[1:]


def test_padding_and_upsampling(backend):
    x = random_array((2, 3, 2, 2))
    np.testing.assert_array_equal(run(layers.ZeroPadding2D(((1, 0), (2, 1))), x),
                                  np.pad(x, ((0, 0), (1, 0), (2, 1), (0, 0))))
    np.testing.assert_array_equal(run(layers.UpSampling2D((2, 3)), x),
                                  x.repeat(2, axis=1).repeat(3, axis=2))


# ---------------------------------------------------------------------------- pooling

def test_pooling_layers_match_numpy(backend):
    x = random_array((2, 4, 6, 3))
    windows = x.reshape(2, 2, 2, 3, 2, 3)
    np.testing.assert_allclose(run(layers.MaxPooling2D(), x), windows.max(axis=(2, 4)))
    np.testing.assert_allclose(run(layers.AveragePooling2D(), x), windows.mean(axis=(2, 4)),
                               **TOLERANCES["reduction"])
    np.testing.assert_allclose(run(layers.GlobalAveragePooling2D(), x), x.mean(axis=(1, 2)),
                               **TOLERANCES["reduction"])
    np.testing.assert_allclose(run(layers.GlobalMaxPooling2D(keepdims=True), x),
                               x.max(axis=(1, 2), keepdims=True))


# ---------------------------------------------------------------------------- normalization

def test_batch_normalization_training_and_inference(backend):
    layer = layers.BatchNormalization(momentum=0.9, epsilon=1e-3)
    x = random_array((8, 3, 4), low=-2, high=3)
    layer.build(x.shape)
    gamma, beta, _, _ = set_random_weights(layer)
    layer.moving_mean.assign(engine.tensor(np.full(4, 0.5, np.float32)))
    layer.moving_variance.assign(engine.tensor(np.full(4, 2.0, np.float32)))
    x64 = x.astype(np.float64)
    mean, var = x64.mean(axis=(0, 1)), x64.var(axis=(0, 1))
    np.testing.assert_allclose(run(layer, x, training=True),
                               (x64 - mean) / np.sqrt(var + 1e-3) * gamma + beta,
                               **TOLERANCES["reduction"])
    moving_mean, moving_var = 0.5 * 0.9 + mean * 0.1, 2.0 * 0.9 + var * 0.1
    np.testing.assert_allclose(layer.moving_mean.numpy(), moving_mean, **TOLERANCES["reduction"])
    np.testing.assert_allclose(layer.moving_variance.numpy(), moving_var,
                               **TOLERANCES["reduction"])
    np.testing.assert_allclose(run(layer, x),
                               (x64 - moving_mean) / np.sqrt(moving_var + 1e-3) * gamma + beta,
                               **TOLERANCES["reduction"])
    assert [w.name.split("/")[1] for w in layer.weights] == [
        "gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.name.split("/")[1] for w in layer.trainable_weights] == ["gamma", "beta"]


def test_batch_normalization_training_gradients(backend):
    layer = layers.BatchNormalization(dtype=gradient_dtype(backend))
    layer.build((None, 3))

    def forward(x, gamma, beta):
        layer.gamma, layer.beta = gamma, beta
        with deferred_state_updates():  # moving statistics are not under test here
            return layer(x, training=True)

    check_gradients(forward, [random_array((5, 3), low=-2, high=2), random_array((3,), 1),
                              random_array((3,), 2)], backend)


def test_layer_normalization(backend):
    layer = layers.LayerNormalization()
    x = random_array((3, 5), low=-2, high=2)
    layer.build(x.shape)
    gamma, beta = set_random_weights(layer)
    x64 = x.astype(np.float64)
    want = (x64 - x64.mean(-1, keepdims=True)) / np.sqrt(x64.var(-1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(run(layer, x), want * gamma + beta, **TOLERANCES["reduction"])


# ---------------------------------------------------------------------------- recurrent

def rnn_reference(kind, x, weights, units, reset_after=True):
    """The Keras cell equations, step by step in float64."""
    kernel, recurrent, bias = weights
    h = np.zeros((x.shape[0], units))
    c = np.zeros_like(h)
    outputs = []
    for t in range(x.shape[1]):
        xt = x[:, t]
        if kind == "simple":
            h = np.tanh(xt @ kernel + h @ recurrent + bias)
        elif kind == "lstm":
            z = xt @ kernel + h @ recurrent + bias
            i, f, g, o = np.split(z, 4, axis=1)
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
        elif reset_after:
            xz, xr, xh = np.split(xt @ kernel + bias[0], 3, axis=1)
            rz, rr, rh = np.split(h @ recurrent + bias[1], 3, axis=1)
            z, r = sigmoid(xz + rz), sigmoid(xr + rr)
            h = z * h + (1 - z) * np.tanh(xh + r * rh)
        else:
            xz, xr, xh = np.split(xt @ kernel + bias, 3, axis=1)
            uz, ur, uh = np.split(recurrent, 3, axis=1)
            z, r = sigmoid(xz + h @ uz), sigmoid(xr + h @ ur)
            h = z * h + (1 - z) * np.tanh(xh + (r * h) @ uh)
        outputs.append(h)
    return np.stack(outputs, axis=1), h, c


@pytest.mark.parametrize("kind,options", [("simple", {}), ("lstm", {}),
                                          ("gru", {"reset_after": True}),
                                          ("gru", {"reset_after": False})])
def test_recurrent_layers_match_cell_equations(backend, kind, options):
    cls = {"simple": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}[kind]
    layer = cls(3, return_sequences=True, return_state=True, **options)
    x = random_array((2, 4, 5))
    layer.build(x.shape)
    weights = set_random_weights(layer)
    sequence, h, c = rnn_reference(kind, x.astype(np.float64), weights, 3, **options)
    outputs = run(layer, x)
    np.testing.assert_allclose(outputs[0], sequence, **TOLERANCES["matmul"])
    np.testing.assert_allclose(outputs[1], h, **TOLERANCES["matmul"])
    if kind == "lstm":
        np.testing.assert_allclose(outputs[2], c, **TOLERANCES["matmul"])
    assert [w.name.split("/")[1] for w in layer.weights] == ["kernel", "recurrent_kernel", "bias"]
    last = cls(3, **options)
    last.build(x.shape)
    last.set_weights([w.astype(np.float32) for w in weights])
    np.testing.assert_allclose(run(last, x), sequence[:, -1], **TOLERANCES["matmul"])


def test_lstm_gradients_and_forget_bias(backend):
    layer = layers.LSTM(2, dtype=gradient_dtype(backend))
    layer.build((None, 3, 2))
    bias = layer.bias.numpy()
    np.testing.assert_array_equal(bias, np.r_[np.zeros(2), np.ones(2), np.zeros(4)])

    def forward(x, kernel, recurrent, bias):
        layer.kernel, layer.recurrent_kernel, layer.bias = kernel, recurrent, bias
        return layer(x)

    check_gradients(forward, [random_array((2, 3, 2)), random_array((2, 8), 1),
                              random_array((2, 8), 2), random_array((8,), 3)], backend)


# ---------------------------------------------------------------------------- merge

def test_merge_layers_match_numpy(backend):
    a, b, c = random_array((2, 3)), random_array((2, 3), 1), random_array((2, 3), 2)
    cases = [(layers.Add(), a + b + c), (layers.Multiply(), a * b * c),
             (layers.Average(), (a + b + c) / 3), (layers.Maximum(), np.maximum(np.maximum(
                 a, b), c)), (layers.Concatenate(), np.concatenate([a, b, c], axis=-1))]
    for layer, want in cases:
        np.testing.assert_allclose(run(layer, a, b, c), want, **TOLERANCES["elementwise"])
    np.testing.assert_allclose(run(layers.Subtract(), a, b), a - b, **TOLERANCES["elementwise"])
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        run(layers.Subtract(), a, b, c)


# ---------------------------------------------------------------------------- activations

def test_activations_match_keras_formulas(backend):
    x = random_array((20,), low=-4, high=4)
    x64 = x.astype(np.float64)
    from math import erf
    formulas = {
        "relu": np.maximum(x64, 0), "sigmoid": sigmoid(x64), "tanh": np.tanh(x64),
        "elu": np.where(x64 > 0, x64, np.expm1(x64)), "softplus": np.log1p(np.exp(x64)),
        "selu": 1.0507009873554805 * np.where(x64 > 0, x64, 1.6732632423543772 * np.expm1(x64)),
        "gelu": x64 * 0.5 * (1 + np.vectorize(erf)(x64 / np.sqrt(2))),
        "leaky_relu": np.where(x64 > 0, x64, 0.2 * x64), "linear": x64,
        "swish": x64 * sigmoid(x64), "silu": x64 * sigmoid(x64),
        "hard_sigmoid": np.clip(x64 + 3, 0, 6) / 6, "exponential": np.exp(x64),
        "softmax": np.exp(x64) / np.exp(x64).sum(),
        "log_softmax": x64 - np.log(np.exp(x64).sum()), "relu6": np.clip(x64, 0, 6),
        "softsign": x64 / (np.abs(x64) + 1), "mish": x64 * np.tanh(np.log1p(np.exp(x64))),
        "hard_silu": x64 * np.clip(x64 + 3, 0, 6) / 6,
    }
    for name, want in formulas.items():
        got = activations.get(name)(engine.tensor(x)).numpy()
        np.testing.assert_allclose(got, want, err_msg=name, **TOLERANCES["transcendental"])
    with pytest.raises(ValueError, match="Unknown activation: 'relu7'. Known activations: elu"):
        activations.get("relu7")


# ---------------------------------------------------------------------------- initializers

def test_variance_scaling_initializers_follow_keras_formulas(backend):
    shape = (3, 3, 16, 32)  # fan_in 144, fan_out 288
    fan_in, fan_out = 144, 288
    uniform = initializers.get("glorot_uniform")
    sample = uniform(shape).numpy()
    limit = np.sqrt(6 / (fan_in + fan_out))
    assert np.abs(sample).max() <= limit and np.abs(sample).max() > 0.95 * limit
    he = initializers.HeNormal(seed=1)(shape).numpy()
    np.testing.assert_allclose(he.std(), np.sqrt(2 / fan_in), rtol=0.05)
    assert np.abs(he).max() <= 2 * np.sqrt(2 / fan_in) / 0.87962566103423978 + 1e-6
    np.testing.assert_array_equal(initializers.HeNormal(seed=1)(shape).numpy(), he)
    lecun = initializers.LecunUniform(seed=2)((200, 50)).numpy()
    assert np.abs(lecun).max() <= np.sqrt(3 / 200)
    assert not np.array_equal(uniform(shape).numpy(), sample)  # unseeded: fresh each call


def test_orthogonal_and_constant_initializers(backend):
    for shape in [(6, 4), (4, 6), (2, 3, 5)]:
        q = initializers.Orthogonal(gain=2.0, seed=0)(shape).numpy().reshape(-1, shape[-1])
        small = q.T @ q if q.shape[0] >= q.shape[1] else q @ q.T
        np.testing.assert_allclose(small, 4 * np.eye(min(q.shape)), atol=1e-4)
    np.testing.assert_array_equal(initializers.get({"class_name": "Constant",
                                                    "config": {"value": 1.5}})((2,)).numpy(),
                                  [1.5, 1.5])
    with pytest.raises(ValueError, match="Unknown initializer: 'glorot'"):
        initializers.get("glorot")


def test_initializer_and_regularizer_configs_round_trip():
    for name in ["glorot_uniform", "he_normal", "orthogonal", "random_normal", "zeros",
                 "variance_scaling", "truncated_normal", "lecun_normal"]:
        init = initializers.get(name)
        config = json.loads(json.dumps(initializers.serialize(init)))
        assert initializers.serialize(initializers.get(config)) == config
    assert initializers.serialize(initializers.GlorotUniform()) == {
        "class_name": "GlorotUniform", "config": {"seed": None}}
    for reg in [regularizers.L1(0.1), regularizers.L2(0.2), regularizers.L1L2(0.1, 0.3)]:
        config = regularizers.serialize(reg)
        assert regularizers.serialize(regularizers.get(config)) == config


def test_regularizers_follow_keras_formulas(backend):
    w = random_array((3, 4))
    value = regularizers.get("l1_l2")
    assert value.l1 == 0 and value.l2 == 0
    got = regularizers.L1L2(l1=0.1, l2=0.3)(engine.tensor(w)).item()
    np.testing.assert_allclose(got, 0.1 * np.abs(w).sum() + 0.3 * (w ** 2).sum(), rtol=1e-5)
    layer = layers.Dense(2, kernel_regularizer=regularizers.L2(0.5))
    layer.build((None, 3))
    np.testing.assert_allclose(layer.losses[0].item(), 0.5 * (layer.kernel.numpy() ** 2).sum(),
                               rtol=1e-5)


# ---------------------------------------------------------------------------- configs

LAYERS_TO_ROUND_TRIP = [
    lambda: layers.Dense(3, activation="relu", kernel_regularizer="l2", use_bias=False),
    lambda: layers.Activation("gelu"), lambda: layers.Dropout(0.3, seed=2),
    lambda: layers.Flatten(), lambda: layers.Reshape((2, -1)), lambda: layers.Permute((2, 1)),
    lambda: layers.RepeatVector(4), lambda: layers.Embedding(10, 4),
    lambda: layers.Conv1D(2, 3, padding="causal"),
    lambda: layers.Conv2D(4, (3, 2), strides=2, padding="same", activation="relu"),
    lambda: layers.Conv2DTranspose(2, 3, strides=2),
    lambda: layers.DepthwiseConv2D(3, depth_multiplier=2),
    lambda: layers.SeparableConv2D(4, 3), lambda: layers.ZeroPadding2D(2),
    lambda: layers.UpSampling2D(), lambda: layers.MaxPooling2D(3, 2, "same"),
    lambda: layers.ZeroPadding1D((1, 2)), lambda: layers.Cropping1D(1),
    lambda: layers.UpSampling1D(3), lambda: layers.Identity(),
    lambda: layers.GroupNormalization(2, epsilon=1e-5), lambda: layers.UnitNormalization([1, 2]),
    lambda: layers.AveragePooling2D(), lambda: layers.GlobalAveragePooling2D(),
    lambda: layers.GlobalMaxPooling2D(keepdims=True),
    lambda: layers.BatchNormalization(momentum=0.9), lambda: layers.LayerNormalization(),
    lambda: layers.SimpleRNN(3), lambda: layers.LSTM(3, return_sequences=True),
    lambda: layers.GRU(3, reset_after=False), lambda: layers.Add(), lambda: layers.Subtract(),
    lambda: layers.Multiply(), lambda: layers.Average(), lambda: layers.Maximum(),
    lambda: layers.Concatenate(axis=1), lambda: layers.InputLayer(shape=(3,)),
]


@pytest.mark.parametrize("make", LAYERS_TO_ROUND_TRIP)
def test_layer_config_round_trip(make):
    layer = make()
    config = json.loads(json.dumps(layers.serialize(layer)))
    rebuilt = layers.deserialize(config)
    assert type(rebuilt) is type(layer)
    assert layers.serialize(rebuilt) == config


def test_dense_config_has_keras_keys_and_defaults():
    config = layers.Dense(4, name="fc").get_config()
    assert config == {
        "name": "fc", "trainable": True, "dtype": "float32", "units": 4,
        "activation": "linear", "use_bias": True,
        "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None,
        "bias_constraint": None}


def test_layer_names_are_unique_like_keras():
    layers.clear_session()
    names = [layers.Dense(1).name, layers.Dense(1).name, layers.Conv2D(1, 1).name,
             layers.BatchNormalization().name, layers.Dense(1, name="head").name]
    assert names == ["dense", "dense_1", "conv2d", "batch_normalization", "head"]


def test_custom_layer_output_shape_is_probed_in_the_functional_api(backend):
    class Doubled(layers.Layer):
        def call(self, inputs):
            return engine.concat([inputs, inputs], axis=1)

    inputs = layers.Input((None, 3))
    outputs = Doubled()(inputs)
    assert outputs.shape == (None, None, 3)
    model = engine.Model(inputs, layers.Dense(2)(outputs))
    assert model.predict(random_array((4, 5, 3))).shape == (4, 10, 2)


def test_layers_autocast_floating_inputs_to_their_dtype(backend):
    if not float64_supported(backend):
        pytest.skip("needs float64")
    layer = layers.Dense(2, dtype="float64")
    assert layer(np.ones((1, 3), np.float32)).dtype == "float64"
    assert layers.Embedding(5, 2)(np.array([[1, 4]])).dtype == "float32"


# ---------------------------------------------------------------------------- errors

def test_wrong_input_shape_names_the_layer_and_axis(backend):
    layer = layers.Dense(2, name="dense")
    layer.build((None, 4))
    before = layer.get_weights()
    with pytest.raises(ValueError, match=r"Input 0 of layer 'dense' is incompatible with the "
                                         r"layer: expected axis -1 of input shape to have value "
                                         r"4, but received input with shape \(2, 3\)"):
        layer(engine.tensor(np.zeros((2, 3), np.float32)))
    for old, new in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_set_weights_checks_everything_before_changing_anything(backend):
    layer = layers.Dense(2, name="d")
    layer.build((None, 3))
    before = layer.get_weights()
    with pytest.raises(ValueError, match=r"weight shape \(2,\) is not compatible with provided "
                                         r"weight shape \(3,\)"):
        layer.set_weights([np.ones((3, 2)), np.ones(3)])
    with pytest.raises(ValueError, match="weight list of length 1, but the layer was expecting 2"):
        layer.set_weights([np.ones((3, 2))])
    for old, new in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_unknown_arguments_and_unbuilt_counts():
    with pytest.raises(TypeError, match="Unrecognized keyword arguments passed to Dense"):
        layers.Dense(2, kernel_size=3)
    with pytest.raises(ValueError, match="isn't built"):
        layers.Dense(2).count_params()
    with pytest.raises(ValueError, match="Unknown layer: 'Dense3D'"):
        layers.deserialize({"class_name": "Dense3D", "config": {}})


# ------------------------------------------------- 1-D pooling, cropping, activation layers

def _windows_1d(x, size, stride, padding, fill):
    """(N, steps, size, C) windows of x (N, L, C), 'same' padded with `fill` as TF pads."""
    length = x.shape[1]
    steps = -(-length // stride) if padding == "same" else (length - size) // stride + 1
    total = max((steps - 1) * stride + size - length, 0) if padding == "same" else 0
    padded = np.pad(x.astype(np.float64), ((0, 0), (total // 2, total - total // 2), (0, 0)),
                    constant_values=fill)
    return np.stack([padded[:, s * stride:s * stride + size] for s in range(steps)], axis=1)


@pytest.mark.parametrize("size, stride, padding", [(2, None, "valid"), (3, 2, "same"),
                                                   (3, 1, "same")])
def test_pooling_1d_matches_window_reference(backend, size, stride, padding):
    x = random_array((2, 7, 3))
    step = stride or size
    for layer, reduce, fill in ((layers.MaxPooling1D(size, stride, padding), np.max, -np.inf),
                                (layers.AveragePooling1D(size, stride, padding), np.nanmean,
                                 np.nan)):  # the average leaves padding out
        want = reduce(_windows_1d(x, size, step, padding, fill), axis=2)
        np.testing.assert_allclose(run(layer, x), want, rtol=1e-6, atol=1e-6)
        assert layer.compute_output_shape((None, 7, 3)) == (None,) + want.shape[1:]
    pool = layers.AveragePooling1D(size, stride, padding, dtype=gradient_dtype(backend))
    check_gradients(pool, [x], backend)


def test_global_pooling_1d(backend):
    x = random_array((2, 5, 3))
    np.testing.assert_allclose(run(layers.GlobalAveragePooling1D(), x), x.mean(1), rtol=1e-6)
    np.testing.assert_allclose(run(layers.GlobalMaxPooling1D(keepdims=True), x),
                               x.max(1, keepdims=True))


def test_cropping2d_cuts_each_edge_and_refuses_cutting_everything(backend):
    x = random_array((2, 6, 5, 3))
    layer = layers.Cropping2D(((1, 2), (0, 1)))
    np.testing.assert_array_equal(run(layer, x), x[:, 1:4, 0:4])
    assert layer.compute_output_shape((None, 6, 5, 3)) == (None, 3, 4, 3)
    with pytest.raises(ValueError, match="leaves nothing"):
        layers.Cropping2D(3)(engine.tensor(x))


@pytest.mark.parametrize("arguments", [{}, {"max_value": 0.5}, {"negative_slope": 0.1},
                                       {"max_value": 0.6, "negative_slope": 0.2,
                                        "threshold": 0.25}])
def test_relu_layer_matches_its_piecewise_formula(backend, arguments):
    x = random_array((4, 6))
    top = arguments.get("max_value", np.inf)
    slope, threshold = arguments.get("negative_slope", 0.0), arguments.get("threshold", 0.0)
    x64 = x.astype(np.float64)
    want = np.where(x64 > threshold, np.minimum(x64, top), slope * (x64 - threshold))
    np.testing.assert_allclose(run(layers.ReLU(**arguments), x), want, rtol=1e-6, atol=1e-7)
    check_gradients(layers.ReLU(**arguments, dtype=gradient_dtype(backend)), [x], backend)


def test_leaky_relu_elu_softmax_rescaling_layers(backend):
    x = random_array((3, 4))
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(run(layers.LeakyReLU(negative_slope=0.1), x),
                               np.where(x64 > 0, x64, 0.1 * x64), rtol=1e-6)
    assert layers.LeakyReLU(alpha=0.2).negative_slope == 0.2  # Keras 2 / TF.js name
    np.testing.assert_allclose(run(layers.ELU(alpha=0.5), x),
                               np.where(x64 > 0, x64, 0.5 * np.expm1(x64)), rtol=1e-5)
    exp = np.exp(x64 - x64.max(0))
    np.testing.assert_allclose(run(layers.Softmax(axis=0), x), exp / exp.sum(0), rtol=1e-5)
    pixels = np.arange(12, dtype=np.int32).reshape(3, 4)
    scaled = run(layers.Rescaling(1 / 255, offset=-0.5), pixels)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled, pixels / 255 - 0.5, rtol=1e-6)
    with pytest.raises(ValueError, match="negative_slope"):
        layers.ReLU(negative_slope=-1)


@pytest.mark.parametrize("layer, message", [
    (lambda: layers.ELU(alpha=0.5), "TF.js's ELU supports only alpha=1.0"),
    (lambda: layers.ReLU(negative_slope=0.1), "TF.js's ReLU has only max_value"),
])
def test_tfjs_save_refuses_activation_arguments_tfjs_lacks(tmp_path, layer, message):
    model = engine.Sequential([layers.Input((3,)), layer()])
    with pytest.raises(ValueError, match=message):
        model.save(str(tmp_path / "web"))
    assert not (tmp_path / "web").exists()


# ---------------------------------------------------------------------- Normalization

def _spread_data(shape=(40, 4), seed=3):
    rng = np.random.default_rng(seed)
    return (rng.uniform(0, 1, shape) * np.array([1, 10, 100, 0.1])[: shape[-1]]
            + np.array([0, 5, -3, 1])[: shape[-1]]).astype(np.float32)


@pytest.mark.parametrize("axis, invert", [(-1, False), (None, False), (-1, True), ((1,), False)])
def test_normalization_adapts_to_data_statistics(backend, axis, invert):
    data = _spread_data() if axis != (1,) else _spread_data((10, 3, 4))
    layer = layers.Normalization(axis=axis, invert=invert)
    layer.adapt(data)
    kept = () if axis is None else tuple(a % data.ndim for a in (axis if isinstance(
        axis, tuple) else (axis,)))
    reduce = tuple(d for d in range(data.ndim) if d not in kept)
    mean = data.astype(np.float64).mean(axis=reduce, keepdims=True)
    scale = np.maximum(data.astype(np.float64).std(axis=reduce, keepdims=True), 1e-7)
    want = data * scale + mean if invert else (data - mean) / scale
    np.testing.assert_allclose(run(layer, data), want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.adapt_mean.numpy(), np.squeeze(mean, reduce), rtol=1e-5)


def test_normalization_from_a_dataset_or_given_statistics(backend):
    data = _spread_data()
    whole, batched = layers.Normalization(), layers.Normalization()
    whole.adapt(data)
    batched.adapt(engine.data.Dataset.from_tensor_slices(data).batch(7))
    for name in ("adapt_mean", "adapt_variance"):
        np.testing.assert_allclose(getattr(batched, name).numpy(), getattr(whole, name).numpy(),
                                   rtol=1e-5)
    assert int(batched.count.numpy()) == 40
    fixed = layers.Normalization(mean=[1.0, 2.0, 3.0, 4.0], variance=[1.0, 4.0, 9.0, 16.0])
    np.testing.assert_allclose(run(fixed, data), (data - [1, 2, 3, 4]) / [1, 2, 3, 4],
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="give both `mean` and `variance`"):
        layers.Normalization(mean=[1.0])
    with pytest.raises(ValueError, match="cannot adapt"):
        fixed.adapt(data)


def test_normalization_matches_keras():
    keras = keras_or_skip()
    data = _spread_data((30, 4))
    theirs, ours = keras.layers.Normalization(), layers.Normalization()
    theirs.adapt(data)
    ours.adapt(data)
    np.testing.assert_allclose(run(ours, data), np.asarray(theirs(data)), rtol=1e-4, atol=1e-5)
    assert {k: v for k, v in ours.get_config().items() if k in ("axis", "invert", "mean")} == {
        "axis": [-1], "invert": False, "mean": None}


# ---------------------------------------------------------------------- noise layers, Minimum

def test_noise_layers_are_identity_in_inference_and_perturb_in_training(backend):
    x = np.ones((4, 3, 3, 6), np.float32)
    for layer in (layers.SpatialDropout2D(0.5, seed=1), layers.GaussianNoise(0.5, seed=2),
                  layers.GaussianDropout(0.2, seed=3), layers.SpatialDropout1D(0.5, seed=4)):
        np.testing.assert_array_equal(run(layer, x), x)
    dropped = run(layers.SpatialDropout2D(0.5, seed=1), x, training=True)
    assert set(np.unique(dropped)) <= {0.0, 2.0}  # kept maps scaled by 1 / (1 - rate)
    maps = dropped.transpose(0, 3, 1, 2).reshape(24, 9)
    assert all(len(set(m)) == 1 for m in maps) and 0 < (maps[:, 0] == 0).sum() < 24
    noise = run(layers.GaussianNoise(0.5, seed=2), np.zeros(20000, np.float32), training=True)
    assert abs(noise.mean()) < 0.02 and abs(noise.std() - 0.5) < 0.02
    scaled = run(layers.GaussianDropout(0.2, seed=3), np.ones(20000, np.float32), training=True)
    assert abs(scaled.mean() - 1) < 0.02 and abs(scaled.std() - 0.5) < 0.02  # sqrt(.2 / .8)


def test_minimum_merge(backend):
    a, b = random_array((3, 4)), random_array((3, 4), seed=1)
    np.testing.assert_array_equal(run(layers.Minimum(), a, b), np.minimum(a, b))


def test_prelu_learns_a_slope_per_position_shared_along_axes(backend):
    layer = layers.PReLU(shared_axes=[1], dtype=gradient_dtype(backend))
    x = random_array((2, 5, 3))
    layer.build(x.shape)
    assert layer.alpha.shape == (1, 3)
    alpha = set_random_weights(layer)[0]
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(run(layer, x), np.where(x64 > 0, x64, alpha * x64), rtol=1e-6,
                               atol=1e-7)

    def forward(inputs, slope):
        layer.alpha = slope
        return layer(inputs)

    check_gradients(forward, [x, random_array((1, 3), seed=5)], backend)


@pytest.mark.parametrize("shapes, axes, normalize, subscripts", [
    (((3, 4), (3, 4)), 1, False, "nd,nd->n"),
    (((3, 4), (3, 4)), -1, True, "nd,nd->n"),
    (((2, 3, 4), (2, 5, 4)), 2, False, "nad,nbd->nab"),
    (((2, 3, 4), (2, 3, 6)), (1, 1), True, "nda,ndb->nab"),
])
def test_dot_is_a_per_sample_contraction(backend, shapes, axes, normalize, subscripts):
    a, b = random_array(shapes[0]), random_array(shapes[1], seed=1)
    axis_pair = (axes, axes) if isinstance(axes, int) else axes
    left, right = (v.astype(np.float64) for v in (a, b))
    if normalize:
        left, right = (v / np.linalg.norm(v, axis=axis, keepdims=True)
                       for v, axis in zip((left, right), axis_pair))
    want = np.einsum(subscripts, left, right)
    want = want[:, None] if want.ndim == 1 else want
    layer = layers.Dot(axes, normalize=normalize, dtype=gradient_dtype(backend))
    np.testing.assert_allclose(run(layer, a, b), want, rtol=1e-5, atol=1e-6)
    assert layer.compute_output_shape([(None,) + s[1:] for s in shapes]) == (None,) + \
        want.shape[1:]
    check_gradients(lambda x, y: layer([x, y]), [a, b], backend)
    with pytest.raises(ValueError, match="dimension incompatibility"):
        wider = random_array(shapes[1][:1] + tuple(d + 3 for d in shapes[1][1:]))
        layers.Dot(axes)([engine.tensor(a), engine.tensor(wider)])


@pytest.mark.parametrize("make_call, message", [
    (lambda: layers.PReLU(shared_axes=[0])(engine.tensor(np.ones((2, 3), np.float32))),
     r"Layer 'p_re_lu\w*': shared_axes \[0\] must name axes 1..1"),
    (lambda: layers.Rescaling("a"), r"`scale` must be a number or a list of numbers"),
    (lambda: layers.Dot(1)([engine.tensor(np.ones((2, 3)))] * 3), "takes a list of 2 inputs"),
])
def test_new_layers_name_themselves_in_bad_input_errors(make_call, message):
    with pytest.raises(ValueError, match=message):
        make_call()


def test_adapted_normalization_refuses_data_of_another_width():
    layer = layers.Normalization()
    layer.adapt(np.ones((4, 3), np.float32))
    before = layer.adapt_mean.numpy().copy()
    with pytest.raises(ValueError, match=r"Layer 'normalization\w*': adapt\(\) got data of "
                                         r"shape \(2, 4\)"):
        layer.adapt(np.ones((2, 4), np.float32))
    np.testing.assert_array_equal(layer.adapt_mean.numpy(), before)
    with pytest.raises(ValueError, match="expected axis 1 of input shape to have value 3"):
        layer(engine.tensor(np.ones((2, 4), np.float32)))


# -------------------------------------------- 1-D resampling, Identity, group and unit norms

def test_sequence_padding_cropping_and_upsampling(backend):
    x = random_array((2, 5, 3))
    np.testing.assert_array_equal(run(layers.ZeroPadding1D((1, 2)), x),
                                  np.pad(x, ((0, 0), (1, 2), (0, 0))))
    np.testing.assert_array_equal(run(layers.ZeroPadding1D(), x),
                                  np.pad(x, ((0, 0), (1, 1), (0, 0))))
    np.testing.assert_array_equal(run(layers.Cropping1D((2, 1)), x), x[:, 2:4])
    np.testing.assert_array_equal(run(layers.UpSampling1D(3), x), x.repeat(3, axis=1))
    np.testing.assert_array_equal(run(layers.Identity(), x), x)
    assert layers.UpSampling1D(3).compute_output_shape((None, 5, 3)) == (None, 15, 3)
    assert layers.Cropping1D(1).compute_output_shape((None, None, 3)) == (None, None, 3)
    assert layers.ZeroPadding1D(2).compute_output_shape((None, 5, 3)) == (None, 9, 3)


def group_norm_reference(x, groups, axis, gamma, beta, epsilon):
    """Each sample's channel groups normalized over everything but the batch and the group."""
    x = np.moveaxis(x.astype(np.float64), axis, -1)
    grouped = x.reshape(x.shape[:-1] + (groups, -1))
    over = tuple(range(1, grouped.ndim - 2)) + (grouped.ndim - 1,)
    mean = grouped.mean(axis=over, keepdims=True)
    var = grouped.var(axis=over, keepdims=True)
    normalized = ((grouped - mean) / np.sqrt(var + epsilon)).reshape(x.shape)
    return np.moveaxis(normalized * gamma + beta, -1, axis)


@pytest.mark.parametrize("shape, groups, axis", [((3, 4, 6), 2, -1), ((2, 3, 4, 8), 4, -1),
                                                 ((2, 3, 6, 2), 3, 2), ((2, 5, 4), -1, -1)])
def test_group_normalization_matches_its_formula(backend, shape, groups, axis):
    x = random_array(shape, low=-2, high=2)
    layer = layers.GroupNormalization(groups, axis=axis, dtype=gradient_dtype(backend))
    layer.build(x.shape)
    gamma, beta = set_random_weights(layer)
    want = group_norm_reference(x, layer.groups, axis % x.ndim, gamma, beta, 1e-3)
    np.testing.assert_allclose(run(layer, x), want, **TOLERANCES["reduction"])
    check_gradients(layer, [x], backend)


def test_unit_normalization_divides_by_the_l2_norm(backend):
    x = random_array((3, 2, 4), low=-2, high=2)
    x[1] = 0  # an all-zero sample stays zero, with a finite gradient
    x64 = x.astype(np.float64)
    for axis, over in ((-1, (2,)), ([1, 2], (1, 2))):
        norm = np.sqrt(np.square(x64).sum(axis=over, keepdims=True))
        np.testing.assert_allclose(run(layers.UnitNormalization(axis), x),
                                   x64 / np.maximum(norm, 1e-12), rtol=1e-5, atol=1e-6)
    layer = layers.UnitNormalization(dtype=gradient_dtype(backend))
    check_gradients(layer, [x[::2]], backend)
    tape_x = engine.Variable(x)
    with engine.GradientTape() as tape:
        total = engine.sum(layers.UnitNormalization()(tape_x))
    assert np.isfinite(tape.gradient(total, tape_x).numpy()).all()


def test_keras_alias_names_are_the_same_classes():
    assert layers.MaxPool2D is layers.MaxPooling2D and layers.AvgPool1D is layers.AveragePooling1D
    assert layers.GlobalAvgPool2D is layers.GlobalAveragePooling2D
    assert layers.Convolution2DTranspose is layers.Conv2DTranspose
    config = {"class_name": "SeparableConvolution2D", "config": {"filters": 2, "kernel_size": 3}}
    assert type(layers.deserialize(config)) is layers.SeparableConv2D


@pytest.mark.parametrize("make_call, message", [
    (lambda: layers.GroupNormalization(4)(engine.tensor(np.ones((2, 3, 6), np.float32))),
     r"Layer 'group_normalization\w*': 6 channels cannot be split into 4 groups"),
    (lambda: layers.GroupNormalization(2, axis=0)(engine.tensor(np.ones((2, 4), np.float32))),
     r"Layer 'group_normalization\w*': axis 0 is not a feature axis"),
    (lambda: layers.UnitNormalization(3)(engine.tensor(np.ones((2, 4), np.float32))),
     r"Layer 'unit_normalization\w*': axis 3 is not a feature axis"),
    (lambda: layers.Cropping1D((2, 3))(engine.tensor(np.ones((2, 5, 1), np.float32))),
     r"Layer 'cropping1d\w*': cropping \(\(2, 3\),\) leaves nothing"),
    (lambda: layers.ZeroPadding1D((1, 2, 3)), r"The `padding` argument must be an int, 1 ints"),
    (lambda: layers.Cropping2D((-1, 0)), r"pairs of non-negative ints"),
    (lambda: layers.UpSampling1D(0), r"The `size` argument must be a tuple of 1 positive"),
])
def test_resampling_and_norm_layers_refuse_bad_arguments_by_name(make_call, message):
    with pytest.raises(ValueError, match=message):
        make_call()


@pytest.mark.parametrize("name, make, shape", [
    ("group", lambda L: L.GroupNormalization(3, axis=2), (2, 5, 6, 4)),
    ("group_last", lambda L: L.GroupNormalization(2, center=False), (2, 7, 4)),
    ("unit", lambda L: L.UnitNormalization([1, 2]), (2, 5, 4)),
    ("pad", lambda L: L.ZeroPadding1D((2, 1)), (2, 5, 4)),
    ("crop", lambda L: L.Cropping1D((1, 2)), (2, 5, 4)),
    ("up", lambda L: L.UpSampling1D(3), (2, 5, 4)),
    ("identity", lambda L: L.Identity(), (2, 5, 4)),
])
def test_new_layers_match_keras(name, make, shape):
    keras = keras_or_skip()
    x = random_array(shape, low=-2, high=2)
    theirs, ours = make(keras.layers), make(layers)
    theirs(x)
    ours.build(x.shape)
    weights = [random_array(w.shape, i, 0.5, 1.5) for i, w in enumerate(ours.weights)]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    np.testing.assert_allclose(run(ours, x), np.asarray(theirs(x)), rtol=1e-5, atol=1e-5)
    assert json.loads(json.dumps(ours.get_config())).keys() == \
        json.loads(json.dumps(theirs.get_config())).keys()


# ---------------------------------------------------------------------------- masking

MASKED_STEPS = np.array([[1, 1, 1, 0, 0], [0, 0, 1, 1, 1], [1, 0, 1, 0, 1], [0, 0, 0, 0, 0]],
                        bool)


def masked_rnn_reference(kind, x, mask, weights, units, reset_after=True):
    """Keras's masked RNN, built independently: a sample's states come from running the cell
    on its kept steps only; its output at each step is the state after the last kept step so
    far (zeros before the first)."""
    sequences, lasts = [], []
    for sample, kept in zip(x, mask):
        sequence = np.zeros((len(kept), units))
        if kept.any():
            outputs = rnn_reference(kind, sample[kept][None], weights, units, reset_after)[0][0]
            ends = np.cumsum(kept) - 1  # index among the kept steps of the latest one so far
            sequence = np.where((ends >= 0)[:, None], outputs[np.maximum(ends, 0)], 0.0)
        sequences.append(sequence)
        lasts.append(sequence[-1])
    return np.stack(sequences), np.stack(lasts)


@pytest.mark.parametrize("kind,options", [("simple", {}), ("lstm", {}),
                                          ("gru", {"reset_after": True}),
                                          ("gru", {"reset_after": False})])
def test_recurrent_layers_skip_masked_steps(backend, kind, options):
    cls = {"simple": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}[kind]
    x = random_array((4, 5, 3))
    layer = cls(2, return_sequences=True, **options)
    layer.build(x.shape)
    weights = set_random_weights(layer)
    sequence, last = masked_rnn_reference(kind, x.astype(np.float64), MASKED_STEPS, weights, 2,
                                          **options)
    np.testing.assert_allclose(layer(engine.tensor(x), mask=engine.tensor(MASKED_STEPS)).numpy(),
                               sequence, **TOLERANCES["matmul"])
    # The mask comes from a Masking layer just as well: steps of all zeros.
    zeroed = np.where(MASKED_STEPS[..., None], x, 0)
    masked = layers.Masking()(engine.tensor(zeroed))
    np.testing.assert_array_equal(masked._keras_mask.numpy(), MASKED_STEPS)
    np.testing.assert_allclose(layer(masked).numpy(), sequence, **TOLERANCES["matmul"])
    np.testing.assert_array_equal(layer(masked)._keras_mask.numpy(), MASKED_STEPS)
    last_layer = cls(2, **options)
    last_layer.build(x.shape)
    last_layer.set_weights([w.astype(np.float32) for w in weights])
    output = last_layer(masked)
    np.testing.assert_allclose(output.numpy(), last, **TOLERANCES["matmul"])
    assert getattr(output, "_keras_mask", None) is None


def test_masked_lstm_gradients_match_finite_differences(backend):
    layer = layers.LSTM(2, return_sequences=True, dtype=gradient_dtype(backend))
    mask = engine.tensor(MASKED_STEPS[:3])
    check_gradients(lambda x: layer(x, mask=mask), [random_array((3, 5, 2))], backend)


def test_embedding_mask_zero_masks_padding_ids_through_dense_layers(backend):
    ids = np.array([[3, 1, 0, 0], [0, 2, 5, 0]], np.int32)
    embedded = layers.Embedding(6, 3, mask_zero=True)(engine.tensor(ids))
    np.testing.assert_array_equal(embedded._keras_mask.numpy(), ids != 0)
    hidden = layers.Dropout(0.5)(layers.Dense(4)(embedded), training=True)
    np.testing.assert_array_equal(hidden._keras_mask.numpy(), ids != 0)
    assert getattr(layers.Embedding(6, 3)(engine.tensor(ids)), "_keras_mask", None) is None
    with pytest.warns(UserWarning, match="Layer 'flatten\\w*' .* does not support masking"):
        flat = layers.Flatten()(embedded)
    assert getattr(flat, "_keras_mask", None) is None


def test_global_average_pooling_1d_averages_kept_steps_only(backend):
    x = random_array((3, 5, 2))
    keep = MASKED_STEPS[:3]
    want = (x * keep[..., None]).sum(axis=1) / keep.sum(axis=1, keepdims=True)
    pooled = layers.GlobalAveragePooling1D()(engine.tensor(x), mask=engine.tensor(keep))
    np.testing.assert_allclose(pooled.numpy(), want, rtol=1e-5, atol=1e-6)
    assert getattr(pooled, "_keras_mask", None) is None


def test_merge_layers_combine_masks_as_keras_does(backend):
    x = engine.tensor(random_array((4, 5, 2)))
    y = engine.tensor(random_array((4, 5, 3)))
    x._keras_mask = engine.tensor(MASKED_STEPS)
    y._keras_mask = engine.tensor(MASKED_STEPS[::-1].copy())
    either = MASKED_STEPS | MASKED_STEPS[::-1]
    added = layers.Add()([x, layers.Dense(2)(y)])
    np.testing.assert_array_equal(added._keras_mask.numpy(), either)
    joined = layers.Concatenate()([x, y])
    np.testing.assert_array_equal(joined._keras_mask.numpy(), either)
    unmasked = engine.tensor(random_array((4, 5, 2)))
    assert getattr(layers.Add()([x, unmasked]), "_keras_mask", None) is None
    np.testing.assert_array_equal(layers.Concatenate()([x, unmasked])._keras_mask.numpy(),
                                  np.ones((4, 5), bool))
    steps = layers.Concatenate(axis=1)([x, unmasked])
    np.testing.assert_array_equal(steps._keras_mask.numpy(),
                                  np.concatenate([MASKED_STEPS, np.ones((4, 5), bool)], 1))


def test_losses_and_metrics_leave_masked_steps_out(backend):
    predictions = random_array((4, 5, 3), low=0.1, high=1.0)
    labels = np.random.default_rng(3).integers(0, 3, (4, 5))
    y_pred = engine.tensor(predictions)
    y_pred._keras_mask = engine.tensor(MASKED_STEPS)
    probabilities = predictions / predictions.sum(-1, keepdims=True)
    per_step = -np.log(np.take_along_axis(probabilities, labels[..., None], -1)[..., 0])
    loss = engine.losses.SparseCategoricalCrossentropy()(engine.tensor(labels), y_pred)
    np.testing.assert_allclose(loss.numpy(), per_step[MASKED_STEPS].mean(), rtol=1e-5)
    weights = np.array([1.0, 2.0, 0.5, 3.0], np.float32)
    weighted = engine.losses.SparseCategoricalCrossentropy()(engine.tensor(labels), y_pred,
                                                           sample_weight=weights)
    scaled = per_step * weights[:, None] * MASKED_STEPS
    np.testing.assert_allclose(weighted.numpy(), scaled.sum() / MASKED_STEPS.sum(), rtol=1e-5)
    accuracy = engine.metrics.SparseCategoricalAccuracy()
    accuracy.update_state(engine.tensor(labels), y_pred)
    hits = predictions.argmax(-1) == labels
    assert accuracy.result() == pytest.approx(hits[MASKED_STEPS].mean())


def test_zero_output_for_mask_gives_zeros_at_masked_steps(backend):
    x = random_array((4, 5, 3))
    layer = layers.GRU(2, return_sequences=True, zero_output_for_mask=True)
    layer.build(x.shape)
    weights = set_random_weights(layer)
    sequence, _ = masked_rnn_reference("gru", x.astype(np.float64), MASKED_STEPS, weights, 2)
    np.testing.assert_allclose(layer(engine.tensor(x), mask=engine.tensor(MASKED_STEPS)).numpy(),
                               np.where(MASKED_STEPS[..., None], sequence, 0.0),
                               **TOLERANCES["matmul"])
    assert layers.deserialize(layers.serialize(layer)).zero_output_for_mask


# ---------------------------------------------------------------------------- Lambda

def test_lambda_runs_its_function_with_arguments_and_masks(backend):
    from tests.lambda_functions import scaled_square

    x = random_array((2, 5, 3))
    layer = layers.Lambda(scaled_square, arguments={"scale": 0.5})
    np.testing.assert_allclose(run(layer, x), x.astype(np.float64) ** 2 * 0.5, rtol=1e-6)
    assert layer.compute_output_shape((None, 5, 3)) == (None, 5, 3)
    summed = layers.Lambda(lambda v: engine.sum(v, axis=-1), output_shape=(5,))
    assert summed.compute_output_shape((None, 5, 3)) == (None, 5)
    seen = []
    keep_mask = layers.Lambda(lambda v, mask=None: seen.append(mask) or v,
                              mask=lambda inputs, mask: mask)
    masked = layers.Masking()(engine.tensor(np.where(MASKED_STEPS[:2, :, None], x, 0)))
    output = keep_mask(masked)
    np.testing.assert_array_equal(seen[0].numpy(), MASKED_STEPS[:2])
    np.testing.assert_array_equal(output._keras_mask.numpy(), MASKED_STEPS[:2])
    check_gradients(layers.Lambda(scaled_square, dtype=gradient_dtype(backend)), [x], backend)


def test_lambda_models_save_named_functions_and_refuse_lambdas(tmp_path):
    from tests.lambda_functions import scaled_square

    keras = keras_or_skip()
    values = layers.Input((3,))
    model = engine.Model(values, layers.Dense(2)(layers.Lambda(
        scaled_square, arguments={"scale": 2.0}, name="square")(values)))
    x = random_array((4, 3))
    for suffix in (".keras", ".h5"):
        path = str(tmp_path / f"m{suffix}")
        model.save(path)
        with pytest.raises(ValueError, match="Layer 'square' calls function 'scaled_square': "
                                             "pass custom_objects"):
            engine.models.load_model(path)
        mine = engine.models.load_model(path, custom_objects={"scaled_square": scaled_square})
        np.testing.assert_allclose(mine.predict(x, verbose=0), model.predict(x, verbose=0))
        theirs = keras.saving.load_model(path, custom_objects={"scaled_square": scaled_square})
        np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)),
                                   model.predict(x, verbose=0), rtol=1e-6)
    anonymous = engine.Model(values, layers.Lambda(lambda v: v + 1, name="plus")(values))
    with pytest.raises(ValueError, match="Layer 'plus': its function is a lambda"):
        anonymous.save(str(tmp_path / "anonymous.keras"))
    assert not (tmp_path / "anonymous.keras").exists()
    keras_values = keras.Input((3,))
    keras_model = keras.Model(keras_values, keras.layers.Lambda(lambda v: v + 1)(keras_values))
    keras_model.save(str(tmp_path / "theirs.keras"))
    with pytest.raises(ValueError, match="holds a Python lambda as bytecode"):
        engine.models.load_model(str(tmp_path / "theirs.keras"))


def test_tfjs_refuses_lambda_layers_by_name(tmp_path):
    from tests.lambda_functions import scaled_square

    values = layers.Input((3,))
    model = engine.Model(values, layers.Lambda(scaled_square, name="square")(values))
    with pytest.raises(ValueError, match="Layer 'square': TF.js has no Lambda layer"):
        model.save(str(tmp_path / "web"))
