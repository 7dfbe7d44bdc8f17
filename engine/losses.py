"""Losses, as in keras.losses: per-sample functions and Loss classes that reduce them.

A function such as `mean_squared_error(y_true, y_pred)` gives one value per sample (the last
axis reduced). A Loss object weights those values by `sample_weight` and reduces them with
"sum_over_batch_size" (sum / number of values, Keras's default), "sum" or "none".
"""
import re

import numpy as np

import engine
from engine import autodiff

EPSILON = 1e-7  # Keras's backend epsilon: probabilities are clipped to [EPSILON, 1 - EPSILON]
REDUCTIONS = ("sum_over_batch_size", "sum", "none")


def operands(name, y_true, y_pred):
    """(y_true, y_pred) as tensors of y_pred's float dtype, their ranks matched as Keras 3
    matches them (same_rank), checked to broadcast together (else an error naming `name`)."""
    y_pred = engine.convert_to_tensor(y_pred)
    if not engine.dtypes.is_floating(y_pred.dtype):
        y_pred = engine.cast(y_pred, "float32")
    y_true = engine.cast(engine.convert_to_tensor(y_true, like=y_pred), y_pred.dtype)
    y_true, y_pred = same_rank(y_true, y_pred)
    if y_true.shape != y_pred.shape:  # equal shapes (the usual step) need no check
        try:
            np.broadcast_shapes(y_true.shape, y_pred.shape)
        except ValueError:
            raise ValueError(f"Error in {name}: y_true shape {y_true.shape} and y_pred shape "
                             f"{y_pred.shape} do not broadcast together") from None
    return y_true, y_pred


def same_rank(a, b):
    """Keras 3's rule for operands whose ranks differ by one where the longer one's last axis
    is 1: a rank-1 operand gains that axis, else the longer one loses it. So (N,) targets
    against a Dense(1)'s (N, 1) output pair up sample by sample instead of broadcasting to
    (N, N)."""
    if a.ndim == b.ndim + 1 and a.shape[-1] == 1:
        return (a, engine.expand_dims(b, -1)) if b.ndim == 1 else (engine.squeeze(a, -1), b)
    if b.ndim == a.ndim + 1 and b.shape[-1] == 1:
        return (engine.expand_dims(a, -1), b) if a.ndim == 1 else (a, engine.squeeze(b, -1))
    return a, b


def _check_same_shape(name, y_true, y_pred):
    if y_true.shape != y_pred.shape:
        raise ValueError(f"Error in {name}: y_true shape {y_true.shape} and y_pred shape "
                         f"{y_pred.shape} must match")


# ---------------------------------------------------------------------- per-sample functions

def mean_squared_error(y_true, y_pred):
    y_true, y_pred = operands("mean_squared_error", y_true, y_pred)
    return engine.mean(engine.square(y_pred - y_true), axis=-1)


def mean_absolute_error(y_true, y_pred):
    y_true, y_pred = operands("mean_absolute_error", y_true, y_pred)
    return engine.mean(engine.abs(y_pred - y_true), axis=-1)


