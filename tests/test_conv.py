"""Convolution and pooling: forward against float64 tap-loop references written here, gradients
against finite differences, and PyTorch as a second reference where it is installed."""
import math

import numpy as np
import pytest

import engine
from engine.dispatch import run_kernel
from engine.ops.conv import conv_geometry
from engine.registry import get_kernel
from tests.helpers import (check_forward, check_gradients, float64_supported, kernel_calls,
                           random_array)


# ---------------------------------------------------------------------------- references

def same_padding(size, kernel, stride, dilation=1):
    """TensorFlow's 'same' rule, spelled out per dimension."""
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return (total // 2, total - total // 2)


def explicit(padding, x_hw, kernel_hw, strides, dilations):
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "same":
        return tuple(same_padding(*args) for args in zip(x_hw, kernel_hw, strides, dilations))
    if isinstance(padding, int):
        return ((padding, padding), (padding, padding))
    return tuple(tuple(p) for p in padding)


def as_pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def padded_taps(x, kernel_hw, strides, pads, dilations, fill=0.0):
    """Yield ((i, j), cells read by tap (i, j)) over x padded with `fill`, and the output size."""
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=fill)
    out_h = (xp.shape[1] - (kernel_hw[0] - 1) * dilations[0] - 1) // strides[0] + 1
    out_w = (xp.shape[2] - (kernel_hw[1] - 1) * dilations[1] - 1) // strides[1] + 1
    for i in range(kernel_hw[0]):
        for j in range(kernel_hw[1]):
            top, left = i * dilations[0], j * dilations[1]
            yield (i, j), xp[:, top:top + (out_h - 1) * strides[0] + 1:strides[0],
                             left:left + (out_w - 1) * strides[1] + 1:strides[1]]


def reference_conv2d(x, w, strides=1, padding="valid", dilations=1):
    strides, dilations = as_pair(strides), as_pair(dilations)
    pads = explicit(padding, x.shape[1:3], w.shape[:2], strides, dilations)
    return sum(np.einsum("nhwc,co->nhwo", cells, w[i, j])
               for (i, j), cells in padded_taps(x, w.shape[:2], strides, pads, dilations))


def reference_depthwise(x, w, strides=1, padding="valid", dilations=1):
    strides, dilations = as_pair(strides), as_pair(dilations)
    pads = explicit(padding, x.shape[1:3], w.shape[:2], strides, dilations)
    out = sum(np.einsum("nhwc,cm->nhwcm", cells, w[i, j])
              for (i, j), cells in padded_taps(x, w.shape[:2], strides, pads, dilations))
    return out.reshape(out.shape[:3] + (-1,))


def reference_conv2d_transpose(x, w, out_hw, strides, pads):
    """Scatter definition: input cell (h, w) adds x * filter onto output (h*s + i, w*s + j)."""
    (top, bottom), (left, right) = pads
    n, h, wd, _ = x.shape
    kh, kw, out_c, _ = w.shape
    full = np.zeros((n, out_hw[0] + top + bottom, out_hw[1] + left + right, out_c))
    for i in range(kh):
        for j in range(kw):
            full[:, i:i + (h - 1) * strides[0] + 1:strides[0],
                 j:j + (wd - 1) * strides[1] + 1:strides[1]] += np.einsum("nhwc,oc->nhwo", x,
                                                                            w[i, j])
    return full[:, top:top + out_hw[0], left:left + out_hw[1]]


def reference_pool(x, pool, strides, padding, mode):
    """Per output cell, max or mean over the window cells that lie inside the image."""
    pool, strides = as_pair(pool), as_pair(strides)
    pads = explicit(padding, x.shape[1:3], pool, strides, (1, 1))
    fill = -np.inf if mode == "max" else np.nan
    stacked = np.stack([cells for _, cells in padded_taps(x, pool, strides, pads, (1, 1), fill)])
    return stacked.max(axis=0) if mode == "max" else np.nanmean(stacked, axis=0)


# ---------------------------------------------------------------------------- conv2d

