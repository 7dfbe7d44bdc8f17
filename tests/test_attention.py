"""MultiHeadAttention and Attention: forward values against float64 NumPy formulas (einsum),
gradients against finite differences, predictions and training steps against real Keras 3,
model files both ways with Keras, clear errors; and functional models whose layers take
several tensor arguments (configs in Keras 3's and Keras 2's forms)."""
import json

import numpy as np
import pytest

import engine
from engine import layers
from tests.helpers import (TOLERANCES, check_gradients, float64_supported, keras_or_skip,
                           keras_twins, sgd_steps_like_keras)


def _uniform(shape, seed=0, low=-1.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


def _masked(array, mask):
    """An engine tensor of `array` carrying `mask` as its Keras mask."""
    tensor = engine.tensor(array)
    tensor._keras_mask = engine.tensor(mask)
    return tensor


# ---------------------------------------------------------------------------- NumPy references


def _softmax(scores, keep):
    """Keras's masked softmax: masked scores -1e9, masked probabilities 0."""
    scores = np.where(keep, scores, -1e9)
    exp = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return np.where(keep, exp / exp.sum(axis=-1, keepdims=True), 0.0)


def _mha_reference(query, value, key, weights, keep):
    """Multi-head attention in float64: keep is a bool (batch, T, S) mask (True = attend)."""
    wq, bq, wk, bk, wv, bv, wo, bo = [np.asarray(w, np.float64) for w in weights]
    q = np.einsum("btd,dhk->bthk", query, wq) + bq
    k = np.einsum("bsd,dhk->bshk", key, wk) + bk
    v = np.einsum("bsd,dhk->bshk", value, wv) + bv
    scores = np.einsum("bthk,bshk->bhts", q, k) / np.sqrt(wq.shape[-1])
    probabilities = _softmax(scores, keep[:, None])
    context = np.einsum("bhts,bshk->bthk", probabilities, v)
    return np.einsum("bthk,hko->bto", context, wo) + bo, probabilities


def _attention_reference(query, value, key, keep, query_keep, scale=1.0, concat=None):
    """Keras's Attention in float64 (dot scores, or concat: weight * sum(tanh(scale(q + k))))."""
    if concat is None:
        scores = scale * np.einsum("btd,bsd->bts", query, key)
    else:
        scores = concat * np.tanh(scale * (query[:, :, None] + key[:, None])).sum(-1)
    scores = np.where(keep, scores, scores - 1e9)
    exp = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = exp / exp.sum(axis=-1, keepdims=True)
    return np.where(query_keep[..., None], weights @ value, 0.0), weights


def _keep_masks(seed=0):
    """Random masks for (2, 4) queries and (2, 5) values, no row fully masked."""
    rng = np.random.default_rng(seed)
    attention = rng.uniform(size=(2, 4, 5)) > 0.3
    attention[..., 0] = True
    value = np.array([[1, 1, 0, 1, 0], [1, 1, 1, 1, 1]], bool)
    query = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)
    return attention, value, query


# ---------------------------------------------------------------------------- forward, gradients


def test_multi_head_attention_matches_numpy_with_every_mask(backend):
    query, value, key = _uniform((2, 4, 6), 1), _uniform((2, 5, 3), 2), _uniform((2, 5, 7), 3)
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4, output_shape=5)
    layer(query, value, key)
    layer.set_weights([_uniform(w.shape, 10 + i, -0.5, 0.5) for i, w in
                       enumerate(layer.weights)])
    attention, value_keep, query_keep = _keep_masks()
    causal = np.tril(np.ones((4, 5), bool))[None]
    output, scores = layer(_masked(query, query_keep), _masked(value, value_keep), key,
                           attention_mask=attention, use_causal_mask=True,
                           return_attention_scores=True)
    keep = attention & value_keep[:, None] & query_keep[:, :, None] & causal
    expected, probabilities = _mha_reference(query, value, key, layer.get_weights(), keep)
    np.testing.assert_allclose(output.numpy(), expected, **TOLERANCES["matmul"])
    np.testing.assert_allclose(scores.numpy(), probabilities, **TOLERANCES["matmul"])
    np.testing.assert_array_equal(output._keras_mask.numpy(), query_keep)  # Keras passes it on
    assert [tuple(w.shape) for w in layer.weights] == [(6, 2, 3), (2, 3), (7, 2, 3), (2, 3),
                                                       (3, 2, 4), (2, 4), (2, 4, 5), (5,)]
    assert [w.name for w in layer.weights] == [f"{layer.name}/{part}/{kind}" for part in (
        "query", "key", "value", "attention_output") for kind in ("kernel", "bias")]


