"""Helpers from keras.utils that work on host data."""
import numpy as np


def to_categorical(labels, num_classes=None):
    """One-hot rows (float32, as tf.keras gave them) for integer class labels of any shape; a
    trailing axis of size 1 is dropped first, as Keras does. Labels must lie in [0,
    num_classes); num_classes defaults to the largest label + 1."""
    labels = np.asarray(labels)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    if labels.size and not np.array_equal(labels, np.round(labels)):
        raise ValueError("to_categorical: labels must be integers")
    labels = labels.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(f"to_categorical: labels must be >= 0, got {labels.min()}")
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must lie in [0, {num_classes}), got "
                         f"{labels.min()}..{labels.max()}")
    return np.eye(num_classes, dtype=np.float32)[labels]


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """Sequences of different lengths as one (count, maxlen, ...) array, as Keras's
    pad_sequences: longer ones lose steps at the start ('pre') or end ('post'), shorter ones
    are filled with `value` before ('pre') or after ('post'). maxlen defaults to the longest.
    With Embedding(mask_zero=True), the padding id 0 is then masked."""
    for name, choice in (("padding", padding), ("truncating", truncating)):
        if choice not in ("pre", "post"):
            raise ValueError(f"pad_sequences: {name} must be 'pre' or 'post', got {choice!r}")
    arrays = [np.asarray(sequence, dtype=dtype) for sequence in sequences]
    if any(a.ndim == 0 for a in arrays):
        raise ValueError("pad_sequences: each sequence must be a list or array of steps")
    step_shapes = {a.shape[1:] for a in arrays if len(a)}
    if len(step_shapes) > 1:
        raise ValueError(f"pad_sequences: the steps of the sequences differ in shape: "
                         f"{sorted(step_shapes)}")
    if maxlen is None:
        maxlen = max((len(a) for a in arrays), default=0)
    if maxlen < 0:
        raise ValueError(f"pad_sequences: maxlen must be >= 0, got {maxlen}")
    step_shape = step_shapes.pop() if step_shapes else ()
    padded = np.full((len(arrays), maxlen) + step_shape, value, dtype=dtype)
    for row, array in zip(padded, arrays):
        kept = array[max(0, len(array) - maxlen):] if truncating == "pre" else array[:maxlen]
        if maxlen == 0 or not len(kept):
            continue
        if padding == "pre":
            row[maxlen - len(kept):] = kept
        else:
            row[:len(kept)] = kept
    return padded


def set_random_seed(seed):
    """Keras's utils.set_random_seed: Python's random, NumPy's global generator and the
    engine's unseeded random ops (engine.set_seed) all seeded with `seed`, so a program (weight
    initializers, dropout, fit's shuffling) repeats."""
    import random

    import engine

    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"set_random_seed: seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    engine.set_seed(seed)
