"""The contract between ops and kernels: every kernel's name, inputs and attributes.

A kernel is called as `kernel(*inputs, **attrs)` with native arrays as inputs. Ops validate and
normalise everything first, so kernels receive only the canonical forms written here:
axes are non-negative ints (tuples sorted), paddings are explicit ((top, bottom), (left, right)),
shapes are tuples of ints, dtypes are engine dtype names. Images are NHWC, filters HWIO.
Every op listed here has a kernel on every backend (tests/test_parity.py).
"""
from collections import namedtuple

Spec = namedtuple("Spec", "inputs attrs doc")

UNARY = ("Neg", "Abs", "Sign", "Exp", "Expm1", "Log", "Log1p", "Sqrt", "Rsqrt", "Square",
         "Reciprocal", "Sin", "Cos", "Tanh", "Sigmoid", "Relu", "Relu6", "Elu", "Selu",
         "Softplus", "Erf", "Floor", "Ceil", "Round", "LogicalNot", "IsNan", "IsFinite")
BINARY = ("Add", "Sub", "Mul", "Div", "FloorDiv", "Mod", "Pow", "Maximum", "Minimum",
          "SquaredDifference", "Equal", "NotEqual", "Less", "LessEqual", "Greater",
          "GreaterEqual", "LogicalAnd", "LogicalOr")
REDUCTIONS = ("Sum", "Mean", "Prod", "Max", "Min", "All", "Any")
# Fused optimizer updates (TF's ApplyAdam family): new values out, inputs untouched; no gradient.
OPTIMIZER_UPDATES = ("ApplyAdam", "ApplyMomentum", "ApplyRMSProp")

_CONV = ("strides", "padding", "dilations")
_POOL = ("pool_size", "strides", "padding")

