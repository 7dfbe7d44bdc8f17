// Conv2D by im2col + GEMM: im2col gathers image patches into a (N*OH*OW, KH*KW*C) matrix
// whose column order (ky, kx, c) matches an HWIO filter reshaped to (KH*KW*C, O); col2im is
// its adjoint, written as a gather (one thread per image element, no atomics, deterministic).
// Images are NHWC and contiguous; padding cells read as zero.

#define GRID_STRIDE_LOOP(i, total)                                                      \
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (total);     \
       i += (long long)blockDim.x * gridDim.x)

template <typename T>
__global__ void im2col(const T* x, T* col, long long total, int h, int w, int c, int oh,
                       int ow, int kh, int kw, int sh, int sw, int dh, int dw, int pt, int pl) {
  GRID_STRIDE_LOOP(i, total) {
    int ch = (int)(i % c);
    long long rest = i / c;
    int kx = (int)(rest % kw);
    rest /= kw;
    int ky = (int)(rest % kh);
    rest /= kh;
    int xo = (int)(rest % ow);
    rest /= ow;
    int yo = (int)(rest % oh);
    long long n = rest / oh;
    int iy = yo * sh - pt + ky * dh;
    int ix = xo * sw - pl + kx * dw;
    bool inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
    col[i] = inside ? x[((n * h + iy) * w + ix) * c + ch] : T(0);
  }
}

template <typename T>
__global__ void col2im(const T* col, T* x, long long total, int h, int w, int c, int oh,
                       int ow, int kh, int kw, int sh, int sw, int dh, int dw, int pt, int pl) {
  GRID_STRIDE_LOOP(i, total) {
    int ch = (int)(i % c);
    long long rest = i / c;
    int ix = (int)(rest % w);
    rest /= w;
    int iy = (int)(rest % h);
    long long n = rest / h;
    T sum = T(0);
    for (int ky = 0; ky < kh; ++ky) {
      int ty = iy + pt - ky * dh;
      if (ty < 0 || ty % sh != 0 || ty / sh >= oh) continue;
      int yo = ty / sh;
      for (int kx = 0; kx < kw; ++kx) {
        int tx = ix + pl - kx * dw;
        if (tx < 0 || tx % sw != 0 || tx / sw >= ow) continue;
        int xo = tx / sw;
        sum += col[((((n * oh + yo) * ow + xo) * kh + ky) * kw + kx) * c + ch];
      }
    }
    x[i] = sum;
  }
}

template __global__ void im2col<float>(const float*, float*, long long, int, int, int, int, int,
                                       int, int, int, int, int, int, int, int);
template __global__ void im2col<double>(const double*, double*, long long, int, int, int, int,
                                        int, int, int, int, int, int, int, int, int);
template __global__ void col2im<float>(const float*, float*, long long, int, int, int, int, int,
                                       int, int, int, int, int, int, int, int);
template __global__ void col2im<double>(const double*, double*, long long, int, int, int, int,
                                        int, int, int, int, int, int, int, int, int);
