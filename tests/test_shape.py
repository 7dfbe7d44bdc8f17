"""Shape and movement ops against NumPy, their gradients against finite differences, errors."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from tests.helpers import check_forward, check_gradients, random_array

X234 = random_array((2, 3, 4))


# ---------------------------------------------------------------------------- forward

@pytest.mark.parametrize("shape", [(4, 6), (6, -1), (-1,), (2, 2, 3, 2), (24, 1)])
def test_reshape_matches_numpy(backend, shape):
    check_forward(lambda x: engine.reshape(x, shape), lambda x: x.reshape(shape), [X234],
                  "exact")


@pytest.mark.parametrize("perm", [None, (0, 2, 1), (2, 0, 1), (1, 0, 2)])
def test_transpose_matches_numpy(backend, perm):
    check_forward(lambda x: engine.transpose(x, perm), lambda x: np.transpose(x, perm), [X234],
                  "exact")


@pytest.mark.parametrize("axis", [0, 1, 3, -1, -4])
def test_expand_dims_matches_numpy(backend, axis):
    check_forward(lambda x: engine.expand_dims(x, axis), lambda x: np.expand_dims(x, axis),
                  [X234], "exact")


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)])
def test_squeeze_matches_numpy(backend, axis):
    x = random_array((1, 3, 1))
    check_forward(lambda t: engine.squeeze(t, axis), lambda a: np.squeeze(a, axis), [x],
                  "exact")


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat_matches_numpy(backend, axis):
    shapes = [[(1, 3, 4), (2, 3, 4), (3, 3, 4)], [(2, 1, 4), (2, 3, 4), (2, 0, 4)],
              [(2, 3, 1), (2, 3, 4), (2, 3, 2)]][axis if axis >= 0 else 2]
    arrays = [random_array(s, seed=i) for i, s in enumerate(shapes)]
    check_forward(lambda *ts: engine.concat(list(ts), axis),
                  lambda *a: np.concatenate(a, axis), arrays, "exact")


@pytest.mark.parametrize("axis", [0, 2, -1])
def test_stack_matches_numpy(backend, axis):
    arrays = [random_array((2, 3), seed=i) for i in range(3)]
    check_forward(lambda *ts: engine.stack(list(ts), axis), lambda *a: np.stack(a, axis),
                  arrays, "exact")


def test_split_into_equal_parts_matches_numpy(backend):
    x = random_array((2, 6, 3))
    check_forward(lambda t: engine.split(t, 3, axis=1), lambda a: np.split(a, 3, axis=1), [x],
                  "exact")


def test_split_by_sizes_fills_the_minus_one(backend):
    x = random_array((7, 2))
    parts = check_forward(lambda t: engine.split(t, [2, -1, 0, 1]),
                          lambda a: [a[:2], a[2:6], a[6:6], a[6:]], [x], "exact")
    assert [p.shape for p in parts] == [(2, 2), (4, 2), (0, 2), (1, 2)]


@pytest.mark.parametrize("begin,size,key", [
    ((0, 1, 2), (2, 2, 2), np.s_[0:2, 1:3, 2:4]),
    ((1, 0, 1), (-1, -1, 2), np.s_[1:, :, 1:3]),
    ((1,), (1,), np.s_[1:2]),
    ((0, 3, 0), (2, 0, 4), np.s_[:, 3:3]),
])
def test_slice_matches_numpy(backend, begin, size, key):
    check_forward(lambda x: engine.slice(x, begin, size), lambda x: x[key], [X234], "exact")


@pytest.mark.parametrize("mode", ["constant", "reflect", "symmetric"])
def test_pad_matches_numpy(backend, mode):
    paddings = [(1, 0), (0, 2), (3, 1)]
    check_forward(lambda x: engine.pad(x, paddings, mode),
                  lambda x: np.pad(x, paddings, mode=mode), [X234], "exact")


def test_pad_constant_value_and_full_mirror_width(backend):
    x = random_array((3, 4))
    check_forward(lambda t: engine.pad(t, [(2, 2), (1, 0)], constant_values=-5.5),
                  lambda a: np.pad(a, [(2, 2), (1, 0)], constant_values=-5.5), [x], "exact")
    check_forward(lambda t: engine.pad(t, [(3, 3), (4, 4)], "symmetric"),
                  lambda a: np.pad(a, [(3, 3), (4, 4)], mode="symmetric"), [x], "exact")
    check_forward(lambda t: engine.pad(t, [(2, 2), (3, 3)], "reflect"),
                  lambda a: np.pad(a, [(2, 2), (3, 3)], mode="reflect"), [x], "exact")


def test_pad_keeps_integer_dtype(backend):
    y = engine.pad(engine.tensor([[1, 2], [3, 4]]), [(1, 0), (0, 1)], constant_values=7)
    assert y.dtype == "int32"
    np.testing.assert_array_equal(y.numpy(), [[7, 7, 7], [1, 2, 7], [3, 4, 7]])


@pytest.mark.parametrize("reps", [(1, 1, 1), (2, 1, 3), (1, 0, 2)])
def test_tile_matches_numpy(backend, reps):
    check_forward(lambda x: engine.tile(x, reps), lambda x: np.tile(x, reps), [X234], "exact")


@pytest.mark.parametrize("indices,axis", [
    ([2, 0, 2, 1], 1), ([[0, 1], [1, 1]], 0), (np.array([-1, 0]), -1), (3, 2), ([], 1)])
def test_gather_matches_numpy_take(backend, indices, axis):
    check_forward(lambda x: engine.gather(x, indices, axis),
                  lambda x: np.take(x, np.asarray(indices, dtype=np.int64), axis), [X234],
                  "exact")


def test_gather_takes_integer_tensor_indices(backend):
    x = engine.tensor(np.arange(12).reshape(4, 3))
    for dtype in ("int32", "int64"):
        y = engine.gather(x, engine.tensor([3, 0, 3], dtype=dtype))
        np.testing.assert_array_equal(y.numpy(), np.arange(12).reshape(4, 3)[[3, 0, 3]])


@pytest.mark.parametrize("axis", [0, (1, 2), -1, None])
def test_reverse_matches_numpy(backend, axis):
    check_forward(lambda x: engine.reverse(x, axis), lambda x: np.flip(x, axis), [X234],
                  "exact")


def test_unsorted_segment_sum_adds_rows_sharing_an_id(backend):
    data = random_array((2, 3, 4))
    ids = np.array([[0, 4, 0], [2, 2, 0]])

    def reference(d):
        out = np.zeros((5, 4))
        for i in range(2):
            for j in range(3):
                out[ids[i, j]] += d[i, j]
        return out

    check_forward(lambda d: engine.unsorted_segment_sum(d, ids, 5), reference, [data],
                  "reduction")


def test_segment_sum_kernel_drops_device_ids_out_of_range(backend):
    data = random_array((4, 2))
    ids = engine.tensor([0, -1, 5, 0])
    got = engine.dispatch.run_kernel("UnsortedSegmentSum", (engine.tensor(data), ids),
                                     num_segments=3)
    want = np.zeros((3, 2))
    want[0] = data[0].astype(np.float64) + data[3]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)


def test_broadcast_to_matches_numpy(backend):
    x = random_array((3, 1))
    check_forward(lambda t: engine.broadcast_to(t, (2, 3, 4)),
                  lambda a: np.broadcast_to(a, (2, 3, 4)), [x], "exact")


# ---------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("fn", [
    lambda x: engine.transpose(x, (2, 0, 1)),
    lambda x: engine.squeeze(engine.expand_dims(x, 1), 1),
    lambda x: engine.slice(x, (1, 0, 1), (1, -1, 2)),
    lambda x: engine.tile(x, (2, 1, 2)),
    lambda x: engine.reverse(x, (0, 2)),
    lambda x: engine.gather(x, [[3, 0], [3, 3]], axis=2),
    lambda x: engine.gather(x, 1, axis=1),
    lambda x: engine.broadcast_to(x, (2, 2, 3, 4)),
    lambda x: engine.concat(engine.split(x, [1, -1, 1], axis=2)[::-1], axis=2),
], ids=["transpose", "expand_squeeze", "slice", "tile", "reverse", "gather", "gather_scalar",
        "broadcast_to", "split_concat"])
def test_gradients_match_finite_differences(backend, fn):
    check_gradients(fn, [X234], backend)


@pytest.mark.parametrize("mode", ["constant", "reflect", "symmetric"])
def test_pad_gradient(backend, mode):
    check_gradients(lambda x: engine.pad(x, [(2, 1), (0, 3)], mode), [random_array((3, 4))],
                    backend)


def test_concat_and_stack_gradients_reach_every_input(backend):
    arrays = [random_array((2, 3), seed=1), random_array((2, 1), seed=2)]
    check_gradients(lambda a, b: engine.concat([a, b], 1), arrays, backend)
    arrays = [random_array((2, 3), seed=1), random_array((2, 3), seed=2)]
    check_gradients(lambda a, b: engine.stack([a, b], 1), arrays, backend)


def test_unsorted_segment_sum_gradient(backend):
    ids = [1, 0, 1, 3]
    check_gradients(lambda d: engine.unsorted_segment_sum(d, ids, 4), [random_array((4, 2))],
                    backend)


# ---------------------------------------------------------------------------- properties

@st.composite
def _shape_and_regrouping(draw):
    factors = draw(st.lists(st.integers(1, 4), min_size=1, max_size=5))
    shape = tuple(factors[:draw(st.integers(1, len(factors)))])
    regrouped = list(draw(st.permutations(factors)))
    # merge neighbours at random to get a different shape of the same size
    merged = [regrouped[0]]
    for f in regrouped[1:]:
        if draw(st.booleans()):
            merged[-1] *= f
        else:
            merged.append(f)
    size = int(np.prod(factors))
    return shape + (size // int(np.prod(shape)),), tuple(merged)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_shape_and_regrouping())
def test_random_reshape_matches_numpy(backend, shapes):
    source, target = shapes
    x = random_array(source)
    np.testing.assert_array_equal(engine.reshape(engine.tensor(x), target).numpy(),
                                  x.reshape(target))


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, 3), min_size=0, max_size=4).flatmap(
    lambda shape: st.tuples(st.just(tuple(shape)), st.permutations(range(len(shape))))))
def test_random_transpose_matches_numpy(backend, shape_and_perm):
    shape, perm = shape_and_perm
    x = random_array(shape)
    np.testing.assert_array_equal(engine.transpose(engine.tensor(x), perm).numpy(),
                                  np.transpose(x, perm))


# ---------------------------------------------------------------------------- errors

def test_transpose_rejects_a_bad_perm(backend):
    with pytest.raises(ValueError, match=r"Error in transpose: perm \(0, 0, 1\) is not a "
                                         r"permutation of the axes of a tensor with shape "
                                         r"\(2, 3, 4\); expected an ordering of \(0, 1, 2\)"):
        engine.transpose(engine.tensor(X234), (0, 0, 1))


def test_concat_names_both_mismatched_shapes(backend):
    with pytest.raises(ValueError, match=r"Error in concat: tensors with shapes \(2, 3\) and "
                                         r"\(2, 4\) must match in every dimension except axis 0"):
        engine.concat([engine.zeros((2, 3)), engine.zeros((2, 4))], 0)
    with pytest.raises(TypeError, match="Error in concat: tensors have different dtypes "
                                        "float32 and int32"):
        engine.concat([engine.zeros((2,)), engine.zeros((2,), "int32")])


def test_reshape_size_mismatch_names_shapes(backend):
    with pytest.raises(ValueError, match=r"Error in reshape: cannot reshape a tensor of shape "
                                         r"\(2, 3, 4\) \(24 elements\) into \(5, 5\)"):
        engine.reshape(engine.tensor(X234), (5, 5))


@pytest.mark.parametrize("call,error,message", [
    (lambda x: engine.split(x, 5, axis=2), ValueError,
     r"Error in split: cannot split axis 2 of a tensor with shape \(2, 3, 4\) into 5 equal"),
    (lambda x: engine.split(x, [1, 1], axis=1), ValueError,
     r"Error in split: sizes \(1, 1\) do not split axis 1"),
    (lambda x: engine.slice(x, (1, 0, 0), (2, -1, -1)), ValueError,
     r"Error in slice: .* axis 0 needs 0 <= begin <= begin \+ size <= 2"),
    (lambda x: engine.pad(x, [(0, 0), (3, 0), (0, 0)], "reflect"), ValueError,
     r"Error in pad: reflect padding \(3, 0\) of axis 1 must be less than its size 3"),
    (lambda x: engine.pad(x, [(0, 0), (0, 0)]), ValueError,
     r"Error in pad: paddings .* expected 3 pairs"),
    (lambda x: engine.pad(x, [(0, 0)] * 3, "wrap"), ValueError, r"Error in pad: unknown mode"),
    (lambda x: engine.tile(x, (2, 2)), ValueError, r"Error in tile: reps \(2, 2\) do not fit"),
    (lambda x: engine.gather(x, [0, 3], axis=1), IndexError,
     r"Error in gather: index 3 is out of range for axis 1 of size 3"),
    (lambda x: engine.gather(x, [0.5]), TypeError, r"Error in gather: indices must be integers"),
    (lambda x: engine.squeeze(x, 1), ValueError,
     r"Error in squeeze: cannot squeeze axis 1 of a tensor with shape \(2, 3, 4\)"),
    (lambda x: engine.expand_dims(x, 4), ValueError,
     r"Error in expand_dims: axis 4 is out of range"),
    (lambda x: engine.stack([x, x[0]]), ValueError,
     r"Error in stack: tensors with shapes \(2, 3, 4\) and \(3, 4\) must have the same shape"),
    (lambda x: engine.unsorted_segment_sum(x, [0, 1], 1), IndexError,
     r"Error in unsorted_segment_sum: index 1 is out of range"),
    (lambda x: engine.unsorted_segment_sum(x, [0, 1, 2], 3), ValueError,
     r"segment_ids of shape \(3,\) must match the leading axes of data with shape \(2, 3, 4\)"),
])
def test_invalid_arguments_raise_named_errors(backend, call, error, message):
    with pytest.raises(error, match=message):
        call(engine.tensor(X234))
