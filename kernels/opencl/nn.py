"""OpenCL softmax, cross-entropies, batch norm and one-hot.

Softmax rows along the last axis run one per work-item with vector loads; along an earlier
axis, 16 adjacent rows per work-item as vector lanes (nn.cl; no transpose). Batch norm and
one-hot are expressions of the strided template, broadcasting their small operands.
"""
import numpy as np

from engine.kernels.opencl import program, strided
from engine.kernels.opencl.creation import range_
from engine.kernels.opencl.elementwise import map_arrays
from engine.kernels.opencl.reduce import launch_items
from engine.registry import register_kernel


def _kernel(name, dtype):
    return program.kernel(program.read_source("nn.cl").replace("TYPE", program.c_type(dtype)),
                          name)


def _softmax(logits, axis, take_log):
    logits = strided.dense(logits)
    out = program.empty(logits.shape, logits.dtype)
    length = logits.shape[axis]
    inner = int(np.prod(logits.shape[axis + 1:], dtype=np.int64))
    if not logits.size:
        return out
    rows = logits.size // length
    if inner == 1:
        launch_items(_kernel("softmax_rows", logits.dtype), rows, logits.data, out.data,
                     np.int32(length), np.int32(rows), np.int32(take_log))
    else:
        blocks = -(-inner // 16)
        work = rows // inner * blocks
        launch_items(_kernel("softmax_lanes", logits.dtype), work, logits.data, out.data,
                     np.int32(length), np.int32(inner), np.int32(blocks), np.int32(work),
                     np.int32(take_log))
    return out


@register_kernel("Softmax", "opencl")
def softmax(logits, axis):
    return _softmax(logits, axis, False)


@register_kernel("LogSoftmax", "opencl")
def log_softmax(logits, axis):
    return _softmax(logits, axis, True)


def _cross_entropy(name, logits, labels, *row_outputs):
    """Run a cross-entropy kernel, one work-item per row; returns the loss per row."""
    logits, labels = strided.dense(logits), strided.dense(labels)
    loss = program.empty(logits.shape[:-1], logits.dtype)
    launch_items(_kernel(name, logits.dtype), loss.size, logits.data, labels.data, loss.data,
                 *(out.data for out in row_outputs), np.int32(logits.shape[-1]),
                 np.int32(loss.size))
    return loss


@register_kernel("SoftmaxCrossEntropy", "opencl")
def softmax_cross_entropy(logits, labels):
    return _cross_entropy("softmax_cross_entropy", logits, labels)


@register_kernel("SparseSoftmaxCrossEntropy", "opencl")
def sparse_softmax_cross_entropy(logits, labels):
    backprop = program.empty(logits.shape, logits.dtype)
    return _cross_entropy("sparse_softmax_cross_entropy", logits, labels, backprop), backprop


@register_kernel("BatchNorm", "opencl")
def batch_norm(x, mean, variance, offset, scale, epsilon):
    return map_arrays("(x - mean) * (scale / sqrt(variance + epsilon)) + offset",
                      ("x", "mean", "variance", "offset", "scale"),
                      [x, mean, variance, offset, scale], x.dtype,
                      scalars=[(x.dtype, "epsilon", epsilon)])


@register_kernel("OneHot", "opencl")
def one_hot(indices, depth, on_value, off_value, dtype):
    """indices[..., None] == arange(depth), broadcast, picking on_value or off_value."""
    positions = range_(0, 1, depth, "int32")
    return map_arrays("(index == position ? on : off)", ("index", "position"),
                      [indices.reshape(indices.shape + (1,)), positions], dtype,
                      scalars=[(dtype, "on", on_value), (dtype, "off", off_value)])
