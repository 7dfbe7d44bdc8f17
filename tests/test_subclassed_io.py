"""Subclassed models (layers made in __init__, a call) in .keras files and .weights.h5 files,
both ways with real Keras 3: its attribute-path weights layout, config.json and loading by
custom_objects."""
import json
import zipfile

import numpy as np
import pytest

import engine
from engine.io.safety import ModelFileError
from tests.helpers import h5_listing, keras_or_skip, sgd_steps_like_keras

X = np.linspace(-1, 1, 3 * 4, dtype="float32").reshape(3, 4)


def _classes(lib):
    """{name: class}: the same subclassed models written against `lib` (keras or engine)."""
    layers = lib.layers

    class Attributes(lib.Model):  # layers as attributes, one private, one reached via layers
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self._first = layers.Dense(5, activation="tanh")
            self.hidden = layers.Dense(8, activation="relu")
            self.drop = layers.Dropout(0.3)
            self.out = layers.Dense(2)

        def call(self, inputs):
            return self.out(self.drop(self.hidden(self._first(inputs))))

    class Listed(lib.Model):  # a list of layers, two of one class
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.blocks = [layers.Dense(6), layers.BatchNormalization(), layers.Dense(4)]
            self.head = layers.Dense(1)

        def call(self, inputs):
            for block in self.blocks:
                inputs = block(inputs)
            return self.head(inputs)

    class Block(layers.Layer):  # a user's layer holding layers
        def __init__(self, units=3, **kwargs):
            super().__init__(**kwargs)
            self.inner = layers.Dense(units, activation="relu")
            self.outer = layers.Dense(units)

        def call(self, inputs):
            return self.outer(self.inner(inputs))

    class Nested(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.block = Block()
            self.second = Block()
            self.out = layers.Dense(1)

        def call(self, inputs):
            return self.out(self.second(self.block(inputs)))

    class Containers(lib.Model):  # layers in a dict and in a list nesting a dict, as Keras
        def __init__(self, **kwargs):  # tracks them
            super().__init__(**kwargs)
            self.branches = {"wide": layers.Dense(6, activation="relu"), "narrow": layers.Dense(2)}
            self.tail = [layers.Dense(3), {"last": layers.Dense(1)}]

        def call(self, inputs):
            hidden = self.branches["narrow"](self.branches["wide"](inputs))
            return self.tail[1]["last"](self.tail[0](hidden))

    class WithSequential(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.body = lib.Sequential([layers.Dense(5, activation="relu"), layers.Dense(3)])
            self.out = layers.Dense(2)

        def call(self, inputs):
            return self.out(self.body(inputs))

    return {cls.__name__: cls for cls in (Attributes, Listed, Block, Nested, Containers,
                                          WithSequential)}


NAMES = ["Attributes", "Listed", "Nested", "Containers", "WithSequential"]


def _built(lib, name, seed=0):
    """A built model of class `name`, its weights drawn from [-0.5, 0.5] (BatchNormalization's
    variance kept positive)."""
    model = _classes(lib)[name]()
    model(X)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(0.1 if "variance" in w.name else -0.5, 0.5, w.shape)
                       .astype("float32") for w in model.weights])
    return model


def _predict(model):
    return np.asarray(model.predict(X, verbose=0))


def _shapes_only(listing):
    return [(path, value) for path, value in listing if isinstance(value, tuple)]


@pytest.fixture
def keras():
    keras = keras_or_skip()
    keras.backend.clear_session()
    engine.layers.clear_session()
    return keras


