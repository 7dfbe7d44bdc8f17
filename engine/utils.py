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
