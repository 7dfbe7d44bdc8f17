"""Dataset pipeline semantics and the loaders."""
import threading

import numpy as np
import pytest

import engine
from engine.data import (AUTOTUNE, INFINITE, UNKNOWN, Dataset, from_csv, image_folder,
                         load_digits)
from tests.helpers import keras_or_skip


def _values(dataset):
    return [np.asarray(element).tolist() for element in dataset.as_numpy_iterator()]


def test_from_tensor_slices_structures_and_engine_tensors(backend):
    features = np.arange(12, dtype=np.float64).reshape(6, 2)
    labels = np.arange(6)
    pairs = list(Dataset.from_tensor_slices((features, labels)))
    assert len(pairs) == 6
    x, y = pairs[4]
    assert isinstance(x, engine.Tensor) and x.backend == backend
    assert (x.dtype, y.dtype) == ("float32", "int32")   # float64 / int64 narrowed at the end
    np.testing.assert_array_equal(x.numpy(), [8.0, 9.0])
    records = list(Dataset.from_tensor_slices({"a": labels, "b": features}).as_numpy_iterator())
    assert records[2]["a"] == 2 and records[2]["b"].tolist() == [4.0, 5.0]
    with pytest.raises(ValueError, match="same first dimension"):
        Dataset.from_tensor_slices((features, labels[:3]))


