// Row-wise softmax family; TYPE is the element's C type. A work-item takes one contiguous row
// with 16-wide vector loads, or 16 adjacent rows `inner` apart as the lanes of its vectors (PoCL
// does not vectorise across work-items, so each one does so itself).

TYPE fold_max(TYPE16 v)
{
    TYPE8 a = fmax(v.lo, v.hi);
    TYPE4 b = fmax(a.lo, a.hi);
    TYPE2 c = fmax(b.lo, b.hi);
    return fmax(c.x, c.y);
}

TYPE fold_sum(TYPE16 v)
{
    TYPE8 a = v.lo + v.hi;
    TYPE4 b = a.lo + a.hi;
    TYPE2 c = b.lo + b.hi;
    return c.x + c.y;
}

TYPE row_max(__global const TYPE* row, int length)
{
    TYPE16 top = -INFINITY;
    int k = 0;
    for (; k + 16 <= length; k += 16) top = fmax(top, vload16(0, row + k));
    TYPE result = fold_max(top);
    for (; k < length; ++k) result = fmax(result, row[k]);
    return result;
}

// sum(exp(row - top)); the exponentials are also written to `out` unless it is 0.
TYPE row_exp_sum(__global const TYPE* row, int length, TYPE top, __global TYPE* out)
{
    TYPE16 total = 0;
    int k = 0;
    for (; k + 16 <= length; k += 16) {
        TYPE16 e = exp(vload16(0, row + k) - top);
        if (out) vstore16(e, 0, out + k);
        total += e;
    }
    TYPE result = fold_sum(total);
    for (; k < length; ++k) {
        TYPE e = exp(row[k] - top);
        if (out) out[k] = e;
        result += e;
    }
    return result;
}

// Softmax (or log-softmax) of one row of `length` values `stride` apart, element by element.
void softmax_strided(__global const TYPE* x, __global TYPE* out, int length, int stride,
                     int take_log)
{
    TYPE top = -INFINITY, total = 0;
    for (int k = 0; k < length; ++k) top = fmax(top, x[k * stride]);
    for (int k = 0; k < length; ++k) total += exp(x[k * stride] - top);
    TYPE shift = top + log(total);
    for (int k = 0; k < length; ++k) {
        TYPE shifted = x[k * stride] - shift;
        out[k * stride] = take_log ? shifted : exp(shifted);
    }
}

// Contiguous rows (the last axis), one per work-item.
__kernel void softmax_rows(__global const TYPE* x, __global TYPE* out, int length, int rows,
                           int take_log)
{
    int row = get_global_id(0);
    if (row >= rows) return;
    long start = (long)row * length;
    x += start;
    out += start;
    TYPE top = row_max(x, length);
    if (take_log) {
        TYPE shift = top + log(row_exp_sum(x, length, top, 0));
        int k = 0;
        for (; k + 16 <= length; k += 16) vstore16(vload16(0, x + k) - shift, 0, out + k);
        for (; k < length; ++k) out[k] = x[k] - shift;
    } else {
        TYPE scale = 1 / row_exp_sum(x, length, top, out);
        int k = 0;
        for (; k + 16 <= length; k += 16) vstore16(vload16(0, out + k) * scale, 0, out + k);
        for (; k < length; ++k) out[k] *= scale;
    }
}

// Rows `inner` apart (an axis before the last): 16 adjacent rows per work-item, the last
// partial block of each outer index row by row.
__kernel void softmax_lanes(__global const TYPE* x, __global TYPE* out, int length, int inner,
                            int blocks, int work, int take_log)
{
    int id = get_global_id(0);
    if (id >= work) return;
    int lane0 = (id % blocks) * 16;
    long start = (long)(id / blocks) * length * inner + lane0;
    x += start;
    out += start;
    if (lane0 + 16 > inner) {
        for (int j = 0; lane0 + j < inner; ++j)
            softmax_strided(x + j, out + j, length, inner, take_log);
        return;
    }
    TYPE16 top = -INFINITY, total = 0;
    for (int k = 0; k < length; ++k) top = fmax(top, vload16(0, x + (long)k * inner));
    for (int k = 0; k < length; ++k) {
        TYPE16 e = exp(vload16(0, x + (long)k * inner) - top);
        if (!take_log) vstore16(e, 0, out + (long)k * inner);
        total += e;
    }
    if (take_log) {
        TYPE16 shift = top + log(total);
        for (int k = 0; k < length; ++k)
            vstore16(vload16(0, x + (long)k * inner) - shift, 0, out + (long)k * inner);
    } else {
        TYPE16 scale = 1 / total;
        for (int k = 0; k < length; ++k)
            vstore16(vload16(0, out + (long)k * inner) * scale, 0, out + (long)k * inner);
    }
}

// Rows along the last axis: -sum(labels * log_softmax(logits)).
__kernel void softmax_cross_entropy(__global const TYPE* logits, __global const TYPE* labels,
                                    __global TYPE* loss, int length, int rows)
{
    int row = get_global_id(0);
    if (row >= rows) return;
    logits += (long)row * length;
    labels += (long)row * length;
    TYPE top = row_max(logits, length);
    TYPE shift = top + log(row_exp_sum(logits, length, top, 0));
    TYPE16 total = 0;
    int k = 0;
    for (; k + 16 <= length; k += 16)
        total += vload16(0, labels + k) * (vload16(0, logits + k) - shift);
    TYPE result = fold_sum(total);
    for (; k < length; ++k) result += labels[k] * (logits[k] - shift);
    loss[row] = -result;
}

// Integer labels: the loss and its gradient softmax - one_hot(label) (written to `backprop`);
// an out-of-range label gives NaN in both.
__kernel void sparse_softmax_cross_entropy(__global const TYPE* logits,
                                           __global const int* labels, __global TYPE* loss,
                                           __global TYPE* backprop, int length, int rows)
{
    int row = get_global_id(0);
    if (row >= rows) return;
    int label = labels[row];
    int inside = label >= 0 && label < length;
    logits += (long)row * length;
    backprop += (long)row * length;
    TYPE top = row_max(logits, length);
    TYPE total = row_exp_sum(logits, length, top, backprop);
    loss[row] = inside ? top + log(total) - logits[label] : NAN;
    TYPE scale = inside ? 1 / total : NAN;
    for (int k = 0; k < length; ++k) backprop[k] = backprop[k] * scale - (k == label);
}
