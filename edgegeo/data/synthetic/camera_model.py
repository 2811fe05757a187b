"""From scene radiance to an 8-bit image: auto exposure and white balance, vignetting, optical
blur, sensor noise (shot + read), clipping and gamma encoding.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
_ENCODE_LEVELS = 65536


@functools.lru_cache(maxsize=8)
def _encode_lut(gamma: float) -> np.ndarray:
    """``(65536,) uint8`` table mapping linear [0, 1] (quantised) to gamma-encoded 8 bit."""
    linear = np.linspace(0.0, 1.0, _ENCODE_LEVELS)
    return np.clip(linear ** (1.0 / gamma) * 255.0 + 0.5, 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=8)
def _vignette(height: int, width: int, strength: float) -> np.ndarray:
    """``(H,W,1) float32`` gain, 1 at the centre falling to ``1 - strength`` in the corners."""
    v, u = np.mgrid[0:height, 0:width].astype(np.float32)
    radius2 = ((u - (width - 1) / 2) ** 2 + (v - (height - 1) / 2) ** 2) / (((width - 1) / 2) ** 2 + ((height - 1) / 2) ** 2)
    return (1.0 - strength * radius2)[..., None].astype(np.float32)


@dataclass(frozen=True)
class CameraModel:
    """Camera settings applied after shading.

    Attributes:
        exposure_ev: exposure offset from auto exposure, in stops.
        key: linear level that the median scene luminance is exposed to (0.18 = mid grey).
        white_balance: 0 keeps the lights' colour cast, 1 is full grey-world correction.
        vignetting: brightness lost in the image corners, fraction in [0, 1).
        blur_sigma_px: Gaussian optical blur in pixels (0 = none).
        full_well: photo-electrons at saturation; shot-noise std is ``sqrt(x / full_well)``
            for a linear level x (0 = no shot noise).
        read_noise: std of signal-independent read noise, fraction of full scale.
        gamma: encoding exponent (output = linear^(1/gamma)).
    """

    exposure_ev: float = 0.0
    key: float = 0.18
    white_balance: float = 0.8
    vignetting: float = 0.15
    blur_sigma_px: float = 0.0
    full_well: float = 2000.0
    read_noise: float = 0.002
    gamma: float = 2.2

    def __post_init__(self):
        checks = {
            "exposure_ev": np.isfinite(self.exposure_ev) and abs(self.exposure_ev) <= 10,
            "key": 0 < self.key < 1, "white_balance": 0 <= self.white_balance <= 1,
            "vignetting": 0 <= self.vignetting < 1, "blur_sigma_px": 0 <= self.blur_sigma_px <= 20,
            "full_well": 0 <= self.full_well < np.inf, "read_noise": 0 <= self.read_noise <= 0.5,
            "gamma": 0.5 <= self.gamma <= 4,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError("CameraModel: out of range: " + ", ".join(f"{n}={getattr(self, n)!r}" for n in bad))

    @classmethod
    def clean(cls) -> "CameraModel":
        """No noise, blur or vignetting (for tests and reference renders)."""
        return cls(vignetting=0.0, full_well=0.0, read_noise=0.0)

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "CameraModel":
        """Random plausible settings of a small (phone / robot) camera."""
        return cls(exposure_ev=float(rng.normal(0.0, 0.3)), key=float(rng.uniform(0.14, 0.22)),
                   white_balance=float(rng.uniform(0.5, 1.0)), vignetting=float(rng.uniform(0.0, 0.35)),
                   blur_sigma_px=float(rng.uniform(0.0, 0.7)), full_well=float(rng.uniform(400, 4000)),
                   read_noise=float(rng.uniform(0.001, 0.006)), gamma=float(rng.uniform(2.0, 2.4)))

    def auto_gains(self, radiance: np.ndarray) -> np.ndarray:
        """Per-channel gains (white balance × exposure) for an image of ``radiance``.

        Args:
            radiance: ``(H,W,3) float32`` linear scene radiance.
        Returns:
            ``(3,) float32`` gains; share them between views to expose a stereo pair alike.
        """
        sample = radiance[::4, ::4].reshape(-1, 3)
        means = np.maximum(sample.mean(axis=0), 1e-6)
        balance = (means.mean() / means) ** self.white_balance
        luminance = (sample * balance) @ _LUMA
        median = max(float(np.median(luminance)), 1e-6)
        return (balance * self.key / median * 2.0 ** self.exposure_ev).astype(np.float32)

    def develop(self, radiance: np.ndarray, gains: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """Turn linear radiance into an 8-bit image.

        Args:
            radiance: ``(H,W,3) float32`` linear scene radiance.
            gains: ``(3,)`` per-channel gains from :meth:`auto_gains`.
            rng: draws the sensor noise; None → seeded with 0.
        Returns:
            ``(H,W,3) uint8`` gamma-encoded RGB.
        """
        import cv2

        height, width = radiance.shape[:2]
        signal = radiance * np.asarray(gains, np.float32)
        if self.vignetting > 0:
            signal *= _vignette(height, width, float(self.vignetting))
        if self.blur_sigma_px > 0:
            signal = cv2.GaussianBlur(signal, (0, 0), self.blur_sigma_px)
        if self.full_well > 0 or self.read_noise > 0:
            rng = rng if rng is not None else np.random.default_rng(0)
            variance = np.full_like(signal, self.read_noise ** 2)
            if self.full_well > 0:
                variance += np.clip(signal, 0, 1) / self.full_well
            signal = signal + np.sqrt(variance) * rng.standard_normal(signal.shape, np.float32)
        index = (np.clip(signal, 0.0, 1.0) * (_ENCODE_LEVELS - 1) + 0.5).astype(np.int32)
        return _encode_lut(float(self.gamma))[index]
