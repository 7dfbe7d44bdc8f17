"""Losses and metrics against float64 NumPy formulas, scikit-learn, and Keras 3 when installed."""

import numpy as np
import pytest

import engine
from engine import losses, metrics
from tests.helpers import keras_or_skip

RNG = np.random.default_rng(3)
BATCH, CLASSES = 6, 4
LOGITS = RNG.normal(0, 3, size=(BATCH, CLASSES)).astype(np.float32)
EXTREME_LOGITS = np.array([[1e4, -1e4, 0, 50], [-100, 100, 100, -1e3]], np.float32)
LABELS = RNG.integers(0, CLASSES, size=BATCH).astype(np.int32)
WEIGHTS = RNG.uniform(0, 2, size=BATCH).astype(np.float32)


def _softmax(x):
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _log_softmax(x):
    x = np.asarray(x, np.float64)
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def _probs():
    return _softmax(LOGITS).astype(np.float32)


def _one_hot(labels, depth=CLASSES):
    return np.eye(depth, dtype=np.float32)[labels]


def _close(got, want, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=rtol, atol=atol)


# ---------------------------------------------------------------------- per-sample losses

REGRESSION_TRUE = RNG.normal(size=(BATCH, 3)).astype(np.float32)
REGRESSION_PRED = RNG.normal(size=(BATCH, 3)).astype(np.float32) * 2


def _huber_reference(t, p, delta):
    e = np.abs(np.float64(p) - t)
    return np.where(e <= delta, 0.5 * e ** 2, delta * e - 0.5 * delta ** 2).mean(-1)


@pytest.mark.parametrize("fn, reference", [
    (losses.mean_squared_error, lambda t, p: ((np.float64(p) - t) ** 2).mean(-1)),
    (losses.mean_absolute_error, lambda t, p: np.abs(np.float64(p) - t).mean(-1)),
    (lambda t, p: losses.huber(t, p, delta=0.7), lambda t, p: _huber_reference(t, p, 0.7)),
])
def test_regression_losses(backend, fn, reference):
    _close(fn(REGRESSION_TRUE, engine.tensor(REGRESSION_PRED)).numpy(),
           reference(REGRESSION_TRUE, REGRESSION_PRED))


@pytest.mark.parametrize("true_shape, pred_shape", [((BATCH,), (BATCH, 1)),
                                                    ((BATCH, 1), (BATCH,)),
                                                    ((BATCH, 3, 1), (BATCH, 3))])
def test_operands_one_rank_apart_pair_up_as_in_keras(backend, true_shape, pred_shape):
    """(N,) targets against a Dense(1)'s (N, 1) output: one value per sample, not an (N, N)
    broadcast; the same for binary cross-entropy and accuracy."""
    cells = int(np.prod(true_shape))
    t = (REGRESSION_TRUE.reshape(-1)[:cells] > 0).astype(np.float64)
    p = 1 / (1 + np.exp(-REGRESSION_PRED.reshape(-1)[:cells].astype(np.float64)))

    def per_sample(values):
        return values.reshape(BATCH, -1).mean(axis=-1)

    cases = {losses.mean_squared_error: per_sample((p - t) ** 2),
             losses.mean_absolute_error: per_sample(np.abs(p - t)),
             losses.binary_crossentropy: per_sample(-(t * np.log(p) + (1 - t) * np.log(1 - p))),
             metrics.binary_accuracy: per_sample((p > 0.5) == t)}
    for fn, want in cases.items():
        got = fn(engine.tensor(t.reshape(true_shape).astype(np.float32)),
                 engine.tensor(p.reshape(pred_shape).astype(np.float32)))
        _close(got.numpy().reshape(-1), want, rtol=1e-5, atol=1e-6)