def test_multi_head_attention_gradients(backend):
    dtype = "float64" if float64_supported(backend) else "float32"
    layer = layers.MultiHeadAttention(2, 2, dtype=dtype, name="mha")
    query, value = _uniform((2, 3, 4), 1), _uniform((2, 5, 4), 2)
    layer(query, value)
    layer.set_weights([_uniform(w.shape, 20 + i, -0.7, 0.7) for i, w in
                       enumerate(layer.weights)])
    keep = np.tril(np.ones((3, 5), bool))[None].repeat(2, 0)
    check_gradients(lambda q, v: layer(q, v, attention_mask=keep), [query, value], backend)
    check_gradients(lambda q: layer(q, q, use_causal_mask=True), [query], backend)


@pytest.mark.parametrize("options", [{}, {"use_scale": True},
                                     {"score_mode": "concat", "use_scale": True}])
def test_attention_matches_numpy(backend, options):
    query, value, key = _uniform((2, 4, 3), 1), _uniform((2, 5, 6), 2), _uniform((2, 5, 3), 3)
    layer = layers.Attention(**options)
    layer([query, value, key])
    layer.set_weights([np.full(w.shape, 1.5 + i, np.float32) for i, w in
                       enumerate(layer.weights)])
    _, value_keep, query_keep = _keep_masks()
    output, weights = layer([query, value, key], mask=[query_keep, value_keep],
                            return_attention_scores=True, use_causal_mask=True)
    keep = value_keep[:, None] & np.tril(np.ones((4, 5), bool))[None]
    scale = 1.5 if options.get("use_scale") else 1.0
    concat = (2.5 if options.get("use_scale") else 1.5) if "score_mode" in options else None
    expected, expected_weights = _attention_reference(query, value, key, keep, query_keep,
                                                      scale, concat)
    np.testing.assert_allclose(output.numpy(), expected, **TOLERANCES["matmul"])
    np.testing.assert_allclose(weights.numpy(), expected_weights, **TOLERANCES["matmul"])
    dtype = "float64" if float64_supported(backend) else "float32"
    twin = layers.Attention(**options, dtype=dtype)
    twin([query, key])
    check_gradients(lambda q, v: twin([q, v], use_causal_mask=True), [query, key], backend)


def test_dropout_acts_on_scores_in_training_only():
    layer = layers.MultiHeadAttention(2, 3, dropout=0.5, seed=1)
    x = _uniform((2, 4, 6))
    np.testing.assert_array_equal(layer(x, x).numpy(), layer(x, x, training=False).numpy())
    _, scores = layer(x, x, training=True, return_attention_scores=True)
    np.testing.assert_allclose(scores.numpy().sum(-1), 1.0, rtol=1e-5)  # scores before dropout
    assert not np.allclose(layer(x, x, training=True).numpy(), layer(x, x).numpy())
    attention = layers.Attention(dropout=0.5, seed=1)
    assert not np.allclose(attention([x, x], training=True).numpy(), attention([x, x]).numpy())


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize("arguments, message", [
    (dict(num_heads=2, key_dim=0), "key_dim"), (dict(num_heads=-1, key_dim=2), "num_heads"),
    (dict(num_heads=2, key_dim=2, attention_axes=(2,)), "attention_axes"),
    (dict(num_heads=2, key_dim=2, output_shape=(2, 3)), "output_shape"),
    (dict(num_heads=2, key_dim=2, dropout=1.5), "dropout")])
def test_bad_multi_head_attention_arguments_are_refused(arguments, message):
    with pytest.raises(ValueError, match=f"'bad'.*{message}"):
        layers.MultiHeadAttention(**arguments, name="bad")


