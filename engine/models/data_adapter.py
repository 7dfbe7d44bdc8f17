"""Turning fit/evaluate/predict arguments into checked batches: arrays in input and output
order, equal lengths, class weights as sample weights, shuffling and validation splits."""
import math

import numpy as np

import engine


def as_list(data, names, what):
    """x or y (array, list of arrays, or dict by input/output name) as a list in model order."""
    if data is None:
        return None
    if isinstance(data, dict):
        missing = [name for name in names if name not in data]
        if missing:
            raise ValueError(f"Missing data for {what} {missing}; the dict has keys "
                             f"{sorted(data)}, expected {names}")
        return [_host_or_tensor(data[name]) for name in names]
    if isinstance(data, (list, tuple)):
        return [_host_or_tensor(item) for item in data]
    return [_host_or_tensor(data)]


def _host_or_tensor(array):
    return array if isinstance(array, engine.Tensor) else np.asarray(array)


def check_cardinality(x, y=None, sample_weight=None):
    """The common number of samples, or a Keras-style error listing every size."""
    sizes = {"x": [len(a) for a in x]}
    if y is not None:
        sizes["y"] = [len(a) for a in y]
    if sample_weight is not None:
        sizes["sample_weight"] = [len(sample_weight)]
    distinct = {size for group in sizes.values() for size in group}
    if len(distinct) > 1:
        details = "\n".join(f"'{name}' sizes: {', '.join(map(str, group))}"
                            for name, group in sizes.items())
        raise ValueError("Data cardinality is ambiguous. Make sure all arrays contain the same "
                         f"number of samples.\n{details}")
    return distinct.pop() if distinct else 0


def class_weights_to_sample_weights(y, class_weight, sample_weight):
    """Per-sample weights from {class: weight}; labels are ints or one-hot rows."""
    if class_weight is None:
        return sample_weight
    if sample_weight is not None:
        raise ValueError("You cannot use `class_weight` and `sample_weight` at the same time.")
    if len(y) != 1:
        raise ValueError("`class_weight` is only supported for models with a single output.")
    labels = np.asarray(y[0])
    labels = labels.argmax(-1) if labels.ndim > 1 and labels.shape[-1] > 1 else labels.reshape(
        len(labels), -1)[:, 0]
    labels = np.rint(labels).astype(np.int64)
    unknown = sorted(set(np.unique(labels).tolist()) - set(class_weight))
    if unknown:
        raise ValueError(f"`class_weight` has no entry for class(es) {unknown}; it has "
                         f"{sorted(class_weight)}")
    return np.array([class_weight[label] for label in labels], dtype=np.float32)


def check_sparse_labels(labels, num_classes, output_name):
    """Sparse categorical labels must be whole numbers in [0, num_classes)."""
    labels = np.asarray(labels)
    if labels.size == 0 or num_classes is None:
        return
    low, high = labels.min(), labels.max()
    if low < 0 or high >= num_classes or not np.all(np.equal(np.mod(labels, 1), 0)):
        raise ValueError(f"Received a label value of {high if high >= num_classes else low} "
                         f"which is outside the valid range of [0, {num_classes}) for output "
                         f"'{output_name}' (sparse_categorical_crossentropy labels must be "
                         f"class indices smaller than the number of classes, {num_classes}).")


def split_validation(x, y, sample_weight, validation_split):
    """Keras's rule: the last `validation_split` fraction of the samples, before shuffling.
    Returns ((x, y, sample_weight) to train on, (x, y, sample_weight) to validate on)."""
    if not 0 < validation_split < 1:
        raise ValueError(f"`validation_split` must be between 0 and 1, got {validation_split}")
    size = check_cardinality(x, y, sample_weight)
    cut = int(math.floor(size * (1 - validation_split)))
    if cut == 0 or cut == size:
        raise ValueError(f"validation_split={validation_split} leaves no training or no "
                         f"validation samples out of {size}")

    def part(indices):
        return ([take(a, indices) for a in x], [take(a, indices) for a in y],
                None if sample_weight is None else sample_weight[indices])

    return part(slice(0, cut)), part(slice(cut, size))  # views of NumPy data: no copies


def take(array, indices):
    """Rows `indices` (an index array, or a slice: a view of a NumPy array, no copy) of a NumPy
    array or of an engine tensor (gathered on its device)."""
    if isinstance(array, engine.Tensor) and not isinstance(indices, slice):
        return engine.gather(array, engine.tensor(indices.astype(np.int32),
                                                  backend=array.backend))
    return array[indices]


def array_batches(arrays, size, batch_size, shuffle=False, max_steps=None):
    """Yield (step, [batched x, y, sw]) over the samples, shuffled when asked."""
    order = np.random.permutation(size) if shuffle else None
    steps = num_steps(size, batch_size, max_steps)
    for step in range(steps):
        rows = slice(step * batch_size, min((step + 1) * batch_size, size))
        indices = rows if order is None else order[rows]  # in order: views, not copies
        yield step, [None if a is None else [take(item, indices) for item in a] for a in arrays]


def num_steps(size, batch_size, max_steps=None):
    steps = math.ceil(size / batch_size)
    return steps if max_steps is None else min(steps, max_steps)


def unpack_dataset_element(element):
    """(x, y[, sample_weight]) from a dataset batch: a tuple, or TF.js's {"xs", "ys"} dict."""
    if isinstance(element, dict) and "xs" in element:
        return element["xs"], element.get("ys"), element.get("sample_weight")
    if isinstance(element, (list, tuple)):
        if len(element) == 2:
            return element[0], element[1], None
        if len(element) == 3:
            return tuple(element)
    return element, None, None
