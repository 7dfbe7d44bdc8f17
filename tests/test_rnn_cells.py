"""The generic recurrent API: RNN(cell), SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells and
user-written cells, against float64 NumPy step formulas, the built-in layers, finite
differences, real Keras (predictions, .keras and .h5 both ways) and real TF.js."""
import json

import numpy as np
import pytest

import engine
from engine import layers
from tests.helpers import (TOLERANCES, check_gradients, float64_supported, keras_or_skip,
                           keras_file_listing, predicted_by_tfjs, random_array, saved_by_tfjs,
                           sgd_steps_like_keras)

CELLS = {"simple": layers.SimpleRNNCell, "lstm": layers.LSTMCell, "gru": layers.GRUCell}
LAYERS = {"simple": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}
KINDS = [("simple", {}), ("lstm", {}), ("gru", {"reset_after": True}),
         ("gru", {"reset_after": False})]
MASK = np.array([[1, 1, 1, 1, 1], [1, 0, 1, 1, 0], [0, 0, 1, 0, 1]], bool)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def step_reference(kind, x, states, kernel, recurrent, bias, reset_after=True):
    """One step of Keras's cell equations in float64: (output, new states)."""
    h = states[0]
    if kind == "simple":
        h = np.tanh(x @ kernel + h @ recurrent + bias)
        return h, [h]
    if kind == "lstm":
        i, f, g, o = np.split(x @ kernel + h @ recurrent + bias, 4, axis=-1)
        c = sigmoid(f) * states[1] + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        return h, [h, c]
    if reset_after:
        xz, xr, xh = np.split(x @ kernel + bias[0], 3, axis=-1)
        hz, hr, hh = np.split(h @ recurrent + bias[1], 3, axis=-1)
        z, r = sigmoid(xz + hz), sigmoid(xr + hr)
        candidate = np.tanh(xh + r * hh)
    else:
        xz, xr, xh = np.split(x @ kernel + bias, 3, axis=-1)
        uz, ur, uh = np.split(recurrent, 3, axis=-1)
        z, r = sigmoid(xz + h @ uz), sigmoid(xr + h @ ur)
        candidate = np.tanh(xh + (r * h) @ uh)
    h = z * h + (1 - z) * candidate
    return h, [h]


def randomize(layer, seed=0):
    """Uniform [-0.5, 0.5] weights; returns them in float64."""
    layer.set_weights([random_array(w.shape, seed + i, -0.5, 0.5)
                       for i, w in enumerate(layer.weights)])
    return [w.numpy().astype(np.float64) for w in layer.weights]


def as_list(outputs):
    return [o.numpy() for o in outputs] if isinstance(outputs, list) else [outputs.numpy()]


# ---------------------------------------------------------------------------- cells


@pytest.mark.parametrize("kind,options", KINDS)
def test_cell_step_matches_numpy(backend, kind, options):
    cell = CELLS[kind](3, **options)
    x = random_array((2, 4))
    cell.build((None, 4))
    weights = randomize(cell)
    assert [w.name.split("/")[-1] for w in cell.weights] == ["kernel", "recurrent_kernel",
                                                              "bias"]
    states = [random_array((2, 3), 5 + i) for i in range(2 if kind == "lstm" else 1)]
    output, new_states = cell(engine.tensor(x), [engine.tensor(s) for s in states])
    want, want_states = step_reference(kind, x.astype(np.float64),
                                       [s.astype(np.float64) for s in states], *weights,
                                       **options)
    np.testing.assert_allclose(output.numpy(), want, **TOLERANCES["matmul"])
    for got, expected in zip(new_states, want_states):
        np.testing.assert_allclose(got.numpy(), expected, **TOLERANCES["matmul"])


def test_cell_shapes_sizes_and_forget_bias():
    cell = layers.LSTMCell(2)
    assert cell.state_size == [2, 2] and cell.output_size == 2
    cell.build((None, 3))
    np.testing.assert_array_equal(cell.bias.numpy(), np.r_[np.zeros(2), np.ones(2),
                                                          np.zeros(4)])
    gru = layers.GRUCell(2)
    gru.build((None, 3))
    assert gru.bias.shape == (2, 6) and gru.state_size == 2
    assert layers.GRUCell(2, reset_after=False).build((None, 3)) is None


# ---------------------------------------------------------------------------- RNN(cell)


