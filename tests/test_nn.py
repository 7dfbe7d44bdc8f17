"""Softmax, batch norm, dropout, one-hot and cross-entropies against float64 formulas written
here, and gradients against finite differences."""
import numpy as np
import pytest

import engine
from tests.helpers import check_forward, check_gradients, random_array


def reference_log_softmax(x, axis=-1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


HUGE_LOGITS = np.array([[1000.0, 0.0, -1000.0], [1000.0, 1000.0, 999.0]], np.float32)


# ---------------------------------------------------------------------------- softmax

@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_and_log_softmax_match_formula(backend, axis):
    x = random_array((3, 4, 5), low=-3, high=3)
    check_forward(lambda t: engine.softmax(t, axis),
                  lambda a: np.exp(reference_log_softmax(a, axis)), [x], "transcendental")
    check_forward(lambda t: engine.log_softmax(t, axis),
                  lambda a: reference_log_softmax(a, axis), [x], "transcendental")


def test_softmax_is_stable_with_huge_logits(backend):
    check_forward(engine.softmax, lambda a: np.exp(reference_log_softmax(a)), [HUGE_LOGITS],
                  "transcendental")
    check_forward(engine.log_softmax, reference_log_softmax, [HUGE_LOGITS], "transcendental")


@pytest.mark.parametrize("shape", [(3, 4, 5), (7, 2), (1, 9)])
def test_numpy_softmax_split_over_the_cores_by_rows(monkeypatch, shape):
    """Row blocks on every core (any size split, here): the float64 formula, and each row the
    same to the bit as in one call."""
    from engine.kernels.numpy import nn

    x = random_array(shape, low=-3, high=3)
    whole = [nn.softmax(x, x.ndim - 1), nn.log_softmax(x, x.ndim - 1)]
    monkeypatch.setattr(nn, "SPLIT_VALUES", 1)
    split = [nn.softmax(x, x.ndim - 1), nn.log_softmax(x, x.ndim - 1)]
    np.testing.assert_allclose(split[0], np.exp(reference_log_softmax(x)), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(split[1], reference_log_softmax(x), rtol=1e-5, atol=1e-6)
    for got, want in zip(split, whole):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("op", [engine.softmax, engine.log_softmax])
def test_softmax_gradients(backend, op):
    check_gradients(lambda t: op(t, 0), [random_array((3, 4), low=-2, high=2)], backend)


# ---------------------------------------------------------------------------- cross-entropies

def test_softmax_cross_entropy_matches_formula_and_is_stable(backend):
    labels = random_array((2, 3), seed=3, low=0, high=1)
    labels /= labels.sum(axis=-1, keepdims=True)
    for logits in (random_array((2, 3), low=-3, high=3), HUGE_LOGITS):
        check_forward(engine.softmax_cross_entropy,
                      lambda z, x: -(z * reference_log_softmax(x)).sum(-1), [labels, logits],
                      "transcendental")


def test_softmax_cross_entropy_gradients_for_logits_and_labels(backend):
    labels = random_array((3, 4), seed=3, low=0, high=1)
    check_gradients(engine.softmax_cross_entropy, [labels, random_array((3, 4), low=-2, high=2)],
                    backend)


def test_sparse_softmax_cross_entropy_matches_formula_and_gradient(backend):
    labels = np.array([[0, 2], [1, 1]], np.int32)
    logits = random_array((2, 2, 3), low=-3, high=3)

    def reference(x):
        picked = np.take_along_axis(reference_log_softmax(x), labels[..., None], -1)[..., 0]
        return -picked

    check_forward(lambda x: engine.sparse_softmax_cross_entropy(labels, x), reference, [logits],
                  "transcendental")
    check_forward(lambda x: engine.sparse_softmax_cross_entropy(labels[0, :1], x),
                  lambda x: -reference_log_softmax(x)[[0], [0]], [HUGE_LOGITS[:1]],
                  "transcendental")
    check_gradients(lambda x: engine.sparse_softmax_cross_entropy(labels, x), [logits], backend)


def test_sigmoid_cross_entropy_matches_formula_and_is_stable(backend):
    labels = random_array((3, 4), seed=3, low=0, high=1)

    def reference(z, x):
        return np.logaddexp(0, x) - z * x  # -z log s(x) - (1 - z) log(1 - s(x))

    check_forward(engine.sigmoid_cross_entropy, reference,
                  [labels, random_array((3, 4), low=-4, high=4)], "transcendental")
    check_forward(engine.sigmoid_cross_entropy, reference, [labels[:2, :3], HUGE_LOGITS],
                  "transcendental")
    check_gradients(engine.sigmoid_cross_entropy, [labels, random_array((3, 4), low=-2, high=2)],
                    backend)


# ---------------------------------------------------------------------------- batch norm

def reference_batch_norm(x, mean, variance, offset, scale, epsilon=1e-3):
    return (x - mean) / np.sqrt(variance + epsilon) * scale + offset


def batch_norm_arrays():
    return [random_array((2, 3, 4)), random_array((4,), seed=1), random_array((4,), seed=2,
                                                                              low=0.5, high=2),
            random_array((4,), seed=3), random_array((4,), seed=4)]


def test_batch_norm_matches_formula(backend):
    check_forward(engine.batch_norm, reference_batch_norm, batch_norm_arrays(), "elementwise")


def test_batch_norm_defaults_offset_zero_scale_one(backend):
    x, mean, variance = batch_norm_arrays()[:3]
    check_forward(lambda *t: engine.batch_norm(*t, epsilon=0.01),
                  lambda *a: reference_batch_norm(*a, 0.0, 1.0, 0.01), [x, mean, variance],
                  "elementwise")


def test_batch_norm_gradients_for_all_five_inputs(backend):
    check_gradients(engine.batch_norm, batch_norm_arrays(), backend)


def test_batch_norm_rejects_statistics_of_the_wrong_shape(backend):
    with pytest.raises(ValueError, match=r"Error in batch_norm: variance must have shape "
                                         r"\(4,\) to match the last axis of x \(2, 4\)"):
        engine.batch_norm(np.zeros((2, 4), np.float32), np.zeros(4), np.ones(3))


# ---------------------------------------------------------------------------- one-hot

def test_one_hot_matches_identity_rows_and_ignores_out_of_range(backend):
    indices = np.array([[0, 3], [-1, 4]], np.int32)
    got = engine.one_hot(indices, 4, on_value=5, off_value=-2, dtype="int32")
    rows = np.vstack([np.eye(4), np.zeros((1, 4))])  # row 4: an index outside [0, 4)
    want = np.where(rows[np.where((indices >= 0) & (indices < 4), indices, 4)] == 1, 5, -2)
    assert got.dtype == "int32"
    np.testing.assert_array_equal(got.numpy(), want)


def test_one_hot_rejects_float_indices(backend):
    with pytest.raises(TypeError, match="Error in one_hot: indices must be int32 or int64"):
        engine.one_hot(np.array([0.0, 1.0]), 3)


# ---------------------------------------------------------------------------- dropout

def test_dropout_rate_zero_is_identity(backend):
    x = engine.tensor(random_array((3, 4)))
    np.testing.assert_array_equal(engine.dropout(x, 0.0).numpy(), x.numpy())


def test_dropout_scales_kept_values_and_preserves_the_mean(backend):
    x = random_array((200, 100), low=1, high=2)
    y = engine.dropout(x, 0.3, seed=7).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / 0.7, rtol=1e-6)
    assert abs(kept.mean() - 0.7) < 0.01  # 20,000 draws: three standard deviations is 0.0097
    assert abs(y.mean() / x.mean() - 1) < 0.03


def test_dropout_same_seed_same_mask_and_noise_shape_shares_it(backend):
    x = engine.ones((64, 8))
    first, second = engine.dropout(x, 0.5, seed=11), engine.dropout(x, 0.5, seed=11)
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    shared = engine.dropout(x, 0.5, seed=11, noise_shape=(64, 1)).numpy()
    assert (shared == shared[:, :1]).all() and 0 < (shared[:, 0] != 0).mean() < 1


def test_dropout_gradient_is_the_scaled_mask(backend):
    x = engine.tensor(random_array((16, 8)))
    with engine.GradientTape() as tape:
        tape.watch(x)
        y = engine.dropout(x, 0.25, seed=3)
        loss = engine.sum(y)
    grad = tape.gradient(loss, x).numpy()
    np.testing.assert_allclose(grad, (y.numpy() != 0) / 0.75, rtol=1e-6)


def test_dropout_rejects_a_rate_of_one(backend):
    with pytest.raises(ValueError, match=r"Error in dropout: rate must be in \[0, 1\), got 1"):
        engine.dropout(engine.ones((2,)), 1)
