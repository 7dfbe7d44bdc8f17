"""NumPy convolution kernels: im2col through a strided window view, then BLAS GEMMs run as
stacks of small row blocks (gemm.py). At stride 1, where im2col rows would be long for the
filter count, no im2col: GEMM rows are runs of the padded input's cells, read in place
(_convolve_by_cell_runs).

Gradients reuse the same pieces: the filter gradient is im2col(x)^T @ dy, with the rows the
forward kept when the same input comes back (as in a training step), else, at stride 1 with 8+
input channels and up to 32 filters, one GEMM per kernel tap over the padded input's grid (no
im2col; its K, the cells, is long); the input gradient is, at stride 1, a convolution of dy
with the flipped filter, otherwise dy @ W^T scattered back with one vectorised add per kernel
tap (col2im); Conv2DBackprop runs both in one pass over the batch chunks. Depthwise
convolutions are per-tap multiply-adds. Each runs per batch chunk, the chunks on every core
(parallel.over_batch).

Measured and left out (one core, 8 images of 32x32x16 -> 3x3x32): per-tap GEMMs on the padded
grid for the forward and input gradient, whose K is only C (forward 820 -> 1360 us, input
gradient 1170 -> 1100 us, outputs added up per tap); im2col along W only with one GEMM per
kernel row (input gradient 1170 -> 1230 us); two output cells per GEMM row at 16+ channels
(+-4%); im2col in blocks of ~1024 rows into one reused buffer that stays in cache (one core
828 -> 730 us, but on two cores the extra GIL hand-offs between the blocks' calls cost more);
Winograd F(2x2, 3x3), whose 16 GEMMs of K = 16 alone take 410 us
against the forward's 520 us GEMM, before its transforms.
"""
import itertools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from engine.kernels.numpy import gemm as small_gemms
from engine.kernels.numpy.parallel import over_batch
from engine.registry import register_kernel


def pad_spatial(x, padding, value=0, out=None):
    """x (N, H, W, C) with ((top, bottom), (left, right)) cells of `value` around H and W (x
    itself where there are none), or written into `out`."""
    (top, bottom), (left, right) = padding
    if out is None and not (top or bottom or left or right):
        return x
    n, h, w, c = x.shape
    padded = np.empty((n, h + top + bottom, w + left + right, c), x.dtype) if out is None else out
    padded[:, :top] = value
    padded[:, top + h:] = value
    padded[:, top:top + h, :left] = value
    padded[:, top:top + h, left + w:] = value
    padded[:, top:top + h, left:left + w] = x
    return padded


def padded_grid(x, padding, cells):
    """x padded as by pad_spatial, as a (cells, C) grid: the padded images' cells in order, then
    zeros for what reads past them (only the padding is zeroed: 16 images of 32x32x32, 215 ->
    160 us)."""
    n, h, w, c = x.shape
    (top, bottom), (left, right) = padding
    shape = (n, h + top + bottom, w + left + right, c)
    grid = np.empty((cells, c), x.dtype)
    pad_spatial(x, padding, out=grid[:math.prod(shape[:3])].reshape(shape))
    grid[math.prod(shape[:3]):] = 0
    return grid


def output_size(input_hw, kernel_hw, strides, padding, dilations=(1, 1)):
    return tuple((size + sum(pad) - (k - 1) * d - 1) // s + 1
                 for size, k, s, pad, d in zip(input_hw, kernel_hw, strides, padding, dilations))


def windows(padded, kernel_hw, out_hw, strides, dilations=(1, 1)):
    """A read-only view (N, OH, OW, KH, KW, C) of every window of a padded input: no copy."""
    n, _, _, c = padded.shape
    s_n, s_h, s_w, s_c = padded.strides
    shape = (n,) + tuple(out_hw) + tuple(kernel_hw) + (c,)
    step = (s_n, s_h * strides[0], s_w * strides[1], s_h * dilations[0], s_w * dilations[1], s_c)
    return as_strided(padded, shape, step, writeable=False)


