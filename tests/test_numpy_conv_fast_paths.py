"""The NumPy backend's special-cased convolution and pooling paths: tiling max-pool windows
against a float64 loop reference (ties, NaN, leftover rows, tie marks packed into machine words
of each width), and the batch chunks shared out over threads."""
import itertools

import numpy as np
import pytest

from engine.registry import get_kernel


def first_maximum_gradient(x, dy, pool):
    """Each window's dy onto its first NaN, else its first maximum, in row-major order."""
    grad = np.zeros(x.shape, np.float64)
    n, oh, ow, c = dy.shape
    for b, r, q, ch in itertools.product(range(n), range(oh), range(ow), range(c)):
        rows, cols = slice(r * pool[0], (r + 1) * pool[0]), slice(q * pool[1], (q + 1) * pool[1])
        window = x[b, rows, cols, ch].ravel()
        wins = np.isnan(window) if np.isnan(window).any() else window == window.max()
        i, j = divmod(int(np.argmax(wins)), pool[1])
        grad[b, r * pool[0] + i, q * pool[1] + j, ch] += dy[b, r, q, ch]
    return grad


@pytest.mark.parametrize("shape, pool", [
    ((2, 6, 6, 8), (2, 2)),    # 8 channels: one 8-byte word per pixel
    ((2, 7, 5, 3), (2, 2)),    # 3 channels: byte words; a row and a column past the windows
    ((1, 9, 7, 16), (3, 2)),   # two 8-byte words per pixel
    ((2, 5, 5, 4), (3, 3)),    # one window per image, leftover cells
    ((1, 4, 4, 2), (2, 2)),    # NaN windows
])
def test_max_pool_gradient_over_tiling_windows(shape, pool):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, shape).astype(np.float32)  # three values: ties in most windows
    if shape[-1] == 2:
        x[0, 0, 0, 0] = x[0, 1, 1, 1] = x[0, 3, 2, 0] = np.nan
    attrs = dict(pool_size=pool, strides=pool, padding=((0, 0), (0, 0)))
    y = get_kernel("MaxPool", "numpy")(x, **attrs)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    grad = get_kernel("MaxPoolGrad", "numpy")(x, y, dy, **attrs)
    np.testing.assert_array_equal(grad, first_maximum_gradient(x, dy, pool).astype(np.float32))


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_over_batch_runs_each_chunk_once_and_keeps_their_order(monkeypatch, workers):
    from engine.kernels.numpy import parallel

    state = {"pool": None, "blas": None}  # a thread pool of this many workers
    monkeypatch.setattr(parallel, "_workers", lambda: workers)
    monkeypatch.setattr(parallel, "_state", state)
    monkeypatch.setattr(parallel, "CHUNK_CELLS", 20)
    results = parallel.over_batch(lambda rows: list(range(17)[rows]), 17, 10)
    assert results == [[i, i + 1] for i in range(0, 16, 2)] + [[16]]
    if state["pool"] is not None:
        state["pool"].shutdown()


