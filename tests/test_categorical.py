"""CategoryEncoding, Discretization and IntegerLookup against NumPy formulas and Keras's layers
(Keras's IntegerLookup and Discretization.adapt need TensorFlow: those checks skip without it),
their configs, .keras / .h5 files both ways, and TF.js for CategoryEncoding."""
import numpy as np
import pytest

import engine
from engine import layers
from tests.helpers import keras_or_skip, predicted_by_tfjs

MODES = ("one_hot", "multi_hot", "count")
RNG = np.random.default_rng(0)
IDS = RNG.integers(0, 6, (5, 3))
VALUES = RNG.normal(size=(60, 3)).astype(np.float32)
TOKENS = RNG.integers(0, 12, (40,))


@pytest.fixture
def keras():
    return keras_or_skip()


def _encoded(ids, mode, depth):
    """NumPy: one-hot rows (a last axis of 1 replaced), or per-sample counts / presence."""
    ids = np.asarray(ids)
    if mode == "one_hot":
        ids = ids[..., 0] if ids.ndim > 1 and ids.shape[-1] == 1 else ids
        return (ids[..., None] == np.arange(depth)).astype(np.float64)
    samples = ids.reshape(-1, ids.shape[-1]) if ids.ndim == 2 else ids.reshape(1, -1)
    counts = np.array([[np.sum(row == k) for k in range(depth)] for row in samples])
    counts = counts if mode == "count" else np.minimum(counts, 1)
    return counts if ids.ndim == 2 else counts[0]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("ids", [IDS, IDS[:, :1], IDS[0]], ids=["rank2", "last1", "rank1"])
def test_category_encoding_matches_numpy_and_keras(keras, mode, ids):
    layer = layers.CategoryEncoding(6, output_mode=mode)
    got = layer(ids)
    assert got.dtype == "float32" and layer.compute_output_shape(ids.shape) == got.shape
    np.testing.assert_array_equal(got.numpy(), _encoded(ids, mode, 6))
    theirs = np.asarray(keras.layers.CategoryEncoding(6, output_mode=mode)(ids))
    np.testing.assert_array_equal(got.numpy(), theirs)


def _keras_quantile_boundaries(keras, batches, num_bins, epsilon):
    """Keras's own summary functions (its adapt() needs TensorFlow to tell datasets apart)."""
    from keras.src.layers.preprocessing import discretization as kd

    summary = np.array([[], []], np.float32)
    for batch in batches:
        summary = kd.merge_summaries(kd.summarize(batch.astype(np.float32), epsilon), summary,
                                     epsilon)
    return kd.get_bin_boundaries(summary, num_bins).tolist()


@pytest.mark.parametrize("num_bins,epsilon", [(4, 0.01), (5, 0.1), (3, 0.3)])
def test_discretization_adapts_to_keras_quantiles(keras, num_bins, epsilon):
    layer = layers.Discretization(num_bins=num_bins, epsilon=epsilon)
    layer.adapt(VALUES)
    assert layer.bin_boundaries == _keras_quantile_boundaries(keras, [VALUES], num_bins, epsilon)
    batched = layers.Discretization(num_bins=num_bins, epsilon=epsilon)
    batched.adapt(engine.data.Dataset.from_tensor_slices(VALUES).batch(16))
    assert batched.bin_boundaries == _keras_quantile_boundaries(
        keras, [VALUES[i:i + 16] for i in range(0, 60, 16)], num_bins, epsilon)
    # With plenty of data and a fine epsilon the boundaries are close to the true quantiles.
    fine = layers.Discretization(num_bins=4, epsilon=0.001)
    fine.adapt(np.linspace(0, 1, 4001, dtype=np.float32))
    np.testing.assert_allclose(fine.bin_boundaries, [0.25, 0.5, 0.75], atol=2e-3)