def tap_slices(tap, out_hw, strides, dilations=(1, 1)):
    """Index of the padded-input cells that kernel tap (i, j) reads, for every output cell."""
    i, j = tap
    return (slice(None),
            slice(i * dilations[0], i * dilations[0] + (out_hw[0] - 1) * strides[0] + 1,
                  strides[0]),
            slice(j * dilations[1], j * dilations[1] + (out_hw[1] - 1) * strides[1] + 1,
                  strides[1]))


def add_taps(padded, blocks, kernel_hw, strides, dilations):
    """col2im: add per-tap blocks (KH*KW, N, OH, OW, C) onto the padded-input cells they read."""
    out_hw = blocks.shape[2:4]
    for i in range(kernel_hw[0]):
        for j in range(kernel_hw[1]):
            padded[tap_slices((i, j), out_hw, strides, dilations)] += blocks[i * kernel_hw[1] + j]


def backprop_to_input(tap_blocks, out_hw, input_shape, dtype, kernel_hw, strides, padding,
                      dilations=(1, 1)):
    """The input gradient: tap_blocks(batch slice) added back tap by tap, padding cropped."""
    (top, bottom), (left, right) = padding
    n, h, w, c = input_shape
    padded = np.zeros((n, h + top + bottom, w + left + right, c), dtype=dtype)
    over_batch(lambda rows: add_taps(padded[rows], tap_blocks(rows), kernel_hw, strides,
                                     dilations), n, out_hw[0] * out_hw[1])
    return padded[:, top:top + h, left:left + w]


def _im2col(x, kernel_hw, strides, padding, dilations):
    """Rows of the GEMM: one per output cell, KH*KW*C values each."""
    out_hw = output_size(x.shape[1:3], kernel_hw, strides, padding, dilations)
    view = windows(pad_spatial(x, padding), kernel_hw, out_hw, strides, dilations)
    if x.shape[3] == 1:
        # One channel: the view's contiguous run is one kernel row (KW values). Copied tap by
        # tap into tap-major rows, each copy runs along whole output rows, and BLAS takes the
        # transposed matrix as it is (MNIST's 28x28x1 into 3x3: 720 -> 90 us).
        taps = np.empty(tuple(kernel_hw) + view.shape[:3], dtype=x.dtype)
        for i in range(kernel_hw[0]):
            for j in range(kernel_hw[1]):
                taps[i, j] = view[:, :, :, i, j, 0]
        return taps.reshape(kernel_hw[0] * kernel_hw[1], -1).T
    return view.reshape(math.prod(view.shape[:3]), math.prod(view.shape[3:]))


def _cells(x):
    """(N, H, W, C) as an (N*H*W, C) matrix, also where C is 0."""
    return x.reshape(math.prod(x.shape[:3]), x.shape[3])


def _is_pointwise(kernel_hw, strides, padding):
    return kernel_hw == (1, 1) and strides == (1, 1) and not any(map(any, padding))


def _pixels_per_row(in_channels, out_width, strides, dilations):
    """GEMM rows that hold two horizontally adjacent output cells each (windows one column
    wider, at twice the stride, and a filter matrix twice as wide) keep BLAS's vectors full for
    a single-channel input and few filters: MNIST's 64x28x28x1 into 3x3x8, forward 243 -> 221
    us, filter gradient 276 -> 216 us. For more channels it does not pay (16 -> 32: +-2%)."""
    plain = in_channels != 1 or out_width % 2 or tuple(strides) != (1, 1)
    return 1 if plain or tuple(dilations) != (1, 1) else 2


def _widened_filter(filter, pixels):  # noqa: A002
    """(KH*(KW+pixels-1)*C, pixels*OC): column block p is the filter shifted right by p cells."""
    kh, kw, in_channels, out_channels = filter.shape
    wide = np.zeros((kh, kw + pixels - 1, in_channels, pixels, out_channels), filter.dtype)
    for p in range(pixels):
        wide[:, p:p + kw, :, p] = filter
    return wide.reshape(kh * (kw + pixels - 1) * in_channels, pixels * out_channels)


