"""x[key] against NumPy's x[key], its gradients against finite differences, and its errors."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.dispatch import run_kernel
from tests.helpers import check_forward, check_gradients, random_array

X234 = random_array((2, 3, 4))

KEYS = [
    1, -1, (0, 1), (-1, -2, -3), np.int64(1), (),
    np.s_[:], np.s_[1:], np.s_[::-1], np.s_[::-2], np.s_[:, 2:0:-1], np.s_[:, ::2, 1::2],
    np.s_[..., 0], np.s_[0, ...], np.s_[..., ::-3], np.s_[1, ..., 2],
    np.s_[None], np.s_[None, 0, None], np.s_[..., None], np.s_[:, None, :, None],
    np.s_[5:10], np.s_[1:1], np.s_[:, 3:0], np.s_[-100:100, ::-1, -100:100:3],
    np.s_[:, :, 3:0:-1], np.s_[0, -1, ::-1], np.s_[-5::-1], np.s_[:, :-9:-1, 9::-2],
    np.s_[[1, 0, 1]], np.s_[[1, 0, 1], ::-1], np.s_[:, [0, 2, 2]], np.s_[..., [-1, 0]],
    np.s_[0, :, [1, 3]], np.s_[:, 0, [1, 3]], np.s_[0, None, [1, 2]], np.s_[None, 0, [1, 2]],
    np.s_[::-1, None, [2, 0]], np.s_[:, 0, ..., [0, 2]], (np.array([[0, 1], [1, 0]]),),
    np.s_[[]], np.s_[:, [0], 1:3],
]


@pytest.mark.parametrize("key", KEYS, ids=[str(k) for k in KEYS])
def test_getitem_matches_numpy(backend, key):
    check_forward(lambda x: x[key], lambda x: x[key], [X234], "exact")


def test_integer_tensor_index_gathers(backend):
    x = engine.tensor(X234)
    for dtype in ("int32", "int64"):
        np.testing.assert_array_equal(x[:, engine.tensor([2, 0], dtype=dtype)].numpy(),
                                      X234[:, [2, 0]])


def test_integer_dtype_and_iteration(backend):
    data = np.arange(12, dtype=np.int32).reshape(3, 4)
    x = engine.tensor(data)
    assert x[1, ::-2].dtype == "int32"
    np.testing.assert_array_equal(x[1, ::-2].numpy(), data[1, ::-2])
    np.testing.assert_array_equal([row.numpy() for row in x], list(data))


@pytest.mark.parametrize("key", [
    np.s_[1], np.s_[:, ::-2, 1:], np.s_[..., ::-3], np.s_[0, None, 1:3],
    np.s_[:, [0, 2, 2, 0]], np.s_[0, :, [3, 1, 3]], np.s_[::-1, 1:2, [[0], [0]]],
], ids=str)
def test_getitem_gradients(backend, key):
    check_gradients(lambda x: x[key], [X234], backend)


def test_strided_slice_grad_has_a_gradient(backend):
    attrs = dict(shape=(5, 4), begin=(4, 0), end=(-1, 4), strides=(-2, 3))
    dy = random_array((3, 2))
    check_gradients(lambda t: run_kernel("StridedSliceGrad", (t,), **attrs), [dy], backend)


_AXIS_KEY = st.one_of(
    st.integers(-4, 3),
    st.builds(slice, st.none() | st.integers(-6, 6), st.none() | st.integers(-6, 6),
              st.none() | st.integers(-3, 3).filter(bool)),
)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_AXIS_KEY | st.none() | st.just(Ellipsis), max_size=4),
       st.none() | st.tuples(st.integers(0, 4), st.lists(st.integers(-3, 2), max_size=3)))
def test_random_keys_match_numpy(backend, key, array_index):
    if array_index is not None:  # one integer list inserted somewhere in the key
        position, indices = array_index
        key.insert(min(position, len(key)), indices)
    key = tuple(key)
    x = random_array((3, 4, 4))  # drawn keys may be invalid: then both must refuse
    try:
        want = x[key]
    except IndexError:
        with pytest.raises(IndexError, match="Error in getitem"):
            engine.tensor(x)[key]
        return
    np.testing.assert_array_equal(engine.tensor(x)[key].numpy(), want)


@pytest.mark.parametrize("key,error,message", [
    (np.s_[2], IndexError,
     r"Error in getitem: index 2 is out of range for axis 0 with size 2 "
     r"\(tensor shape \(2, 3, 4\)\)"),
    (np.s_[:, -4], IndexError, r"index -4 is out of range for axis 1 with size 3"),
    (np.s_[0, 0, 0, 0], IndexError,
     r"Error in getitem: too many indices for a tensor with shape \(2, 3, 4\)"),
    (np.s_[..., 0, ...], IndexError, r"single ellipsis"),
    (np.s_[:, [0, 3]], IndexError,
     r"Error in getitem: index 3 is out of range for axis 1 of size 3"),
    (np.s_[::0], ValueError, r"Error in getitem: slice step cannot be zero"),
    (np.s_[[True, False]], TypeError, r"boolean indexing is not supported.*engine.where"),
    (np.s_[True], TypeError, r"boolean indexing is not supported"),
    (np.s_[[0], :, [1]], TypeError, r"only one integer-array index"),
    (np.s_[1.5], TypeError, r"Error in getitem: unsupported index 1.5 of type float"),
    (np.s_[:, [0.5]], TypeError, r"Error in getitem: indices must be integers"),
])
def test_bad_keys_raise_named_errors(backend, key, error, message):
    with pytest.raises(error, match=message):
        engine.tensor(X234)[key]


def test_boolean_tensor_mask_is_refused(backend):
    x = engine.tensor(X234)
    with pytest.raises(TypeError, match="boolean indexing is not supported"):
        x[x > 0]
