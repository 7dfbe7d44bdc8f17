// Depthwise Conv2D on NHWC images with a (KH, KW, C, M) filter: output channel c*M + m sees
// only input channel c. Forward and input gradient use one thread per output element (gather,
// deterministic); the filter gradient uses one block per filter element and a block reduction.

#define GRID_STRIDE_LOOP(i, total)                                                      \
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (total);     \
       i += (long long)blockDim.x * gridDim.x)

#define REDUCE_THREADS 256  // blockDim.x of depthwise_backprop_filter

template <typename T>
__global__ void depthwise_forward(const T* x, const T* filter, T* y, long long total, int h,
                                  int w, int c, int m, int oh, int ow, int kh, int kw, int sh,
                                  int sw, int dh, int dw, int pt, int pl) {
  GRID_STRIDE_LOOP(i, total) {
    int out_channel = (int)(i % (c * m));
    long long rest = i / (c * m);
    int xo = (int)(rest % ow);
    rest /= ow;
    int yo = (int)(rest % oh);
    long long n = rest / oh;
    int ch = out_channel / m;
    int mult = out_channel % m;
    T sum = T(0);
    for (int ky = 0; ky < kh; ++ky) {
      int iy = yo * sh - pt + ky * dh;
      if (iy < 0 || iy >= h) continue;
      for (int kx = 0; kx < kw; ++kx) {
        int ix = xo * sw - pl + kx * dw;
        if (ix < 0 || ix >= w) continue;
        sum += x[((n * h + iy) * w + ix) * c + ch] * filter[((ky * kw + kx) * c + ch) * m + mult];
      }
    }
    y[i] = sum;
  }
}

template <typename T>
__global__ void depthwise_backprop_input(const T* dy, const T* filter, T* dx, long long total,
                                         int h, int w, int c, int m, int oh, int ow, int kh,
                                         int kw, int sh, int sw, int dh, int dw, int pt, int pl) {
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
        const T* dy_cell = dy + ((n * oh + yo) * ow + xo) * c * m + ch * m;
        const T* f_cell = filter + ((ky * kw + kx) * c + ch) * m;
        for (int mult = 0; mult < m; ++mult) sum += dy_cell[mult] * f_cell[mult];
      }
    }
    dx[i] = sum;
  }
}

template <typename T>
__global__ void depthwise_backprop_filter(const T* x, const T* dy, T* dfilter, int filter_size,
                                          int batch, int h, int w, int c, int m, int oh, int ow,
                                          int kh, int kw, int sh, int sw, int dh, int dw, int pt,
                                          int pl) {
  __shared__ T partial[REDUCE_THREADS];
  long long cells = (long long)batch * oh * ow;
  for (int f = blockIdx.x; f < filter_size; f += gridDim.x) {
    int mult = f % m;
    int ch = (f / m) % c;
    int kx = (f / (m * c)) % kw;
    int ky = f / (m * c * kw);
    T sum = T(0);
    for (long long cell = threadIdx.x; cell < cells; cell += blockDim.x) {
      int xo = (int)(cell % ow);
      int yo = (int)((cell / ow) % oh);
      long long n = cell / ((long long)ow * oh);
      int iy = yo * sh - pt + ky * dh;
      int ix = xo * sw - pl + kx * dw;
      if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
      sum += x[((n * h + iy) * w + ix) * c + ch] * dy[cell * c * m + ch * m + mult];
    }
    partial[threadIdx.x] = sum;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
      if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
      __syncthreads();
    }
    if (threadIdx.x == 0) dfilter[f] = partial[0];
    __syncthreads();
  }
}

template __global__ void depthwise_forward<float>(const float*, const float*, float*, long long,
                                                  int, int, int, int, int, int, int, int, int,
                                                  int, int, int, int, int);
template __global__ void depthwise_forward<double>(const double*, const double*, double*,
                                                   long long, int, int, int, int, int, int, int,
                                                   int, int, int, int, int, int, int);
template __global__ void depthwise_backprop_input<float>(const float*, const float*, float*,
                                                         long long, int, int, int, int, int, int,
                                                         int, int, int, int, int, int, int, int);
template __global__ void depthwise_backprop_input<double>(const double*, const double*, double*,
                                                          long long, int, int, int, int, int,
                                                          int, int, int, int, int, int, int,
                                                          int, int);
template __global__ void depthwise_backprop_filter<float>(const float*, const float*, float*, int,
                                                          int, int, int, int, int, int, int,
                                                          int, int, int, int, int, int, int,
                                                          int);
template __global__ void depthwise_backprop_filter<double>(const double*, const double*, double*,
                                                           int, int, int, int, int, int, int,
                                                           int, int, int, int, int, int, int,
                                                           int, int);