def _narrowed_gradient(wide, filter_shape, pixels):
    """The filter gradient from the widened filter's: the sum of its shifted column blocks."""
    kh, kw, in_channels, out_channels = filter_shape
    wide = wide.reshape(kh, kw + pixels - 1, in_channels, pixels, out_channels)
    return sum(wide[:, p:p + kw, :, p] for p in range(pixels))


def _im2col_rows(x, kernel_hw, strides, padding, dilations, pixels):
    """im2col for GEMM rows of `pixels` adjacent output cells: windows pixels - 1 wider."""
    widened = (kernel_hw[0], kernel_hw[1] + pixels - 1)
    return _im2col(x, widened, (strides[0], strides[1] * pixels), padding, dilations)


# The im2col rows of the last Conv2D input, kept for its filter gradient: a training step's
# backward pass reads the same input again, and tensors never change, so the same array still
# holds the same values. (input, geometry, {batch chunk: rows}) or None; the gradient takes them
# once, the next Conv2D replaces them. Only inputs of up to KEEP_MAX_BYTES of rows are kept.
# Demo CNN step: its filter gradient 380 -> 190 us; 32x32x16 -> 3x3x32, batch 32 (19 MB of
# rows), 2 cores: 1.95 ms on the padded grid, 1.65 ms from the kept rows.
_KEPT_ROWS = [None]
KEEP_MAX_BYTES = 32 << 20


def _take_rows(x, geometry):
    """{batch chunk (start, stop): im2col rows} kept for this input and geometry, else {}."""
    kept, _KEPT_ROWS[0] = _KEPT_ROWS[0], None
    return kept[2] if kept is not None and kept[0] is x and kept[1] == geometry else {}


def _geometry(kernel_hw, strides, padding, dilations, pixels):
    return (tuple(kernel_hw), tuple(strides), tuple(map(tuple, padding)), tuple(dilations),
            pixels)


@register_kernel("Conv2D", "numpy")
def conv2d(x, filter, strides, padding, dilations, epilogue=None):  # noqa: A002
    """`epilogue`, when given, runs in place on each batch chunk's fresh output (N, OH, OW, OC)
    right after its GEMM, while it is in cache (FusedConv2D's bias and activation)."""
    return _convolve(x, filter, strides, padding, dilations, epilogue, keep=True)


def _convolve(x, filter, strides, padding, dilations, epilogue=None, keep=False):  # noqa: A002
    """conv2d; with `keep`, its im2col rows are kept for the filter gradient (when it takes any
    and they are not too many), and rows kept before are dropped."""
    kh, kw, in_channels, out_channels = filter.shape
    if keep:
        _KEPT_ROWS[0] = None
    if _is_pointwise((kh, kw), strides, padding):
        y = (_cells(x) @ filter.reshape(in_channels, out_channels)).reshape(
            x.shape[:3] + (out_channels,))
        if epilogue is not None:
            epilogue(y)
        return y
    y, work = _convolution_chunks(x, filter, strides, padding, dilations, epilogue, keep)
    over_batch(work, x.shape[0], y.shape[1] * y.shape[2], filter.size)
    return y


def _convolution_chunks(x, filter, strides, padding, dilations, epilogue, keep):  # noqa: A002
    """(y, work): the output, and work(rows) that fills y[rows] for a batch chunk."""
    kh, kw, in_channels, out_channels = filter.shape
    out_hw = output_size(x.shape[1:3], (kh, kw), strides, padding, dilations)
    y = np.empty((x.shape[0],) + out_hw + (out_channels,), dtype=np.result_type(x, filter))
    if _cell_runs_apply(filter.shape, strides, dilations, x.shape, padding, out_hw):
        matrix = filter.transpose(1, 2, 0, 3).reshape(kw * in_channels, kh * out_channels)

        def runs(rows):
            _convolve_by_cell_runs(x[rows], matrix, (kh, kw), padding, y[rows])
            if epilogue is not None:
                epilogue(y[rows])
        return y, runs

    pixels = _pixels_per_row(in_channels, out_hw[1], strides, dilations)
    matrix = _widened_filter(filter, pixels)
    rows_bytes = len(x) * out_hw[0] * out_hw[1] // pixels * matrix.shape[0] * x.itemsize
    kept = {} if keep and rows_bytes <= KEEP_MAX_BYTES else None
    if kept is not None:  # filled chunk by chunk as they run
        _KEPT_ROWS[0] = (x, _geometry((kh, kw), strides, padding, dilations, pixels), kept)

    def gemm(rows):
        rows_in = _im2col_rows(x[rows], (kh, kw), strides, padding, dilations, pixels)
        if kept is not None:
            kept[rows.start, rows.stop] = rows_in
        small_gemms.matmul(rows_in, matrix, out=y[rows].reshape(len(rows_in), matrix.shape[1]))
        if epilogue is not None:
            epilogue(y[rows])
    return y, gemm