def _pair(kind, options, rnn_options):
    """(built-in layer, RNN over the same cell, RNN over a one-cell stack: the loop's path for
    any cell), all with the same weights."""
    builtin = LAYERS[kind](3, **options, **rnn_options)
    over_cell = layers.RNN(CELLS[kind](3, **options), **rnn_options)
    stacked = layers.RNN(layers.StackedRNNCells([CELLS[kind](3, **options)]), **rnn_options)
    for layer in (builtin, over_cell, stacked):
        layer.build((None, 5, 4))
    weights = randomize(builtin)
    for layer in (over_cell, stacked):
        layer.set_weights([w.astype(np.float32) for w in weights])
    return builtin, over_cell, stacked


@pytest.mark.parametrize("kind,options", KINDS)
@pytest.mark.parametrize("rnn_options", [
    {}, {"return_sequences": True, "return_state": True},
    {"go_backwards": True, "return_sequences": True},
    {"return_sequences": True, "zero_output_for_mask": True, "return_state": True}])
@pytest.mark.parametrize("masked", [False, True])
def test_rnn_over_cell_equals_builtin_layer(kind, options, rnn_options, masked):
    layers_ = _pair(kind, options, rnn_options)
    x = engine.tensor(random_array((3, 5, 4), 3))
    mask = {"mask": engine.tensor(MASK)} if masked else {}
    want = as_list(layers_[0](x, **mask))
    for layer in layers_[1:]:
        got = as_list(layer(x, **mask))
        assert len(got) == len(want)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, **TOLERANCES["matmul"])


def test_stacked_cells_equal_layers_run_one_after_another():
    x = engine.tensor(random_array((3, 5, 4), 4))
    mask = engine.tensor(MASK)
    first = layers.LSTM(3, return_sequences=True, return_state=True)
    second = layers.GRU(2, return_sequences=True, return_state=True, reset_after=False)
    sequence, h1, c1 = first(x, mask=mask)
    output, h2 = second(sequence, mask=mask)
    stacked = layers.RNN([layers.LSTMCell(3), layers.GRUCell(2, reset_after=False)],
                         return_sequences=True, return_state=True)
    stacked.build((None, 5, 4))
    stacked.set_weights(first.get_weights() + second.get_weights())
    assert [w.name for w in stacked.weights][:4] == [
        f"{stacked.name}/RNNCell_0/kernel", f"{stacked.name}/RNNCell_0/recurrent_kernel",
        f"{stacked.name}/RNNCell_0/bias", f"{stacked.name}/RNNCell_1/kernel"]
    got = stacked(x, mask=mask)
    assert stacked.cell.state_size == [3, 3, 2]
    for a, b in zip(got, [output, h1, c1, h2]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), **TOLERANCES["matmul"])
    assert stacked.compute_output_shape((None, 5, 4)) == [(None, 5, 2), (None, 3), (None, 3),
                                                          (None, 2)]


