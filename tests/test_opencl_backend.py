"""What is particular to the opencl backend: why it cannot start, no host transfers in a
training step, the program cache, GEMM at ragged sizes, and every opencl kernel against the
numpy kernel of the same op on random inputs.

The op conformance suite runs on opencl through the `backend` fixture; these tests skip with
the backend's reason where no OpenCL device can start.
"""
import numpy as np
import pytest

import engine
from engine import runtime
from engine.backends import opencl_backend
from engine.kernel_names import BINARY, OPS, UNARY
from engine.registry import get_kernel

_ROW = next(row for row in engine.list_backends() if row["name"] == "opencl")
pytestmark = pytest.mark.skipif(not _ROW["available"], reason=f"opencl: {_ROW['reason']}")


@pytest.fixture
def on_opencl():
    previous = runtime._state["current"]
    engine.set_backend("opencl")
    yield runtime.backend("opencl")
    runtime._state["current"] = previous


def test_reports_missing_pyopencl_with_the_install_hint(monkeypatch):
    monkeypatch.setattr(opencl_backend, "cl", None)
    with pytest.raises(runtime.BackendUnavailable,
                       match=r"pyopencl not installed: pip install engine\[opencl\]"):
        opencl_backend.OpenCLBackend()


def test_describes_device_and_lists_dtypes(on_opencl):
    assert on_opencl.device.name.strip() in on_opencl.describe()
    assert "float32" in on_opencl.dtypes and "int32" in on_opencl.dtypes
    has_fp64 = "cl_khr_fp64" in on_opencl.device.extensions
    assert ("float64" in on_opencl.dtypes) == has_fp64


def _small_cnn_loss(x, labels, filters, weights):
    hidden = engine.max_pool2d(engine.relu(engine.conv2d(x, filters, padding="same")), 2)
    logits = engine.matmul(engine.reshape(hidden, (x.shape[0], -1)), weights)
    return engine.mean(engine.sparse_softmax_cross_entropy(labels, logits))


def test_cnn_training_step_reads_only_the_loss_from_the_device(on_opencl):
    rng = np.random.default_rng(0)
    x = engine.tensor(rng.normal(size=(4, 12, 12, 3)).astype(np.float32))
    labels = engine.tensor(rng.integers(0, 10, size=4).astype(np.int32))
    filters = engine.tensor(rng.normal(size=(3, 3, 3, 4)).astype(np.float32) * 0.3)
    weights = engine.tensor(rng.normal(size=(6 * 6 * 4, 10)).astype(np.float32) * 0.1)
    step = engine.value_and_grad(_small_cnn_loss, argnums=(2, 3))
    step(x, labels, filters, weights)  # warm-up: builds programs, caches scalar constants
    on_opencl.transfers.update(host_to_device=0, device_to_host=0)
    loss, grads = step(x, labels, filters, weights)
    assert on_opencl.transfers == {"host_to_device": 0, "device_to_host": 0}
    assert np.isfinite(loss.item())
    assert on_opencl.transfers == {"host_to_device": 0, "device_to_host": 1}
    assert [g.shape for g in grads] == [filters.shape, weights.shape]
    assert engine.memory()["opencl"]["pool_managed_bytes"] > 0


def test_programs_are_built_once(on_opencl):
    from engine.kernels.opencl import program

    x = engine.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    engine.exp(x * 3.0 + 1.0)
    builds = program.stats["builds"]
    engine.exp(engine.tensor(np.ones((4, 5), np.float32)) * 2.0 + 7.0)
    assert program.stats["builds"] == builds


def test_reshape_of_a_contiguous_tensor_is_a_view(on_opencl):
    x = engine.tensor(np.arange(12, dtype=np.float32))
    y = engine.reshape(x, (3, 4))
    assert y.native.data is x.native.data


@pytest.mark.parametrize("m, k, n", [(1, 1, 1), (17, 100, 513), (513, 17, 100), (100, 513, 17),
                                     (40, 33, 70)])
@pytest.mark.parametrize("transpose_a, transpose_b", [(False, False), (True, False),
                                                      (False, True), (True, True)])