# Where a stride-1 convolution reads its input's cells in place (_convolve_by_cell_runs): where
# the im2col row it spares (KH*KW*C values) is RUNS_MIN_ROW_PER_FILTER times the filter count
# or more (one-row filters too: 1x3 16 -> 32 forward, im2col 804 us, runs 931). Forward + both
# gradients, batch 32 of 32x32 (16x16 where marked), 2 cores, im2col -> runs: 3x3 16 -> 16
# 3.88 -> 3.63 ms, 24 -> 32 7.64 -> 7.18, 20 -> 24 6.53 -> 6.47; 5x5 12 -> 32 13.85 -> 12.12,
# 16 -> 32 17.30 -> 14.17. Left on im2col (its rows also serve the filter gradient): 3x3 32 ->
# 48 15.16 -> 15.54, 16 -> 32 5.50 -> 5.72, 32 -> 64 (16x16) 4.70 -> 5.39; 5x5 3 -> 32 3.96 ->
# 6.24. Every input gradient here (its C and OC swapped) gains. On small images the grid's
# padding is a larger share of its GEMM: runs only where the grid has at most
# RUNS_MAX_GRID_CELLS per output cell (3x3 'same': 16x16 1.13 and up; at 14x14 64 -> 64 runs
# lose 4%, 12x12 32 -> 32 8%, 10x10 64 -> 64 9%, 8x8 128 -> 128 20%).
RUNS_MIN_ROW_PER_FILTER, RUNS_MAX_GRID_CELLS = 6.5, 1.14


def _cell_runs_apply(filter_shape, strides, dilations, input_shape, padding, out_hw):
    kh, kw, in_channels, out_channels = filter_shape
    if tuple(strides) != (1, 1) or tuple(dilations) != (1, 1) or kw == 1:
        return False
    _, grid_cells = _shared_padding_strides(input_shape, padding)
    return (kh * kw * in_channels >= RUNS_MIN_ROW_PER_FILTER * out_channels
            and grid_cells <= RUNS_MAX_GRID_CELLS * out_hw[0] * out_hw[1])


def _every_kth_cell(cells, k, blocks, rows, cells_per_row):
    """(k, blocks, rows, cells_per_row * C) view of a (cells, C) array: row r of block b of
    residue j starts at cell j + k * (b * rows + r) and runs on for cells_per_row cells."""
    cell, value = cells.strides
    return as_strided(cells, (k, blocks, rows, cells_per_row * cells.shape[1]),
                      (cell, rows * k * cell, k * cell, value))