class MinimalRNNCell(layers.Layer):
    """The Keras guide's minimal cell: output = x @ kernel + h @ recurrent_kernel."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight((input_shape[-1], self.units), "uniform", name="kernel")
        self.recurrent_kernel = self.add_weight((self.units, self.units), "uniform",
                                                name="recurrent_kernel")

    def call(self, inputs, states):
        output = engine.matmul(inputs, self.kernel) + engine.matmul(states[0],
                                                                   self.recurrent_kernel)
        return output, [output]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_custom_cell_runs_masks_and_trains():
    x = random_array((3, 5, 4), 6)
    layer = layers.RNN(MinimalRNNCell(2), return_sequences=True)
    layer.build((None, 5, 4))
    kernel, recurrent = randomize(layer)
    assert [w.name for w in layer.weights] == [f"{layer.name}/kernel",
                                               f"{layer.name}/recurrent_kernel"]
    h, want = np.zeros((3, 2)), []
    for t in range(5):
        h = np.where(MASK[:, t:t + 1], x[:, t].astype(np.float64) @ kernel + h @ recurrent, h)
        want.append(h)
    got = layer(engine.tensor(x), mask=engine.tensor(MASK)).numpy()
    np.testing.assert_allclose(got, np.stack(want, 1), **TOLERANCES["matmul"])

    model = engine.models.Sequential([layers.Input((5, 4)), layers.RNN(MinimalRNNCell(3)),
                                      layers.Dense(1)])
    randomize(model, seed=20)
    y = random_array((3, 1), 21)
    model.compile(optimizer=engine.optimizers.SGD(0.05), loss="mse")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=30, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.5 * before


@pytest.mark.parametrize("stacked", [False, True])
def test_dropout_keeps_one_mask_per_sequence(stacked):
    """Keras's rule: a cell's dropout mask is drawn once per sequence, not once per step."""
    cell = layers.SimpleRNNCell(6, activation="linear", use_bias=False, dropout=0.5, seed=1,
                                recurrent_initializer="zeros", kernel_initializer="ones")
    layer = layers.RNN([cell] if stacked else cell, return_sequences=True)
    x = engine.tensor(np.ones((2, 4, 64), np.float32))  # output: 2 * (features kept)
    first = layer(x, training=True).numpy()
    np.testing.assert_allclose(first, np.repeat(first[:, :1], 4, axis=1))  # every step alike
    assert np.all(first != 64) and not np.allclose(first[0], first[1])
    assert not np.array_equal(layer(x, training=True).numpy(), first)  # a new sequence
    np.testing.assert_allclose(layer(x).numpy(), np.full((2, 4, 6), 64.0))


def test_gradients_match_finite_differences(backend):
    dtype = "float64" if float64_supported(backend) else "float32"
    layer = layers.RNN([layers.LSTMCell(2, dtype=dtype), layers.GRUCell(2, dtype=dtype)],
                       return_sequences=True, dtype=dtype)
    layer.build((None, 4, 3))
    first, second = layer.cell.cells
    mask = engine.tensor(MASK[:2, :4])

    def forward(x, kernel, recurrent, gru_bias):
        first.kernel, first.recurrent_kernel, second.bias = kernel, recurrent, gru_bias
        return layer(x, mask=mask)

    check_gradients(forward, [random_array((2, 4, 3)), random_array((3, 8), 1),
                              random_array((2, 8), 2), random_array((2, 6), 3)], backend)
    custom = layers.RNN(MinimalRNNCell(2, dtype=dtype), go_backwards=True, dtype=dtype)
    custom.build((None, 4, 3))
    check_gradients(lambda x, k: (setattr(custom.cell, "kernel", k), custom(x))[1],
                    [random_array((2, 4, 3), 4), random_array((3, 2), 5, -0.5, 0.5)], backend)


def test_symbolic_model_and_configs_round_trip():
    inputs = layers.Input((5, 4))
    outputs = layers.RNN(layers.StackedRNNCells([layers.SimpleRNNCell(3),
                                                 layers.LSTMCell(2)]), return_state=True,
                         name="stack")(inputs)
    model = engine.models.Model(inputs, outputs)
    assert [tuple(o.shape) for o in model.outputs] == [(None, 2), (None, 3), (None, 2),
                                                       (None, 2)]
    config = model.get_layer("stack").get_config()
    assert config["cell"]["class_name"] == "StackedRNNCells"
    assert [c["class_name"] for c in config["cell"]["config"]["cells"]] == ["SimpleRNNCell",
                                                                           "LSTMCell"]
    assert config["cell"]["config"]["cells"][1]["build_config"] == {"input_shape": [None, 3]}
    fresh = layers.RNN(layers.GRUCell(2, reset_after=False, dropout=0.5), go_backwards=True)
    assert layers.RNN.from_config(fresh.get_config()).get_config() == fresh.get_config()


def test_bad_arguments_are_refused_by_name():
    with pytest.raises(ValueError, match="RNN layer 'r'.*state_size.*Dense layer 'd'"):
        layers.RNN(layers.Dense(3, name="d"), name="r")
    with pytest.raises(ValueError, match="RNN layer 'r'.*got int 5"):
        layers.RNN(5, name="r")
    with pytest.raises(ValueError, match="StackedRNNCells layer 's'.*got str 'lstm'"):
        layers.StackedRNNCells([layers.LSTMCell(2), "lstm"], name="s")
    with pytest.raises(ValueError, match="RNN layer 'r': stateful=True is not supported"):
        layers.RNN(layers.LSTMCell(2), stateful=True, name="r")
    with pytest.raises(ValueError, match="LSTMCell 'c': units must be a positive integer"):
        layers.LSTMCell(0, name="c")
    built = layers.GRUCell(2, name="g")
    built.build((None, 5))  # expects 5 features, but the LSTMCell before it outputs 3
    first = layers.LSTMCell(3, name="l")
    rnn = layers.RNN([first, built], name="r")
    with pytest.raises(ValueError, match="RNN layer 'r': cell 'g' was built for 5 input "
                                         "features but cell 'l' outputs 3"):
        rnn(engine.tensor(random_array((2, 4, 6))))
    assert not first.built and not rnn.built
    lone = layers.RNN(built, name="one")
    with pytest.raises(ValueError, match="RNN layer 'one': its cell 'g' was built for 5"):
        lone(engine.tensor(random_array((2, 4, 6))))


# ---------------------------------------------------------------------------- Keras


def _keras_cells_model(lib, reset_after=True, return_state=True):
    L = lib.layers
    inputs = lib.layers.Input((5, 4))
    x = L.RNN(L.LSTMCell(3), return_sequences=True, name="rnn_lstm")(inputs)
    x = L.RNN(L.GRUCell(3, reset_after=reset_after), return_sequences=True,
              go_backwards=True, name="rnn_gru")(x)
    outputs = L.RNN(L.StackedRNNCells([L.SimpleRNNCell(2), L.LSTMCell(3),
                                       L.LSTMCell(2)]), return_state=return_state,
                    name="stack")(x)
    return lib.models.Model(inputs, outputs, name="cells")


def _twins(keras, reset_after=True):
    keras.backend.clear_session()
    theirs = _keras_cells_model(keras, reset_after)
    rng = np.random.default_rng(0)
    theirs.set_weights([rng.uniform(-0.5, 0.5, w.shape) for w in theirs.get_weights()])
    engine.layers.clear_session()
    ours = _keras_cells_model(engine, reset_after)
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    return theirs, ours


def _flat(outputs):
    """Keras 3 returns a stack's states one list per cell; ours (and its loaded files) flat."""
    if isinstance(outputs, (list, tuple)):
        return [leaf for item in outputs for leaf in _flat(item)]
    return [np.asarray(outputs)]