def test_gemm_at_ragged_sizes_matches_float64(on_opencl, m, k, n, transpose_a, transpose_b):
    rng = np.random.default_rng(m * 7 + n)
    a = rng.normal(size=(2, k, m) if transpose_a else (2, m, k)).astype(np.float32)
    b = rng.normal(size=(1, n, k) if transpose_b else (1, k, n)).astype(np.float32)
    got = on_opencl.to_host(get_kernel("BatchMatMul", "opencl")(
        on_opencl.from_host(a), on_opencl.from_host(b), transpose_a, transpose_b))
    a64 = a.astype(np.float64).transpose(0, 2, 1) if transpose_a else a.astype(np.float64)
    b64 = b.astype(np.float64).transpose(0, 2, 1) if transpose_b else b.astype(np.float64)
    np.testing.assert_allclose(got, a64 @ b64, rtol=1e-4, atol=1e-4 * np.sqrt(k))


# ----------------------------------------------------------------- kernel parity with numpy

_RNG = np.random.default_rng(42)


def _normal(*shape):
    return _RNG.normal(size=shape).astype(np.float32)


def _positive(*shape):
    return _RNG.uniform(0.5, 2.0, size=shape).astype(np.float32)


_CONV = dict(strides=(2, 1), padding=((1, 0), (1, 1)), dilations=(1, 2))
_POOL = dict(pool_size=(3, 2), strides=(2, 1), padding=((1, 1), (0, 1)))
_X = _normal(2, 7, 6, 3)


def _pool_inputs():
    x = np.round(_X * 2)  # ties, so the first-maximum rule matters
    y = get_kernel("MaxPool", "numpy")(x, **_POOL)
    return [x, y, _normal(*y.shape)], _POOL


def _conv_dy(op, filter_shape):
    forward = "Conv2D" if op.startswith("Conv") else "DepthwiseConv2dNative"
    y = get_kernel(forward, "numpy")(_X, np.zeros(filter_shape, np.float32), **_CONV)
    return _normal(*y.shape)


