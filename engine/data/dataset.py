"""Dataset: a lazy, re-iterable input pipeline in the spirit of tf.data.

Elements are NumPy arrays (or tuples / lists / dicts of them) all the way through the
pipeline; iterating a Dataset converts each element to engine tensors on the current backend
at the very end. `as_numpy_iterator()` skips that conversion.
"""
import itertools
import math
import queue
import threading

import numpy as np

INFINITE = -1
UNKNOWN = -2
AUTOTUNE = -1  # tf.data.AUTOTUNE: "choose for me" for prefetch and map
AUTOTUNE_PREFETCH = 2  # elements prefetch keeps ready when told AUTOTUNE


def map_structure(fn, element):
    """Apply fn to every array of a (possibly nested) tuple / list / dict element."""
    if isinstance(element, dict):
        return {key: map_structure(fn, value) for key, value in element.items()}
    if isinstance(element, (tuple, list)):
        return type(element)(map_structure(fn, value) for value in element)
    return fn(element)


def _leaves(element):
    if isinstance(element, dict):
        return [leaf for value in element.values() for leaf in _leaves(value)]
    if isinstance(element, (tuple, list)):
        return [leaf for value in element for leaf in _leaves(value)]
    return [element]


def _to_numpy(value):
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def _to_engine(array):
    import engine

    if array.dtype == np.float64:
        array = array.astype(np.float32)
    elif array.dtype == np.int64:
        array = array.astype(np.int32)
    return engine.tensor(array)


def _call(fn, element):
    """tf.data's convention: a tuple element is passed as positional arguments."""
    return fn(*element) if isinstance(element, tuple) else fn(element)


def _stack(elements):
    first = elements[0]
    if isinstance(first, dict):
        return {key: _stack([e[key] for e in elements]) for key in first}
    if isinstance(first, (tuple, list)):
        return type(first)(_stack([e[i] for e in elements]) for i in range(len(first)))
    return np.stack(elements)