def _assert_same_predictions(ours, theirs, x):
    got, want = _flat(ours.predict(x, verbose=0)), _flat(theirs.predict(x, verbose=0))
    assert len(got) == len(want) == 6  # output, SimpleRNN's h, two LSTMs' h and c
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-5)


def _keras_minimal_cell(keras):
    """MinimalRNNCell written with Keras ops, as in the Keras guide."""
    class KerasMinimalRNNCell(keras.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units, self.state_size = units, units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units),
                                                    name="recurrent_kernel")

        def call(self, inputs, states):
            output = keras.ops.matmul(inputs, self.kernel) + keras.ops.matmul(
                states[0], self.recurrent_kernel)
            return output, [output]

    return KerasMinimalRNNCell


def test_custom_cell_and_training_steps_match_keras():
    keras = keras_or_skip()
    cells = {keras: _keras_minimal_cell(keras), engine: MinimalRNNCell}

    def build(lib):
        L = lib.layers
        return lib.models.Sequential([
            L.Input((5, 4)), L.RNN(cells[lib](3), return_sequences=True, go_backwards=True),
            L.RNN([L.LSTMCell(3), L.GRUCell(2)]), L.Dense(1)])

    keras.backend.clear_session()
    theirs = build(keras)
    rng = np.random.default_rng(1)
    theirs.set_weights([rng.uniform(-0.5, 0.5, w.shape) for w in theirs.get_weights()])
    engine.layers.clear_session()
    ours = build(engine)
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    x, y = random_array((3, 5, 4), 12), random_array((3, 1), 13)
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(
        theirs.predict(x, verbose=0)), rtol=1e-5, atol=1e-5)
    sgd_steps_like_keras(keras, theirs, ours, x, y, 0.1)