def test_batch_and_drop_remainder():
    dataset = Dataset.from_tensor_slices(np.arange(7))
    assert _values(dataset.batch(3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert _values(dataset.batch(3, drop_remainder=True)) == [[0, 1, 2], [3, 4, 5]]
    assert (dataset.batch(3).cardinality(), dataset.batch(3, True).cardinality()) == (3, 2)
    pairs = Dataset.from_tensor_slices((np.arange(4), np.ones((4, 2)))).batch(4)
    first, second = next(pairs.as_numpy_iterator())
    assert first.shape == (4,) and second.shape == (4, 2)


def test_repeat_take_skip_and_cardinality():
    dataset = Dataset.from_tensor_slices(np.arange(3))
    assert _values(dataset.repeat(2)) == [0, 1, 2, 0, 1, 2]
    assert _values(dataset.repeat().take(7)) == [0, 1, 2, 0, 1, 2, 0]
    assert _values(dataset.skip(1)) == [1, 2]
    assert dataset.repeat().cardinality() == INFINITE
    assert dataset.repeat().take(5).cardinality() == 5
    assert dataset.skip(5).cardinality() == 0
    assert dataset.filter(lambda v: v > 0).cardinality() == UNKNOWN
    assert len(dataset.repeat(4)) == 12
    with pytest.raises(TypeError, match="infinite"):
        len(dataset.repeat())


def test_map_and_filter_unpack_tuples():
    dataset = Dataset.from_tensor_slices((np.arange(6), np.arange(6) * 10))
    mapped = dataset.map(lambda x, y: (x + y, y)).filter(lambda s, y: s % 2 == 0)
    assert [(int(s), int(y)) for s, y in mapped.as_numpy_iterator()] == [
        (0, 0), (22, 20), (44, 40)]
    squared = Dataset.from_tensor_slices(np.arange(4)).map(lambda v: engine.square(
        engine.tensor(v)))   # engine results come back as NumPy inside the pipeline
    assert _values(squared) == [0, 1, 4, 9]


def test_shuffle_is_a_seeded_permutation():
    dataset = Dataset.from_tensor_slices(np.arange(50))
    shuffled = dataset.shuffle(50, seed=3)
    first, second = _values(shuffled), _values(shuffled)
    assert sorted(first) == list(range(50)) and first != list(range(50))
    assert first != second                                      # reshuffled each pass
    assert _values(dataset.shuffle(50, seed=3)) == first        # same seed, same passes
    fixed = dataset.shuffle(50, seed=3, reshuffle_each_iteration=False)
    assert _values(fixed) == _values(fixed)
    unseeded = dataset.shuffle(50)
    assert sorted(_values(unseeded)) == list(range(50))


def test_small_shuffle_buffer_keeps_elements_near_their_place():
    values = _values(Dataset.from_tensor_slices(np.arange(100)).shuffle(5, seed=0))
    assert sorted(values) == list(range(100))
    # by output position p only elements 0 .. p + 4 have entered the buffer
    assert all(value <= position + 4 for position, value in enumerate(values))
    assert values != list(range(100))


def test_prefetch_yields_the_same_items_from_a_thread():
    producers = []

    def generate():
        producers.append(threading.current_thread().name)
        yield from range(20)

    dataset = Dataset.from_generator(generate).map(lambda v: v * 2)
    assert _values(dataset.prefetch(3)) == _values(dataset)
    assert producers[0] == "engine-data-prefetch" and producers[1] != producers[0]
    partial = iter(dataset.prefetch(2).as_numpy_iterator())   # stop early: the thread ends
    assert int(next(partial)) == 0
    partial.close()


def test_prefetch_forwards_errors():
    def broken():
        yield 1
        raise RuntimeError("bad record")

    with pytest.raises(RuntimeError, match="bad record"):
        _values(Dataset.from_generator(broken).prefetch(2))


def test_from_csv(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("a,label,b\n1.5,0,2\n-1,1,4.25\n3,2,0\n")
    rows = list(from_csv(path, label_column="label").as_numpy_iterator())
    assert [x.tolist() for x, _ in rows] == [[1.5, 2.0], [-1.0, 4.25], [3.0, 0.0]]
    assert [int(y) for _, y in rows] == [0, 1, 2] and rows[0][1].dtype == np.int32
    assert len(from_csv(path)) == 3
    path.write_text("a,b\n1,x\n")
    with pytest.raises(ValueError, match="line 2, column 'b'.*not a number: 'x'"):
        from_csv(path)
    with pytest.raises(ValueError, match="label column 'y' not in the header"):
        from_csv(path, label_column="y")


def test_image_folder_reads_png_and_npy(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from matplotlib.image import imsave

    rng = np.random.default_rng(0)
    pictures = {"cat": rng.uniform(size=(4, 5, 3)), "dog": rng.uniform(size=(4, 5, 3))}
    for name, picture in pictures.items():
        (tmp_path / name).mkdir()
        imsave(tmp_path / name / "a.png", picture)
    np.save(tmp_path / "dog" / "b.npy", (pictures["dog"] * 255).astype(np.uint8))
    dataset = image_folder(tmp_path)
    assert dataset.class_names == ["cat", "dog"]
    elements = list(dataset.as_numpy_iterator())
    assert [int(label) for _, label in elements] == [0, 1, 1]
    np.testing.assert_allclose(elements[0][0], pictures["cat"], atol=1 / 255 + 1e-6)
    np.testing.assert_allclose(elements[2][0], pictures["dog"], atol=1 / 255 + 1e-6)
    gray = next(image_folder(tmp_path, color_mode="grayscale").as_numpy_iterator())[0]
    assert gray.shape == (4, 5, 1)
    pytest.importorskip("PIL")
    resized = next(image_folder(tmp_path, image_size=(8, 10)).as_numpy_iterator())[0]
    assert resized.shape == (8, 10, 3)


def test_load_digits():
    pytest.importorskip("sklearn")
    x, y = load_digits()
    assert x.shape == (1797, 8, 8, 1) and x.dtype == np.float32 and y.dtype == np.int32
    assert x.min() == 0.0 and x.max() == 1.0 and sorted(set(y.tolist())) == list(range(10))


def test_to_categorical_one_hot_rows():
    np.testing.assert_array_equal(engine.utils.to_categorical([0, 2, 1]),
                                  np.eye(3, dtype=np.float32)[[0, 2, 1]])
    grid = engine.utils.to_categorical(np.array([[1, 0], [2, 1]]), num_classes=4)
    assert grid.shape == (2, 2, 4) and grid.dtype == np.float32
    np.testing.assert_array_equal(grid.argmax(-1), [[1, 0], [2, 1]])
    assert engine.utils.to_categorical(np.array([[1], [0]]), 3).shape == (2, 3)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        engine.utils.to_categorical([0, 3], num_classes=3)
    with pytest.raises(ValueError, match="must be integers"):
        engine.utils.to_categorical([0.5])


@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("truncating", ["pre", "post"])
@pytest.mark.parametrize("maxlen", [None, 2, 4, 6])
def test_pad_sequences_matches_keras(padding, truncating, maxlen):
    keras = keras_or_skip()
    sequences = [[3, 1, 4], [1], [], [5, 9, 2, 6, 5]]
    ours = engine.utils.pad_sequences(sequences, maxlen, padding=padding,
                                      truncating=truncating, value=7)
    theirs = keras.utils.pad_sequences(sequences, maxlen, padding=padding,
                                       truncating=truncating, value=7)
    np.testing.assert_array_equal(ours, theirs)
    assert ours.dtype == theirs.dtype


def test_pad_sequences_by_hand_and_bad_arguments():
    padded = engine.utils.pad_sequences([[1, 2, 3], [4]], maxlen=2, padding="post")
    np.testing.assert_array_equal(padded, [[2, 3], [4, 0]])
    assert engine.utils.pad_sequences([[1, 2], [3]], maxlen=0).shape == (2, 0)
    steps = engine.utils.pad_sequences([np.ones((2, 3)), np.ones((1, 3))], dtype="float32")
    assert steps.shape == (2, 2, 3) and steps[1, 0].sum() == 0 and steps[1, 1].sum() == 3
    with pytest.raises(ValueError, match="padding must be 'pre' or 'post', got 'middle'"):
        engine.utils.pad_sequences([[1]], padding="middle")
    with pytest.raises(ValueError, match="steps of the sequences differ in shape"):
        engine.utils.pad_sequences([np.ones((2, 3)), np.ones((1, 2))])


def test_range_zip_concatenate_and_their_cardinality():
    assert [int(v.numpy()) for v in Dataset.range(2, 8, 2)] == [2, 4, 6]
    pairs = Dataset.zip((Dataset.range(3), Dataset.from_tensor_slices(np.arange(5) * 10)))
    assert [(int(a.numpy()), int(b.numpy())) for a, b in pairs] == [(0, 0), (1, 10), (2, 20)]
    assert pairs.cardinality() == 3
    named = Dataset.zip({"a": Dataset.range(2), "b": Dataset.range(3)})
    assert [{k: int(v.numpy()) for k, v in e.items()} for e in named] == [
        {"a": 0, "b": 0}, {"a": 1, "b": 1}]
    assert Dataset.zip((Dataset.range(3), Dataset.range(2).repeat())).cardinality() == 3
    assert Dataset.zip((Dataset.range(2).repeat(), Dataset.range(1).repeat())).cardinality() \
        == INFINITE
    assert Dataset.zip((Dataset.range(3).filter(lambda v: v > 0),
                        Dataset.range(9))).cardinality() == UNKNOWN
    joined = Dataset.range(2).concatenate(Dataset.range(3))
    assert [int(v.numpy()) for v in joined] == [0, 1, 0, 1, 2] and len(joined) == 5
    assert Dataset.range(2).concatenate(Dataset.range(1).repeat()).cardinality() == INFINITE
    with pytest.raises(TypeError, match="Error in zip"):
        Dataset.zip([np.arange(3)])


def test_cache_replays_the_first_complete_pass():
    calls = []

    def double(value):
        calls.append(value)
        return value * 2

    cached = Dataset.range(3).map(double).cache()
    first, second = ([int(v.numpy()) for v in cached] for _ in range(2))
    assert first == second == [0, 2, 4] and len(calls) == 3
    partial = Dataset.range(3).map(double).cache()
    calls.clear()
    next(iter(partial))  # an unfinished pass is not kept
    assert [int(v.numpy()) for v in partial] == [0, 2, 4] and len(calls) == 4


def test_to_categorical_refuses_negative_labels():
    with pytest.raises(ValueError, match="labels must be >= 0, got -1"):
        engine.utils.to_categorical([0, -1])


def test_autotune_pipeline_as_tf_data_spells_it():
    """from_tensor_slices -> map(num_parallel_calls=AUTOTUNE) -> batch -> prefetch(AUTOTUNE):
    the usual tf.data chain runs, elements in order."""
    x = np.arange(10, dtype=np.float32)
    pipeline = (Dataset.from_tensor_slices(x)
                .map(lambda v: v * 2, num_parallel_calls=AUTOTUNE, deterministic=True)
                .batch(4).prefetch(AUTOTUNE))
    assert [b.tolist() for b in pipeline.as_numpy_iterator()] == [
        [0, 2, 4, 6], [8, 10, 12, 14], [16, 18]]
    with pytest.raises(ValueError, match="num_parallel_calls must be None, AUTOTUNE or a "
                                         "positive integer, got 0"):
        Dataset.range(3).map(lambda v: v, num_parallel_calls=0)


def test_set_random_seed_repeats_a_training_run():
    def run():
        engine.utils.set_random_seed(7)
        model = engine.Sequential([engine.layers.Input((3,)), engine.layers.Dropout(0.5),
                                   engine.layers.Dense(2)])
        model.compile("sgd", "mse")
        x = np.random.rand(16, 3).astype("float32")
        return model.fit(x, np.zeros((16, 2), "float32"), epochs=2, verbose=0).history["loss"]

    assert run() == run()
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        engine.utils.set_random_seed(-1)
