// Pooling over NHWC images; GEOMETRY as in conv.cl (dilations are 1). Windows see only the
// cells inside the image: padded cells never win a max and do not count in an average.
#define GEOMETRY int N, int H, int W, int C, int OH, int OW, int KH, int KW, \
                 int SH, int SW, int PT, int PL, int DH, int DW

#define OUTPUT_CELL(at) \
    int c = at % C, rest = at / C; \
    int ow = rest % OW; rest /= OW; \
    int oh = rest % OH; int n = rest / OH; \
    int h0 = oh * SH - PT, w0 = ow * SW - PL; \
    int h_begin = max(h0, 0), h_end = min(h0 + KH, H); \
    int w_begin = max(w0, 0), w_end = min(w0 + KW, W);

// Flat index (n, h, w, c) of the first maximum of the window of output cell `at`.
int first_max(__global const TYPE* x, int at, GEOMETRY)
{
    OUTPUT_CELL(at)
    int best = -1;
    for (int h = h_begin; h < h_end; ++h)
        for (int w = w_begin; w < w_end; ++w) {
            int i = ((n * H + h) * W + w) * C + c;
            if (best < 0 || x[i] > x[best]) best = i;
        }
    return best;
}

__kernel void max_pool(__global const TYPE* x, __global TYPE* y, GEOMETRY)
{
    int at = get_global_id(0);
    int best = first_max(x, at, N, H, W, C, OH, OW, KH, KW, SH, SW, PT, PL, DH, DW);
    y[at] = best < 0 ? -INFINITY : x[best];
}

__kernel void avg_pool(__global const TYPE* x, __global TYPE* y, GEOMETRY)
{
    int at = get_global_id(0);
    OUTPUT_CELL(at)
    TYPE total = 0;
    for (int h = h_begin; h < h_end; ++h)
        for (int w = w_begin; w < w_end; ++w)
            total += x[((n * H + h) * W + w) * C + c];
    y[at] = total / (TYPE)((h_end - h_begin) * (w_end - w_begin));
}

// Loop header over every output cell (oh, ow) whose window holds input cell (h, w).
#define FOR_WINDOWS_HOLDING(h, w) \
    for (int oh = max(0, (h + PT - KH + SH) / SH); oh <= min(OH - 1, (h + PT) / SH); ++oh) \
        for (int ow = max(0, (w + PL - KW + SW) / SW); ow <= min(OW - 1, (w + PL) / SW); ++ow)

__kernel void max_pool_grad(__global const TYPE* x, __global const TYPE* dy,
                            __global TYPE* dx, GEOMETRY)
{
    int at = get_global_id(0);
    int c = at % C, rest = at / C;
    int w = rest % W; rest /= W;
    int h = rest % H; int n = rest / H;
    TYPE total = 0;
    FOR_WINDOWS_HOLDING(h, w) {
        int cell = ((n * OH + oh) * OW + ow) * C + c;
        if (first_max(x, cell, N, H, W, C, OH, OW, KH, KW, SH, SW, PT, PL, DH, DW) == at)
            total += dy[cell];
    }
    dx[at] = total;
}

__kernel void avg_pool_grad(__global const TYPE* dy, __global TYPE* dx, GEOMETRY)
{
    int at = get_global_id(0);
    int c = at % C, rest = at / C;
    int w = rest % W; rest /= W;
    int h = rest % H; int n = rest / H;
    TYPE total = 0;
    FOR_WINDOWS_HOLDING(h, w) {
        int h0 = oh * SH - PT, w0 = ow * SW - PL;
        int count = (min(h0 + KH, H) - max(h0, 0)) * (min(w0 + KW, W) - max(w0, 0));
        total += dy[((n * OH + oh) * OW + ow) * C + c] / (TYPE)count;
    }
    dx[at] = total;
}
