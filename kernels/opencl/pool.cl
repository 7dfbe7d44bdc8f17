// Pooling over NHWC images; GEOMETRY as in conv.cl (dilations are 1). Windows see only the
// cells inside the image: padded cells never win a max and do not count in an average.
// Kernels run on 3-D ranges (C, width, N * height), so finding a cell costs one division.
#define GEOMETRY int N, int H, int W, int C, int OH, int OW, int KH, int KW, \
                 int SH, int SW, int PT, int PL, int DH, int DW
#define ALL_GEOMETRY N, H, W, C, OH, OW, KH, KW, SH, SW, PT, PL, DH, DW

// The output cell of this work-item: (n, oh, ow, c), flat index `at`, its window's bounds.
#define OUTPUT_CELL \
    int c = get_global_id(0), ow = get_global_id(1), z = get_global_id(2); \
    int oh = z % OH, n = z / OH; \
    int at = (z * OW + ow) * C + c; \
    int h0 = oh * SH - PT, w0 = ow * SW - PL; \
    int h_begin = max(h0, 0), h_end = min(h0 + KH, H); \
    int w_begin = max(w0, 0), w_end = min(w0 + KW, W);

// The input cell of this work-item: (n, h, w, c) and its flat index `at`.
#define INPUT_CELL \
    int c = get_global_id(0), w = get_global_id(1), z = get_global_id(2); \
    int h = z % H, n = z / H; \
    int at = (z * W + w) * C + c;

// Loop header over every output cell (oh, ow) whose window holds input cell (h, w).
#define FOR_WINDOWS_HOLDING(h, w) \
    for (int oh = max(0, (h + PT - KH + SH) / SH); oh <= min(OH - 1, (h + PT) / SH); ++oh) \
        for (int ow = max(0, (w + PL - KW + SW) / SW); ow <= min(OW - 1, (w + PL) / SW); ++ow)

// Flat index of the first maximum in the window rows h_begin..h_end, columns w_begin..w_end.
inline int first_max(__global const TYPE* x, int n, int c, int h_begin, int h_end,
                     int w_begin, int w_end, int H, int W, int C)
{
    int best = -1;
    TYPE top = 0;
    for (int h = h_begin; h < h_end; ++h)
        for (int w = w_begin; w < w_end; ++w) {
            int i = ((n * H + h) * W + w) * C + c;
            TYPE value = x[i];
            if (best < 0 || value > top) { best = i; top = value; }
        }
    return best;
}

#define WINDOW_FIRST_MAX first_max(x, n, c, h_begin, h_end, w_begin, w_end, H, W, C)

__kernel void max_pool(__global const TYPE* x, __global TYPE* y, GEOMETRY)
{
    OUTPUT_CELL
    int best = WINDOW_FIRST_MAX;
    y[at] = best < 0 ? -INFINITY : x[best];
}

__kernel void avg_pool(__global const TYPE* x, __global TYPE* y, GEOMETRY)
{
    OUTPUT_CELL
    TYPE total = 0;
    for (int h = h_begin; h < h_end; ++h)
        for (int w = w_begin; w < w_end; ++w)
            total += x[((n * H + h) * W + w) * C + c];
    y[at] = total / (TYPE)((h_end - h_begin) * (w_end - w_begin));
}

// The winning input cell of every window, for max_pool_grad.
__kernel void max_pool_winners(__global const TYPE* x, __global int* winners, GEOMETRY)
{
    OUTPUT_CELL
    winners[at] = WINDOW_FIRST_MAX;
}

__kernel void max_pool_grad(__global const int* winners, __global const TYPE* dy,
                            __global TYPE* dx, GEOMETRY)
{
    INPUT_CELL
    TYPE total = 0;
    FOR_WINDOWS_HOLDING(h, w) {
        int cell = ((n * OH + oh) * OW + ow) * C + c;
        if (winners[cell] == at)
            total += dy[cell];
    }
    dx[at] = total;
}

// Windows that do not overlap (strides >= pool size): each window writes its own cells, dy at
// its first maximum and 0 elsewhere, in one pass. Cells outside every window are zeroed first.
__kernel void max_pool_grad_disjoint(__global const TYPE* x, __global const TYPE* dy,
                                     __global TYPE* dx, GEOMETRY)
{
    OUTPUT_CELL
    int best = WINDOW_FIRST_MAX;
    for (int h = h_begin; h < h_end; ++h)
        for (int w = w_begin; w < w_end; ++w) {
            int i = ((n * H + h) * W + w) * C + c;
            dx[i] = i == best ? dy[at] : (TYPE)0;
        }
}

__kernel void avg_pool_grad(__global const TYPE* dy, __global TYPE* dx, GEOMETRY)
{
    INPUT_CELL
    TYPE total = 0;
    FOR_WINDOWS_HOLDING(h, w) {
        int h0 = oh * SH - PT, w0 = ow * SW - PL;
        int count = (min(h0 + KH, H) - max(h0, 0)) * (min(w0 + KW, W) - max(w0, 0));
        total += dy[((n * OH + oh) * OW + ow) * C + c] / (TYPE)count;
    }
    dx[at] = total;
}