def test_bidirectional_over_rnn_of_cells_matches_keras(tmp_path):
    keras = keras_or_skip()

    def build(lib):
        L = lib.layers
        return lib.models.Sequential([
            L.Input((5, 4)), L.Bidirectional(L.RNN(L.LSTMCell(3), return_sequences=True)),
            L.Bidirectional(L.RNN([L.SimpleRNNCell(2), L.GRUCell(2)]), merge_mode="sum")])

    keras.backend.clear_session()
    theirs = build(keras)
    rng = np.random.default_rng(2)
    theirs.set_weights([rng.uniform(-0.5, 0.5, w.shape) for w in theirs.get_weights()])
    theirs.save(str(tmp_path / "theirs.keras"))
    ours = engine.models.load_model(str(tmp_path / "theirs.keras"))
    x = random_array((3, 5, 4), 14)
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(
        theirs.predict(x, verbose=0)), rtol=1e-5, atol=1e-5)
    ours.save(str(tmp_path / "ours.keras"))
    back = keras.saving.load_model(str(tmp_path / "ours.keras"))
    np.testing.assert_allclose(np.asarray(back.predict(x, verbose=0)),
                               ours.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def _seq2seq(lib):
    """An encoder's final LSTM states start a decoder RNN(LSTMCell) (Keras's initial_state)."""
    L = lib.layers
    encoder_inputs, decoder_inputs = L.Input((5, 3)), L.Input((4, 2))
    _, h, c = L.LSTM(4, return_state=True)(encoder_inputs)
    decoded = L.RNN(L.LSTMCell(4), return_sequences=True)(decoder_inputs, initial_state=[h, c])
    return lib.models.Model([encoder_inputs, decoder_inputs], L.Dense(2)(decoded))


def test_initial_state_matches_keras_and_files(tmp_path):
    keras = keras_or_skip()
    keras.backend.clear_session()
    theirs = _seq2seq(keras)
    rng = np.random.default_rng(3)
    theirs.set_weights([rng.uniform(-0.5, 0.5, w.shape) for w in theirs.get_weights()])
    theirs.save(str(tmp_path / "theirs.keras"))
    ours = engine.models.load_model(str(tmp_path / "theirs.keras"))
    x = [random_array((3, 5, 3), 15), random_array((3, 4, 2), 16)]
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(
        theirs.predict(x, verbose=0)), rtol=1e-5, atol=1e-5)
    engine.layers.clear_session()
    built = _seq2seq(engine)
    built.set_weights(ours.get_weights())
    np.testing.assert_allclose(built.predict(x, verbose=0), ours.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)
    built.save(str(tmp_path / "ours.keras"))
    back = keras.saving.load_model(str(tmp_path / "ours.keras"))
    np.testing.assert_allclose(np.asarray(back.predict(x, verbose=0)),
                               built.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_tfjs_refuses_initial_state_by_name(tmp_path):
    engine.layers.clear_session()
    model = _seq2seq(engine)
    decoder = model.layers[3].name
    with pytest.raises(ValueError, match=f"Layer '{decoder}': TF.js cannot load a recurrent "
                                         f"layer called with initial_state"):
        model.save(str(tmp_path / "seq2seq"))
    assert not (tmp_path / "seq2seq").exists()


def test_initial_state_is_checked_by_name():
    layer = layers.RNN(layers.LSTMCell(3), name="r")
    x = engine.tensor(random_array((2, 4, 5)))
    with pytest.raises(ValueError, match=r"RNN layer 'r': initial_state must be 2 tensors of "
                                         r"shapes \[\(2, 3\), \(2, 3\)\], got shapes "
                                         r"\[\(2, 3\)\]"):
        layer(x, initial_state=[engine.zeros((2, 3))])
    h, c = random_array((2, 3), 1), random_array((2, 3), 2)
    sequence = layer(x, initial_state=[engine.tensor(h), engine.tensor(c)]).numpy()
    kernel, recurrent, bias = [w.numpy().astype(np.float64) for w in layer.weights]
    states = [h.astype(np.float64), c.astype(np.float64)]
    for t in range(4):
        want, states = step_reference("lstm", x.numpy()[:, t].astype(np.float64), states,
                                      kernel, recurrent, bias)
    np.testing.assert_allclose(sequence, want, **TOLERANCES["matmul"])


def test_predictions_match_keras():
    keras = keras_or_skip()
    theirs, ours = _twins(keras)
    x = random_array((3, 5, 4), 8)
    _assert_same_predictions(ours, theirs, x)
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_files_move_both_ways_with_keras(tmp_path, suffix):
    keras = keras_or_skip()
    theirs, ours = _twins(keras)
    x = random_array((3, 5, 4), 9)
    theirs.save(str(tmp_path / f"theirs{suffix}"))
    loaded = engine.models.load_model(str(tmp_path / f"theirs{suffix}"))
    _assert_same_predictions(loaded, theirs, x)
    ours.save(str(tmp_path / f"ours{suffix}"))
    back = keras.saving.load_model(str(tmp_path / f"ours{suffix}"))
    _assert_same_predictions(ours, back, x)
    assert [type(layer.cell).__name__ for layer in back.layers[1:]] == [
        "LSTMCell", "GRUCell", "StackedRNNCells"]


def test_keras_file_paths_are_keras_own(tmp_path):
    keras = keras_or_skip()
    theirs, ours = _twins(keras)
    theirs.save(str(tmp_path / "theirs.keras"))
    ours.save(str(tmp_path / "ours.keras"))
    ours_listing = keras_file_listing(tmp_path / "ours.keras")
    assert ours_listing == keras_file_listing(tmp_path / "theirs.keras")
    assert ("layers/rnn_2/cell/cells/lstm_cell_1/vars/0", (3, 8)) in ours_listing


def test_custom_cell_file_round_trip(tmp_path):
    """A user's cell, alone and stacked inside Bidirectional (whose backward copy keeps the
    cell's class), through .keras and .h5 with custom_objects."""
    model = engine.models.Sequential([
        layers.Input((5, 4)), layers.Bidirectional(layers.RNN(
            [MinimalRNNCell(2), layers.LSTMCell(2)], return_sequences=True)),
        layers.RNN(MinimalRNNCell(3)), layers.Dense(1)])
    assert type(model.layers[0].backward_layer.cell.cells[0]) is MinimalRNNCell
    randomize(model)
    x = random_array((2, 5, 4), 10)
    for suffix in (".keras", ".h5"):
        model.save(str(tmp_path / f"m{suffix}"))
        with pytest.raises(ValueError, match="Unknown layer class 'MinimalRNNCell'"):
            engine.models.load_model(str(tmp_path / f"m{suffix}"))
        loaded = engine.models.load_model(str(tmp_path / f"m{suffix}"),
                                          custom_objects={"MinimalRNNCell": MinimalRNNCell})
        np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                                   rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------- TF.js


def test_engine_loads_what_tfjs_saved(tmp_path):
    x, want = saved_by_tfjs(tmp_path, """
        const model = tf.sequential();
        model.add(tf.layers.rnn({cell: tf.layers.lstmCell({units: 3,
                                                           recurrentActivation: 'sigmoid'}),
                                 returnSequences: true, inputShape: [5, 4]}));
        model.add(tf.layers.rnn({cell: [tf.layers.gruCell({units: 2}),
                                        tf.layers.simpleRNNCell({units: 3})],
                                 goBackwards: true}));
        return model;""", (2, 5, 4))
    model = engine.models.load_model(str(tmp_path / "model.json"))
    assert [type(layer.cell).__name__ for layer in model.layers] == ["LSTMCell",
                                                                      "StackedRNNCells"]
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)


