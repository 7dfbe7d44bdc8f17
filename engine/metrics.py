"""Stateful metrics, as in keras.metrics: update_state per batch, result() over all of them.

State lives on the host as Python floats / NumPy counts; each update moves one reduced value
(or, for the confusion-matrix metrics, the batch's predictions) off the device.
"""
import numpy as np

import engine
from engine import losses


class Metric:
    """Base class: update_state(y_true, y_pred, sample_weight=None), result(), reset_state()."""

    def __init__(self, name=None):
        self.name = name or losses._snake_case(type(self).__name__)
        self.reset_state()

    def reset_state(self):
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None):
        """Update with one batch and return the running result."""
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def get_config(self):
        return {"name": self.name}

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} result={self.result():.6g}>"


class Mean(Metric):
    """Weighted mean of every value passed to update_state(values, sample_weight=None)."""

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        values = engine.convert_to_tensor(values)
        if not engine.dtypes.is_floating(values.dtype):
            values = engine.cast(values, "float32")
        if sample_weight is None:
            self.total += float(engine.sum(values).item())
            self.count += values.size
            return
        weighted = losses.reduce_weighted(values, sample_weight, reduction="none")
        weights = losses.reduce_weighted(engine.ones_like(values), sample_weight, "none")
        self.total += float(engine.sum(weighted).item())
        self.count += float(engine.sum(weights).item())

    def result(self):
        return self.total / self.count if self.count else 0.0


class MeanMetricWrapper(Mean):
    """The weighted mean of `fn(y_true, y_pred)` over every sample seen."""

    def __init__(self, fn, name=None, **kwargs):
        self.fn = fn
        self.fn_kwargs = kwargs
        super().__init__(name or getattr(fn, "__name__", "metric"))

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Masked entries of y_pred (its Keras mask) count for nothing, as in Keras."""
        values = self.fn(y_true, y_pred, **self.fn_kwargs)
        mask = getattr(y_pred, "_keras_mask", None)
        super().update_state(values, losses.apply_mask(sample_weight, mask, "float32", "sum"))

    def get_config(self):
        return {**super().get_config(), **self.fn_kwargs}


# ---------------------------------------------------------------------- accuracy functions

def binary_accuracy(y_true, y_pred, threshold=0.5):
    y_true, y_pred = losses.operands("binary_accuracy", y_true, y_pred)
    predicted = engine.cast(y_pred > threshold, y_true.dtype)
    return engine.mean(engine.cast(engine.equal(y_true, predicted), "float32"), axis=-1)


def categorical_accuracy(y_true, y_pred):
    y_true, y_pred = losses.operands("categorical_accuracy", y_true, y_pred)
    return engine.cast(engine.equal(engine.argmax(y_true, axis=-1),
                                    engine.argmax(y_pred, axis=-1)), "float32")


def sparse_categorical_accuracy(y_true, y_pred):
    y_pred = engine.convert_to_tensor(y_pred)
    labels = engine.convert_to_tensor(y_true, like=y_pred)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = engine.squeeze(labels, axis=-1)
    labels = engine.cast(labels, "int32")
    return engine.cast(engine.equal(labels, engine.argmax(y_pred, axis=-1)), "float32")


class BinaryAccuracy(MeanMetricWrapper):
    def __init__(self, name="binary_accuracy", threshold=0.5):
        super().__init__(binary_accuracy, name, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="categorical_accuracy"):
        super().__init__(categorical_accuracy, name)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_accuracy"):
        super().__init__(sparse_categorical_accuracy, name)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_error"):
        super().__init__(losses.mean_absolute_error, name)


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_error"):
        super().__init__(losses.mean_squared_error, name)


class AutoAccuracy(Metric):
    """"accuracy" whose flavour (binary, sparse or categorical) is picked from the first
    batch's shapes with Keras 3's rule: y_pred's last dim 1 -> binary; y_true of lower rank,
    or last dim 1 against y_pred's > 1 -> sparse categorical; else categorical."""

    def reset_state(self):
        if getattr(self, "resolved", None) is not None:
            self.resolved.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):
        if getattr(self, "resolved", None) is None:
            self.resolved = _accuracy_for_shapes(np.shape(y_true), np.shape(y_pred), self.name)
        self.resolved.update_state(y_true, y_pred, sample_weight)

    def result(self):
        return self.resolved.result() if getattr(self, "resolved", None) else 0.0


def _accuracy_for_shapes(true_shape, pred_shape, name):
    if pred_shape[-1] == 1:
        return BinaryAccuracy(name)
    if len(true_shape) < len(pred_shape) or (true_shape[-1] == 1 and pred_shape[-1] > 1):
        return SparseCategoricalAccuracy(name)
    return CategoricalAccuracy(name)


# ---------------------------------------------------------------------- confusion counts