# op -> () -> (input arrays, attrs); unary and binary ops are added below.
INPUTS = {
    "LeakyRelu": lambda: ([_normal(3, 4)], dict(alpha=0.2)),
    "Gelu": lambda: ([_normal(3, 4)], dict(approximate=True)),
    "Cast": lambda: ([_normal(3, 4) * 5], dict(dtype="int32")),
    "ClipByValue": lambda: ([_normal(3, 4)], dict(clip_min=-0.5, clip_max=0.5)),
    "Select": lambda: ([_normal(3, 1) > 0, _normal(1, 4), _normal(3, 4)], {}),
    **{op: (lambda: ([_normal(3, 4, 5)], dict(axis=(0, 2), keepdims=False)))
       for op in ("Sum", "Mean", "Prod", "Max", "Min")},
    **{op: (lambda: ([_normal(3, 4, 5) > 0], dict(axis=(1,), keepdims=True)))
       for op in ("All", "Any")},
    "ArgMax": lambda: ([np.round(_normal(3, 4, 5))], dict(axis=1)),
    "ArgMin": lambda: ([np.round(_normal(3, 4, 5))], dict(axis=2)),
    "Cumsum": lambda: ([_normal(3, 4, 5)], dict(axis=1, exclusive=True, reverse=True)),
    "BatchMatMul": lambda: ([_normal(1, 5, 9), _normal(3, 7, 9)],
                            dict(transpose_a=False, transpose_b=True)),
    "Conv2D": lambda: ([_X, _normal(3, 2, 3, 4)], _CONV),
    "Conv2DBackpropFilter": lambda: ([_X, _conv_dy("Conv", (3, 2, 3, 4))],
                                     dict(filter_shape=(3, 2, 3, 4), **_CONV)),
    "Conv2DBackpropInput": lambda: ([_conv_dy("Conv", (3, 2, 3, 4)), _normal(3, 2, 3, 4)],
                                    dict(input_shape=_X.shape, **_CONV)),
    "Conv2DBackprop": lambda: ([_X, _conv_dy("Conv", (3, 2, 3, 4)), _normal(3, 2, 3, 4)],
                               _CONV),
    "DepthwiseConv2dNative": lambda: ([_X, _normal(3, 2, 3, 2)], _CONV),
    "DepthwiseConv2dNativeBackpropFilter": lambda: (
        [_X, _conv_dy("Depthwise", (3, 2, 3, 2))], dict(filter_shape=(3, 2, 3, 2), **_CONV)),
    "DepthwiseConv2dNativeBackpropInput": lambda: (
        [_conv_dy("Depthwise", (3, 2, 3, 2)), _normal(3, 2, 3, 2)],
        dict(input_shape=_X.shape, **_CONV)),
    "MaxPool": lambda: ([np.round(_X * 2)], _POOL),
    "MaxPoolGrad": _pool_inputs,
    "AvgPool": lambda: ([_X], _POOL),
    "AvgPoolGrad": lambda: ([_normal(2, 4, 6, 3)], dict(input_shape=_X.shape, **_POOL)),
    "Softmax": lambda: ([_normal(3, 4, 5)], dict(axis=1)),
    "LogSoftmax": lambda: ([_normal(3, 4, 5)], dict(axis=2)),
    "BatchNorm": lambda: ([_normal(3, 4, 5), _normal(5), _positive(5), _normal(5),
                           _positive(5)], dict(epsilon=1e-3)),
    "SoftmaxCrossEntropy": lambda: ([_normal(3, 4, 5), _positive(3, 4, 5)], {}),
    "SparseSoftmaxCrossEntropy": lambda: ([_normal(3, 5), np.array([0, 4, 7], np.int32)], {}),
    "OneHot": lambda: ([np.array([[0, 3], [5, -1]], np.int32)],
                       dict(depth=4, on_value=2.0, off_value=-1.0, dtype="float32")),
    "Reshape": lambda: ([_normal(3, 4)], dict(shape=(2, 6))),
    "Transpose": lambda: ([_normal(2, 3, 4)], dict(perm=(2, 0, 1))),
    "Concat": lambda: ([_normal(2, 3), _normal(2, 1), _normal(2, 4)], dict(axis=1)),
    "Slice": lambda: ([_normal(4, 5)], dict(begin=(1, 2), size=(2, 3))),
    "Split": lambda: ([_normal(3, 6, 2)], dict(axis=1, sizes=(2, 0, 3, 1))),
    "StridedSlice": lambda: ([_normal(5, 6)], dict(begin=(4, 1), end=(-1, 6), strides=(-2, 2))),
    "StridedSliceGrad": lambda: ([_normal(3, 3)], dict(shape=(5, 6), begin=(4, 1), end=(-1, 6),
                                                      strides=(-2, 2))),
    "Pad": lambda: ([_normal(2, 3)], dict(paddings=((1, 0), (2, 1)), constant_value=0.5)),
    "Tile": lambda: ([_normal(2, 3)], dict(reps=(2, 3))),
    "BroadcastTo": lambda: ([_normal(1, 3)], dict(shape=(4, 3))),
    "Reverse": lambda: ([_normal(3, 4, 2)], dict(axis=(0, 2))),
    "GatherV2": lambda: ([_normal(4, 5, 2), np.array([[4, 0], [2, 2]], np.int32)],
                         dict(axis=1)),
    "UnsortedSegmentSum": lambda: ([_normal(6, 3), np.array([0, 2, 2, 0, 1, 2], np.int32)],
                                   dict(num_segments=4)),
    "Fill": lambda: ([], dict(shape=(2, 3), value=1.5, dtype="float32")),
    "Range": lambda: ([], dict(start=-1.0, delta=0.25, size=7, dtype="float32")),
    "RandomUniform": lambda: ([], dict(shape=(50, 3), seed=7, minval=-2.0, maxval=3.0,
                                       dtype="float32")),
    "RandomNormal": lambda: ([], dict(shape=(50, 3), seed=7, mean=1.0, stddev=2.0,
                                      dtype="float32")),
    "TruncatedNormal": lambda: ([], dict(shape=(50, 3), seed=7, mean=1.0, stddev=2.0,
                                         dtype="float32")),
    "ApplyAdam": lambda: ([_normal(3, 5), _normal(3, 5), _normal(3, 5), _positive(3, 5)],
                         dict(alpha=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-7)),
    "ApplyMomentum": lambda: ([_normal(7), _normal(7), _normal(7)],
                             dict(learning_rate=0.1, momentum=0.9, nesterov=True)),
    "ApplyRMSProp": lambda: ([_normal(7), _normal(7), _positive(7)],
                            dict(learning_rate=0.01, rho=0.9, epsilon=1e-7)),
    "FusedMatMul": lambda: ([_normal(9, 5), _normal(7, 9), _normal(7)],
                            dict(transpose_a=True, transpose_b=True, activation="relu")),
    "FusedConv2D": lambda: ([_X, _normal(3, 2, 3, 4), _normal(4)],
                            dict(activation="relu", **_CONV)),
    "ReluGrad": lambda: ([_normal(3, 4), np.maximum(_normal(3, 4), 0)], {}),
    "SigmoidGrad": lambda: ([_normal(3, 4), 1 / (1 + np.exp(-_normal(3, 4)))], {}),
    "TanhGrad": lambda: ([_normal(3, 4), np.tanh(_normal(3, 4))], {}),
}
_BOOLEAN = {"LogicalNot", "LogicalAnd", "LogicalOr"}
_NEEDS_POSITIVE = {"Log", "Log1p", "Sqrt", "Rsqrt", "Pow"}
for _op in UNARY:
    INPUTS[_op] = (lambda op=_op: ([_normal(3, 4) > 0] if op in _BOOLEAN else
                                   [_positive(3, 4) if op in _NEEDS_POSITIVE else
                                    _normal(3, 4) * 3], {}))
