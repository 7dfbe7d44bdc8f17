// Row-wise softmax family. A row is `length` values `inner` apart; row r starts at
// (r / inner) * length * inner + r % inner. TYPE is the element's C type.

#define ROW_START(row) ((row / inner) * length * inner + row % inner)

// max and log(sum(exp(x - max))) of one row.
void row_stats(__global const TYPE* x, long start, int length, int inner,
               TYPE* row_max, TYPE* log_sum)
{
    TYPE top = -INFINITY, total = 0;
    for (int k = 0; k < length; ++k) top = fmax(top, x[start + (long)k * inner]);
    for (int k = 0; k < length; ++k) total += exp(x[start + (long)k * inner] - top);
    *row_max = top;
    *log_sum = log(total);
}

__kernel void softmax(__global const TYPE* x, __global TYPE* out, int length, int inner,
                      int take_log)
{
    long row = get_global_id(0), start = ROW_START(row);
    TYPE top, log_sum;
    row_stats(x, start, length, inner, &top, &log_sum);
    for (int k = 0; k < length; ++k) {
        long at = start + (long)k * inner;
        TYPE shifted = x[at] - top - log_sum;
        out[at] = take_log ? shifted : exp(shifted);
    }
}

// Rows along the last axis: -sum(labels * log_softmax(logits)).
__kernel void softmax_cross_entropy(__global const TYPE* logits, __global const TYPE* labels,
                                    __global TYPE* loss, int length)
{
    long row = get_global_id(0), start = row * length;
    int inner = 1;
    TYPE top, log_sum, total = 0;
    row_stats(logits, start, length, inner, &top, &log_sum);
    for (int k = 0; k < length; ++k)
        total += labels[start + k] * (logits[start + k] - top - log_sum);
    loss[row] = -total;
}

// Integer labels; out-of-range labels give NaN.
__kernel void sparse_softmax_cross_entropy(__global const TYPE* logits,
                                           __global const int* labels, __global TYPE* loss,
                                           int length)
{
    long row = get_global_id(0), start = row * length;
    int label = labels[row], inner = 1;
    TYPE top, log_sum;
    row_stats(logits, start, length, inner, &top, &log_sum);
    loss[row] = (label >= 0 && label < length) ? top + log_sum - logits[start + label] : NAN;
}