class Dataset:
    """A re-iterable pipeline; `make_iterator()` gives a fresh iterator of NumPy elements."""

    def __init__(self, make_iterator, cardinality=UNKNOWN):
        self._make_iterator = make_iterator
        self._cardinality = cardinality

    # ------------------------------------------------------------------ sources
    @staticmethod
    def from_tensor_slices(data):
        """One element per index of the first axis of every array in `data` (an array, or a
        tuple / list / dict of arrays of the same length)."""
        arrays = map_structure(_to_numpy, data)
        lengths = {len(leaf) if leaf.ndim else None for leaf in _leaves(arrays)}
        if None in lengths or len(lengths) != 1:
            shapes = [leaf.shape for leaf in _leaves(arrays)]
            raise ValueError(f"Error in from_tensor_slices: every array needs the same first "
                             f"dimension, got shapes {shapes}")
        (size,) = lengths

        def make_iterator():
            return (map_structure(lambda leaf: leaf[i], arrays) for i in range(size))

        return Dataset(make_iterator, size)

    @staticmethod
    def from_generator(generator):
        """Elements from `generator()` (a callable returning an iterable), re-run each pass."""
        if not callable(generator):
            raise TypeError("Error in from_generator: pass a callable that returns an "
                            "iterable (e.g. the generator function, not a generator)")

        def make_iterator():
            return (map_structure(_to_numpy, element) for element in generator())

        return Dataset(make_iterator, UNKNOWN)

    @staticmethod
    def range(*args):
        """The integers of range(*args), one per element (tf.data.Dataset.range)."""
        numbers = range(*args)
        return Dataset(lambda: (np.int64(n) for n in numbers), len(numbers))

    @staticmethod
    def zip(datasets):
        """Elements that pair the datasets' elements position by position, in the same tuple
        or dict structure as `datasets`; as long as the shortest."""
        if isinstance(datasets, dict):
            keys, members = list(datasets), list(datasets.values())
        else:
            keys, members = None, list(datasets)
        if not members or not all(isinstance(d, Dataset) for d in members):
            raise TypeError("Error in zip: pass a tuple or dict of Datasets")

        def make_iterator():
            rows = zip(*(member._make_iterator() for member in members))
            return (dict(zip(keys, row)) if keys else row for row in rows)

        sizes = [member._cardinality for member in members]
        known = [size for size in sizes if size >= 0]
        if UNKNOWN in sizes:  # a member of unknown length may be the shortest
            return Dataset(make_iterator, UNKNOWN)
        return Dataset(make_iterator, min(known) if known else INFINITE)

    # ------------------------------------------------------------------ transformations
    def concatenate(self, other):
        """This dataset's elements, then `other`'s."""
        first, second = self._make_iterator, other._make_iterator
        sizes = (self._cardinality, other._cardinality)
        total = sum(sizes) if min(sizes) >= 0 else (INFINITE if INFINITE in sizes else UNKNOWN)
        return Dataset(lambda: itertools.chain(first(), second()), total)

    def cache(self):
        """Keep the elements of the first complete pass in memory and replay them after (an
        expensive `map` then runs once)."""
        source, stored = self._make_iterator, []

        def make_iterator():
            if stored:
                return iter(stored[0])
            return _recording(source(), stored)

        return Dataset(make_iterator, self._cardinality)

    def map(self, fn, num_parallel_calls=None, deterministic=None):
        """fn(element) for each element (tuples are unpacked into arguments). As tf.data's,
        it takes num_parallel_calls (None, AUTOTUNE or a count) and deterministic; elements
        are mapped one after another, in order, here (prefetch overlaps them with training)."""
        if not (num_parallel_calls in (None, AUTOTUNE) or (
                isinstance(num_parallel_calls, int) and num_parallel_calls >= 1)):
            raise ValueError(f"Error in map: num_parallel_calls must be None, AUTOTUNE or a "
                             f"positive integer, got {num_parallel_calls!r}")
        source = self._make_iterator
        return Dataset(lambda: (map_structure(_to_numpy, _call(fn, element))
                                for element in source()), self._cardinality)

    def filter(self, predicate):
        """Keep the elements for which predicate(element) is true."""
        source = self._make_iterator
        return Dataset(lambda: (element for element in source()
                                if bool(_call(predicate, element))), UNKNOWN)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True):
        """Uniform draws from a buffer of buffer_size elements (a full shuffle when it holds
        the whole dataset). A seed makes the order of each pass reproducible."""
        if buffer_size < 1:
            raise ValueError(f"Error in shuffle: buffer_size must be >= 1, got {buffer_size}")
        source = self._make_iterator
        base_seed = seed if seed is not None else int(np.random.SeedSequence().entropy % 2**63)
        passes = itertools.count()

        def make_iterator():
            epoch = next(passes) if reshuffle_each_iteration else 0
            rng = np.random.default_rng([base_seed, epoch])
            return _buffered_shuffle(source(), buffer_size, rng)

        return Dataset(make_iterator, self._cardinality)

    def batch(self, batch_size, drop_remainder=False):
        """Stack consecutive elements into batches of batch_size along a new first axis."""
        if batch_size < 1:
            raise ValueError(f"Error in batch: batch_size must be >= 1, got {batch_size}")
        source = self._make_iterator

        def make_iterator():
            iterator = source()
            while True:
                chunk = list(itertools.islice(iterator, batch_size))
                if not chunk or (drop_remainder and len(chunk) < batch_size):
                    return
                yield _stack(chunk)

        count = self._cardinality
        if count >= 0:
            count = count // batch_size if drop_remainder else math.ceil(count / batch_size)
        return Dataset(make_iterator, count)

    def repeat(self, count=None):
        """The dataset `count` times over (forever when None)."""
        source = self._make_iterator

        def make_iterator():
            passes = itertools.repeat(None) if count is None else range(count)
            return itertools.chain.from_iterable(source() for _ in passes)

        size = self._cardinality
        if size == 0 or (count is not None and count == 0):
            total = 0
        elif count is None:
            total = INFINITE if size != UNKNOWN else UNKNOWN
        else:
            total = size * count if size >= 0 else size
        return Dataset(make_iterator, total)

    def take(self, count):
        """The first `count` elements."""
        source = self._make_iterator
        size = self._cardinality
        total = count if size == INFINITE else (min(size, count) if size >= 0 else UNKNOWN)
        return Dataset(lambda: itertools.islice(source(), count), total)

    def skip(self, count):
        """All but the first `count` elements."""
        source = self._make_iterator
        size = self._cardinality
        total = max(size - count, 0) if size >= 0 else size
        return Dataset(lambda: itertools.islice(source(), count, None), total)

    def prefetch(self, buffer_size=1):
        """Produce up to buffer_size elements ahead on a background thread (AUTOTUNE: a
        few)."""
        if buffer_size == AUTOTUNE:
            buffer_size = AUTOTUNE_PREFETCH
        if buffer_size < 1:
            raise ValueError(f"Error in prefetch: buffer_size must be >= 1, got {buffer_size}")
        source = self._make_iterator
        return Dataset(lambda: _prefetching(source, buffer_size), self._cardinality)

    # ------------------------------------------------------------------ reading
    def cardinality(self):
        """Number of elements; INFINITE (-1) or UNKNOWN (-2) when it cannot be known."""
        return self._cardinality

    def __len__(self):
        if self._cardinality < 0:
            raise TypeError("The length of this dataset is "
                            f"{'infinite' if self._cardinality == INFINITE else 'unknown'}")
        return self._cardinality

    def as_numpy_iterator(self):
        return self._make_iterator()

    def __iter__(self):
        return (map_structure(_to_engine, element) for element in self._make_iterator())

    def __repr__(self):
        size = {INFINITE: "infinite", UNKNOWN: "unknown"}.get(self._cardinality,
                                                            self._cardinality)
        return f"<Dataset cardinality={size}>"


def _recording(iterator, stored):
    """Pass the elements through; after the last one, keep them all in `stored`."""
    elements = []
    for element in iterator:
        elements.append(element)
        yield element
    stored.append(elements)


def _buffered_shuffle(iterator, buffer_size, rng):
    buffer = list(itertools.islice(iterator, buffer_size))
    for element in iterator:
        index = int(rng.integers(len(buffer)))
        yield buffer[index]
        buffer[index] = element
    for index in rng.permutation(len(buffer)):
        yield buffer[index]


def _prefetching(make_iterator, buffer_size):
    """Run make_iterator() on a daemon thread, handing elements over through a queue."""
    handoff = queue.Queue(maxsize=buffer_size)
    stop = threading.Event()

    def put(message):
        """Hand over one message; False once the consumer has gone away."""
        while not stop.is_set():
            try:
                handoff.put(message, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for element in make_iterator():
                if not put(("item", element)):
                    return
            put(("done", None))
        except BaseException as error:  # handed to the consumer, raised there
            put(("error", error))

    worker = threading.Thread(target=produce, name="engine-data-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            kind, payload = handoff.get()
            if kind == "done":
                return
            if kind == "error":
                raise payload
            yield payload
    finally:
        stop.set()
