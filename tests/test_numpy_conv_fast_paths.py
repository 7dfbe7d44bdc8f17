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
    assert len(results) == len(parallel.batch_chunks(17, 10)) > workers
    assert [i for chunk in results for i in chunk] == list(range(17))
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
    assert results == [[[(0, 0), (0, 2)], [(1, 0), (1, 2)]], [[3], [3]]]


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


def direct_filter_gradient(x, dy, w_shape, pads):
    """float64 filter gradient: the convolution by one identity filter per window cell gives
    every window's cells, which dy then weighs."""
    cells = int(np.prod(w_shape[:3]))
    windows = direct_conv2d(x, np.eye(cells).reshape(tuple(w_shape[:3]) + (cells,)), pads)
    return np.einsum("nhwk,nhwo->ko", windows, dy).reshape(w_shape)


def direct_input_gradient(dy, w, x_shape, pads):
    """float64 input gradient: each tap's dy @ w[tap].T added onto the padded cells it read."""
    (top, bottom), (left, right) = pads
    n, h, wd, c = x_shape
    padded = np.zeros((n, h + top + bottom, wd + left + right, c))
    oh, ow = dy.shape[1:3]
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            padded[:, i:i + oh, j:j + ow] += np.einsum("nhwo,co->nhwc", dy, w[i, j])
    return padded[:, top:top + h, left:left + wd]


def checked_stride_one_conv2d(rng, x_shape, w_shape, pads):
    """Random x and w, and the NumPy Conv2D of them checked against direct_conv2d."""
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    geometry = dict(strides=(1, 1), padding=pads, dilations=(1, 1))
    y = get_kernel("Conv2D", "numpy")(x, w, **geometry)
    np.testing.assert_allclose(y, direct_conv2d(x, w, pads), rtol=1e-5, atol=1e-5)
    return x, w, geometry, y


@pytest.mark.parametrize("x_shape, w_shape, pads", [
    ((3, 8, 8, 1), (3, 3, 1, 8), ((0, 0), (0, 0))),   # even output width: two cells a GEMM row
    ((2, 7, 9, 1), (3, 2, 1, 5), ((1, 1), (0, 1))),   # even, padded
    ((2, 6, 7, 1), (3, 3, 1, 4), ((1, 1), (1, 1))),   # odd output width: one cell a row
])
def test_single_channel_conv2d_and_filter_gradient(x_shape, w_shape, pads):
    rng = np.random.default_rng(1)
    x, w, geometry, y = checked_stride_one_conv2d(rng, x_shape, w_shape, pads)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    grad = get_kernel("Conv2DBackpropFilter", "numpy")(x, dy, w.shape, **geometry)
    np.testing.assert_allclose(grad, direct_filter_gradient(x, dy, w.shape, pads), rtol=1e-4,
                               atol=1e-4)


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
        return direct_filter_gradient(inputs, dy, w.shape, ((0, 0), (0, 0)))

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


@pytest.mark.parametrize("channels, keep_max_bytes, builds_rows, on_grid", [
    (3, 1 << 20, False, False),   # every chunk's rows kept and taken
    (3, 100, True, False),        # too many to keep: each chunk builds its own
    (8, 1 << 20, False, False),   # kept rows win over the padded grid
    (8, 100, False, True),        # none kept: the grid, as without a forward
])
def test_filter_gradient_takes_the_kept_rows_chunk_by_chunk(monkeypatch, channels,
                                                            keep_max_bytes, builds_rows, on_grid):
    """Batch chunks on two threads: Conv2D keeps each chunk's im2col rows (up to
    KEEP_MAX_BYTES in all) and the filter gradient of that input takes them chunk by chunk."""
    from engine.kernels.numpy import conv, parallel

    monkeypatch.setattr(parallel, "MIN_PARALLEL_MACS", 0)
    monkeypatch.setattr(parallel, "CHUNK_CELLS", 2 * 36)
    monkeypatch.setattr(parallel, "_workers", lambda: 2)
    monkeypatch.setattr(conv, "KEEP_MAX_BYTES", keep_max_bytes)
    built, grids = [], []
    im2col_rows, on_the_grid = conv._im2col_rows, conv._filter_gradient_on_grid
    monkeypatch.setattr(conv, "_im2col_rows", lambda *args: built.append(1) or im2col_rows(*args))
    monkeypatch.setattr(conv, "_filter_gradient_on_grid",
                        lambda *args: grids.append(1) or on_the_grid(*args))
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 6, 6, channels)).astype(np.float32)
    w = rng.standard_normal((3, 3, channels, 12)).astype(np.float32)  # im2col: short rows
    pads = ((1, 1), (1, 1))
    geometry = dict(strides=(1, 1), padding=pads, dilations=(1, 1))
    y = get_kernel("Conv2D", "numpy")(x, w, **geometry)
    chunks = len(parallel.batch_chunks(5, 36))
    assert chunks == len(built) > 1
    dy = rng.standard_normal(y.shape).astype(np.float32)
    grad = get_kernel("Conv2DBackpropFilter", "numpy")(x, dy, w.shape, **geometry)
    np.testing.assert_allclose(grad, direct_filter_gradient(x, dy, w.shape, pads), rtol=1e-4,
                               atol=1e-4)
    assert (len(built) - chunks, bool(grids)) == (chunks if builds_rows else 0, on_grid)
    if parallel._state["pool"] is not None:
        parallel._state["pool"].shutdown()
        parallel._state["pool"] = None