def huber(y_true, y_pred, delta=1.0):
    """0.5 e^2 where |e| <= delta, else delta (|e| - 0.5 delta); averaged over the last axis."""
    y_true, y_pred = operands("huber", y_true, y_pred)
    error = y_pred - y_true
    magnitude = engine.abs(error)
    quadratic = engine.square(error) * 0.5
    linear = magnitude * delta - 0.5 * delta * delta
    return engine.mean(engine.where(magnitude <= delta, quadratic, linear), axis=-1)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """Mean over the last axis of -(z log p + (1 - z) log(1 - p))."""
    y_true, y_pred = operands("binary_crossentropy", y_true, y_pred)
    _check_same_shape("binary_crossentropy", y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        # relu(x) - x z + log(1 + exp(-|x|)): no overflow for any logit
        losses = (engine.relu(y_pred) - y_pred * y_true
                  + engine.log1p(engine.exp(-engine.abs(y_pred))))
    else:
        p = engine.clip(y_pred, EPSILON, 1.0 - EPSILON)
        losses = -(y_true * engine.log(p) + (1.0 - y_true) * engine.log(1.0 - p))
    return engine.mean(losses, axis=-1)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """-sum(y_true log p) over the last axis; probabilities are renormalised and clipped."""
    y_true, y_pred = operands("categorical_crossentropy", y_true, y_pred)
    _check_same_shape("categorical_crossentropy", y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[-1]
    logits = y_pred if from_logits else _softmax_logits(y_pred)
    if logits is not None:
        return engine.softmax_cross_entropy(y_true, logits)
    return -engine.sum(y_true * _log_probabilities(y_pred), axis=-1)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    """Categorical cross-entropy with integer class labels of shape y_pred.shape[:-1]."""
    y_pred = engine.convert_to_tensor(y_pred)
    labels = engine.convert_to_tensor(y_true, like=y_pred)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = engine.squeeze(labels, axis=-1)
    if labels.shape != y_pred.shape[:-1]:
        raise ValueError(f"Error in sparse_categorical_crossentropy: labels of shape "
                         f"{labels.shape} do not match predictions of shape {y_pred.shape}; "
                         f"expected labels of shape {y_pred.shape[:-1]}")
    labels = engine.cast(labels, "int32")
    logits = y_pred if from_logits else _softmax_logits(y_pred)
    if logits is not None:
        return engine.sparse_softmax_cross_entropy(labels, logits)
    one_hot = engine.one_hot(labels, y_pred.shape[-1], dtype=y_pred.dtype)
    return -engine.sum(one_hot * _log_probabilities(y_pred), axis=-1)


def kl_divergence(y_true, y_pred):
    """sum(y_true log(y_true / y_pred)) over the last axis, both clipped to [EPSILON, 1]."""
    y_true, y_pred = operands("kl_divergence", y_true, y_pred)
    y_true = engine.clip(y_true, EPSILON, 1.0)
    y_pred = engine.clip(y_pred, EPSILON, 1.0)
    return engine.sum(y_true * engine.log(y_true / y_pred), axis=-1)


def _softmax_logits(probabilities):
    """The logits of `probabilities` when a tape recorded them as a softmax over the last axis,
    else None. The cross-entropy then runs on the logits, as TF-Keras does for a softmax
    output: one stable kernel and its gradient instead of renormalising, clipping and a log
    (and no clipping at EPSILON)."""
    node = autodiff.taped_producer(probabilities)
    if node is not None and node.op == "Softmax" and node.attrs["axis"] == node.inputs[0].ndim - 1:
        return node.inputs[0]
    return None


def _log_probabilities(probabilities):
    normalised = probabilities / engine.sum(probabilities, axis=-1, keepdims=True)
    return engine.log(engine.clip(normalised, EPSILON, 1.0 - EPSILON))


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
kld = KLD = kl_divergence


# ---------------------------------------------------------------------- reduction

def reduce_weighted(values, sample_weight=None, reduction="sum_over_batch_size"):
    """Weight per-sample `values` by `sample_weight` (broadcast), then reduce them."""
    if sample_weight is not None:
        weight = engine.cast(engine.convert_to_tensor(sample_weight, like=values), values.dtype)
        if weight.ndim == values.ndim + 1 and weight.shape[-1] == 1:
            weight = engine.squeeze(weight, axis=-1)
        if weight.ndim < values.ndim:
            weight = engine.reshape(weight, weight.shape + (1,) * (values.ndim - weight.ndim))
        values = values * weight
    if reduction == "none":
        return values
    total = engine.sum(values)
    if reduction == "sum":
        return total
    return total / float(max(values.size, 1))


def apply_mask(sample_weight, mask, dtype, reduction):
    """Sample weights with a prediction's Keras mask folded in (Keras's apply_mask): masked
    entries weigh 0; for the mean reduction the kept ones weigh total / kept, so the loss is
    the mean over kept entries only."""
    if mask is None:
        return sample_weight
    weight = engine.cast(mask, dtype)
    if reduction == "sum_over_batch_size":
        kept = engine.sum(weight)
        weight = weight * engine.where(kept > 0, float(weight.size) / engine.maximum(kept, 1.0),
                                       0.0)
    if sample_weight is None:
        return weight
    sample_weight = engine.cast(engine.convert_to_tensor(sample_weight, like=weight), dtype)
    weight, sample_weight = same_rank(weight, sample_weight)
    if sample_weight.ndim < weight.ndim:
        sample_weight = engine.reshape(sample_weight, sample_weight.shape
                                       + (1,) * (weight.ndim - sample_weight.ndim))
    return weight * sample_weight


class Loss:
    """A callable loss: loss(y_true, y_pred, sample_weight=None) -> scalar tensor. A mask on
    y_pred (from an Embedding(mask_zero=True) or Masking layer) leaves its masked entries
    out."""

    def __init__(self, name=None, reduction="sum_over_batch_size"):
        if reduction not in REDUCTIONS:
            raise ValueError(f"Error in {type(self).__name__}: reduction must be one of "
                             f"{REDUCTIONS}, got '{reduction}'")
        self.name = name or _snake_case(type(self).__name__)
        self.reduction = reduction

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred)")

    def __call__(self, y_true, y_pred, sample_weight=None):
        values = self.call(y_true, y_pred)
        sample_weight = apply_mask(sample_weight, getattr(y_pred, "_keras_mask", None),
                                   values.dtype, self.reduction)
        return reduce_weighted(values, sample_weight, self.reduction)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class LossFunctionWrapper(Loss):
    """A Loss around a per-sample function `fn(y_true, y_pred, **kwargs)`.

    `fixed` holds Keras options this engine supports only at their default (such as axis=-1);
    they appear in the config so configs match Keras's.
    """

    def __init__(self, fn, name=None, reduction="sum_over_batch_size", fixed=None, **kwargs):
        super().__init__(name or getattr(fn, "__name__", "loss"), reduction)
        self.fn = fn
        self.fn_kwargs = kwargs
        self.fixed = dict(fixed or {})

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self.fn_kwargs)

    def get_config(self):
        return {**super().get_config(), **self.fn_kwargs, **self.fixed}