@pytest.mark.parametrize("name", NAMES)
def test_ours_saved_as_keras_loads_in_keras(keras, tmp_path, name):
    ours = _built(engine, name)
    ours.save(tmp_path / "net.keras")
    theirs = keras.models.load_model(tmp_path / "net.keras",
                                     custom_objects={name: _classes(keras)[name]})
    np.testing.assert_allclose(_predict(theirs), _predict(ours), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_keras_saved_model_loads_here(keras, tmp_path, name):
    theirs = _built(keras, name)
    theirs.save(tmp_path / "net.keras")
    ours = engine.models.load_model(tmp_path / "net.keras",
                                    custom_objects={name: _classes(engine)[name]})
    assert type(ours).__name__ == name
    np.testing.assert_allclose(_predict(ours), _predict(theirs), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_weights_files_move_both_ways(keras, tmp_path, name):
    ours, theirs = _built(engine, name, seed=1), _built(keras, name, seed=2)
    ours.save_weights(tmp_path / "ours.weights.h5")
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    want_ours, want_theirs = _predict(ours), _predict(theirs)
    ours.load_weights(tmp_path / "theirs.weights.h5")
    theirs.load_weights(tmp_path / "ours.weights.h5")
    np.testing.assert_allclose(_predict(ours), want_theirs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_predict(theirs), want_ours, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_files_match_keras(keras, tmp_path, name):
    """The same groups and datasets in model.weights.h5 (the group's name attributes are layer
    names, numbered per session in both libraries), and config.json's class entry."""
    files = {}
    for lib in (engine, keras):
        _built(lib, name).save(tmp_path / f"{lib.__name__}.keras")
        with zipfile.ZipFile(tmp_path / f"{lib.__name__}.keras") as archive:
            files[lib] = (json.loads(archive.read("config.json")),
                          h5_listing(archive.read("model.weights.h5")))
    (ours_config, ours_h5), (their_config, their_h5) = files[engine], files[keras]
    assert [path for path, _ in ours_h5] == [path for path, _ in their_h5]
    assert _shapes_only(ours_h5) == _shapes_only(their_h5)
    for key in ("module", "class_name", "registered_name", "config", "build_config"):
        assert ours_config[key] == their_config[key], key


def test_load_without_the_class_is_refused_by_name(tmp_path):
    _built(engine, "Nested").save(tmp_path / "net.keras")
    with pytest.raises(ValueError, match=r"custom_objects=\{'Nested': Nested\}"):
        engine.models.load_model(tmp_path / "net.keras")


def test_mismatched_or_corrupt_weights_are_refused_before_any_change(tmp_path):
    source = _built(engine, "Listed", seed=3)
    source.save_weights(tmp_path / "wide.weights.h5")
    target = _classes(engine)["Listed"]()
    target(X[:, :3])  # a first layer 3 wide: its kernel does not fit the file's (4, 6)
    before = [np.array(w.numpy()) for w in target.weights]
    with pytest.raises(ModelFileError, match=r"shape \(4, 6\) in the file but \(3, 6\)"):
        target.load_weights(tmp_path / "wide.weights.h5")
    data = (tmp_path / "wide.weights.h5").read_bytes()
    (tmp_path / "cut.weights.h5").write_bytes(data[:len(data) // 2])
    with pytest.raises(ModelFileError):
        target.load_weights(tmp_path / "cut.weights.h5")
    for variable, value in zip(target.weights, before):
        np.testing.assert_array_equal(variable.numpy(), value)


def test_a_weights_file_of_another_model_names_the_missing_group(tmp_path):
    _built(engine, "Attributes").save_weights(tmp_path / "a.weights.h5")
    other = _built(engine, "Nested")
    with pytest.raises(ModelFileError, match="no group 'block/inner/vars'"):
        other.load_weights(tmp_path / "a.weights.h5")


@pytest.mark.parametrize("path, format_name", [("net.h5", ".h5"), ("net.engine", ".engine"),
                                               ("web_model", "TF.js")])
def test_formats_that_cannot_hold_a_call_refuse_and_suggest_keras(tmp_path, path, format_name):
    model = _built(engine, "Attributes")
    with pytest.raises(ValueError, match=rf"cannot be saved as .*{format_name}.*\.keras"):
        model.save(tmp_path / path)
    assert not (tmp_path / path).exists()


def test_an_unbuilt_subclassed_model_is_refused_before_writing(tmp_path):
    with pytest.raises(ValueError, match="call it on a batch first"):
        _classes(engine)["Attributes"]().save(tmp_path / "net.keras")
    assert not (tmp_path / "net.keras").exists()


def test_our_round_trip_keeps_weights_optimizer_and_name(tmp_path):
    model = _built(engine, "WithSequential", seed=4)
    model.compile(optimizer="adam", loss="mse")
    model.fit(X, np.zeros((3, 2), "float32"), epochs=2, verbose=0)
    model.save(tmp_path / "net.keras")
    loaded = engine.models.load_model(tmp_path / "net.keras",
                                      custom_objects={"WithSequential": type(model)})
    assert loaded.name == model.name
    np.testing.assert_array_equal(_predict(loaded), _predict(model))
    for got, want in zip(loaded.optimizer.variables(), model.optimizer.variables()):
        np.testing.assert_array_equal(np.asarray(got.numpy()), np.asarray(want.numpy()))


def test_optimizer_state_moves_both_ways_with_keras(keras, tmp_path):
    y = np.ones((3, 1), "float32")
    theirs = _built(keras, "Nested", seed=5)
    theirs.compile(optimizer="adam", loss="mse")
    theirs.fit(X, y, epochs=2, verbose=0)
    theirs.save(tmp_path / "theirs.keras")
    ours = engine.models.load_model(tmp_path / "theirs.keras",
                                    custom_objects={"Nested": _classes(engine)["Nested"]})
    want = [np.asarray(v) for v in theirs.optimizer.variables]
    got = [np.asarray(v.numpy()) for v in ours.optimizer.variables()]
    assert len(got) == len(want) == 2 + 2 * len(ours.trainable_weights)
    for ours_value, their_value in zip(got, want):
        np.testing.assert_array_equal(ours_value, their_value)
    ours.fit(X, y, epochs=1, verbose=0)
    ours.save(tmp_path / "ours.keras")
    back = keras.models.load_model(tmp_path / "ours.keras",
                                   custom_objects={"Nested": _classes(keras)["Nested"]})
    for their_value, ours_variable in zip(back.optimizer.variables, ours.optimizer.variables()):
        np.testing.assert_array_equal(np.asarray(their_value), np.asarray(ours_variable.numpy()))
    np.testing.assert_allclose(_predict(back), _predict(ours), rtol=1e-5, atol=1e-6)


def test_to_json_and_model_from_json_rebuild_the_class():
    model = _built(engine, "Listed")
    copy = engine.models.model_from_json(model.to_json(),
                                         custom_objects={"Listed": type(model)})
    assert type(copy) is type(model) and copy.built
    assert [tuple(w.shape) for w in copy.weights] == [tuple(w.shape) for w in model.weights]


def test_a_users_layer_holding_layers_inside_sequential_matches_keras(keras, tmp_path):
    """Keras walks a user's layer by attribute wherever it sits, in a Sequential too."""
    def build(lib):
        model = lib.Sequential([lib.layers.Dense(4), _classes(lib)["Block"]()])
        model(X)
        return model

    theirs, ours = build(keras), build(engine)
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    ours.save_weights(tmp_path / "ours.weights.h5")
    listing = [h5_listing((tmp_path / f"{who}.weights.h5").read_bytes())
               for who in ("theirs", "ours")]
    assert _shapes_only(listing[0]) == _shapes_only(listing[1])
    assert ("layers/block/inner/vars/0", (4, 3)) in _shapes_only(listing[1])
    ours.load_weights(tmp_path / "theirs.weights.h5")
    np.testing.assert_allclose(_predict(ours), _predict(theirs), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["Nested", "Containers", "WithSequential"])  # no dropout
def test_sgd_steps_train_every_held_layer_as_keras(keras, name):
    theirs, ours = _built(keras, name), _built(engine, name)
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    y = np.linspace(-1, 1, _predict(ours).size, dtype="float32").reshape(len(X), -1)
    before = sgd_steps_like_keras(keras, theirs, ours, X, y, 0.1, steps=3)
    for old, new in zip(before, ours.get_weights()):
        assert not np.array_equal(old, new)  # every weight trained