CONV_CASES = [  # x shape, filter shape, strides, padding, dilations
    ((2, 7, 5, 3), (3, 2, 3, 4), 1, "valid", 1),
    ((2, 7, 5, 3), (3, 2, 3, 4), 1, "same", 1),
    ((2, 7, 5, 3), (3, 2, 3, 4), 2, "same", 1),
    ((2, 7, 5, 3), (3, 3, 3, 2), (2, 1), [[1, 2], [0, 1]], 1),
    ((2, 7, 6, 2), (3, 2, 2, 3), 1, "same", 2),
    ((1, 5, 4, 3), (1, 1, 3, 5), 1, "valid", 1),
    ((1, 5, 4, 3), (1, 1, 3, 5), 2, "same", 1),
    ((1, 4, 4, 2), (2, 2, 2, 3), 1, 1, 1),
    ((5, 6, 6, 2), (3, 3, 2, 3), 1, "same", 1),  # batch split into uneven chunks over cores
    ((3, 7, 6, 1), (3, 3, 1, 4), (2, 1), "same", 1),  # one input channel: im2col tap by tap
    ((2, 8, 7, 1), (3, 2, 1, 3), 1, "valid", 2),
    # Stride 1, padding beyond the filter's reach: the input gradient crops dy (correlation).
    ((2, 5, 4, 2), (2, 3, 2, 3), 1, [[2, 0], [0, 3]], 1),
    ((1, 6, 5, 2), (1, 1, 2, 3), 1, [[1, 1], [2, 0]], 1),
    # Stride 1, more input channels than filters and the reverse (the input gradient's): on
    # images large enough NumPy reads runs of input cells in place, as in the last one here.
    ((2, 5, 7, 8), (3, 3, 8, 3), 1, "same", 1),
    ((1, 4, 6, 6), (1, 3, 6, 2), 1, [[0, 1], [2, 1]], 1),
    ((2, 6, 5, 2), (3, 2, 2, 5), 1, "same", 1),
    ((1, 16, 16, 8), (3, 3, 8, 4), 1, "same", 1),
    # Empty: no images, no input channels, no filters.
    ((0, 5, 5, 8), (3, 3, 8, 2), 1, "same", 1),
    ((2, 5, 5, 0), (3, 3, 0, 2), 1, "same", 1),
    ((2, 5, 5, 3), (3, 3, 3, 0), 1, "same", 1),
    ((0, 4, 4, 3), (1, 1, 3, 2), 1, "valid", 1),
    ((2, 4, 4, 0), (1, 1, 0, 2), 1, "valid", 1),
    ((2, 4, 4, 3), (1, 1, 3, 0), 1, "valid", 1),
]
EMPTY_CONV_CASES = CONV_CASES[-6:]


@pytest.mark.parametrize("x_shape, w_shape, strides, padding, dilations", CONV_CASES)
def test_conv2d_matches_tap_loop_reference(backend, x_shape, w_shape, strides, padding,
                                           dilations):
    check_forward(lambda x, w: engine.conv2d(x, w, strides, padding, dilations),
                  lambda x, w: reference_conv2d(x, w, strides, padding, dilations),
                  [random_array(x_shape), random_array(w_shape, seed=1)], family="conv")


@pytest.mark.parametrize("x_shape, w_shape, strides, padding, dilations",
                         [CONV_CASES[i] for i in (2, 3, 4, 6, 8, 9, 10, 11, 12, 13, 14, 15)])
def test_conv2d_gradients(backend, x_shape, w_shape, strides, padding, dilations):
    check_gradients(lambda x, w: engine.conv2d(x, w, strides, padding, dilations),
                    [random_array(x_shape), random_array(w_shape, seed=1)], backend)


@pytest.mark.parametrize("x_shape, w_shape, strides, padding, dilations", EMPTY_CONV_CASES)
def test_empty_conv2d_gradients_are_zeros_of_the_input_shapes(backend, x_shape, w_shape, strides,
                                                               padding, dilations):
    x, w = engine.tensor(random_array(x_shape)), engine.tensor(random_array(w_shape, seed=1))
    grads = engine.grad(lambda x, w: engine.sum(engine.conv2d(x, w, strides, padding)),
                        argnums=(0, 1))(x, w)
    for grad, shape in zip(grads, (x_shape, w_shape)):
        np.testing.assert_array_equal(grad.numpy(), np.zeros(shape, np.float32))


