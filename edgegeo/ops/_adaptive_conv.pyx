"""CPU kernels of the per-pixel adaptive convolution (front end: ``edgegeo.ops.adaptive``).

Notation: ``x (B, C, Hp, Wp)`` is the padded input with ``Hp = H + 2r``, ``Wp = W + 2r``;
``kernels (B, H, W, K, K)`` with ``K = 2r + 1`` hold one window per output pixel, shared by
all channels; ``out (B, C, H, W)``; ``t = i*K + j`` numbers the taps.

    out[b, c, h, w] = sum_ij kernels[b, h, w, i, j] * x[b, c, h + i, w + j]

Every function takes C-contiguous arrays of one dtype (float32 or float64, a fused type),
already validated by the front end, and writes its result into a preallocated output.

Parallelism and layout
----------------------
OpenMP ``prange`` runs over rows: (b, h) output rows for the forward pass and the kernel
gradient, (b, y) padded input rows for the input gradient. A thread owns the rows it writes,
so no two threads ever write the same element and no atomics are needed. Rows are handed out
one at a time (dynamic schedule): a row is C*K*K*W multiply-adds, so the hand-out costs
nothing, and a thread that the OS pre-empts on a busy machine does not hold up the others
(with a static split the op waited a whole time slice for it: 9-15 ms instead of 1.2 ms at
C = 1 on a loaded 2-core machine).

The inner loops run along w, the contiguous axis of x and out, in blocks of ``BLOCK`` pixels
(SSE-vectorised by gcc -O3) whose accumulators stay in registers across all K*K taps; the
last block of a row is shifted left to end at W, recomputing a few pixels, so every block is
full. The kernels' tap axis is the innermost one in memory, so each thread first copies the
windows of its row into a tap-major scratch buffer (``taps[t, w]``); that copy costs K*K*W
and serves all C channels. The kernel gradient sums over C into a per-thread K*K x BLOCK
buffer that stays in L1.

Input gradient as a gather: input pixel (y, x) receives from the output pixels whose window
covers it, ``gx[b, c, y, x] = sum_ij kernels[b, y-i, x-j, i, j] * gout[b, c, y-i, x-j]`` over
the (i, j) with ``0 <= y-i < H`` and ``0 <= x-j < W``. A thread computes whole padded rows y,
so each input element is written once (no scatter, no atomics, deterministic). Columns
``2r <= x < W`` receive from all K taps of a row (their output pixels are all inside) and run
in the blocked loop; the 2r border columns on each side take the bounds-checked scalar path.

Memory: besides the arrays passed in, one scratch buffer per thread (K*K*W values at most).
"""
cimport openmp
from cython.parallel cimport prange

import numpy as np

ctypedef fused real:
    float
    double

cdef enum:
    BLOCK = 16  # output pixels along w per register block (4 SSE vectors of float32)


cdef inline Py_ssize_t _threads() noexcept nogil:
    return openmp.omp_get_max_threads()


cdef inline void _gather_row_taps(const real* row_kernels, real* taps, Py_ssize_t W,
                                  Py_ssize_t KK) noexcept nogil:
    """taps[t, w] = row_kernels[w, t]: the windows of one output row, tap-major."""
    cdef Py_ssize_t w, t
    for w in range(W):
        for t in range(KK):
            taps[t * W + w] = row_kernels[w * KK + t]


cdef inline bint _all_finite(const real* values, Py_ssize_t n) noexcept nogil:
    """True if no value is NaN or inf: v - v is 0 for finite v and NaN otherwise."""
    cdef real total = 0
    cdef Py_ssize_t k
    for k in range(n):
        total = total + (values[k] - values[k])
    return total == 0


cdef inline void _forward_block(const real* x, const real* taps, real* out, Py_ssize_t W,
                                Py_ssize_t K, Py_ssize_t x_row, Py_ssize_t n) noexcept nogil:
    """out[u] = sum_ij taps[ij, u] * x[i, j + u] for u < n (n <= BLOCK); pointers at the block."""
    cdef real acc[BLOCK]
    cdef const real* xr
    cdef const real* kt
    cdef Py_ssize_t i, j, u
    for u in range(n):
        acc[u] = 0
    for i in range(K):
        xr = x + i * x_row
        for j in range(K):
            kt = taps + (i * K + j) * W
            for u in range(n):
                acc[u] += kt[u] * xr[j + u]
    for u in range(n):
        out[u] = acc[u]