@pytest.mark.parametrize("mode", ("int",) + MODES)
def test_discretization_matches_digitize_and_keras(keras, mode):
    bounds = [-0.5, 0.0, 0.7]
    x = np.concatenate([VALUES[:4], [[-0.5, 0.0, 0.7]]]).astype(np.float32)
    for inputs in (x, x[:, :1], x[0]):
        layer = layers.Discretization(bin_boundaries=bounds, output_mode=mode)
        got = layer(inputs)
        ids = np.digitize(inputs, np.float32(bounds))  # both float32, as Keras compares
        want = ids if mode == "int" else _encoded(ids, mode, 4)
        assert got.dtype == ("int32" if mode == "int" else "float32")
        assert layer.compute_output_shape(inputs.shape) == got.shape
        np.testing.assert_array_equal(got.numpy(), want)
        theirs = keras.layers.Discretization(bin_boundaries=bounds, output_mode=mode)(inputs)
        np.testing.assert_array_equal(got.numpy(), np.asarray(theirs))


def _lookup(tokens, vocabulary, mask=None, oov=1, int_mode=True):
    """NumPy: the index of each token in [mask] + [OOV] * oov + vocabulary."""
    start = (1 if mask is not None and int_mode else 0) + oov
    index = {t: start + i for i, t in enumerate(vocabulary)}
    def one(t):
        if mask is not None and t == mask:
            return 0 if int_mode else -1
        if t in index:
            return index[t]
        return (t % oov if oov > 1 else 0) + start - oov if oov else -1
    return np.vectorize(one)(np.asarray(tokens)).astype(np.int64)


LOOKUPS = [{}, {"mask_token": 0}, {"num_oov_indices": 3}, {"max_tokens": 6},
           {"num_oov_indices": 0}, {"mask_token": 0, "num_oov_indices": 2, "oov_token": 99}]


def _adapted_vocabulary(tokens, drop, limit):
    values, counts = np.unique(tokens, return_counts=True)
    ranked = sorted((v for v in values if v not in drop), key=lambda v: (-counts[values == v][0],
                                                                          -v))
    return ranked[:limit]


@pytest.mark.parametrize("kwargs", LOOKUPS, ids=str)
@pytest.mark.parametrize("mode", ("int",) + MODES)
def test_integer_lookup_matches_numpy(kwargs, mode):
    layer = layers.IntegerLookup(output_mode=mode, **kwargs)
    layer.adapt(TOKENS)
    oov = kwargs.get("num_oov_indices", 1)
    specials = (1 if "mask_token" in kwargs and mode == "int" else 0) + oov
    vocabulary = _adapted_vocabulary(TOKENS, {kwargs.get("mask_token"),
                                              kwargs.get("oov_token", -1)},
                                     kwargs.get("max_tokens", 99) - specials)
    assert layer.get_vocabulary(include_special_tokens=False) == vocabulary
    x = RNG.integers(-2, 16, (4, 3)) if oov else TOKENS[:12].reshape(4, 3)
    ids = _lookup(x, vocabulary, kwargs.get("mask_token"), oov, mode == "int")
    got = layer(x)
    assert got.dtype == "int64" and layer.compute_output_shape(x.shape) == got.shape
    want = ids if mode == "int" else _encoded(ids, mode, layer.vocabulary_size())
    np.testing.assert_array_equal(got.numpy(), want)
    if mode == "int":
        inverse = layers.IntegerLookup(vocabulary=vocabulary, invert=True, **kwargs)
        back = inverse(ids).numpy()
        known = np.isin(x, vocabulary)
        np.testing.assert_array_equal(back[known], x[known])
        if oov == 1:  # the OOV index maps back to the OOV token
            assert np.all(back[ids == specials - 1] == kwargs.get("oov_token", -1))