def test_same_padding_follows_tensorflow_worked_example():
    # 7 rows, kernel 3, stride 2: 4 outputs need 3*2 + 3 = 9 rows, so 2 padded, 1 on top.
    # 5 columns, kernel 2, stride 2: 3 outputs need 2*2 + 2 = 6 columns, so 1, on the right.
    assert conv_geometry("conv2d", (7, 5), (3, 2), (2, 2), "same") == (((1, 1), (0, 1)), (4, 3))


def test_conv2d_matches_torch_forward_and_gradients(backend):
    torch = pytest.importorskip("torch")
    x, w = random_array((2, 7, 6, 3)), random_array((3, 3, 3, 4), seed=1)
    dy = random_array((2, 4, 3, 4), seed=2)
    tx = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    tw = torch.tensor(w.transpose(3, 2, 0, 1), requires_grad=True)
    # 'same' with stride 2 on 7x6: TF pads rows (1, 1) and columns (0, 1).
    ty = torch.nn.functional.conv2d(torch.nn.functional.pad(tx, (0, 1, 1, 1)), tw, stride=2)
    ty.backward(torch.tensor(dy.transpose(0, 3, 1, 2)))

    ex, ew = engine.tensor(x), engine.tensor(w)
    with engine.GradientTape() as tape:
        tape.watch([ex, ew])
        y = engine.conv2d(ex, ew, 2, "same")
    dx, dw = tape.gradient(y, [ex, ew], output_gradients=engine.tensor(dy))
    tol = dict(rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy().transpose(0, 2, 3, 1), **tol)
    np.testing.assert_allclose(dx.numpy(), tx.grad.numpy().transpose(0, 2, 3, 1), **tol)
    np.testing.assert_allclose(dw.numpy(), tw.grad.numpy().transpose(2, 3, 1, 0), **tol)


# ---------------------------------------------------------------------------- depthwise / separable

DEPTHWISE_CASES = [
    ((2, 6, 5, 3), (3, 2, 3, 2), 1, "same", 1),
    ((1, 7, 5, 2), (3, 3, 2, 1), 2, "valid", 1),
    ((1, 7, 6, 2), (2, 2, 2, 3), 1, "same", 2),
]


@pytest.mark.parametrize("x_shape, w_shape, strides, padding, dilations", DEPTHWISE_CASES)
def test_depthwise_conv2d_forward_and_gradients(backend, x_shape, w_shape, strides, padding,
                                                dilations):
    arrays = [random_array(x_shape), random_array(w_shape, seed=1)]
    op = lambda x, w: engine.depthwise_conv2d(x, w, strides, padding, dilations)  # noqa: E731
    check_forward(op, lambda x, w: reference_depthwise(x, w, strides, padding, dilations),
                  arrays, family="conv")
    check_gradients(op, arrays, backend)


def test_separable_conv2d_is_depthwise_then_pointwise(backend):
    x, dw, pw = random_array((2, 6, 5, 3)), random_array((3, 3, 3, 2), seed=1), \
        random_array((1, 1, 6, 4), seed=2)
    op = lambda x, d, p: engine.separable_conv2d(x, d, p, 2, "same")  # noqa: E731
    check_forward(op, lambda x, d, p: np.einsum("nhwc,co->nhwo",
                                                reference_depthwise(x, d, 2, "same"), p[0, 0]),
                  [x, dw, pw], family="conv")
    check_gradients(op, [x, dw, pw], backend)


# ---------------------------------------------------------------------------- transpose / 1-D

TRANSPOSE_CASES = [  # x shape, filter shape (kh, kw, out, in), strides, padding, output_shape
    ((2, 3, 4, 3), (3, 3, 2, 3), 2, "same", None),
    ((1, 3, 3, 2), (3, 2, 4, 2), 2, "valid", None),
    ((1, 4, 3, 2), (3, 3, 2, 2), 2, "same", (1, 7, 5, 2)),
    ((2, 4, 4, 1), (2, 2, 3, 1), 1, "valid", (5, 5)),
    # A kernel shorter than the stride: 'valid' ends with stride - kernel zero rows (Keras, TF.js)
    ((1, 3, 2, 2), (2, 1, 3, 2), 3, "valid", None),
]


