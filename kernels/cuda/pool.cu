// Max and average pooling on NHWC images, and their gradients. Padding cells never take part:
// they never win a max and are not counted in an average. Gradients are gathers (one thread
// per input element summing over the windows that contain it): no atomics, deterministic.

#define GRID_STRIDE_LOOP(i, total)                                                      \
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (total);     \
       i += (long long)blockDim.x * gridDim.x)

template <typename T> __device__ T negative_infinity();
template <> __device__ float negative_infinity<float>() { return -__int_as_float(0x7f800000); }
template <> __device__ double negative_infinity<double>() {
  return -__longlong_as_double(0x7ff0000000000000LL);
}

// Index (n, y, x, ch) of the first maximum of window (yo, xo): TF's tie rule, scan order ky, kx.
template <typename T>
__device__ long long window_argmax(const T* x, long long n, int yo, int xo, int ch, int h, int w,
                                   int c, int kh, int kw, int sh, int sw, int pt, int pl) {
  long long best_index = -1;
  T best = negative_infinity<T>();
  for (int ky = 0; ky < kh; ++ky) {
    int iy = yo * sh - pt + ky;
    if (iy < 0 || iy >= h) continue;
    for (int kx = 0; kx < kw; ++kx) {
      int ix = xo * sw - pl + kx;
      if (ix < 0 || ix >= w) continue;
      long long index = ((n * h + iy) * w + ix) * c + ch;
      if (best_index < 0 || x[index] > best) {
        best = x[index];
        best_index = index;
      }
    }
  }
  return best_index;
}

template <typename T>
__global__ void max_pool(const T* x, T* y, long long total, int h, int w, int c, int oh, int ow,
                         int kh, int kw, int sh, int sw, int pt, int pl) {
  GRID_STRIDE_LOOP(i, total) {
    int ch = (int)(i % c);
    long long rest = i / c;
    int xo = (int)(rest % ow);
    rest /= ow;
    int yo = (int)(rest % oh);
    long long n = rest / oh;
    long long best = window_argmax(x, n, yo, xo, ch, h, w, c, kh, kw, sh, sw, pt, pl);
    y[i] = best < 0 ? negative_infinity<T>() : x[best];
  }
}

template <typename T>
__global__ void max_pool_grad(const T* x, const T* dy, T* dx, long long total, int h, int w,
                              int c, int oh, int ow, int kh, int kw, int sh, int sw, int pt,
                              int pl) {
  GRID_STRIDE_LOOP(i, total) {
    int ch = (int)(i % c);
    long long rest = i / c;
    int ix = (int)(rest % w);
    rest /= w;
    int iy = (int)(rest % h);
    long long n = rest / h;
    T sum = T(0);
    for (int ky = 0; ky < kh; ++ky) {
      int ty = iy + pt - ky;
      if (ty < 0 || ty % sh != 0 || ty / sh >= oh) continue;
      int yo = ty / sh;
      for (int kx = 0; kx < kw; ++kx) {
        int tx = ix + pl - kx;
        if (tx < 0 || tx % sw != 0 || tx / sw >= ow) continue;
        int xo = tx / sw;
        if (window_argmax(x, n, yo, xo, ch, h, w, c, kh, kw, sh, sw, pt, pl) == i) {
          sum += dy[((n * oh + yo) * ow + xo) * c + ch];
        }
      }
    }
    dx[i] = sum;
  }
}

// Number of window cells inside the image along one axis.
__device__ int cells_inside(int out, int stride, int pad, int size, int k) {
  int start = out * stride - pad;
  int first = start < 0 ? 0 : start;
  int last = start + k < size ? start + k : size;
  return last > first ? last - first : 0;
}

template <typename T>
__global__ void avg_pool(const T* x, T* y, long long total, int h, int w, int c, int oh, int ow,
                         int kh, int kw, int sh, int sw, int pt, int pl) {
  GRID_STRIDE_LOOP(i, total) {
    int ch = (int)(i % c);
    long long rest = i / c;
    int xo = (int)(rest % ow);
    rest /= ow;
    int yo = (int)(rest % oh);
    long long n = rest / oh;
    T sum = T(0);
    for (int ky = 0; ky < kh; ++ky) {
      int iy = yo * sh - pt + ky;
      if (iy < 0 || iy >= h) continue;
      for (int kx = 0; kx < kw; ++kx) {
        int ix = xo * sw - pl + kx;
        if (ix < 0 || ix >= w) continue;
        sum += x[((n * h + iy) * w + ix) * c + ch];
      }
    }
    int count = cells_inside(yo, sh, pt, h, kh) * cells_inside(xo, sw, pl, w, kw);
    y[i] = count > 0 ? sum / T(count) : T(0);
  }
}

template <typename T>
__global__ void avg_pool_grad(const T* dy, T* dx, long long total, int h, int w, int c, int oh,
                              int ow, int kh, int kw, int sh, int sw, int pt, int pl) {
  GRID_STRIDE_LOOP(i, total) {
    int ch = (int)(i % c);
    long long rest = i / c;
    int ix = (int)(rest % w);
    rest /= w;
    int iy = (int)(rest % h);
    long long n = rest / h;
    T sum = T(0);
    for (int ky = 0; ky < kh; ++ky) {
      int ty = iy + pt - ky;
      if (ty < 0 || ty % sh != 0 || ty / sh >= oh) continue;
      int yo = ty / sh;
      for (int kx = 0; kx < kw; ++kx) {
        int tx = ix + pl - kx;
        if (tx < 0 || tx % sw != 0 || tx / sw >= ow) continue;
        int xo = tx / sw;
        int count = cells_inside(yo, sh, pt, h, kh) * cells_inside(xo, sw, pl, w, kw);
        sum += dy[((n * oh + yo) * ow + xo) * c + ch] / T(count);
      }
    }
    dx[i] = sum;
  }
}

template __global__ void max_pool<float>(const float*, float*, long long, int, int, int, int, int,
                                         int, int, int, int, int, int);
template __global__ void max_pool<double>(const double*, double*, long long, int, int, int, int,
                                          int, int, int, int, int, int, int);
template __global__ void max_pool_grad<float>(const float*, const float*, float*, long long, int,
                                              int, int, int, int, int, int, int, int, int, int);
template __global__ void max_pool_grad<double>(const double*, const double*, double*, long long,
                                               int, int, int, int, int, int, int, int, int, int,
                                               int);
template __global__ void avg_pool<float>(const float*, float*, long long, int, int, int, int, int,
                                         int, int, int, int, int, int);
template __global__ void avg_pool<double>(const double*, double*, long long, int, int, int, int,
                                          int, int, int, int, int, int, int);
template __global__ void avg_pool_grad<float>(const float*, float*, long long, int, int, int, int,
                                              int, int, int, int, int, int, int);
template __global__ void avg_pool_grad<double>(const double*, double*, long long, int, int, int,
                                               int, int, int, int, int, int, int, int);
