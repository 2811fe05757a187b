// Per-pixel adaptive convolution: CUDA kernels of edgegeo.ops.adaptive_conv.
//
//   out[b,c,h,w] = sum_{i,j} kernels[b,h,w,i,j] * x[b,c,h+i,w+j]
//
// x (B,C,Hp,Wp) with Hp = H+K-1, Wp = W+K-1 (already padded by r = (K-1)/2), kernels
// (B,H,W,K,K) shared by all channels, out (B,C,H,W); all C-contiguous, float or double.
//
// Runtime: edgegeo/ops/cuda_backend.py compiles this file with NVRTC (CuPy RawModule); the
// TensorRT plugin loads the PTX of `nvcc -ptx` (cuda_backend.compile_ptx). So the file has
// no #include and its entry points are extern "C" (unmangled names, one per dtype).
//
// Each kernel is a grid-stride loop with one thread per element of what it writes, w (the
// contiguous axis) fastest so that a warp reads x / gout / out in coalesced runs. Every
// output element is written by exactly one thread: no atomics, deterministic results.
//  - forward:      one thread per (b,c,h,w), summing the K*K taps;
//  - grad_kernels: one thread per (b,tap,h,w), summing over the C channels -- the grid spans
//                  all K*K taps, so every tap of every window gets its gradient;
//  - grad_input:   one thread per padded input pixel (b,c,y,x), gathering from the output
//                  pixels whose window covers it: (h,w) = (y-i, x-j) inside the output.

template <typename T>
__device__ __forceinline__ void forward_impl(const T* __restrict__ x,
                                             const T* __restrict__ kernels,
                                             T* __restrict__ out, int B, int C, int H, int W,
                                             int K, int check_finite, int* __restrict__ non_finite)
{
    const long long n = (long long)B * C * H * W;
    const long long Hp = H + K - 1, Wp = W + K - 1, KK = (long long)K * K;
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < n; idx += stride) {
        const long long w = idx % W;
        const long long h = (idx / W) % H;
        const long long bc = idx / ((long long)W * H);  // b * C + c
        const long long b = bc / C;
        const T* xw = x + (bc * Hp + h) * Wp + w;
        const T* kw = kernels + ((b * H + h) * W + w) * KK;
        T acc = 0;
        for (int i = 0; i < K; ++i) {
            for (int j = 0; j < K; ++j) {
                acc += kw[i * K + j] * xw[i * Wp + j];
            }
        }
        out[idx] = acc;
        // acc - acc is 0 for finite acc and NaN for NaN/inf (no fast-math here)
        if (check_finite && !(acc - acc == T(0))) {
            atomicOr(non_finite, 1);
        }
    }
}

template <typename T>
__device__ __forceinline__ void grad_kernels_impl(const T* __restrict__ gout,
                                                  const T* __restrict__ x,
                                                  T* __restrict__ grad_kernels, int B, int C,
                                                  int H, int W, int K)
{
    const long long KK = (long long)K * K;
    const long long n = (long long)B * KK * H * W;
    const long long Hp = H + K - 1, Wp = W + K - 1;
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < n; idx += stride) {
        const long long w = idx % W;
        const long long h = (idx / W) % H;
        const long long tap = (idx / ((long long)W * H)) % KK;
        const long long b = idx / ((long long)W * H * KK);
        const long long i = tap / K, j = tap % K;
        T acc = 0;
        for (long long c = 0; c < C; ++c) {
            const long long bc = b * C + c;
            acc += gout[(bc * H + h) * W + w] * x[(bc * Hp + h + i) * Wp + w + j];
        }
        grad_kernels[((b * H + h) * W + w) * KK + tap] = acc;
    }
}

template <typename T>
__device__ __forceinline__ void grad_input_impl(const T* __restrict__ gout,
                                                const T* __restrict__ kernels,
                                                T* __restrict__ grad_x, int B, int C, int H,
                                                int W, int K)
{
    const long long Hp = H + K - 1, Wp = W + K - 1, KK = (long long)K * K;
    const long long n = (long long)B * C * Hp * Wp;
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < n; idx += stride) {
        const long long xp = idx % Wp;
        const long long y = (idx / Wp) % Hp;
        const long long bc = idx / (Wp * Hp);
        const long long b = bc / C;
        // taps (i, j) whose output pixel (y-i, xp-j) lies inside the H x W output
        const long long i_lo = y - H + 1 > 0 ? y - H + 1 : 0;
        const long long i_hi = y < K - 1 ? y : K - 1;
        const long long j_lo = xp - W + 1 > 0 ? xp - W + 1 : 0;
        const long long j_hi = xp < K - 1 ? xp : K - 1;
        T acc = 0;
        for (long long i = i_lo; i <= i_hi; ++i) {
            const long long h = y - i;
            for (long long j = j_lo; j <= j_hi; ++j) {
                const long long w = xp - j;
                acc += kernels[((b * H + h) * W + w) * KK + i * K + j] * gout[(bc * H + h) * W + w];
            }
        }
        grad_x[idx] = acc;
    }
}

extern "C" __global__ void adaptive_conv_forward_f32(const float* x, const float* kernels,
                                                     float* out, int B, int C, int H, int W,
                                                     int K, int check_finite, int* non_finite)
{
    forward_impl<float>(x, kernels, out, B, C, H, W, K, check_finite, non_finite);
}

extern "C" __global__ void adaptive_conv_forward_f64(const double* x, const double* kernels,
                                                     double* out, int B, int C, int H, int W,
                                                     int K, int check_finite, int* non_finite)
{
    forward_impl<double>(x, kernels, out, B, C, H, W, K, check_finite, non_finite);
}

extern "C" __global__ void adaptive_conv_grad_kernels_f32(const float* gout, const float* x,
                                                          float* grad_kernels, int B, int C,
                                                          int H, int W, int K)
{
    grad_kernels_impl<float>(gout, x, grad_kernels, B, C, H, W, K);
}

extern "C" __global__ void adaptive_conv_grad_kernels_f64(const double* gout, const double* x,
                                                          double* grad_kernels, int B, int C,
                                                          int H, int W, int K)
{
    grad_kernels_impl<double>(gout, x, grad_kernels, B, C, H, W, K);
}

extern "C" __global__ void adaptive_conv_grad_input_f32(const float* gout, const float* kernels,
                                                        float* grad_x, int B, int C, int H,
                                                        int W, int K)
{
    grad_input_impl<float>(gout, kernels, grad_x, B, C, H, W, K);
}

extern "C" __global__ void adaptive_conv_grad_input_f64(const double* gout,
                                                        const double* kernels, double* grad_x,
                                                        int B, int C, int H, int W, int K)
{
    grad_input_impl<double>(gout, kernels, grad_x, B, C, H, W, K);
}