@pytest.mark.parametrize("x_shape, w_shape, strides, padding, output_shape", TRANSPOSE_CASES)
def test_conv2d_transpose_forward_and_gradients(backend, x_shape, w_shape, strides, padding,
                                                output_shape):
    s = as_pair(strides)
    if output_shape is None:
        out_hw = tuple(d * st if padding == "same" else d * st + max(k - st, 0)
                       for d, st, k in zip(x_shape[1:3], s, w_shape[:2]))
    else:
        out_hw = tuple(output_shape)[-3:-1] if len(output_shape) == 4 else tuple(output_shape)
    pads = explicit(padding, out_hw, w_shape[:2], s, (1, 1))
    arrays = [random_array(x_shape), random_array(w_shape, seed=1)]
    op = lambda x, w: engine.conv2d_transpose(x, w, output_shape, strides, padding)  # noqa: E731
    check_forward(op, lambda x, w: reference_conv2d_transpose(x, w, out_hw, s, pads), arrays,
                  family="conv")
    check_gradients(op, arrays, backend)


def test_conv2d_transpose_matches_torch(backend):
    torch = pytest.importorskip("torch")
    x, w = random_array((2, 3, 4, 3)), random_array((3, 3, 5, 3), seed=1)
    want = torch.nn.functional.conv_transpose2d(torch.tensor(x.transpose(0, 3, 1, 2)),
                                                torch.tensor(w.transpose(3, 2, 0, 1)), stride=2)
    got = engine.conv2d_transpose(x, w, strides=2, padding="valid")
    np.testing.assert_allclose(got.numpy(), want.numpy().transpose(0, 2, 3, 1), rtol=1e-4,
                               atol=1e-4)


@pytest.mark.parametrize("stride, padding, dilation", [(1, "valid", 1), (2, "same", 1),
                                                       (1, "same", 2), (1, [2, 1], 1)])
def test_conv1d_forward_and_gradients(backend, stride, padding, dilation):
    x, w = random_array((2, 9, 3)), random_array((3, 3, 2), seed=1)

    def reference(x, w):
        pads = explicit(padding if isinstance(padding, str) else [[0, 0], padding],
                        (1, x.shape[1]), (1, w.shape[0]), (1, stride), (1, dilation))[1]
        xp = np.pad(x, ((0, 0), pads, (0, 0)))
        out_w = (xp.shape[1] - (w.shape[0] - 1) * dilation - 1) // stride + 1
        return sum(np.einsum("nwc,co->nwo",
                             xp[:, k * dilation:k * dilation + (out_w - 1) * stride + 1:stride],
                             w[k]) for k in range(w.shape[0]))

    op = lambda x, w: engine.conv1d(x, w, stride, padding, dilation)  # noqa: E731
    check_forward(op, reference, [x, w], family="conv")
    check_gradients(op, [x, w], backend)


# ---------------------------------------------------------------------------- pooling

POOL_CASES = [  # x shape, pool, strides, padding
    ((2, 6, 6, 3), 2, None, "valid"),
    ((2, 7, 5, 2), 3, 2, "same"),
    ((1, 5, 4, 2), (2, 3), 1, "same"),
    ((1, 6, 5, 1), 3, 2, [[1, 1], [0, 2]]),
]


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("x_shape, pool, strides, padding", POOL_CASES)
def test_pool_forward_and_gradients(backend, mode, x_shape, pool, strides, padding):
    op_fn = engine.max_pool2d if mode == "max" else engine.avg_pool2d
    op = lambda x: op_fn(x, pool, strides, padding)  # noqa: E731
    arrays = [random_array(x_shape, low=-1.0, high=-0.1)]  # all negative: zero padding would win
    check_forward(op, lambda x: reference_pool(x, pool, strides or pool, padding, mode), arrays,
                  family="reduction")
    check_gradients(op, arrays, backend)


def test_max_pool_gradient_goes_to_first_maximum_of_a_tie(backend):
    x = engine.tensor(np.ones((1, 2, 3, 1), np.float32))
    with engine.GradientTape() as tape:
        tape.watch(x)
        loss = engine.sum(engine.max_pool2d(x, 2, 1))
    grad = tape.gradient(loss, x)
    np.testing.assert_array_equal(grad.numpy()[0, :, :, 0], [[1, 1, 0], [0, 0, 0]])