def test_a_dense_1_model_evaluates_one_dimensional_targets_per_sample(backend):
    model = engine.Sequential([engine.layers.Input((3,)), engine.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    x, y = REGRESSION_PRED, REGRESSION_TRUE[:, 0]
    prediction = np.asarray(model.predict(x, verbose=0), np.float64)[:, 0]
    loss, mae = model.evaluate(x, y, verbose=0)
    _close(loss, np.mean((prediction - y) ** 2))
    _close(mae, np.mean(np.abs(prediction - y)))


def test_losses_name_themselves_when_shapes_do_not_broadcast(backend):
    with pytest.raises(ValueError, match=r"Error in mean_squared_error: y_true shape \(6, 3\) "
                                         r"and y_pred shape \(6, 2\) do not broadcast"):
        losses.mean_squared_error(REGRESSION_TRUE, engine.tensor(REGRESSION_PRED[:, :2]))


def test_binary_crossentropy_on_probabilities_and_logits(backend):
    targets = RNG.integers(0, 2, size=(BATCH, 3)).astype(np.float32)
    logits = RNG.normal(0, 4, size=(BATCH, 3)).astype(np.float32)
    p = np.clip(1 / (1 + np.exp(-np.float64(logits))), 1e-7, 1 - 1e-7)
    want = -(targets * np.log(p) + (1 - targets) * np.log(1 - p)).mean(-1)
    _close(losses.binary_crossentropy(targets, engine.tensor(p.astype(np.float32))).numpy(),
           want, rtol=1e-4)
    exact = (np.logaddexp(0, -np.float64(logits)) * targets
             + np.logaddexp(0, np.float64(logits)) * (1 - targets)).mean(-1)
    _close(losses.binary_crossentropy(targets, engine.tensor(logits), from_logits=True).numpy(),
           exact)


def test_binary_crossentropy_extreme_logits_stay_finite(backend):
    targets = np.array([[1, 0, 1, 0], [0, 1, 1, 0]], np.float32)
    got = losses.binary_crossentropy(targets, engine.tensor(EXTREME_LOGITS), from_logits=True)
    x = np.float64(EXTREME_LOGITS)
    want = (np.logaddexp(0, -x) * targets + np.logaddexp(0, x) * (1 - targets)).mean(-1)
    _close(got.numpy(), want)


def test_categorical_crossentropy(backend):
    targets = _one_hot(LABELS) * 0.8 + 0.05
    _close(losses.categorical_crossentropy(targets, engine.tensor(LOGITS),
                                           from_logits=True).numpy(),
           -(targets * _log_softmax(LOGITS)).sum(-1), rtol=1e-5, atol=1e-5)
    unnormalised = _probs() * 3
    _close(losses.categorical_crossentropy(targets, engine.tensor(unnormalised)).numpy(),
           -(targets * np.log(np.clip(_softmax(LOGITS), 1e-7, 1 - 1e-7))).sum(-1), rtol=1e-4)
    smoothed = _one_hot(LABELS) * 0.9 + 0.1 / CLASSES
    _close(losses.categorical_crossentropy(_one_hot(LABELS), engine.tensor(LOGITS),
                                           from_logits=True, label_smoothing=0.1).numpy(),
           -(smoothed * _log_softmax(LOGITS)).sum(-1), rtol=1e-5, atol=1e-5)


def test_crossentropies_with_extreme_logits(backend):
    labels = np.array([1, 2], np.int32)
    want = -_log_softmax(EXTREME_LOGITS)[np.arange(2), labels]
    _close(losses.sparse_categorical_crossentropy(labels, engine.tensor(EXTREME_LOGITS),
                                                  from_logits=True).numpy(), want, rtol=1e-5)
    _close(losses.categorical_crossentropy(_one_hot(labels), engine.tensor(EXTREME_LOGITS),
                                           from_logits=True).numpy(), want, rtol=1e-5)


def test_sparse_categorical_crossentropy(backend):
    want = -_log_softmax(LOGITS)[np.arange(BATCH), LABELS]
    _close(losses.sparse_categorical_crossentropy(LABELS, engine.tensor(LOGITS),
                                                  from_logits=True).numpy(), want, atol=1e-5)
    _close(losses.sparse_categorical_crossentropy(LABELS[:, None], engine.tensor(_probs())).numpy(),
           want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="expected labels of shape \\(6,\\)"):
        losses.sparse_categorical_crossentropy(LABELS[:3], engine.tensor(LOGITS))


def test_kl_divergence(backend):
    t, p = _softmax(LOGITS[::-1]).astype(np.float32), _probs()
    t64, p64 = np.clip(np.float64(t), 1e-7, 1), np.clip(np.float64(p), 1e-7, 1)
    _close(losses.kl_divergence(t, engine.tensor(p)).numpy(),
           (t64 * np.log(t64 / p64)).sum(-1), rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------- reduction

@pytest.mark.parametrize("weight_shape", [(BATCH,), (BATCH, 1)])
def test_loss_objects_reduce_with_sample_weight(backend, weight_shape):
    per_sample = ((np.float64(REGRESSION_PRED) - REGRESSION_TRUE) ** 2).mean(-1)
    loss = losses.get("mse")
    assert loss.name == "mean_squared_error" and loss(REGRESSION_TRUE, REGRESSION_PRED).shape == ()
    _close(loss(REGRESSION_TRUE, engine.tensor(REGRESSION_PRED)).item(), per_sample.mean())
    weights = WEIGHTS.reshape(weight_shape)
    _close(loss(REGRESSION_TRUE, engine.tensor(REGRESSION_PRED), weights).item(),
           (per_sample * WEIGHTS).sum() / BATCH)
    total = losses.MeanSquaredError(reduction="sum")
    _close(total(REGRESSION_TRUE, engine.tensor(REGRESSION_PRED), weights).item(),
           (per_sample * WEIGHTS).sum())
    none = losses.MeanSquaredError(reduction="none")
    _close(none(REGRESSION_TRUE, engine.tensor(REGRESSION_PRED)).numpy(), per_sample)


def test_loss_get_and_config():
    assert isinstance(losses.get("mae"), losses.MeanAbsoluteError)
    sparse = losses.get({"class_name": "SparseCategoricalCrossentropy",
                         "config": {"from_logits": True, "name": "scce",
                                    "reduction": "sum_over_batch_size"}})
    assert sparse.get_config() == {"name": "scce", "reduction": "sum_over_batch_size",
                                   "from_logits": True, "ignore_class": None}
    with pytest.raises(ValueError, match="ignore_class=3 is not supported"):
        losses.SparseCategoricalCrossentropy(ignore_class=3)
    custom = losses.get(lambda t, p: engine.abs(p - t))
    assert float(custom(np.zeros(3, np.float32), engine.ones((3,)))) == 1.0
    with pytest.raises(ValueError, match="Unknown loss 'nope'"):
        losses.get("nope")
    with pytest.raises(ValueError, match="reduction must be one of"):
        losses.MeanSquaredError(reduction="mean_of_everything")


def test_loss_gradient_matches_softmax_minus_onehot(backend):
    logits = engine.tensor(LOGITS)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    with engine.GradientTape() as tape:
        tape.watch(logits)
        value = loss(LABELS, logits)
    _close(tape.gradient(value, logits).numpy(), (_softmax(LOGITS) - _one_hot(LABELS)) / BATCH,
           atol=1e-6)


@pytest.mark.parametrize("sparse", [True, False], ids=["sparse", "one_hot"])
def test_crossentropy_of_a_taped_softmax_runs_on_its_logits(backend, sparse):
    # Probabilities a tape saw come out of a softmax are scored from its logits (TF-Keras's
    # shortcut): exact where clipping at 1e-7 would cap the loss at 16.1 and zero the gradient.
    labels = np.array([1, 2], np.int32)
    targets = labels if sparse else _one_hot(labels)
    loss = (losses.sparse_categorical_crossentropy if sparse
            else losses.categorical_crossentropy)
    logits = engine.tensor(EXTREME_LOGITS)
    with engine.GradientTape() as tape:
        tape.watch(logits)
        value = engine.sum(loss(targets, engine.softmax(logits)))
    _close(value.numpy(), -_log_softmax(EXTREME_LOGITS)[np.arange(2), labels].sum(), rtol=1e-5)
    _close(tape.gradient(value, logits).numpy(),
           _softmax(EXTREME_LOGITS) - _one_hot(labels), atol=1e-6)
    untaped = loss(targets, engine.softmax(logits)).numpy()  # no tape: the clipped formula
    _close(untaped, -np.log(np.clip(_softmax(EXTREME_LOGITS), 1e-7, 1 - 1e-7))[
        np.arange(2), labels], rtol=1e-5)


# ---------------------------------------------------------------------- metrics

def test_accuracy_flavours_and_weights(backend):
    sklearn = pytest.importorskip("sklearn.metrics")
    predicted = LOGITS.argmax(-1)
    sparse = metrics.SparseCategoricalAccuracy()
    sparse.update_state(LABELS[:3], engine.tensor(LOGITS[:3]))
    sparse.update_state(LABELS[3:], engine.tensor(LOGITS[3:]), sample_weight=WEIGHTS[3:])
    weights = np.concatenate([np.ones(3), WEIGHTS[3:]])
    _close(sparse.result(), sklearn.accuracy_score(LABELS, predicted, sample_weight=weights))
    categorical = metrics.CategoricalAccuracy()
    categorical.update_state(_one_hot(LABELS), LOGITS)
    _close(categorical.result(), sklearn.accuracy_score(LABELS, predicted))
    binary = metrics.BinaryAccuracy(threshold=0.3)
    truth = RNG.integers(0, 2, size=(BATCH, 2)).astype(np.float32)
    scores = RNG.uniform(size=(BATCH, 2)).astype(np.float32)
    binary.update_state(truth, scores)
    _close(binary.result(), np.mean(truth == (scores > 0.3)))
    binary.reset_state()
    assert binary.result() == 0.0


def test_mean_and_regression_metrics(backend):
    mean = metrics.Mean()
    mean.update_state([1.0, 2.0, 3.0], sample_weight=[1.0, 0.0, 2.0])
    mean.update_state(engine.tensor([4.0]))
    _close(mean.result(), (1 + 6 + 4) / 4)
    mae, mse = metrics.get("mae"), metrics.get("mean_squared_error")
    for metric in (mae, mse):
        metric.update_state(REGRESSION_TRUE, REGRESSION_PRED)
    diff = np.float64(REGRESSION_PRED) - REGRESSION_TRUE
    _close(mae.result(), np.abs(diff).mean())
    _close(mse.result(), (diff ** 2).mean())
    assert mae.name == "mae"


def test_precision_recall_auc_against_sklearn():
    sklearn = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(11)
    truth = rng.integers(0, 2, size=2000)
    scores = np.clip(truth * 0.3 + rng.uniform(0, 0.7, size=2000), 0, 1).astype(np.float32)
    weights = rng.uniform(0.5, 1.5, size=2000)
    precision, recall, auc = metrics.Precision(), metrics.Recall(), metrics.AUC()
    for metric in (precision, recall, auc):
        metric.update_state(truth[:1000], scores[:1000], sample_weight=weights[:1000])
        metric.update_state(truth[1000:], scores[1000:], sample_weight=weights[1000:])
    hard = scores > 0.5
    _close(precision.result(), sklearn.precision_score(truth, hard, sample_weight=weights))
    _close(recall.result(), sklearn.recall_score(truth, hard, sample_weight=weights))
    # 200 thresholds approximate the exact curve to about a percent of its area
    _close(auc.result(), sklearn.roc_auc_score(truth, scores, sample_weight=weights), atol=5e-3)
    pr = metrics.AUC(curve="PR", num_thresholds=500)
    pr.update_state(truth, scores)
    _close(pr.result(), sklearn.average_precision_score(truth, scores), atol=1e-2)


def test_metric_get_picks_accuracy_flavour():
    assert isinstance(metrics.get("accuracy", loss="sparse_categorical_crossentropy"),
                      metrics.SparseCategoricalAccuracy)
    assert isinstance(metrics.get("acc", loss=losses.BinaryCrossentropy()),
                      metrics.BinaryAccuracy)
    assert isinstance(metrics.get("accuracy", loss=losses.categorical_crossentropy),
                      metrics.CategoricalAccuracy)
    assert metrics.get("acc", loss="mse").name == "acc"
    for true_shape, pred_shape, flavour in [((4, 1), (4, 1), metrics.BinaryAccuracy),
                                            ((4,), (4, 3), metrics.SparseCategoricalAccuracy),
                                            ((4, 1), (4, 3), metrics.SparseCategoricalAccuracy),
                                            ((4, 3), (4, 3), metrics.CategoricalAccuracy)]:
        metric = metrics.get("accuracy", loss="mse")
        metric.update_state(np.zeros(true_shape, np.float32), np.zeros(pred_shape, np.float32))
        assert isinstance(metric.resolved, flavour)
    with pytest.raises(ValueError, match="Unknown metric 'nope'"):
        metrics.get("nope")


# ---------------------------------------------------------------------- against Keras 3

@pytest.mark.parametrize("name, args, kwargs", [
    ("MeanSquaredError", (REGRESSION_TRUE, REGRESSION_PRED), {}),
    ("MeanAbsoluteError", (REGRESSION_TRUE, REGRESSION_PRED), {}),
    ("Huber", (REGRESSION_TRUE, REGRESSION_PRED), {"delta": 0.5}),
    ("BinaryCrossentropy", ((REGRESSION_TRUE > 0).astype(np.float32), REGRESSION_PRED),
     {"from_logits": True, "label_smoothing": 0.1}),
    ("BinaryCrossentropy", ((REGRESSION_TRUE > 0).astype(np.float32),
                            np.clip(REGRESSION_PRED, 0, 1)), {}),
    ("CategoricalCrossentropy", (_one_hot(LABELS), LOGITS), {"from_logits": True}),
    ("CategoricalCrossentropy", (_one_hot(LABELS), _softmax(LOGITS).astype(np.float32)), {}),
    ("SparseCategoricalCrossentropy", (LABELS, LOGITS), {"from_logits": True}),
    ("SparseCategoricalCrossentropy", (LABELS, _softmax(LOGITS).astype(np.float32)), {}),
    ("KLDivergence", (_softmax(LOGITS[::-1]).astype(np.float32),
                      _softmax(LOGITS).astype(np.float32)), {}),
    # (N,) targets against an (N, 1) output, as from a Dense(1)
    ("MeanSquaredError", (REGRESSION_TRUE[:, 0], REGRESSION_PRED[:, :1]), {}),
    ("BinaryCrossentropy", ((REGRESSION_TRUE[:, 0] > 0).astype(np.float32),
                            (1 / (1 + np.exp(-REGRESSION_PRED[:, :1]))).astype(np.float32)), {}),
])
def test_losses_match_keras(backend, name, args, kwargs):
    keras = keras_or_skip()
    ours, theirs = getattr(losses, name)(**kwargs), getattr(keras.losses, name)(**kwargs)
    y_true, y_pred = args
    _close(ours(y_true, engine.tensor(y_pred), WEIGHTS).item(),
           float(theirs(y_true, y_pred, sample_weight=WEIGHTS)), rtol=1e-5, atol=1e-6)
    ours_config = ours.get_config()
    assert {k: ours_config[k] for k in theirs.get_config()} == theirs.get_config()


@pytest.mark.parametrize("name, kwargs", [("Precision", {}), ("Recall", {}), ("AUC", {}),
                                          ("AUC", {"curve": "PR"}), ("BinaryAccuracy", {})])
def test_binary_metrics_match_keras(name, kwargs):
    keras = keras_or_skip()
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 2, size=(300, 1)).astype(np.float32)
    scores = rng.uniform(size=(300, 1)).astype(np.float32) * 0.6 + truth * 0.4
    ours, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    for part in (slice(0, 100), slice(100, 300)):
        ours.update_state(truth[part], scores[part], sample_weight=WEIGHTS[0] + truth[part, 0])
        theirs.update_state(truth[part], scores[part], sample_weight=WEIGHTS[0] + truth[part, 0])
    _close(ours.result(), float(theirs.result()), rtol=1e-5, atol=1e-6)