def test_a_split_kernel_called_from_a_chunk_runs_there(monkeypatch):
    """Chunks (on both threads) that call over_cores or a thin over_batch get their results
    on their own thread; waiting for the pool or its lock would never end."""
    import threading

    from engine.kernels.numpy import parallel

    monkeypatch.setattr(parallel, "_workers", lambda: 2)
    results = []

    def nested():
        results.append(parallel.over_cores(
            lambda rows: parallel.over_cores(lambda inner: (rows.start, inner.start), 4), 2))
        results.append(parallel.over_batch(
            lambda rows: parallel.over_batch(lambda inner: inner.stop, 3, 1, 1), 8, 4096))

    thread = threading.Thread(target=nested, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "a nested split kernel deadlocked"
    assert results == [[[(0, 0), (0, 2)], [(1, 0), (1, 2)]], [[3], [3], [3], [3]]]


def test_over_batch_raises_a_chunks_error(monkeypatch):
    from engine.kernels.numpy import parallel

    monkeypatch.setattr(parallel, "CHUNK_CELLS", 10)

    def work(rows):
        if rows.start == 5:
            raise ValueError("chunk 5")
        return rows.start

    with pytest.raises(ValueError, match="chunk 5"):
        parallel.over_batch(work, 8, 10)


def direct_conv2d(x, w, pads):
    """float64 sum over taps of the padded input's shifted cells times the tap's weights."""
    (top, bottom), (left, right) = pads
    padded = np.pad(x.astype(np.float64), ((0, 0), (top, bottom), (left, right), (0, 0)))
    kh, kw = w.shape[:2]
    oh, ow = padded.shape[1] - kh + 1, padded.shape[2] - kw + 1
    return sum(np.einsum("nhwc,co->nhwo", padded[:, i:i + oh, j:j + ow], w[i, j])
               for i in range(kh) for j in range(kw))


@pytest.mark.parametrize("x_shape, w_shape, pads", [
    ((3, 8, 8, 1), (3, 3, 1, 8), ((0, 0), (0, 0))),   # even output width: two cells a GEMM row
    ((2, 7, 9, 1), (3, 2, 1, 5), ((1, 1), (0, 1))),   # even, padded
    ((2, 6, 7, 1), (3, 3, 1, 4), ((1, 1), (1, 1))),   # odd output width: one cell a row
])
def test_single_channel_conv2d_and_filter_gradient(x_shape, w_shape, pads):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    geometry = dict(strides=(1, 1), padding=pads, dilations=(1, 1))
    y = get_kernel("Conv2D", "numpy")(x, w, **geometry)
    np.testing.assert_allclose(y, direct_conv2d(x, w, pads), rtol=1e-5, atol=1e-5)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    grad = get_kernel("Conv2DBackpropFilter", "numpy")(x, dy, w.shape, **geometry)
    cells = w.shape[0] * w.shape[1] * w.shape[2]  # one identity filter per window cell
    taps = direct_conv2d(x, np.eye(cells).reshape(w.shape[:3] + (cells,)), pads)
    expected = np.einsum("nhwk,nhwo->ko", taps, dy).reshape(w.shape)
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-4)


def test_filter_gradient_takes_the_forward_im2col_only_for_that_same_input(monkeypatch):
    """Conv2D keeps its input's im2col rows for the filter gradient of that same array, which
    takes them once; a gradient of another input, a second one or one after another Conv2D
    builds its own: every gradient is the direct reference's."""
    from engine.kernels.numpy import conv

    built = []
    im2col_rows = conv._im2col_rows
    monkeypatch.setattr(conv, "_im2col_rows", lambda *args: built.append(1) or im2col_rows(*args))
    rng = np.random.default_rng(2)
    x, other = (rng.standard_normal((2, 8, 8, 1)).astype(np.float32) for _ in range(2))
    w = rng.standard_normal((3, 3, 1, 4)).astype(np.float32)
    dy = rng.standard_normal((2, 6, 6, 4)).astype(np.float32)
    geometry = dict(strides=(1, 1), padding=((0, 0), (0, 0)), dilations=(1, 1))
    forward = get_kernel("Conv2D", "numpy")

    def gradient(inputs):
        return get_kernel("Conv2DBackpropFilter", "numpy")(inputs, dy, w.shape, **geometry)

    def expected(inputs):
        taps = direct_conv2d(inputs, np.eye(9).reshape(3, 3, 1, 9), ((0, 0), (0, 0)))
        return np.einsum("nhwk,nhwo->ko", taps, dy).reshape(w.shape)

    forward(x, w, **geometry)
    for inputs, rows_built in ((x, 1), (x, 2)):  # taken once, then built again
        np.testing.assert_allclose(gradient(inputs), expected(inputs), rtol=1e-4, atol=1e-4)
        assert len(built) == rows_built
    forward(x, w, **geometry)
    np.testing.assert_allclose(gradient(other), expected(other), rtol=1e-4, atol=1e-4)
    forward(x, w, **geometry)
    forward(other, w, **geometry)
    np.testing.assert_allclose(gradient(x), expected(x), rtol=1e-4, atol=1e-4)
    assert len(built) == 7