@pytest.mark.parametrize("tied", [False, True])
def test_max_pool_gradient_of_tiling_windows_goes_to_each_first_maximum(backend, tied):
    """2x2 windows that tile the image: each window's dy reaches its first maximum in
    row-major order, with no window tied or with many (rounded values)."""
    rng = np.random.default_rng(3)
    x = rng.normal(scale=2.0, size=(2, 4, 6, 3)).astype(np.float32)
    x = np.round(x) if tied else x
    dy = rng.normal(size=(2, 2, 3, 3)).astype(np.float32)
    with engine.GradientTape() as tape:
        xt = engine.tensor(x)
        tape.watch(xt)
        loss = engine.sum(engine.max_pool2d(xt, 2) * engine.tensor(dy))
    expected = np.zeros(x.shape, np.float32)
    for n, i, j, c in np.ndindex(dy.shape):
        window = x[n, 2 * i:2 * i + 2, 2 * j:2 * j + 2, c]
        row, col = divmod(int(np.argmax(window)), 2)
        expected[n, 2 * i + row, 2 * j + col, c] = dy[n, i, j, c]
    np.testing.assert_array_equal(tape.gradient(loss, xt).numpy(), expected)


def test_pools_match_torch(backend):
    torch = pytest.importorskip("torch")
    x = random_array((2, 6, 6, 3))
    tx = torch.tensor(x.transpose(0, 3, 1, 2))
    for ours, theirs in ((engine.max_pool2d, torch.nn.functional.max_pool2d),
                         (engine.avg_pool2d, torch.nn.functional.avg_pool2d)):
        np.testing.assert_allclose(ours(x, 3, 2).numpy(),
                                   theirs(tx, 3, 2).numpy().transpose(0, 2, 3, 1), rtol=1e-5)


# ---------------------------------------------------------------------------- backprop kernels

GEOMETRY = dict(strides=(2, 1), padding=((1, 0), (1, 1)), dilations=(1, 1))
X_SHAPE, DY_SHAPE = (1, 5, 4, 2), (1, 3, 4, 3)


@pytest.mark.parametrize("op, arrays, attrs", [
    ("Conv2DBackpropInput", [DY_SHAPE, (2, 3, 2, 3)], dict(input_shape=X_SHAPE)),
    ("Conv2DBackpropFilter", [X_SHAPE, DY_SHAPE], dict(filter_shape=(2, 3, 2, 3))),
    ("DepthwiseConv2dNativeBackpropInput", [(1, 3, 4, 4), (2, 3, 2, 2)],
     dict(input_shape=X_SHAPE)),
    ("DepthwiseConv2dNativeBackpropFilter", [X_SHAPE, (1, 3, 4, 4)],
     dict(filter_shape=(2, 3, 2, 2))),
])
def test_backprop_kernels_have_gradients(backend, op, arrays, attrs):
    """So that conv2d_transpose, and gradients of gradients, train."""
    check_gradients(lambda a, b: run_kernel(op, (a, b), **attrs, **GEOMETRY),
                    [random_array(shape, seed=i) for i, shape in enumerate(arrays)], backend)


@pytest.mark.parametrize("geometry", [GEOMETRY, dict(strides=(1, 1), padding=((1, 1), (0, 1)),
                                                      dilations=(1, 1))])
def test_both_backprops_at_once_match_each_and_have_gradients(backend, geometry):
    """Conv2DBackprop gives Conv2DBackpropInput's and Conv2DBackpropFilter's results, and its
    gradient sums what reaches dy through both (gradients of gradients)."""
    x, filters = random_array((2, 5, 4, 2)), random_array((2, 3, 2, 3), seed=1)
    dy = random_array(run_kernel("Conv2D", (engine.tensor(x), engine.tensor(filters)),
                                 **geometry).shape, seed=2)
    tensors = [engine.tensor(a) for a in (x, dy, filters)]
    dx, dw = run_kernel("Conv2DBackprop", tensors, **geometry)
    np.testing.assert_array_equal(dx.numpy(), run_kernel(
        "Conv2DBackpropInput", tensors[1:], input_shape=x.shape, **geometry).numpy())
    np.testing.assert_array_equal(dw.numpy(), run_kernel(
        "Conv2DBackpropFilter", tensors[:2], filter_shape=filters.shape, **geometry).numpy())

    def both_flat(*inputs):
        grads = run_kernel("Conv2DBackprop", inputs, **geometry)
        return engine.concat([engine.reshape(g, (-1,)) for g in grads], axis=0)

    check_gradients(both_flat, [x, dy, filters], backend)