def test_bad_inputs_are_refused_before_state_changes():
    layer = layers.MultiHeadAttention(2, 3, name="mha")
    with pytest.raises(ValueError, match="'mha'.*except the last one"):
        layer(layers.Input((4, 6)), layers.Input((5, 6)), layers.Input((3, 6)))
    with pytest.raises(ValueError, match="'mha'.*steps, features"):
        layer(layers.Input((4, 6, 2)), layers.Input((5, 6)))
    assert not layer.built and layer.weights == [] and layer._inbound_nodes == []
    layer(layers.Input((4, 6)), layers.Input((5, 3)))
    before = layer.get_weights()
    with pytest.raises(ValueError, match="'mha'.*value of shape \\(batch, steps, 3\\)"):
        layer(layers.Input((4, 6)), layers.Input((5, 4)))
    with pytest.raises(ValueError, match="'mha'.*query of shape"):
        layer(_uniform((1, 4, 5)), _uniform((1, 5, 3)))
    assert len(layer._inbound_nodes) == 1
    for got, want in zip(layer.get_weights(), before):
        np.testing.assert_array_equal(got, want)
    attention = layers.Attention(name="att")
    with pytest.raises(ValueError, match="'att'.*list of inputs"):
        attention(layers.Input((4, 3)))
    with pytest.raises(ValueError, match="'att'.*same dim"):
        attention([layers.Input((4, 3)), layers.Input((5, 2))])
    with pytest.raises(ValueError, match="'att'.*score_mode"):
        layers.Attention(score_mode="additive", name="att")
    assert not attention.built


# ---------------------------------------------------------------------------- functional API


class Two(layers.Layer):
    """A custom layer with two tensor arguments and a plain one."""

    def call(self, a, b, scale=1.0):
        return (a - b) * scale


def _two_model():
    layers.clear_session()
    a, b = layers.Input((3,), name="a"), layers.Input((3,), name="b")
    difference = Two(name="two")(a, b, scale=2.0)
    hidden = layers.Dense(3, name="dense")(difference)
    return engine.models.Model([a, b], Two(name="again")(hidden, b=a))