cdef inline void _grad_kernels_block(const real* gout, const real* x, real* grad_kernels,
                                     real* acc, Py_ssize_t C, Py_ssize_t K, Py_ssize_t gout_plane,
                                     Py_ssize_t x_plane, Py_ssize_t x_row,
                                     Py_ssize_t n) noexcept nogil:
    """grad_kernels[u, ij] = sum_c gout[c, u] * x[c, i, j + u] for u < n (acc: K*K*BLOCK)."""
    cdef Py_ssize_t KK = K * K, c, i, j, u, t
    cdef const real* g
    cdef const real* xr
    cdef real* a
    for t in range(KK * BLOCK):
        acc[t] = 0
    for c in range(C):
        g = gout + c * gout_plane
        for i in range(K):
            xr = x + c * x_plane + i * x_row
            for j in range(K):
                a = acc + (i * K + j) * BLOCK
                for u in range(n):
                    a[u] += g[u] * xr[j + u]
    for u in range(n):
        for t in range(KK):
            grad_kernels[u * KK + t] = acc[t * BLOCK + u]


cdef inline void _grad_input_block(const real* gout_rows, const real* taps, real* gx,
                                   Py_ssize_t W, Py_ssize_t K, Py_ssize_t i_lo, Py_ssize_t i_hi,
                                   Py_ssize_t y, Py_ssize_t x0, Py_ssize_t n) noexcept nogil:
    """gx[u] = sum_ij taps[ij, x0+u-j] * gout[y-i, x0+u-j] for interior columns x0+u."""
    cdef real acc[BLOCK]
    cdef const real* g
    cdef const real* kt
    cdef Py_ssize_t i, j, u
    for u in range(n):
        acc[u] = 0
    for i in range(i_lo, i_hi + 1):
        for j in range(K):
            g = gout_rows + (y - i) * W + x0 - j
            kt = taps + (i * K + j) * W + x0 - j
            for u in range(n):
                acc[u] += kt[u] * g[u]
    for u in range(n):
        gx[x0 + u] = acc[u]


cdef inline real _grad_input_pixel(const real* gout_rows, const real* taps, Py_ssize_t W,
                                   Py_ssize_t K, Py_ssize_t i_lo, Py_ssize_t i_hi, Py_ssize_t y,
                                   Py_ssize_t xp) noexcept nogil:
    """The gather of one (border) input column xp, with the column bounds checked."""
    cdef real acc = 0
    cdef Py_ssize_t i, j
    cdef Py_ssize_t j_lo = xp - W + 1 if xp - W + 1 > 0 else 0
    cdef Py_ssize_t j_hi = xp if xp < K - 1 else K - 1
    for i in range(i_lo, i_hi + 1):
        for j in range(j_lo, j_hi + 1):
            acc = acc + taps[(i * K + j) * W + xp - j] * gout_rows[(y - i) * W + xp - j]
    return acc