def test_conv2d_gradient_takes_both_backprops_at_once_only_when_both_are_needed(backend):
    x = engine.tensor(random_array((2, 5, 4, 2)))
    filters = engine.tensor(random_array((3, 3, 2, 3), seed=1))

    def kernels_for(argnums):
        with kernel_calls() as calls:
            engine.grad(lambda x, f: engine.sum(engine.conv2d(x, f, 1, "same")),
                        argnums=argnums)(x, filters)
        return [op for op in calls if op.startswith("Conv2DBackprop")]

    assert kernels_for((0, 1)) == ["Conv2DBackprop"]
    assert kernels_for(0) == ["Conv2DBackpropInput"]
    assert kernels_for(1) == ["Conv2DBackpropFilter"]


def test_pool_gradient_kernels_have_gradients(backend):
    attrs = dict(pool_size=(2, 3), strides=(2, 1), padding=((1, 0), (1, 1)))
    dtype = "float64" if float64_supported(backend) else "float32"  # as check_gradients uses
    x = engine.tensor(random_array(X_SHAPE), dtype=dtype)
    y = run_kernel("MaxPool", (x,), **attrs)
    check_gradients(lambda dy: run_kernel("MaxPoolGrad", (x, y, dy), **attrs),
                    [random_array(y.shape, seed=1)], backend)
    check_gradients(lambda dy: run_kernel("AvgPoolGrad", (dy,), input_shape=X_SHAPE, **attrs),
                    [random_array(y.shape, seed=1)], backend)


# ---------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call, error, message", [
    (lambda: engine.conv2d(np.zeros((1, 5, 5, 3), np.float32), np.zeros((3, 3, 4, 2), np.float32)),
     ValueError, r"Error in conv2d: depth of input \(3\) must match input depth for filter \(4\)"),
    (lambda: engine.conv2d(np.zeros((1, 5, 5, 3), np.float32), np.zeros((3, 3, 3, 2), np.float32),
                           strides=2, dilations=2),
     ValueError, r"Error in conv2d: strides \(2, 2\) and dilations \(2, 2\) cannot both"),
    (lambda: engine.conv2d(np.zeros((1, 5, 5, 3), np.float32), np.zeros((3, 3, 3, 2), np.float32),
                           padding="full"),
     ValueError, "Error in conv2d: padding must be 'valid', 'same'"),
    (lambda: engine.conv2d(np.zeros((5, 5, 3), np.float32), np.zeros((3, 3, 3, 2), np.float32)),
     ValueError, r"Error in conv2d: x must be rank 4, got shape \(5, 5, 3\)"),
    (lambda: engine.conv2d(np.zeros((1, 2, 2, 3), np.float32), np.zeros((3, 3, 3, 2), np.float32)),
     ValueError, "Error in conv2d: the output would be empty"),
    (lambda: engine.conv2d(np.zeros((1, 5, 5, 3), np.int32), np.zeros((3, 3, 3, 2), np.int32)),
     TypeError, "Error in conv2d: x must be floating point, got int32"),
    (lambda: engine.conv2d(np.zeros((1, 5, 5, 3), np.float32),
                           engine.zeros((3, 3, 3, 2), "float64")),
     TypeError, "Error in conv2d: inputs must share one dtype"),
    (lambda: engine.depthwise_conv2d(np.zeros((1, 5, 5, 3), np.float32),
                                     np.zeros((3, 3, 2, 2), np.float32)),
     ValueError, r"Error in depthwise_conv2d: depth of input \(3\) must match"),
    (lambda: engine.conv2d_transpose(np.zeros((1, 3, 3, 2), np.float32),
                                     np.zeros((3, 3, 4, 2), np.float32), (1, 9, 9, 4), 2, "same"),
     ValueError, r"Error in conv2d_transpose: output_shape \(9, 9\) convolved with strides"),
    (lambda: engine.conv2d_transpose(np.zeros((1, 3, 3, 2), np.float32),
                                     np.zeros((3, 3, 4, 2), np.float32), (1, 6, 6, 3), 2, "same"),
     ValueError, r"Error in conv2d_transpose: output_shape must be \(H, W\) or \(1, H, W, 4\)"),
    (lambda: engine.max_pool2d(np.zeros((1, 5, 5, 3), np.float32), 2, padding=[[2, 0], [0, 0]]),
     ValueError, "Error in max_pool2d: padding .* must be smaller than pool_size"),
    (lambda: engine.avg_pool2d(np.zeros((1, 5, 5, 3), np.float32), 0),
     ValueError, "Error in avg_pool2d: pool_size must be a positive int"),
])
def test_bad_arguments_raise_naming_the_op(backend, call, error, message):
    with pytest.raises(error, match=message):
        call()