OPS = {
    **{op: Spec(("x",), (), "elementwise; same dtype out (bool for LogicalNot/IsNan/IsFinite); "
                            "Round rounds half to even") for op in UNARY},
    "ReluGrad": Spec(("dy", "y"), (), "TF's ReluGrad: dy where y > 0 else 0, dy's dtype"),
    "SigmoidGrad": Spec(("dy", "y"), (), "dy * (y * (1 - y)), y a sigmoid's output (TF's "
                        "SigmoidGrad, inputs in ReluGrad's order)"),
    "TanhGrad": Spec(("dy", "y"), (), "dy * (1 - y * y), y a tanh's output (TF's TanhGrad)"),
    "LeakyRelu": Spec(("x",), ("alpha",), "x if x >= 0 else alpha * x"),
    "Gelu": Spec(("x",), ("approximate",), "x * Phi(x); tanh formula when approximate"),
    "Cast": Spec(("x",), ("dtype",), "convert to dtype (float->int truncates toward zero)"),
    "ClipByValue": Spec(("x",), ("clip_min", "clip_max"), "min(max(x, clip_min), clip_max)"),
    **{op: Spec(("a", "b"), (), "NumPy broadcasting, a and b of one dtype; comparisons and "
                                "Logical* give bool; FloorDiv/Mod follow Python's floor rules")
       for op in BINARY},
    "Select": Spec(("condition", "a", "b"), (), "where(condition, a, b), broadcasting all three"),
    **{op: Spec(("x",), ("axis", "keepdims"), "reduce over the sorted tuple `axis` (maybe empty)")
       for op in REDUCTIONS},
    "ArgMax": Spec(("x",), ("axis",), "int32 index of the first maximum along one axis"),
    "ArgMin": Spec(("x",), ("axis",), "int32 index of the first minimum along one axis"),
    "Cumsum": Spec(("x",), ("axis", "exclusive", "reverse"), "running sum along one axis"),
    "BatchMatMul": Spec(("a", "b"), ("transpose_a", "transpose_b"),
                        "rank-3 a (Ba, M, K) and b (Bb, K, N) before transposes; Ba == Bb or "
                        "one of them is 1 and broadcasts; out (max(Ba, Bb), M, N); or both "
                        "rank 2, (M, K) and (K, N): out (M, N)"),
    "FusedMatMul": Spec(("a", "b", "bias"), ("transpose_a", "transpose_b", "activation"),
                        "TF.js's fusedMatMul: BatchMatMul of two matrices (rank 2), plus bias "
                        "(N,) on every row, then activation 'linear' or 'relu'"),
    "Conv2D": Spec(("x", "filter"), _CONV, "x NHWC, filter HWIO; padding ((t, b), (l, r))"),
    "Conv2DBackpropInput": Spec(("dy", "filter"), ("input_shape",) + _CONV,
                                "gradient of Conv2D with respect to x (also conv2d_transpose)"),
    "Conv2DBackpropFilter": Spec(("x", "dy"), ("filter_shape",) + _CONV,
                                 "gradient of Conv2D with respect to the filter"),
    "Conv2DBackprop": Spec(("x", "dy", "filter"), _CONV,
                           "Conv2DBackpropInput and Conv2DBackpropFilter of one dy in one call: "
                           "(input gradient, filter gradient)"),
    "FusedConv2D": Spec(("x", "filter", "bias"), _CONV + ("activation",),
                        "TF.js's fusedConv2d: Conv2D, plus bias (out channels,) on every cell, "
                        "then activation 'linear' or 'relu'"),
    "DepthwiseConv2dNative": Spec(("x", "filter"), _CONV,
                                  "filter (kh, kw, C, M); out channels C*M ordered c*M + m"),
    "DepthwiseConv2dNativeBackpropInput": Spec(("dy", "filter"), ("input_shape",) + _CONV,
                                               "gradient of depthwise conv with respect to x"),
    "DepthwiseConv2dNativeBackpropFilter": Spec(("x", "dy"), ("filter_shape",) + _CONV,
                                                "gradient of depthwise conv w.r.t. the filter"),
    "MaxPool": Spec(("x",), _POOL, "NHWC; padded cells never win"),
    "MaxPoolGrad": Spec(("x", "y", "dy"), _POOL,
                        "dy routed to the first maximum of each window (TF's tie rule)"),
    "AvgPool": Spec(("x",), _POOL, "NHWC; the mean over the window cells inside the image"),
    "AvgPoolGrad": Spec(("dy",), ("input_shape",) + _POOL, "gradient of AvgPool"),
    "Softmax": Spec(("logits",), ("axis",), "numerically stable softmax along one axis"),
    "LogSoftmax": Spec(("logits",), ("axis",), "numerically stable log-softmax along one axis"),
    "BatchNorm": Spec(("x", "mean", "variance", "offset", "scale"), ("epsilon",),
                      "(x - mean) * scale / sqrt(variance + epsilon) + offset; the four "
                      "statistics have shape (C,) with C = x.shape[-1]"),
    "SoftmaxCrossEntropy": Spec(("logits", "labels"), (),
                                "per-row -sum(labels * log_softmax(logits)) over the last axis"),
    "SparseSoftmaxCrossEntropy": Spec(("logits", "labels"), (),
                                      "labels int32 of shape logits.shape[:-1]; (per-row loss, "
                                      "backprop = softmax(logits) - one_hot(labels)), as TF's "
                                      "SparseSoftmaxCrossEntropyWithLogits; a label out of "
                                      "range gives NaN in its row of both"),
    "OneHot": Spec(("indices",), ("depth", "on_value", "off_value", "dtype"),
                   "new last axis of size depth; out-of-range indices give all off_value"),
    "Reshape": Spec(("x",), ("shape",), "shape fully known (no -1)"),
    "Transpose": Spec(("x",), ("perm",), "perm a full permutation tuple"),
    "Concat": Spec(("*xs",), ("axis",), "variadic inputs, one dtype, all dims equal but axis"),
    "Slice": Spec(("x",), ("begin", "size"), "contiguous block; begin and size per dimension"),
    "Split": Spec(("x",), ("axis", "sizes"), "consecutive blocks along axis, one output per "
                  "size (the sizes add up to the axis's length), as a tuple"),
    "StridedSlice": Spec(("x",), ("begin", "end", "strides"),
                         "per-dimension Python slice(begin, end, stride), already normalised"),
    "StridedSliceGrad": Spec(("dy",), ("shape", "begin", "end", "strides"),
                             "zeros of `shape` with dy scattered into the strided slice"),
    "Pad": Spec(("x",), ("paddings", "constant_value"), "paddings ((before, after), ...)"),
    "Tile": Spec(("x",), ("reps",), "reps per dimension"),
    "BroadcastTo": Spec(("x",), ("shape",), "x has the same rank as shape"),
    "Reverse": Spec(("x",), ("axis",), "reverse along each axis of the tuple"),
    "GatherV2": Spec(("x", "indices"), ("axis",),
                     "indices int32 (any shape, in range); out x.shape[:axis] + indices.shape + "
                     "x.shape[axis+1:]"),
    "UnsortedSegmentSum": Spec(("data", "segment_ids"), ("num_segments",),
                               "segment_ids int32 of data.shape[:k]; out (num_segments,) + "
                               "data.shape[k:]; sums rows sharing an id (gather's gradient)"),
    "Fill": Spec((), ("shape", "value", "dtype"), "a new tensor of one value"),
    "Range": Spec((), ("start", "delta", "size", "dtype"), "start + delta * arange(size)"),
    "RandomUniform": Spec((), ("shape", "seed", "minval", "maxval", "dtype"),
                          "counter-based: the same seed gives the same numbers on every backend"),
    "RandomNormal": Spec((), ("shape", "seed", "mean", "stddev", "dtype"),
                         "counter-based Box-Muller on RandomUniform's stream"),
    "TruncatedNormal": Spec((), ("shape", "seed", "mean", "stddev", "dtype"),
                            "normal redrawn outside two standard deviations"),
    "ApplyAdam": Spec(("variable", "gradient", "m", "v"), ("alpha", "beta_1", "beta_2", "epsilon"),
                      "Keras's Adam: m' = m + (g - m)(1 - beta_1); v' = v + (g^2 - v)(1 - beta_2); "
                      "w' = w - m' alpha / (sqrt(v') + epsilon), alpha the bias-corrected "
                      "learning rate; out (w', m', v')"),
    "ApplyMomentum": Spec(("variable", "gradient", "m"), ("learning_rate", "momentum", "nesterov"),
                          "Keras's SGD: m' = momentum m - learning_rate g; w' = w + m' "
                          "(nesterov: w + momentum m' - learning_rate g); out (w', m')"),
    "ApplyRMSProp": Spec(("variable", "gradient", "v"), ("learning_rate", "rho", "epsilon"),
                         "Keras's RMSprop (not centered, no momentum): v' = v rho + g^2 (1 - rho); "
                         "w' = w - g learning_rate / sqrt(v' + epsilon); out (w', v')"),
}