@pytest.mark.parametrize("kwargs", LOOKUPS, ids=str)
@pytest.mark.parametrize("mode", ("int",) + MODES)
def test_integer_lookup_matches_keras(keras, kwargs, mode):
    pytest.importorskip("tensorflow")  # Keras's IntegerLookup is written with tf.lookup
    theirs = keras.layers.IntegerLookup(output_mode=mode, **kwargs)
    theirs.adapt(TOKENS)
    ours = layers.IntegerLookup(output_mode=mode, **kwargs)
    ours.adapt(TOKENS)
    assert ours.get_vocabulary() == [int(t) for t in theirs.get_vocabulary()]
    x = RNG.integers(-2, 16, (4, 3)) if kwargs.get("num_oov_indices", 1) else TOKENS[:12]
    np.testing.assert_array_equal(ours(x).numpy(), np.asarray(theirs(x)))
    if mode == "int":
        vocabulary = ours.get_vocabulary(include_special_tokens=False)
        ids = RNG.integers(0, 15, (4, 3))
        np.testing.assert_array_equal(
            layers.IntegerLookup(vocabulary=vocabulary, invert=True, **kwargs)(ids).numpy(),
            np.asarray(keras.layers.IntegerLookup(vocabulary=vocabulary, invert=True,
                                                  **kwargs)(ids)))


def test_configs_round_trip_with_adapted_state():
    discretization = layers.Discretization(num_bins=4, output_mode="one_hot")
    discretization.adapt(VALUES)
    lookup = layers.IntegerLookup(mask_token=0, output_mode="count", max_tokens=8)
    lookup.adapt(TOKENS)
    for layer in (layers.CategoryEncoding(5, output_mode="count"), discretization, lookup):
        config = layer.get_config()
        copy = engine.layers.deserialize(engine.layers.serialize(layer))
        assert copy.get_config() == config
        x = (VALUES[:3] if isinstance(layer, layers.Discretization) else TOKENS[:6] % 5)
        np.testing.assert_array_equal(copy(x).numpy(), layer(x).numpy())
    assert set(discretization.get_config()) == {"bin_boundaries", "num_bins", "epsilon",
                                                "output_mode", "sparse", "name", "dtype"}


def _model(lib, boundaries):
    k = lib.layers
    inputs = k.Input((3,))
    bins = k.Discretization(bin_boundaries=boundaries)(inputs)
    counts = k.CategoryEncoding(len(boundaries) + 1, output_mode="count")(bins)
    return lib.Model(inputs, k.Dense(2)(counts)) if lib is not engine else \
        engine.models.Model(inputs, k.Dense(2)(counts))


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_models_travel_between_keras_and_here(keras, tmp_path, suffix):
    adapted = layers.Discretization(num_bins=4)
    adapted.adapt(VALUES)
    ours = _model(engine, adapted.bin_boundaries)
    ours.save(str(tmp_path / f"ours{suffix}"))
    theirs = keras.saving.load_model(str(tmp_path / f"ours{suffix}"))
    np.testing.assert_allclose(np.asarray(theirs.predict(VALUES, verbose=0)),
                               ours.predict(VALUES, verbose=0), atol=1e-6)
    keras.backend.clear_session()
    made = _model(keras, adapted.bin_boundaries)
    made.save(str(tmp_path / f"theirs{suffix}"))
    loaded = engine.models.load_model(str(tmp_path / f"theirs{suffix}"), compile=False)
    assert loaded.layers[1].bin_boundaries == adapted.bin_boundaries
    np.testing.assert_allclose(loaded.predict(VALUES, verbose=0),
                               np.asarray(made.predict(VALUES, verbose=0)), atol=1e-6)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_adapted_integer_lookup_travels_to_keras(keras, tmp_path, suffix):
    pytest.importorskip("tensorflow")
    lookup = layers.IntegerLookup(output_mode="multi_hot", mask_token=0)
    lookup.adapt(TOKENS)
    inputs = layers.Input((3,), dtype="int64")
    ours = engine.models.Model(inputs, lookup(inputs))
    ours.save(str(tmp_path / f"ours{suffix}"))
    theirs = keras.saving.load_model(str(tmp_path / f"ours{suffix}"))
    x = TOKENS[:12].reshape(4, 3)
    np.testing.assert_array_equal(np.asarray(theirs.predict(x, verbose=0)),
                                  ours.predict(x, verbose=0))
    back = engine.models.load_model(str(tmp_path / f"ours{suffix}"), compile=False)
    np.testing.assert_array_equal(back.predict(x, verbose=0), ours.predict(x, verbose=0))