def test_tfjs_loads_what_engine_saved(tmp_path):
    engine.layers.clear_session()
    model = _keras_cells_model(engine, reset_after=False, return_state=False)
    randomize(model)
    x = random_array((2, 5, 4), 11)
    model.save(str(tmp_path / "cells"))
    np.testing.assert_allclose(predicted_by_tfjs({"cells": (tmp_path / "cells", x)})["cells"],
                               model.predict(x, verbose=0).ravel(), rtol=1e-5, atol=1e-5)
    back = engine.models.load_model(str(tmp_path / "cells"))
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)
    # TF.js returns stacked cells' states in reverse cell order: refused both ways, by name.
    document = json.loads((tmp_path / "cells" / "model.json").read_text())
    stack = document["modelTopology"]["config"]["layers"][-1]
    stack["config"]["return_state"] = True
    (tmp_path / "cells" / "model.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match="Layer 'stack': an RNN over StackedRNNCells with "
                                         "return_state=True cannot be loaded for TF.js"):
        engine.models.load_model(str(tmp_path / "cells"))
    with pytest.raises(ValueError, match="Layer 'stack'.*cannot be saved for TF.js"):
        _keras_cells_model(engine, reset_after=False).save(str(tmp_path / "states"))


def test_tfjs_refuses_gru_cell_with_reset_after(tmp_path):
    model = engine.models.Sequential([layers.Input((5, 4)),
                                      layers.RNN(layers.GRUCell(2, name="g"), name="r")])
    with pytest.raises(ValueError, match="Layer 'g': TF.js has no GRUCell with reset_after"):
        model.save(str(tmp_path / "gru_cell"))
    assert not (tmp_path / "gru_cell").exists()
