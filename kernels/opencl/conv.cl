// Convolution helpers over NHWC images and HWIO filters; TYPE is the element's C type.
// GEOMETRY: batch N, input H x W x C, output OH x OW, kernel KH x KW, strides SH, SW,
// padding top PT and left PL, dilations DH, DW.
#define GEOMETRY int N, int H, int W, int C, int OH, int OW, int KH, int KW, \
                 int SH, int SW, int PT, int PL, int DH, int DW

// im2col: one row per output cell, KH*KW*C values (zero outside the image). A work-item
// copies the C channels of one (tap, output cell), on the range (KH*KW, OW, N*OH).
__kernel void im2col(__global const TYPE* x, __global TYPE* cols, GEOMETRY)
{
    int tap = get_global_id(0), ow = get_global_id(1), z = get_global_id(2);
    int kw = tap % KW, kh = tap / KW, oh = z % OH, n = z / OH;
    int row = z * OW + ow;
    int ih = oh * SH - PT + kh * DH, iw = ow * SW - PL + kw * DW;
    __global TYPE* target = cols + ((long)row * KH * KW + tap) * C;
    if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
        __global const TYPE* source = x + ((long)(n * H + ih) * W + iw) * C;
        for (int c = 0; c < C; ++c) target[c] = source[c];
    } else {
        for (int c = 0; c < C; ++c) target[c] = (TYPE)0;
    }
}

// col2im: each input pixel sums the column entries of every (output cell, tap) that read it;
// a work-item owns one pixel's C channels (range (W, N*H)), so no two write the same cell.
__kernel void col2im(__global const TYPE* cols, __global TYPE* dx, GEOMETRY)
{
    int w = get_global_id(0), z = get_global_id(1);
    int h = z % H, n = z / H, pixel = z * W + w;
    __global TYPE* target = dx + (long)pixel * C;
    for (int c = 0; c < C; ++c) target[c] = (TYPE)0;
    for (int kh = 0; kh < KH; ++kh) {
        int th = h + PT - kh * DH;
        if (th < 0 || th % SH || th / SH >= OH) continue;
        for (int kw = 0; kw < KW; ++kw) {
            int tw = w + PL - kw * DW;
            if (tw < 0 || tw % SW || tw / SW >= OW) continue;
            int row = (n * OH + th / SH) * OW + tw / SW;
            __global const TYPE* source = cols + ((long)row * KH * KW + kh * KW + kw) * C;
            for (int c = 0; c < C; ++c) target[c] += source[c];
        }
    }
}

// Depthwise: filter (KH, KW, C, M), output channel c * M + m.
__kernel void depthwise_forward(__global const TYPE* x, __global const TYPE* f,
                                __global TYPE* y, int M, GEOMETRY)
{
    int at = get_global_id(0);
    int channel = at % (C * M), rest = at / (C * M);
    int ow = rest % OW; rest /= OW;
    int oh = rest % OH; int n = rest / OH;
    int c = channel / M, m = channel % M;
    TYPE total = 0;
    for (int kh = 0; kh < KH; ++kh) {
        int ih = oh * SH - PT + kh * DH;
        if (ih < 0 || ih >= H) continue;
        for (int kw = 0; kw < KW; ++kw) {
            int iw = ow * SW - PL + kw * DW;
            if (iw < 0 || iw >= W) continue;
            total += x[((n * H + ih) * W + iw) * C + c] * f[((kh * KW + kw) * C + c) * M + m];
        }
    }
    y[at] = total;
}

__kernel void depthwise_backprop_input(__global const TYPE* dy, __global const TYPE* f,
                                       __global TYPE* dx, int M, GEOMETRY)
{
    int at = get_global_id(0);
    int c = at % C, rest = at / C;
    int w = rest % W; rest /= W;
    int h = rest % H; int n = rest / H;
    TYPE total = 0;
    for (int kh = 0; kh < KH; ++kh) {
        int th = h + PT - kh * DH;
        if (th < 0 || th % SH || th / SH >= OH) continue;
        for (int kw = 0; kw < KW; ++kw) {
            int tw = w + PL - kw * DW;
            if (tw < 0 || tw % SW || tw / SW >= OW) continue;
            int cell = ((n * OH + th / SH) * OW + tw / SW) * C * M + c * M;
            int tap = ((kh * KW + kw) * C + c) * M;
            for (int m = 0; m < M; ++m)
                total += dy[cell + m] * f[tap + m];
        }
    }
    dx[at] = total;
}

// One work-group per filter entry: lanes stride over the N*OH*OW output cells, then a tree.
__kernel void depthwise_backprop_filter(__global const TYPE* x, __global const TYPE* dy,
                                        __global TYPE* df, int M, GEOMETRY,
                                        __local TYPE* scratch)
{
    int entry = get_group_id(0), lane = get_local_id(0), width = get_local_size(0);
    int m = entry % M, rest = entry / M;
    int c = rest % C; rest /= C;
    int kw = rest % KW; int kh = rest / KW;
    TYPE total = 0;
    for (int cell = lane; cell < N * OH * OW; cell += width) {
        int ow = cell % OW, oh = (cell / OW) % OH, n = cell / (OW * OH);
        int ih = oh * SH - PT + kh * DH, iw = ow * SW - PL + kw * DW;
        if (ih >= 0 && ih < H && iw >= 0 && iw < W)
            total += x[((n * H + ih) * W + iw) * C + c] * dy[(long)cell * C * M + c * M + m];
    }
    scratch[lane] = total;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int step = width / 2; step > 0; step /= 2) {
        if (lane < step) scratch[lane] += scratch[lane + step];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lane == 0) df[entry] = scratch[0];
}