def test_tfjs_loads_category_encoding_with_the_same_predictions(tmp_path):
    models = {}
    for mode in MODES:
        width = 1 if mode == "one_hot" else 3  # TF.js's one_hot outputs rank 2 at most
        inputs = layers.Input((width,))  # TF.js 4.22 overwrites its input shape: pass a copy
        copied = layers.Reshape((width,))(inputs)
        model = engine.models.Model(inputs, layers.CategoryEncoding(6, output_mode=mode)(copied))
        model.save(str(tmp_path / mode))
        models[mode] = (tmp_path / mode, IDS[:, :width].astype(np.float32))
    outputs = predicted_by_tfjs(models)
    for mode, (folder, x) in models.items():
        np.testing.assert_array_equal(outputs[mode], _encoded(x, mode, 6).ravel(), err_msg=mode)


def test_tfjs_refuses_discretization_and_lookup(tmp_path):
    for layer in (layers.Discretization([0.0]), layers.IntegerLookup(vocabulary=[1, 2])):
        inputs = layers.Input((3,))
        model = engine.models.Model(inputs, layer(inputs))
        with pytest.raises(ValueError, match=type(layer).__name__):
            model.save(str(tmp_path / layer.name))


@pytest.mark.parametrize("make,message", [
    (lambda: layers.CategoryEncoding(0), "num_tokens"),
    (lambda: layers.CategoryEncoding(3, output_mode="int"), "output_mode"),
    (lambda: layers.CategoryEncoding(3, sparse=True), "sparse"),
    (lambda: layers.Discretization(), "exactly one"),
    (lambda: layers.Discretization([0.0], num_bins=2), "exactly one"),
    (lambda: layers.Discretization([1.0, 0.0]), "sorted"),
    (lambda: layers.Discretization(num_bins=3, epsilon=0), "epsilon"),
    (lambda: layers.IntegerLookup(vocabulary=["a", "b"]), "StringLookup"),
    (lambda: layers.IntegerLookup(vocabulary_dtype="string"), "StringLookup"),
    (lambda: layers.IntegerLookup(vocabulary=[1, 2, 1]), "repeats"),
    (lambda: layers.IntegerLookup(vocabulary=[1, 0], mask_token=0), "mask token"),
    (lambda: layers.IntegerLookup(max_tokens=1), "max_tokens"),
    (lambda: layers.IntegerLookup(output_mode="tf_idf"), "tf_idf"),
    (lambda: layers.IntegerLookup(invert=True, output_mode="count"), "invert"),
    (lambda: layers.IntegerLookup(oov_method="farmhash"), "oov_method"),
    (lambda: layers.IntegerLookup(vocabulary_size=4), "assets"),
])
def test_bad_arguments_are_refused_by_name(make, message):
    with pytest.raises(ValueError, match=message) as error:
        make()
    assert "Layer '" in str(error.value)


def test_bad_data_is_refused_before_any_state_change():
    lookup = layers.IntegerLookup()
    lookup.adapt(TOKENS)
    before = lookup.get_vocabulary()
    with pytest.raises(ValueError, match="StringLookup"):
        lookup.adapt(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="repeats"):
        lookup.set_vocabulary([3, 3])
    assert lookup.get_vocabulary() == before
    discretization = layers.Discretization(num_bins=3)
    discretization.adapt(VALUES)
    boundaries = discretization.bin_boundaries
    with pytest.raises(ValueError, match="Discretization.*numeric"):
        discretization.adapt(np.array(["x"]))
    assert discretization.bin_boundaries == boundaries
    with pytest.raises(ValueError, match="bin_boundaries"):
        layers.Discretization([0.0]).adapt(VALUES)
    with pytest.raises(ValueError, match="adapt"):
        layers.Discretization(num_bins=3)(VALUES)
    with pytest.raises(ValueError, match="rank 1 or 2"):
        layers.CategoryEncoding(3)(np.zeros((2, 2, 2), np.int32))
    with pytest.raises(ValueError, match="needs a vocabulary"):
        layers.IntegerLookup(output_mode="count")(IDS)