for _op in BINARY:
    INPUTS[_op] = (lambda op=_op: ([_normal(3, 1) > 0, _normal(4) > 0] if op in _BOOLEAN else
                                   [_positive(3, 1) if op in _NEEDS_POSITIVE else
                                    np.round(_normal(3, 1) * 3), np.round(_normal(4) * 3) + 0.5],
                                   {}))


def test_input_table_covers_every_op():
    assert set(INPUTS) == set(OPS)


@pytest.mark.parametrize("op", sorted(OPS))
def test_kernel_agrees_with_numpy(on_opencl, op):
    arrays, attrs = INPUTS[op]()
    wants = get_kernel(op, "numpy")(*arrays, **attrs)
    gots = get_kernel(op, "opencl")(*[on_opencl.from_host(a) for a in arrays], **attrs)
    if type(wants) is not tuple:  # optimizer updates have several outputs
        wants, gots = (wants,), (gots,)
    assert len(gots) == len(wants)
    for got, want in zip(gots, wants):
        got = on_opencl.to_host(got)
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, equal_nan=True)


def test_cast_to_bool_tests_for_nonzero(on_opencl):
    values = np.array([0, 1, 256, -512], np.int32)
    got = get_kernel("Cast", "opencl")(on_opencl.from_host(values), dtype="bool")
    np.testing.assert_array_equal(on_opencl.to_host(got), values != 0)


@pytest.mark.parametrize("op, reference", [("Sum", np.sum), ("Mean", np.mean), ("Max", np.max)])
def test_long_reductions_run_in_chunks_and_match_float64(on_opencl, op, reference):
    x = np.random.default_rng(3).uniform(-1, 1, size=(3, 70001)).astype(np.float32)
    for axis in ((1,), (0, 1)):
        got = get_kernel(op, "opencl")(on_opencl.from_host(x), axis=axis, keepdims=False)
        np.testing.assert_allclose(on_opencl.to_host(got), reference(x.astype(np.float64), axis=axis),
                                   rtol=1e-5, atol=1e-4)


def test_dlpack_raises_a_clear_error(on_opencl):
    x = engine.tensor([1.0, 2.0])
    with pytest.raises(NotImplementedError, match="opencl backend: .*DLPack"):
        x.__dlpack__()


@pytest.mark.parametrize("op, attrs", [("RandomUniform", dict(minval=-2.0, maxval=3.0)),
                                       ("RandomNormal", dict(mean=1.0, stddev=2.0)),
                                       ("TruncatedNormal", dict(mean=1.0, stddev=2.0))])
def test_float16_random_draws_match_numpy_without_fp16_arithmetic(on_opencl, op, attrs):
    """Stored through vstore_half, so devices without cl_khr_fp16 (PoCL) draw float16 too."""
    runtime.backend("numpy")
    got = get_kernel(op, "opencl")(shape=(40, 5), seed=11, dtype="float16", **attrs)
    want = get_kernel(op, "numpy")(shape=(40, 5), seed=11, dtype="float16", **attrs)
    np.testing.assert_array_equal(on_opencl.to_host(got), want)


def test_device_array_views_read_back_like_numpy(on_opencl):
    host = np.arange(24, dtype=np.float32).reshape(4, 6)
    native = on_opencl.from_host(host)
    assert native.dense and native.strides == (6, 1) and native.nbytes == host.nbytes
    np.testing.assert_array_equal(on_opencl.to_host(native.reshape(3, -1)), host.reshape(3, -1))
    rows = native.view((2, 6), (6, 1), offset=12)  # rows 2..3: contiguous, not from index 0
    assert rows.c_contiguous and not rows.dense
    np.testing.assert_array_equal(on_opencl.to_host(rows), host[2:])
    transposed = native.view((6, 4), (1, 6))
    assert not transposed.c_contiguous
    with pytest.raises(ValueError, match="only contiguous arrays"):
        on_opencl.to_host(transposed)
    with pytest.raises(ValueError, match="cannot reshape"):
        native.reshape(5, 5)