def test_layers_with_several_tensor_arguments_build_predict_and_serialize(tmp_path):
    model = _two_model()
    a, b = _uniform((2, 3), 1), _uniform((2, 3), 2)
    kernel, bias = model.get_layer("dense").get_weights()
    expected = (2 * (a - b)) @ kernel + bias - a
    np.testing.assert_allclose(model.predict([a, b], verbose=0), expected, rtol=1e-5, atol=1e-6)
    config = json.loads(model.to_json())
    nodes = {layer["name"]: layer["inbound_nodes"] for layer in config["config"]["layers"]}
    assert [t["config"]["keras_history"] for t in nodes["two"][0]["args"]] == [["a", 0, 0],
                                                                                ["b", 0, 0]]
    assert nodes["two"][0]["kwargs"] == {"scale": 2.0}
    assert nodes["again"][0]["kwargs"]["b"]["config"]["keras_history"] == ["a", 0, 0]
    rebuilt = engine.models.model_from_json(model.to_json(), custom_objects={"Two": Two})
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt.predict([a, b], verbose=0), expected, rtol=1e-5,
                               atol=1e-6)
    # Keras 2 / TF.js form: the other tensor arguments are kwargs named by call's parameters.
    model.save(str(tmp_path / "web"))
    topology = json.loads((tmp_path / "web" / "model.json").read_text())["modelTopology"]
    nodes = {layer["name"]: layer["inbound_nodes"] for layer in topology["config"]["layers"]}
    assert nodes["two"] == [[["a", 0, 0, {"b": ["b", 0, 0], "scale": 2.0}]]]
    assert nodes["again"] == [[["dense", 0, 0, {"b": ["a", 0, 0]}]]]
    loaded = engine.models.load_model(str(tmp_path / "web"), custom_objects={"Two": Two})
    np.testing.assert_allclose(loaded.predict([a, b], verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_several_tensor_arguments_move_both_ways_with_keras(tmp_path):
    keras = keras_or_skip()

    class Twin(keras.layers.Layer):
        def call(self, a, b, scale=1.0):
            return (a - b) * scale

    Twin.__name__ = "Two"  # the class name Keras writes for its own model

    model = _two_model()
    a, b = _uniform((2, 3), 1), _uniform((2, 3), 2)
    model.save(str(tmp_path / "ours.keras"))
    theirs = keras.saving.load_model(str(tmp_path / "ours.keras"),
                                     custom_objects={"Two": Twin})
    np.testing.assert_allclose(np.asarray(theirs.predict([a, b], verbose=0)),
                               model.predict([a, b], verbose=0), rtol=1e-5, atol=1e-6)
    theirs.save(str(tmp_path / "theirs.keras"))
    back = engine.models.load_model(str(tmp_path / "theirs.keras"), custom_objects={"Two": Two})
    np.testing.assert_allclose(back.predict([a, b], verbose=0),
                               model.predict([a, b], verbose=0), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- against Keras


def test_layers_match_keras_with_the_same_weights():
    keras = keras_or_skip()
    query, value, key = _uniform((2, 4, 6), 1), _uniform((2, 5, 3), 2), _uniform((2, 5, 7), 3)
    attention, value_keep, _ = _keep_masks()
    for arguments in (dict(num_heads=2, key_dim=3, value_dim=4, output_shape=5),
                      dict(num_heads=3, key_dim=2, use_bias=False)):
        theirs = keras.layers.MultiHeadAttention(**arguments)
        ours = layers.MultiHeadAttention(**arguments)
        theirs(query, value, key, return_attention_scores=True)  # (Keras's fused path fails
        ours(query, value, key)  # for value_dim != key_dim: its scores path is the reference)
        ours.set_weights([np.asarray(w) for w in theirs.weights])
        for kwargs in ({}, {"attention_mask": attention}, {"use_causal_mask": True}):
            want = theirs(query, value, key, return_attention_scores=True, **kwargs)
            got = ours(query, value, key, return_attention_scores=True, **kwargs)
            for g, w in zip(got, want):
                np.testing.assert_allclose(g.numpy(), np.asarray(w), rtol=1e-5, atol=1e-6)
    keys = _uniform((2, 5, 6), 4)
    for options in ({}, {"use_scale": True}, {"score_mode": "concat"}):
        theirs, ours = keras.layers.Attention(**options), layers.Attention(**options)
        theirs([query, value, keys])
        ours([query, value, keys])
        weights = [np.full(w.shape, 0.7, np.float32) for w in theirs.weights]
        theirs.set_weights(weights)
        ours.set_weights(weights)
        kwargs = dict(mask=[None, value_keep], use_causal_mask=True)
        np.testing.assert_allclose(ours([query, value, keys], **kwargs).numpy(), np.asarray(
            theirs([query, value, keys], **kwargs)), rtol=1e-5, atol=1e-6)


def _transformer_block(lib):
    x = lib.layers.Input((5, 6))
    attended = lib.layers.MultiHeadAttention(2, 3, name="mha")(x, x)
    hidden = lib.layers.LayerNormalization()(lib.layers.Add()([x, attended]))
    hidden = lib.layers.Dense(4, activation="relu")(hidden)
    return lib.models.Model(x, lib.layers.Dense(2)(lib.layers.Flatten()(hidden)))


def test_transformer_block_trains_as_keras(backend):
    keras, theirs, ours = keras_twins(_transformer_block, seed=0)
    x, y = _uniform((4, 5, 6), 3), _uniform((4, 2), 4)
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(theirs.predict(
        x, verbose=0)), rtol=1e-5, atol=1e-5)
    before = sgd_steps_like_keras(keras, theirs, ours, x, y, 0.1)
    for variable, start in zip(ours.weights, before):
        # (the key bias adds the same q.b to every score of a row: softmax ignores it)
        assert variable.name == "mha/key/bias" or not np.allclose(variable.numpy(), start)


def _attention_model(lib):
    """Self-attention with a causal mask, cross-attention with a separate key and an
    attention_mask input, and Keras's Attention layer."""
    x = lib.layers.Input((5, 6), name="x")
    memory = lib.layers.Input((4, 3), name="memory")
    allowed = lib.layers.Input((5, 4), name="allowed")
    causal = lib.layers.MultiHeadAttention(2, 3, name="self")(x, x, use_causal_mask=True)
    cross = lib.layers.MultiHeadAttention(2, 2, output_shape=4, name="cross")(
        causal, memory, lib.layers.Dense(5, name="keys")(memory), attention_mask=allowed)
    attended = lib.layers.Attention(use_scale=True, name="dot")([cross, cross])
    return lib.models.Model([x, memory, allowed], lib.layers.Dense(2, name="out")(attended))


def _attention_inputs():
    allowed = (np.random.default_rng(5).uniform(size=(2, 5, 4)) > 0.4).astype(np.float32)
    allowed[..., 0] = 1
    return [_uniform((2, 5, 6), 6), _uniform((2, 4, 3), 7), allowed]


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_files_move_both_ways_with_keras(tmp_path, suffix):
    keras = keras_or_skip()
    keras.backend.clear_session()
    theirs = _attention_model(keras)
    rng = np.random.default_rng(1)
    theirs.set_weights([rng.uniform(-0.5, 0.5, w.shape) for w in theirs.get_weights()])
    inputs = _attention_inputs()
    expected = np.asarray(theirs.predict(inputs, verbose=0))
    theirs.save(str(tmp_path / f"theirs{suffix}"))
    ours = engine.models.load_model(str(tmp_path / f"theirs{suffix}"))
    np.testing.assert_allclose(ours.predict(inputs, verbose=0), expected, rtol=1e-5, atol=1e-5)
    ours.compile(optimizer=engine.optimizers.Adam(0.01), loss="mse")
    ours.save(str(tmp_path / f"ours{suffix}"))
    back = keras.saving.load_model(str(tmp_path / f"ours{suffix}"))
    np.testing.assert_allclose(np.asarray(back.predict(inputs, verbose=0)), expected,
                               rtol=1e-5, atol=1e-5)
    assert [w.path for w in back.weights] == [w.path for w in theirs.weights]


def test_tfjs_save_is_refused_by_name(tmp_path):
    layers.clear_session()
    model = _attention_model(engine)
    with pytest.raises(ValueError, match="'self': TF.js has no MultiHeadAttention layer"):
        model.save(str(tmp_path / "web"))
    x = layers.Input((3, 2))
    single = engine.models.Model(x, layers.Attention(name="dot")([x, x]))
    with pytest.raises(ValueError, match="'dot': TF.js has no Attention layer"):
        single.save(str(tmp_path / "web"))
    assert not (tmp_path / "web").exists()


def test_configs_round_trip_with_keras3_keys():
    keras = keras_or_skip()
    layer = layers.MultiHeadAttention(4, 8, value_dim=2, dropout=0.1, output_shape=3,
                                      use_bias=False, name="mha")
    theirs = keras.layers.MultiHeadAttention.from_config(layer.get_config())
    ours = layers.MultiHeadAttention.from_config(layer.get_config())
    for name in ("num_heads", "key_dim", "value_dim", "dropout", "use_bias"):
        assert getattr(theirs, name) == getattr(ours, name) == getattr(layer, name)
    assert set(layer.get_config()) <= set(theirs.get_config()) | {"batch_input_shape"}
    attention = layers.Attention(use_scale=True, score_mode="concat", dropout=0.2)
    again = keras.layers.Attention.from_config(attention.get_config())
    assert (again.use_scale, again.score_mode, again.dropout) == (True, "concat", 0.2)


def _masked_text_model(lib):
    """Padding masks from Embedding(mask_zero=True) reach both attention layers (as value and
    query masks) and the pooling after them."""
    tokens = lib.layers.Input((5,), dtype="int32")
    embedded = lib.layers.Embedding(7, 4, mask_zero=True)(tokens)
    attended = lib.layers.MultiHeadAttention(2, 3)(embedded, embedded)
    attended = lib.layers.MultiHeadAttention(2, 3)(attended, embedded, use_causal_mask=True)
    return lib.models.Model(tokens, lib.layers.GlobalAveragePooling1D()(attended))


def test_keras_masks_flow_through_attention_as_in_keras():
    _, theirs, ours = keras_twins(_masked_text_model, seed=2)
    tokens = np.array([[1, 2, 3, 0, 0], [4, 5, 6, 1, 0]], np.int32)
    np.testing.assert_allclose(ours.predict(tokens, verbose=0), np.asarray(
        theirs.predict(tokens, verbose=0)), rtol=1e-5, atol=1e-6)
    unmasked = tokens.copy()
    unmasked[unmasked == 0] = 1
    assert not np.allclose(ours.predict(unmasked, verbose=0), ours.predict(tokens, verbose=0))


def test_keras2_configs_name_the_other_tensor_arguments():
    from engine.io import config_normalize, serialize

    layers.clear_session()
    model = _attention_model(engine)
    keras2 = config_normalize.to_keras2(serialize.model_config(model),
                                        serialize.call_argument_names(model))
    nodes = {layer["name"]: layer["inbound_nodes"] for layer in keras2["config"]["layers"]}
    assert nodes["self"] == [[["x", 0, 0, {"value": ["x", 0, 0], "use_causal_mask": True}]]]
    assert nodes["cross"] == [[["self", 0, 0, {"value": ["memory", 0, 0], "key": ["keys", 0, 0],
                                               "attention_mask": ["allowed", 0, 0]}]]]
    rebuilt = engine.models.model_from_json(json.dumps(keras2))
    rebuilt.set_weights(model.get_weights())
    inputs = _attention_inputs()
    np.testing.assert_allclose(rebuilt.predict(inputs, verbose=0),
                               model.predict(inputs, verbose=0), rtol=1e-6, atol=1e-6)
