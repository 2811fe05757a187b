"""Custom ops of edgegeo, each defined once for CPU (Cython), CUDA and export.

- ``adaptive_conv(x, kernels)``: per-pixel adaptive convolution, differentiable
  (``adaptive_conv_backward`` gives both gradients without autograd).
- ``joint_bilateral_kernels(guide, radius, sigma_spatial, sigma_range)``: the per-pixel windows
  of a joint bilateral filter, for ``adaptive_conv``.
- ``joint_bilateral_upsample(src, guide, scale, ...)``: classic joint bilateral upsampling of a
  low-resolution depth / disparity / feature map, guided by the full-resolution image.
"""
from edgegeo.ops.adaptive import adaptive_conv, adaptive_conv_backward
from edgegeo.ops.bilateral import joint_bilateral_kernels, joint_bilateral_upsample

__all__ = ["adaptive_conv", "adaptive_conv_backward", "joint_bilateral_kernels",
           "joint_bilateral_upsample"]