@pytest.mark.parametrize("x_shape, w_shape, pads", [
    ((3, 5, 7, 6), (3, 3, 6, 3), ((1, 1), (1, 1))),
    ((2, 4, 6, 4), (2, 3, 4, 2), ((0, 1), (2, 0))),
    ((2, 5, 5, 6), (1, 3, 6, 2), ((0, 0), (0, 0))),   # one kernel row: nothing to add up
    ((3, 5, 6, 6), (3, 3, 6, 2), ((2, 1), (0, 2))),   # rows and images share wider paddings
])
def test_convolution_reads_runs_of_input_cells_in_row_blocks(monkeypatch, x_shape, w_shape,
                                                             pads):
    """Stride 1 with long im2col rows for the filter count, or one kernel row: the forward reads
    runs of the padded grid's cells in place, in GEMMs of 5 rows (the last ones past the grid's
    end), and so does the input gradient of the filter with inputs and outputs swapped."""
    from engine.kernels.numpy import conv, gemm

    runs = []
    by_cell_runs = conv._convolve_by_cell_runs
    monkeypatch.setattr(conv, "_convolve_by_cell_runs",
                        lambda *args: runs.append(1) or by_cell_runs(*args))
    monkeypatch.setattr(gemm, "SMALL_GEMM_MACS", 5 * w_shape[0] * w_shape[1] * w_shape[2] *
                        w_shape[3])
    monkeypatch.setattr(gemm, "MIN_BLOCK_ROWS", 1)
    monkeypatch.setattr(conv, "RUNS_MAX_GRID_CELLS", 10)  # these images are small
    rng = np.random.default_rng(4)
    x, w, geometry, y = checked_stride_one_conv2d(rng, x_shape, w_shape, pads)
    assert len(runs) == 1
    wide = np.ascontiguousarray(w.transpose(0, 1, 3, 2))  # w_shape[3] in, w_shape[2] out
    image_shape = x_shape[:3] + (w_shape[3],)
    out = rng.standard_normal(y.shape[:3] + (w_shape[2],)).astype(np.float32)
    dx = get_kernel("Conv2DBackpropInput", "numpy")(out, wide, image_shape, **geometry)
    np.testing.assert_allclose(dx, direct_input_gradient(out, wide, image_shape, pads),
                               rtol=1e-4, atol=1e-4)
    assert len(runs) == 2


@pytest.mark.parametrize("workers, batch, cells_per_image, sizes", [
    (2, 64, 26 * 26, [16] * 4),    # not 24, 24 and 16
    (2, 32, 32 * 32, [16, 16]),
    (2, 10, 5000, [2, 3, 2, 3]),
    (1, 3, 32 * 32, [3]),
    (2, 0, 100, []),
])
def test_batch_chunks_are_even_and_a_whole_number_of_rounds(monkeypatch, workers, batch,
                                                            cells_per_image, sizes):
    from engine.kernels.numpy import parallel

    monkeypatch.setattr(parallel, "CHUNK_CELLS", 16384)
    monkeypatch.setattr(parallel, "_workers", lambda: workers)
    chunks = parallel.batch_chunks(batch, cells_per_image)
    assert [rows.stop - rows.start for rows in chunks] == sizes
    assert [i for rows in chunks for i in range(batch)[rows]] == list(range(batch))