class _ConfusionMetric(Metric):
    """Weighted true/false positive/negative counts of y_pred > threshold, per threshold."""

    def __init__(self, thresholds, name=None):
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        super().__init__(name)

    def reset_state(self):
        shape = self.thresholds.shape
        self.true_positives = np.zeros(shape)
        self.false_positives = np.zeros(shape)
        self.true_negatives = np.zeros(shape)
        self.false_negatives = np.zeros(shape)

    def update_state(self, y_true, y_pred, sample_weight=None):
        truth = np.asarray(y_true, dtype=np.float64).reshape(-1) > 0.5
        scores = np.asarray(y_pred, dtype=np.float64).reshape(-1)
        if truth.shape != scores.shape:
            raise ValueError(f"Error in {self.name}: y_true has {truth.size} values, y_pred "
                             f"{scores.size}; they must match")
        weights = np.ones_like(scores) if sample_weight is None else np.broadcast_to(
            np.asarray(sample_weight, dtype=np.float64).reshape(
                np.shape(sample_weight) + (1,) * (np.ndim(y_pred) - np.ndim(sample_weight))),
            np.shape(y_pred)).reshape(-1)
        above = scores[None, :] > self.thresholds.reshape(-1, 1)
        shape = self.thresholds.shape
        self.true_positives += ((above & truth) @ weights).reshape(shape)
        self.false_positives += ((above & ~truth) @ weights).reshape(shape)
        self.true_negatives += ((~above & ~truth) @ weights).reshape(shape)
        self.false_negatives += ((~above & truth) @ weights).reshape(shape)


def _ratio(numerator, denominator):
    return float(numerator / denominator) if denominator else 0.0


class Precision(_ConfusionMetric):
    """TP / (TP + FP) for predictions above `thresholds` (default 0.5)."""

    def __init__(self, thresholds=0.5, name="precision"):
        super().__init__(thresholds, name)

    def result(self):
        return _ratio(self.true_positives, self.true_positives + self.false_positives)


class Recall(_ConfusionMetric):
    """TP / (TP + FN) for predictions above `thresholds` (default 0.5)."""

    def __init__(self, thresholds=0.5, name="recall"):
        super().__init__(thresholds, name)

    def result(self):
        return _ratio(self.true_positives, self.true_positives + self.false_negatives)


class AUC(_ConfusionMetric):
    """Area under the ROC or PR curve from counts at num_thresholds thresholds (Keras's
    thresholds: evenly spaced in (0, 1) plus -eps and 1 + eps; trapezoids for ROC, Davis &
    Goadrich interpolation for PR)."""

    def __init__(self, num_thresholds=200, curve="ROC", name="auc"):
        if num_thresholds <= 1:
            raise ValueError(f"Error in AUC: num_thresholds must be > 1, got {num_thresholds}")
        if curve not in ("ROC", "PR"):
            raise ValueError(f"Error in AUC: curve must be 'ROC' or 'PR', got '{curve}'")
        self.curve = curve
        inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        super().__init__([-losses.EPSILON] + inner + [1.0 + losses.EPSILON], name)

    def result(self):
        tp, fp, tn, fn = (self.true_positives, self.false_positives, self.true_negatives,
                          self.false_negatives)
        if self.curve == "PR":
            return _interpolated_pr_auc(tp, fp, fn)
        with np.errstate(divide="ignore", invalid="ignore"):
            tpr = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
            fpr = np.where(fp + tn > 0, fp / (fp + tn), 0.0)
        return float(np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2))


def _interpolated_pr_auc(tp, fp, fn):
    """Precision-recall AUC interpolated between thresholds (Davis & Goadrich, 2006)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        d_tp = tp[:-1] - tp[1:]
        positives = tp + fp
        d_p = positives[:-1] - positives[1:]
        slope = np.where(d_p > 0, d_tp / np.maximum(d_p, 1e-300), 0.0)
        intercept = tp[1:] - slope * positives[1:]
        both = (positives[:-1] > 0) & (positives[1:] > 0)
        ratio = np.where(both, positives[:-1] / np.where(both, positives[1:], 1.0), 1.0)
        recall_total = tp[1:] + fn[1:]
        terms = np.where(recall_total > 0,
                         slope * (d_tp + intercept * np.log(ratio))
                         / np.where(recall_total > 0, recall_total, 1.0), 0.0)
    return float(np.sum(terms))


# ---------------------------------------------------------------------- lookup

_BY_NAME = {
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "precision": Precision, "recall": Recall, "auc": AUC,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
}
_ACCURACY_FOR_LOSS = {
    "binary_crossentropy": BinaryAccuracy,
    "categorical_crossentropy": CategoricalAccuracy,
    "sparse_categorical_crossentropy": SparseCategoricalAccuracy,
}
_CLASSES = {cls.__name__: cls for cls in set(_BY_NAME.values()) | {Mean}}


def get(identifier, loss=None):
    """A Metric from a name, class name, function or Metric. "accuracy"/"acc" become the
    flavour the loss implies (binary/categorical/sparse cross-entropy), otherwise the flavour
    Keras 3 picks from the first batch's shapes. String metrics keep the string as name."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in ("accuracy", "acc"):
            flavour = _ACCURACY_FOR_LOSS.get(_loss_function_name(loss))
            return flavour(name=identifier) if flavour else AutoAccuracy(name=identifier)
        cls = _BY_NAME.get(key) or _CLASSES.get(identifier)
        if cls is not None:
            return cls(name=identifier)
        if key in losses._BY_FUNCTION_NAME:
            return MeanMetricWrapper(losses.get(key).fn, name=identifier)
        raise ValueError(f"Unknown metric '{identifier}'. Known metrics: accuracy, acc, "
                         f"{', '.join(sorted(_BY_NAME))} and the loss names")
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(f"Could not interpret metric identifier: {identifier!r}")


def _loss_function_name(loss):
    if loss is None:
        return None
    if isinstance(loss, str):
        return getattr(losses.get(loss), "fn", None).__name__
    fn = getattr(loss, "fn", loss)
    return getattr(fn, "__name__", None)
