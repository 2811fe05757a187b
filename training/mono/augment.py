"""Augmentations of the Depth Anything recipe.

* Geometric (every stream, on the CPU when a batch is built): random resized crops and
  horizontal flips of numpy images, applied identically to an image and its depth.
* Camera (labelled frames, numpy): exposure, white balance, tone curve, blur, noise, JPEG.
* Photo style (labelled frames, torch, optional): the low-frequency amplitude spectrum of a
  rendered crop replaced by a real photo's (FDA: Yang & Soatto, "FDA: Fourier Domain Adaptation
  for Semantic Segmentation", CVPR 2020) — the photo's global colour, contrast and illumination
  gradients on the rendered geometry, whose phase (edges, shapes) and label are kept.
* Strong perturbations (the student's unlabelled input only, on the training device): colour
  jitter (brightness, contrast, saturation, hue; p = 0.8), random grey (p = 0.2), Gaussian blur
  (p = 0.5, σ ∈ [0.1, 2] px) — the UniMatch settings Depth Anything uses — and CutMix boxes
  (p = 0.5) snapped to the patch grid so the frozen encoder's token maps mix exactly like the
  pixels.

Tensor images are ``(B, 3, H, W)`` float32 RGB in [0, 1]; perturbations keep shape, dtype
and range. Randomness comes from an explicit ``torch.Generator`` (CPU) so that a step's draws
depend only on its seed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

# RGB → YIQ; a hue rotation is a rotation of the (I, Q) plane.
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114],
                            [0.596, -0.274, -0.322],
                            [0.211, -0.523, 0.312]])
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)
_GREY = torch.tensor([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class PerturbSettings:
    """Strength of the student's perturbations (defaults: UniMatch / Depth Anything)."""

    jitter_p: float = 0.8
    brightness: float = 0.5
    contrast: float = 0.5
    saturation: float = 0.5
    hue: float = 0.25
    grey_p: float = 0.2
    blur_p: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    cutmix_p: float = 0.5
    cutmix_area: tuple[float, float] = (0.02, 0.4)
    cutmix_aspect: tuple[float, float] = (0.3, 1 / 0.3)


# ----------------------------------------------------------------------------- geometric (numpy)

def random_resized_crop_box(height: int, width: int, out_hw: tuple[int, int],
                            rng: np.random.Generator, area: tuple[float, float],
                            aspect_jitter: float = 0.0) -> tuple[int, int, int, int]:
    """A crop ``(top, left, h, w)`` of an ``height × width`` image covering a fraction in
    ``area`` of the largest crop with the output's aspect ratio (times ``exp(±aspect_jitter)``).
    """
    out_h, out_w = out_hw
    aspect = (out_w / out_h) * math.exp(rng.uniform(-aspect_jitter, aspect_jitter))
    full_h = min(height, width / aspect)              # largest crop of that aspect
    fraction = rng.uniform(*area)
    h = max(2, min(height, int(round(full_h * math.sqrt(fraction)))))
    w = max(2, min(width, int(round(h * aspect))))
    top = int(rng.integers(0, height - h + 1))
    left = int(rng.integers(0, width - w + 1))
    return top, left, h, w


def crop_resize_rgb(image: np.ndarray, box: tuple[int, int, int, int], out_hw: tuple[int, int],
                    flip: bool) -> torch.Tensor:
    """``(H, W, 3) uint8`` → ``(3, h, w) float32`` in [0, 1]: crop, resize (area-averaging when
    shrinking), optional horizontal flip."""
    top, left, h, w = box
    crop = torch.from_numpy(np.ascontiguousarray(image[top:top + h, left:left + w]))
    crop = crop.permute(2, 0, 1).unsqueeze(0).float() / 255.0
    out = F.interpolate(crop, size=out_hw, mode="bilinear", align_corners=False,
                        antialias=True).clamp(0.0, 1.0)[0]
    return out.flip(-1) if flip else out


def crop_resize_depth(depth: np.ndarray, box: tuple[int, int, int, int],
                      out_hw: tuple[int, int], flip: bool) -> torch.Tensor:
    """``(H, W) float32`` metres (0 = invalid) → ``(1, h, w)``: crop, nearest resize (never
    blends a valid depth with an invalid 0), optional flip."""
    top, left, h, w = box
    crop = torch.from_numpy(np.ascontiguousarray(depth[top:top + h, left:left + w]))
    out = F.interpolate(crop[None, None].float(), size=out_hw, mode="nearest-exact")[0]
    return out.flip(-1) if flip else out