def _convolve_by_cell_runs(x, matrix, kernel_hw, padding, y):
    """y = the stride-1 convolution of a batch chunk x, with no im2col copy.

    On the padded input flattened to a grid of cells (C values each, _shared_padding_grid), a
    kernel row's KW taps for output cell o read cells o .. o + KW - 1: KW*C consecutive values.
    Taking every KW-th cell as a GEMM row start (KW residues, one GEMM each), these runs are
    plain matrix rows. Times `matrix` ((KW, C) x (KH, OC): every kernel row's filter side by
    side) each gives, per grid cell, KH partial sums; the output cell (i, j) adds kernel row
    r's from grid cell (i + r, j). Input gradient of 32x32x16 -> 3x3x32 (dy 32 channels into
    16), 8 images on one core: im2col 1300 us, this 1030.
    """
    if not y.size:
        return
    (out_h, out_w), (kh, kw) = y.shape[1:3], kernel_hw
    row, image = _shared_padding_strides(x.shape, padding)
    cells = (len(x) - 1) * image + (out_h + kh - 2) * row + out_w  # the last one a sum reads
    starts = -(-cells // kw)  # GEMM rows of each residue
    rows = small_gemms.block_rows(matrix.shape[0], matrix.shape[1], starts)
    blocks = -(-starts // rows)
    grid = _shared_padding_grid(x, padding, blocks * rows * kw + kw - 1)
    sums = np.empty((blocks * rows * kw, matrix.shape[1]), y.dtype)
    np.matmul(_every_kth_cell(grid, kw, blocks, rows, kw), matrix,
              out=_every_kth_cell(sums, kw, blocks, rows, 1))
    cell, value = sums.strides
    row_sums = as_strided(sums, y.shape[:3] + (kh, y.shape[3]),
                          (image * cell, row * cell, cell, row * cell + y.shape[3] * value,
                           value), writeable=False)
    np.add.reduce(row_sums, axis=3, out=y)


def _shared_padding_strides(shape, padding):
    """Row and image strides, in cells, of _shared_padding_grid."""
    _, h, w, _ = shape
    (top, bottom), (left, right) = padding
    return w + max(left, right), (h + max(top, bottom)) * (w + max(left, right))


def _shared_padding_grid(x, padding, cells):
    """x (N, H, W, C) padded with zeros as a (cells, C) grid in which a row's right padding is
    the next row's left padding and an image's bottom padding the next image's top padding:
    rows of W + max(left, right) cells, images of H + max(top, bottom) rows. Window (i, j) of
    image n starts at cell n * image + i * row + j. 32x32 'same' 3x3: 33x33 cells an image, not
    34x34 (input gradient 32x32x32 -> 16, 16 images, one core: 1900 -> 1770 us)."""
    n, h, w, c = x.shape
    (top, bottom), (left, right) = padding
    row, image = _shared_padding_strides(x.shape, padding)
    start = top * row + left  # image 0's cell (0, 0): its top and left padding come first
    grid = np.empty((max(cells, start + n * image), c), x.dtype)
    grid[:start] = 0
    images = grid[start:start + n * image].reshape(n, image // row, row, c)
    images[:, :h, :w] = x
    images[:, :h, w:] = 0
    images[:, h:] = 0
    grid[start + n * image:] = 0
    return grid


# Where the stride-1 filter gradient runs on the grid: from GRID_MIN_CHANNELS input channels
# (each tap's GEMM has only C rows: 64x28x28x1 -> 3x3x8, im2col 272 us, grid 475; 3 -> 16: 710
# against 1156) up to GRID_MAX_FILTERS filters (im2col's GEMM is N = filters wide, and from 64
# it wins: 32x16x16x32 -> 64, grid 3.2 ms, im2col 2.2; 16 -> 32 at 32x32: grid 1.9, im2col
# 2.2-2.5; 128 -> 16 at 16x16: grid 4.2, im2col 8.6; 2 cores).
GRID_MIN_CHANNELS, GRID_MAX_FILTERS = 8, 32


def _filter_gradient_on_grid(x, dy, kernel_hw, padding, dilations):
    """The stride-1 filter gradient without im2col, as (KH, KW, C, OC).

    On the padded input flattened to a grid of cells (C values each), the cells that tap (i, j)
    reads for every output cell are the grid itself shifted by i*DH*Wp + j*DW cells: a plain
    (cells, C) matrix, no copy. With dy laid on the same grid (zeros where no output cell is),
    the tap's gradient is one GEMM, shifted_grid^T @ dy_grid, run in row blocks as in gemm.py;
    all taps and blocks are one stacked matmul. One core, 8 images 32x32x16 -> 3x3x32: 890 ->
    650 us.
    """
    n, h, w, c = x.shape
    out_h, out_w, out_channels = dy.shape[1:]
    (top, bottom), (left, right) = padding
    grid_h, grid_w = h + top + bottom, w + left + right
    cells = n * grid_h * grid_w
    rows = small_gemms.block_rows(c, out_channels, cells)
    blocks = -(-cells // rows)
    reach = (kernel_hw[0] - 1) * dilations[0] * grid_w + (kernel_hw[1] - 1) * dilations[1]
    grid = padded_grid(x, padding, blocks * rows + reach)  # taps read up to `reach` cells on
    dy_grid = padded_grid(dy, ((0, grid_h - out_h), (0, grid_w - out_w)), blocks * rows)
    cell, value = grid.strides
    shifted = as_strided(grid, tuple(kernel_hw) + (blocks, c, rows),
                         (dilations[0] * grid_w * cell, dilations[1] * cell, rows * cell, value,
                          cell), writeable=False)
    return np.matmul(shifted, dy_grid.reshape(blocks, rows, out_channels)).sum(
        axis=2, dtype=dy.dtype)


def _filter_gradient_on_grid_applies(filter_shape, strides):
    _, _, in_channels, out_channels = filter_shape
    return (tuple(strides) == (1, 1) and in_channels >= GRID_MIN_CHANNELS
            and out_channels <= GRID_MAX_FILTERS)


@register_kernel("Conv2DBackpropFilter", "numpy")
def conv2d_backprop_filter(x, dy, filter_shape, strides, padding, dilations):
    kh, kw, in_channels, out_channels = filter_shape
    if not dy.size:  # no output cells (an empty batch) or no filters
        return np.zeros(filter_shape, dtype=dy.dtype)
    if _is_pointwise((kh, kw), strides, padding):  # small GEMMs: 1 BLAS call 2.2 ms -> 0.34 ms
        return small_gemms.transposed_matmul(_cells(x), _cells(dy)).reshape(filter_shape)
    work, total = _filter_gradient_chunks(x, dy, filter_shape, strides, padding, dilations)
    return total(over_batch(work, x.shape[0], dy.shape[1] * dy.shape[2], math.prod(filter_shape)))


def _filter_gradient_chunks(x, dy, filter_shape, strides, padding, dilations):
    """(work, total): work(rows) gives a batch chunk's share of the filter gradient, and
    total(shares) the gradient: im2col(x)^T @ dy from the rows Conv2D kept for x where it kept
    them, else on the padded grid where that applies, else from im2col rows built here."""
    kh, kw, in_channels, out_channels = filter_shape
    pixels = _pixels_per_row(in_channels, dy.shape[2], strides, dilations)
    kept = _take_rows(x, _geometry((kh, kw), strides, padding, dilations, pixels))
    if not kept and _filter_gradient_on_grid_applies(filter_shape, strides):
        return (lambda rows: _filter_gradient_on_grid(x[rows], dy[rows], (kh, kw), padding,
                                                      dilations),
                lambda shares: np.sum(shares, axis=0, dtype=dy.dtype))

    def gemm(rows):
        rows_in = kept.get((rows.start, rows.stop))
        if rows_in is None:
            rows_in = _im2col_rows(x[rows], (kh, kw), strides, padding, dilations, pixels)
        return small_gemms.transposed_matmul(rows_in, dy[rows].reshape(-1, pixels * out_channels))

    def total(shares):
        return _narrowed_gradient(np.sum(shares, axis=0, dtype=dy.dtype), filter_shape, pixels)
    return gemm, total


def _correlation_geometry(dy, kernel_hw, dilations, padding):
    """At stride 1 the input gradient is dy, padded by the filter's reach less the forward
    padding, correlated with the flipped filter: no scatter-adds. Returns that dy and padding.
    """
    reach = [(k - 1) * d for k, d in zip(kernel_hw, dilations)]
    pads = [(r - before, r - after) for r, (before, after) in zip(reach, padding)]
    # Forward padding beyond the reach only met dy cells that read no input: crop them.
    rows, cols = (slice(max(0, -before), size - max(0, -after))
                  for size, (before, after) in zip(dy.shape[1:3], pads))
    return dy[:, rows, cols], tuple((max(0, a), max(0, b)) for a, b in pads)


def _correlation_chunks(dy, filter, dilations, padding):  # noqa: A002
    """(dx, work) of the stride-1 input gradient: dy convolved with the flipped filter."""
    dy, pads = _correlation_geometry(dy, filter.shape[:2], dilations, padding)
    flipped = np.ascontiguousarray(filter[::-1, ::-1].transpose(0, 1, 3, 2))
    return _convolution_chunks(dy, flipped, (1, 1), pads, dilations, None, False)


@register_kernel("Conv2DBackpropInput", "numpy")
def conv2d_backprop_input(dy, filter, input_shape, strides, padding, dilations):  # noqa: A002
    kh, kw, in_channels, out_channels = filter.shape
    if _is_pointwise((kh, kw), strides, padding):
        return (_cells(dy) @ filter.reshape(in_channels, out_channels).T
                ).reshape(input_shape)
    if tuple(strides) == (1, 1):
        dx, work = _correlation_chunks(dy, filter, dilations, padding)
        over_batch(work, dy.shape[0], dx.shape[1] * dx.shape[2], filter.size)
        return dx
    taps = filter.reshape(kh * kw, in_channels, out_channels).transpose(0, 2, 1)

    def tap_blocks(rows):  # one GEMM per tap: (cells, OC) @ (OC, C)
        blocks = np.matmul(dy[rows].reshape(1, -1, out_channels), taps)
        return blocks.reshape((kh * kw,) + dy[rows].shape[:3] + (in_channels,))

    return backprop_to_input(tap_blocks, dy.shape[1:3], input_shape, dy.dtype, (kh, kw),
                             strides, padding, dilations)


@register_kernel("Conv2DBackprop", "numpy")
def conv2d_backprop(x, dy, filter, strides, padding, dilations):  # noqa: A002
    """Both gradients of one Conv2D: at stride 1 in one pass over the batch chunks, each
    chunk's input gradient then its share of the filter gradient (one hand-off to the other
    cores, not two: 32x32x16 -> 3x3x32, batch 32, 2 cores, medians 4.0 -> 3.8 ms)."""
    if tuple(strides) != (1, 1) or _is_pointwise(filter.shape[:2], strides, padding) \
            or not dy.size:
        return (conv2d_backprop_input(dy, filter, x.shape, strides, padding, dilations),
                conv2d_backprop_filter(x, dy, filter.shape, strides, padding, dilations))
    dx, input_work = _correlation_chunks(dy, filter, dilations, padding)
    filter_work, total = _filter_gradient_chunks(x, dy, filter.shape, strides, padding,
                                                 dilations)

    def chunk(rows):
        input_work(rows)
        return filter_work(rows)

    return dx, total(over_batch(chunk, x.shape[0], dy.shape[1] * dy.shape[2], filter.size))


def _repeat_channels(x, multiplier):
    """Each channel `multiplier` times in a row (c0 c0 c1 c1 ...): a depthwise convolution with
    multiplier M is one with multiplier 1 over the C*M repeated channels."""
    return x if multiplier == 1 else np.repeat(x, multiplier, axis=-1)


WEIGHT_BLOCK_BYTES = 1 << 20  # per-channel weights spread over output rows, all taps together


def _spread_weights(filter, out_hw):  # noqa: A002
    """(KH, KW, R, OW, K) per-channel weights spread over R whole output rows (R the largest
    divisor of OH that keeps them under WEIGHT_BLOCK_BYTES). NumPy pays per inner loop of a
    broadcast multiply: one 32x32x16 chunk of 8 images takes 45 us with (K,)-long weights,
    24 us with one image's worth."""
    kh, kw, channels = filter.shape
    row_bytes = kh * kw * out_hw[1] * channels * filter.itemsize
    rows = max(r for r in range(1, out_hw[0] + 1)
               if out_hw[0] % r == 0 and (r == 1 or r * row_bytes <= WEIGHT_BLOCK_BYTES))
    return np.broadcast_to(filter[:, :, None, None],
                           (kh, kw, rows, out_hw[1], channels)).copy()


def _in_row_blocks(cells, rows):
    """(N, OH, OW, K) as (N, OH / rows, rows, OW, K): no copy, only an axis split."""
    n, oh, ow, k = cells.shape
    return cells.reshape(n, oh // rows, rows, ow, k)


def _taps_multiply_add(padded, weights, strides, dilations, out):
    """out = the sum over taps of each tap's window cells times its channel weights: one multiply
    and one add per tap over a batch chunk that stays in cache."""
    kh, kw, rows = weights.shape[:3]
    blocks, scratch = _in_row_blocks(out, rows), np.empty_like(out)
    for i in range(kh):
        for j in range(kw):
            cells = padded[tap_slices((i, j), out.shape[1:3], strides, dilations)]
            first = (i, j) == (0, 0)
            np.multiply(_in_row_blocks(cells, rows), weights[i, j],
                        out=blocks if first else _in_row_blocks(scratch, rows))
            if not first:
                out += scratch


@register_kernel("DepthwiseConv2dNative", "numpy")
def depthwise_conv2d(x, filter, strides, padding, dilations):  # noqa: A002
    """Per tap, a multiply-add over a cache-sized batch chunk, the chunks on every core (batch
    32, 32x32x16, 3x3, two idle cores: whole-tensor passes through a (C, M) broadcast took
    4.8 ms, this 1.6 ms)."""
    kh, kw, channels, multiplier = filter.shape
    out_hw = output_size(x.shape[1:3], (kh, kw), strides, padding, dilations)
    weights = _spread_weights(filter.reshape(kh, kw, -1), out_hw)
    y = np.empty((x.shape[0],) + out_hw + (channels * multiplier,), dtype=np.result_type(x, filter))

    def chunk(rows):
        padded = pad_spatial(_repeat_channels(x[rows], multiplier), padding)
        _taps_multiply_add(padded, weights, strides, dilations, y[rows])

    over_batch(chunk, x.shape[0], out_hw[0] * out_hw[1])
    return y


@register_kernel("DepthwiseConv2dNativeBackpropFilter", "numpy")
def depthwise_conv2d_backprop_filter(x, dy, filter_shape, strides, padding, dilations):
    """Per tap and batch chunk, window cells times dy summed down to (OW, K) by one einsum, then
    over OW (an 8-image 32x32x16 chunk: 17 us a tap; multiply then sum took 46 us)."""
    kh, kw, channels, multiplier = filter_shape
    out_hw = dy.shape[1:3]

    def chunk(rows):
        padded = pad_spatial(_repeat_channels(x[rows], multiplier), padding)
        return np.stack([np.einsum("nhwk,nhwk->wk", padded[tap_slices(tap, out_hw, strides,
                                                                      dilations)], dy[rows])
                         for tap in itertools.product(range(kh), range(kw))])

    partials = over_batch(chunk, x.shape[0], out_hw[0] * out_hw[1])
    by_column = np.sum(partials, axis=0, dtype=dy.dtype)
    return by_column.sum(axis=1, dtype=dy.dtype).reshape(filter_shape)


@register_kernel("DepthwiseConv2dNativeBackpropInput", "numpy")
def depthwise_conv2d_backprop_input(dy, filter, input_shape, strides, padding,  # noqa: A002
                                    dilations):
    kh, kw, channels, multiplier = filter.shape
    if tuple(strides) == (1, 1):  # dy correlated with the flipped filter, summed over M
        dy, pads = _correlation_geometry(dy, (kh, kw), dilations, padding)
        flipped = filter[::-1, ::-1].reshape(kh, kw, channels * multiplier, 1)
        grad = depthwise_conv2d(dy, flipped, (1, 1), pads, dilations)
        return grad.reshape(tuple(input_shape) + (multiplier,)).sum(axis=-1, dtype=grad.dtype)
    taps = filter.reshape(kh * kw, channels, multiplier)

    def tap_blocks(rows):  # per tap and channel: sum over the multiplier
        by_channel = dy[rows].reshape(dy[rows].shape[:3] + (channels, multiplier))
        return np.einsum("nhwcm,tcm->tnhwc", by_channel, taps)

    return backprop_to_input(tap_blocks, dy.shape[1:3], input_shape, dy.dtype, (kh, kw),
                             strides, padding, dilations)