def _wrapper_init(fn, default_name, fixed=None, **defaults):
    """__init__ for a LossFunctionWrapper subclass with Keras's name, options and defaults."""
    fixed = fixed or {}

    def __init__(self, reduction="sum_over_batch_size", name=default_name, **kwargs):
        kind = type(self).__name__
        for key, value in kwargs.items():
            if key in fixed and value != fixed[key]:
                raise ValueError(f"Error in {kind}: {key}={value!r} is not supported "
                                 f"(only {fixed[key]!r})")
            if key not in fixed and key not in defaults:
                raise TypeError(f"Error in {kind}: unknown argument '{key}'")
        options = {key: kwargs.get(key, value) for key, value in defaults.items()}
        LossFunctionWrapper.__init__(self, fn, name=name, reduction=reduction, fixed=fixed,
                                     **options)

    return __init__


class MeanSquaredError(LossFunctionWrapper):
    __init__ = _wrapper_init(mean_squared_error, "mean_squared_error")


class MeanAbsoluteError(LossFunctionWrapper):
    __init__ = _wrapper_init(mean_absolute_error, "mean_absolute_error")


class Huber(LossFunctionWrapper):
    __init__ = _wrapper_init(huber, "huber_loss", delta=1.0)


class BinaryCrossentropy(LossFunctionWrapper):
    __init__ = _wrapper_init(binary_crossentropy, "binary_crossentropy", {"axis": -1},
                             from_logits=False, label_smoothing=0.0)


class CategoricalCrossentropy(LossFunctionWrapper):
    __init__ = _wrapper_init(categorical_crossentropy, "categorical_crossentropy",
                             {"axis": -1}, from_logits=False, label_smoothing=0.0)


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    __init__ = _wrapper_init(sparse_categorical_crossentropy,
                             "sparse_categorical_crossentropy", {"ignore_class": None},
                             from_logits=False)


class KLDivergence(LossFunctionWrapper):
    __init__ = _wrapper_init(kl_divergence, "kl_divergence")


def _snake_case(name):
    return re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", name).lower()


_CLASSES = {cls.__name__: cls for cls in (MeanSquaredError, MeanAbsoluteError, Huber,
                                          BinaryCrossentropy, CategoricalCrossentropy,
                                          SparseCategoricalCrossentropy, KLDivergence)}
_BY_FUNCTION_NAME = {
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "kl_divergence": KLDivergence, "kld": KLDivergence, "kullback_leibler_divergence": KLDivergence,
}


def get(identifier):
    """A Loss from a name ("mse", "MeanSquaredError"), a Keras config dict, a Loss (returned)
    or a per-sample function (wrapped)."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_FUNCTION_NAME.get(identifier.lower()) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(f"Unknown loss '{identifier}'. Known losses: "
                             f"{', '.join(sorted(_BY_FUNCTION_NAME))}")
        return cls()
    if isinstance(identifier, dict):
        cls = _CLASSES.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"Unknown loss class '{identifier.get('class_name')}'")
        return cls.from_config(dict(identifier.get("config", {})))
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise TypeError(f"Could not interpret loss identifier: {identifier!r}")


def serialize(loss):
    """Keras's serialized form of a Loss object."""
    return {"module": "keras.losses", "class_name": type(loss).__name__,
            "config": loss.get_config(), "registered_name": None}