def camera_augment(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What a real camera does to a labelled frame, on ``(H, W, 3) uint8`` RGB → same: exposure
    (gain 2^N(0, 0.4)), white balance (per-channel gains ×[0.85, 1.15]), tone curve (gamma
    [0.8, 1.25]), Gaussian blur (p = 0.25, σ ∈ [0.3, 1.2] px), sensor noise (σ ∈ [0, 0.02]) and
    JPEG compression (p = 0.4, quality 30–90). Geometry is untouched, so the depth label
    still holds."""
    import cv2

    x = image.astype(np.float32) / 255.0
    gains = 2.0 ** rng.normal(0.0, 0.4) * rng.uniform(0.85, 1.15, 3).astype(np.float32)
    x = np.clip(x * gains, 0.0, 1.0) ** rng.uniform(0.8, 1.25)
    if rng.random() < 0.25:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.3, 1.2))
    x = x + rng.normal(0.0, rng.uniform(0.0, 0.02), x.shape).astype(np.float32)
    out = np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.4:
        ok, data = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY,
                                                         int(rng.integers(30, 91))])
        out = np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1])
    return out


# ------------------------------------------------------------------------- photo style (torch)

def fourier_style(image: torch.Tensor, style: torch.Tensor, beta: float) -> torch.Tensor:
    """FDA: ``(3, H, W)`` float32 RGB in [0, 1] with the amplitudes of its lowest spatial
    frequencies — a window of half-size ``⌊beta · min(H, W)⌋`` (at least 1) frequencies around
    DC in each axis — taken from ``style`` (same shape); phases, and so the geometry, stay the
    image's. Returns the same shape, clamped to [0, 1]."""
    if image.shape != style.shape or image.dim() != 3:
        raise ValueError(f"image and style must both be (3, H, W), got {tuple(image.shape)} and "
                         f"{tuple(style.shape)}")
    height, width = image.shape[-2:]
    half = max(1, int(beta * min(height, width)))
    spectrum, style_amplitude = torch.fft.fft2(image), torch.fft.fft2(style).abs()
    low_y = torch.zeros(height, dtype=torch.bool)
    low_x = torch.zeros(width, dtype=torch.bool)
    low_y[:half + 1], low_y[height - half:] = True, True     # unshifted: DC at index 0
    low_x[:half + 1], low_x[width - half:] = True, True
    low = low_y[:, None] & low_x[None, :]
    amplitude = torch.where(low, style_amplitude, spectrum.abs())
    styled = torch.fft.ifft2(torch.polar(amplitude, spectrum.angle())).real
    return styled.clamp(0.0, 1.0)


# ----------------------------------------------------------------------------- strong (torch)

def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def _chance(n: int, p: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator) < p


def grey(images: torch.Tensor) -> torch.Tensor:
    """Luma of ``(B, 3, H, W)`` RGB, ``(B, 1, H, W)``."""
    return (images * _GREY.to(images).view(1, 3, 1, 1)).sum(1, keepdim=True)


def colour_jitter(images: torch.Tensor, generator: torch.Generator,
                  settings: PerturbSettings = PerturbSettings()) -> torch.Tensor:
    """Random brightness, contrast, saturation and hue per image (each image jittered with
    probability ``jitter_p``), then random grey with probability ``grey_p``."""
    batch = images.shape[0]
    s = settings
    view = (batch, 1, 1, 1)
    apply = _chance(batch, s.jitter_p, generator).to(images.device).view(view)
    brightness = _uniform(batch, 1 - s.brightness, 1 + s.brightness, generator).to(images)
    contrast = _uniform(batch, 1 - s.contrast, 1 + s.contrast, generator).to(images)
    saturation = _uniform(batch, 1 - s.saturation, 1 + s.saturation, generator).to(images)
    hue = _uniform(batch, -s.hue, s.hue, generator).to(images) * 2 * math.pi
    to_grey = _chance(batch, s.grey_p, generator).to(images.device).view(view)

    out = (images * brightness.view(view)).clamp(0, 1)
    mean = grey(out).mean(dim=(2, 3), keepdim=True)
    out = ((out - mean) * contrast.view(view) + mean).clamp(0, 1)
    luma = grey(out)
    out = ((out - luma) * saturation.view(view) + luma).clamp(0, 1)
    yiq = torch.einsum("ij,bjhw->bihw", _RGB_TO_YIQ.to(images), out)
    cos, sin = torch.cos(hue).view(batch, 1, 1), torch.sin(hue).view(batch, 1, 1)
    i, q = yiq[:, 1], yiq[:, 2]
    yiq = torch.stack([yiq[:, 0], cos * i - sin * q, sin * i + cos * q], dim=1)
    out = torch.einsum("ij,bjhw->bihw", _YIQ_TO_RGB.to(images), yiq).clamp(0, 1)
    out = torch.where(apply, out, images)
    return torch.where(to_grey, grey(out).expand_as(out), out)


def gaussian_blur(images: torch.Tensor, generator: torch.Generator,
                  settings: PerturbSettings = PerturbSettings()) -> torch.Tensor:
    """Separable Gaussian blur with σ drawn in ``blur_sigma`` px, applied to each image with
    probability ``blur_p`` (reflect padding)."""
    batch, channels = images.shape[:2]
    apply = _chance(batch, settings.blur_p, generator)
    sigma = _uniform(batch, *settings.blur_sigma, generator)
    if not apply.any():
        return images
    radius = int(math.ceil(3 * settings.blur_sigma[1]))
    radius = min(radius, (min(images.shape[-2:]) - 1) // 2)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernels = torch.exp(-0.5 * (offsets[None] / sigma[:, None]) ** 2)
    kernels = (kernels / kernels.sum(1, keepdim=True)).to(images)            # (B, K)
    # Depthwise conv with one kernel per (image, channel): fold the batch into channels.
    weight = kernels.repeat_interleave(channels, 0)                          # (B·C, K)
    x = images.reshape(1, batch * channels, *images.shape[-2:])
    x = F.pad(x, (radius, radius, 0, 0), mode="reflect")
    x = F.conv2d(x, weight.view(-1, 1, 1, 2 * radius + 1), groups=batch * channels)
    x = F.pad(x, (0, 0, radius, radius), mode="reflect")
    x = F.conv2d(x, weight.view(-1, 1, 2 * radius + 1, 1), groups=batch * channels)
    blurred = x.view_as(images).clamp(0, 1)
    return torch.where(apply.to(images.device).view(batch, 1, 1, 1), blurred, images)


def cutmix_boxes(batch: int, height: int, width: int, patch: int, generator: torch.Generator,
                 settings: PerturbSettings = PerturbSettings()
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random CutMix boxes on the patch grid.

    Each image gets a box with probability ``cutmix_p`` (area fraction in ``cutmix_area``,
    aspect in ``cutmix_aspect``, sides whole patches, at least one patch) whose content comes
    from the next image of the batch (``partner[i] = (i + 1) % B``).

    Returns:
        ``(box, token_box, partner)``: ``box (B, 1, H, W) bool`` (True = pixels from the
        partner), ``token_box (B, N) bool`` the same on the ``(H/patch)·(W/patch)`` grid in
        row-major order, ``partner (B,) long``.
    """
    if height % patch or width % patch:
        raise ValueError(f"image {height}x{width} is not a multiple of the patch size {patch}")
    grid_h, grid_w = height // patch, width // patch
    token_box = torch.zeros(batch, grid_h, grid_w, dtype=torch.bool)
    apply = _chance(batch, settings.cutmix_p, generator)
    for i in range(batch):
        if batch < 2 or not apply[i]:
            continue
        area = float(_uniform(1, *settings.cutmix_area, generator)) * grid_h * grid_w
        log_aspect = _uniform(1, math.log(settings.cutmix_aspect[0]),
                              math.log(settings.cutmix_aspect[1]), generator)
        aspect = float(torch.exp(log_aspect))
        box_w = int(min(grid_w, max(1, round(math.sqrt(area * aspect)))))
        box_h = int(min(grid_h, max(1, round(area / box_w))))
        top = int(torch.randint(0, grid_h - box_h + 1, (1,), generator=generator))
        left = int(torch.randint(0, grid_w - box_w + 1, (1,), generator=generator))
        token_box[i, top:top + box_h, left:left + box_w] = True
    box = token_box.repeat_interleave(patch, 1).repeat_interleave(patch, 2).unsqueeze(1)
    partner = (torch.arange(batch) + 1) % batch
    return box, token_box.flatten(1), partner


def apply_cutmix(images: torch.Tensor, box: torch.Tensor, partner: torch.Tensor) -> torch.Tensor:
    """``where(box, images[partner], images)`` for ``(B, C, H, W)`` images (or maps)."""
    box = box.to(images.device)
    return torch.where(box, images[partner.to(images.device)], images)


def strong_perturbation(images: torch.Tensor, generator: torch.Generator,
                        settings: PerturbSettings = PerturbSettings()) -> torch.Tensor:
    """Colour jitter (+ random grey) then Gaussian blur, per image."""
    return gaussian_blur(colour_jitter(images, generator, settings), generator, settings)