_FORK_SCRIPT = """
import multiprocessing
import numpy as np
import engine

engine.set_backend("numpy")
x = np.random.default_rng(0).uniform(-1, 1, (4, 6, 6, 2)).astype(np.float32)
w = np.random.default_rng(1).uniform(-1, 1, (3, 3, 2, 3)).astype(np.float32)
expected = engine.conv2d(x, w, padding="same").numpy()  # starts the kernel thread pool


def child(queue):
    queue.put(float(np.abs(engine.conv2d(x, w, padding="same").numpy() - expected).max()))


context = multiprocessing.get_context("fork")
queue = context.Queue()
process = context.Process(target=child, args=(queue,))
process.start()
process.join(timeout=30)
if process.is_alive():  # the pool's lost threads would leave it waiting forever
    process.kill()
    raise SystemExit("forked child hung")
assert process.exitcode == 0 and queue.get(timeout=1) < 1e-6
"""


def test_numpy_conv_works_in_a_forked_child_after_using_its_thread_pool():
    """In a fresh interpreter: other libraries' threads (JAX, PoCL) must not be in the fork."""
    import multiprocessing
    import subprocess
    import sys

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    result = subprocess.run([sys.executable, "-c", _FORK_SCRIPT], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_same_output_size_is_ceil_of_input_over_stride():
    for size in range(1, 12):
        for kernel in (1, 2, 3, 5):
            for stride in (1, 2, 3):
                _, out = conv_geometry("conv2d", (size, 1), (kernel, 1), (stride, 1), "same")
                assert out[0] == math.ceil(size / stride)


@pytest.mark.parametrize("strides", [(2, 2), (1, 1)])
def test_numpy_max_pool_gradient_with_nan_and_infinite_dy(strides):
    """A window holding NaN sends dy to its first NaN; an inf or NaN in dy reaches only the
    cell that won its window."""
    kernel = get_kernel("MaxPoolGrad", "numpy")
    attrs = dict(pool_size=(2, 2), strides=strides, padding=((0, 0), (0, 0)))
    x = np.array([[1, 5, 2, 2], [np.nan, 3, 0, 4]], np.float32).reshape(1, 2, 4, 1)
    y = get_kernel("MaxPool", "numpy")(x, **attrs)
    dy = np.full(y.shape, np.inf, np.float32)
    expected = np.zeros(x.shape, np.float32)
    for out_col in range(y.shape[2]):  # first NaN, else first maximum, row-major per window
        col = out_col * strides[1]
        window = x[0, :2, col:col + 2, 0].ravel()
        wins = np.isnan(window) if np.isnan(window).any() else window == np.nanmax(window)
        row, offset = divmod(int(np.argmax(wins)), 2)
        expected[0, row, col + offset, 0] += np.inf
    np.testing.assert_array_equal(kernel(x, y, dy, **attrs), expected)


@pytest.mark.parametrize("min_parallel_macs", [0, 10**12])
def test_numpy_conv_gemm_kernels_threaded_or_not(monkeypatch, min_parallel_macs):
    """Thin GEMMs run as one chunk on the calling thread, others in batch chunks on every core
    (uneven chunks here): both give the tap-loop reference and its filter gradient."""
    from engine.kernels.numpy import parallel

    monkeypatch.setattr(parallel, "MIN_PARALLEL_MACS", min_parallel_macs)
    monkeypatch.setattr(parallel, "CHUNK_CELLS", 50)
    x, w = random_array((5, 6, 6, 2)), random_array((3, 3, 2, 3), seed=1)
    geometry = dict(strides=(1, 1), padding=((1, 1), (1, 1)), dilations=(1, 1))
    y = get_kernel("Conv2D", "numpy")(x, w, **geometry)
    np.testing.assert_allclose(y, reference_conv2d(x, w, 1, "same", 1), rtol=1e-5, atol=1e-5)
    dy = random_array(y.shape, seed=2)
    dw = get_kernel("Conv2DBackpropFilter", "numpy")(x, dy, w.shape, **geometry)
    taps = reference_conv2d(x.astype(np.float64), np.eye(18).reshape(3, 3, 2, 18), 1, "same", 1)
    np.testing.assert_allclose(dw, np.einsum("nhwk,nhwo->ko", taps, dy).reshape(w.shape),
                               rtol=1e-4, atol=1e-4)


def test_numpy_one_chunk_kernels_hold_blas_to_one_thread_then_restore_it():
    """A thin GEMM kernel's chunk runs with BLAS on one thread; the count comes back after it,
    also when the chunk raises."""
    pytest.importorskip("threadpoolctl")
    from engine.kernels.numpy import parallel

    libraries = parallel._blas_libraries()
    if not libraries:
        pytest.skip("threadpoolctl sees no BLAS library")
    before = [library.get_num_threads() for library in libraries]
    seen = parallel.over_batch(lambda rows: [lib.get_num_threads() for lib in libraries], 2, 4, 1)
    assert seen == [[1] * len(libraries)]
    assert [library.get_num_threads() for library in libraries] == before

    def failing(rows):
        raise RuntimeError("chunk failed")

    with pytest.raises(RuntimeError, match="chunk failed"):
        parallel.over_batch(failing, 2, 4, 1)
    assert [library.get_num_threads() for library in libraries] == before


@pytest.mark.parametrize("dilations, padding", [((1, 1), [[1, 1], [1, 1]]),
                                                ((2, 1), [[1, 2], [0, 1]])])
def test_numpy_filter_gradient_on_the_grid_in_row_blocks(monkeypatch, dilations, padding):
    """The stride-1 filter gradient's GEMMs over the padded grid, cut into many row blocks (the
    last one past the grid's end) and batch chunks: the tap-loop reference's gradient."""
    from engine.kernels.numpy import gemm, parallel

    monkeypatch.setattr(gemm, "SMALL_GEMM_MACS", 17 * 8 * 4)  # 17 grid cells a block
    monkeypatch.setattr(gemm, "MIN_BLOCK_ROWS", 1)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_MACS", 0)
    monkeypatch.setattr(parallel, "CHUNK_CELLS", 50)
    x, w = random_array((3, 7, 6, 8)), random_array((3, 2, 8, 4), seed=1)
    y = reference_conv2d(x, w, 1, padding, dilations)
    dy = random_array(y.shape, seed=2)
    dw = get_kernel("Conv2DBackpropFilter", "numpy")(
        x, dy, w.shape, strides=(1, 1), padding=tuple(map(tuple, padding)), dilations=dilations)
    taps = reference_conv2d(x.astype(np.float64), np.eye(48).reshape(3, 2, 8, 48), 1, padding,
                            dilations)
    np.testing.assert_allclose(dw, np.einsum("nhwk,nhwo->ko", taps, dy).reshape(w.shape),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("batch, cells_per_image", [(5, 36), (32, 10), (7, 10), (2, 10)])
def test_numpy_conv_batch_chunks_cover_the_batch_once(monkeypatch, batch, cells_per_image):
    """Consecutive chunks of at most CHUNK_CELLS cells, or one image where that is larger."""
    from engine.kernels.numpy import parallel

    monkeypatch.setattr(parallel, "CHUNK_CELLS", 30)
    chunks = parallel.batch_chunks(batch, cells_per_image)
    assert [i for rows in chunks for i in range(batch)[rows]] == list(range(batch))
    assert all((rows.stop - rows.start) * cells_per_image <= max(30, cells_per_image)
               for rows in chunks)