def forward(const real[:, :, :, ::1] x, const real[:, :, :, :, ::1] kernels,
            real[:, :, :, ::1] out, bint check_finite):
    """Write ``out (B,C,H,W)``; return the number of rows holding NaN/inf (0 if unchecked)."""
    cdef Py_ssize_t B = out.shape[0], C = out.shape[1], H = out.shape[2], W = out.shape[3]
    cdef Py_ssize_t K = kernels.shape[3], KK = K * K
    cdef Py_ssize_t x_plane = x.shape[2] * x.shape[3], x_row = x.shape[3], out_plane = H * W
    cdef Py_ssize_t row, b, h, c, blk, w0, n_bad = 0
    cdef Py_ssize_t n = BLOCK if W >= BLOCK else W
    cdef real* taps
    if B * C * H * W == 0:
        return 0
    scratch_array = np.empty((_threads(), KK * W), np.float32 if real is float else np.float64)
    cdef real[:, ::1] scratch = scratch_array
    for row in prange(B * H, nogil=True, schedule="dynamic"):
        b = row // H
        h = row - b * H
        taps = &scratch[openmp.omp_get_thread_num(), 0]
        _gather_row_taps(&kernels[b, h, 0, 0, 0], taps, W, KK)
        for blk in range((W + n - 1) // n):
            # the last block ends at W (see module docstring)
            w0 = blk * n if blk * n + n <= W else W - n
            for c in range(C):
                _forward_block(&x[b, c, h, w0], taps + w0, &out[b, c, h, w0], W, K, x_row, n)
        if check_finite:
            for c in range(C):
                if not _all_finite(&out[b, c, h, 0], W):
                    n_bad += 1
    return n_bad


def grad_kernels(const real[:, :, :, ::1] gout, const real[:, :, :, ::1] x,
                 real[:, :, :, :, ::1] out):
    """Write ``out (B,H,W,K,K)``, the kernel gradient, from ``gout (B,C,H,W)`` and
    ``x (B,C,Hp,Wp)``."""
    cdef Py_ssize_t B = gout.shape[0], C = gout.shape[1], H = gout.shape[2], W = gout.shape[3]
    cdef Py_ssize_t K = out.shape[3], KK = K * K
    cdef Py_ssize_t x_plane = x.shape[2] * x.shape[3], x_row = x.shape[3], gout_plane = H * W
    cdef Py_ssize_t row, b, h, blk, w0
    cdef Py_ssize_t n = BLOCK if W >= BLOCK else W
    cdef real* acc
    if B * H * W == 0:
        return
    if C == 0:
        out[...] = 0
        return
    scratch_array = np.empty((_threads(), KK * BLOCK), np.float32 if real is float else np.float64)
    cdef real[:, ::1] scratch = scratch_array
    for row in prange(B * H, nogil=True, schedule="dynamic"):
        b = row // H
        h = row - b * H
        acc = &scratch[openmp.omp_get_thread_num(), 0]
        for blk in range((W + n - 1) // n):
            w0 = blk * n if blk * n + n <= W else W - n
            _grad_kernels_block(&gout[b, 0, h, w0], &x[b, 0, h, w0], &out[b, h, w0, 0, 0],
                                acc, C, K, gout_plane, x_plane, x_row, n)


def grad_input(const real[:, :, :, ::1] gout, const real[:, :, :, :, ::1] kernels,
               real[:, :, :, ::1] out):
    """Write ``out (B,C,Hp,Wp)``, the input gradient, from ``gout (B,C,H,W)`` and
    ``kernels (B,H,W,K,K)``."""
    cdef Py_ssize_t B = gout.shape[0], C = gout.shape[1], H = gout.shape[2], W = gout.shape[3]
    cdef Py_ssize_t K = kernels.shape[3], KK = K * K, r2 = K - 1
    cdef Py_ssize_t Hp = out.shape[2], Wp = out.shape[3]
    cdef Py_ssize_t row, b, y, i, i_lo, i_hi, j, w, c, blk, x0, xp
    cdef Py_ssize_t interior = W - r2  # columns r2 <= xp < W see every tap of their row
    cdef Py_ssize_t n = BLOCK if interior >= BLOCK else interior
    cdef Py_ssize_t border_right = W if W > r2 else r2  # first column of the right border
    cdef real* taps
    cdef real* gx
    cdef const real* g
    if B * C * Hp * Wp == 0:
        return
    if H * W == 0:
        out[...] = 0
        return
    scratch_array = np.empty((_threads(), KK * W), np.float32 if real is float else np.float64)
    cdef real[:, ::1] scratch = scratch_array
    for row in prange(B * Hp, nogil=True, schedule="dynamic"):
        b = row // Hp
        y = row - b * Hp
        i_lo = y - H + 1 if y - H + 1 > 0 else 0
        i_hi = y if y < r2 else r2
        taps = &scratch[openmp.omp_get_thread_num(), 0]
        for i in range(i_lo, i_hi + 1):  # taps[ij, w] = kernels[b, y-i, w, i, j]
            for w in range(W):
                for j in range(K):
                    taps[(i * K + j) * W + w] = kernels[b, y - i, w, i, j]
        for c in range(C):
            g = &gout[b, c, 0, 0]
            gx = &out[b, c, y, 0]
            if n > 0:
                for blk in range((interior + n - 1) // n):
                    x0 = r2 + blk * n if blk * n + n <= interior else W - n
                    _grad_input_block(g, taps, gx, W, K, i_lo, i_hi, y, x0, n)
            for xp in range(r2):
                gx[xp] = _grad_input_pixel(g, taps, W, K, i_lo, i_hi, y, xp)
            for xp in range(border_right, Wp):
                gx[xp] = _grad_input_pixel(g, taps, W, K, i_lo, i_hi, y, xp)
