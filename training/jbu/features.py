"""The feature variant of the JBU upsampler: FeatUp's multi-view reconstruction training
(Fu et al., ICLR 2024) over the tokens of a frozen ViT encoder.

One training step, for a batch of images ``I`` and their low-resolution features
``F = enc(I)`` ``(B, D, H/p, W/p)``:

1. ``F_hr = JBU(F, I)``, ``(B, D, H, W)`` (a ×p stack, p = the encoder's patch size);
2. for each of ``views`` random jitters ``t`` (reflect pad, zoom, crop back to ``H × W``,
   horizontal flip — one resampling, applied identically to ``I`` and ``F_hr``):
   ``pred = down(t(F_hr))`` with the learned attention downsampler and
   ``target = enc(t(I))``;
3. loss = mean over views and low-resolution pixels of ``‖pred − target‖² / D / (2s²) + log s``,
   ``s`` a predicted per-pixel uncertainty (``softplus`` of a 1×1 conv on ``pred``).

The encoder is frozen and kept out of the module's parameters and state dict (the run's
weights are the upsampler, downsampler and uncertainty head only).

Reference: Fu et al., "FeatUp: A Model-Agnostic Framework for Features at Any Resolution", ICLR
2024 (code: https://github.com/mhamilton723/FeatUp).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgegeo.models.jbu import JBUStack

from .data import REPO_ROOT, image_to_tensor

ENCODER_SEARCH = (
    "edgegeo/weights/mono-depth.safetensors",
    "runs/mono-depth/mono-depth.safetensors",
    "runs/mono-depth-teacher/mono-depth-teacher.safetensors",
    "runs/mono-depth-teacher/checkpoints/last.pt",
)


# ----------------------------------------------------------------------------- encoder

class FrozenEncoder(nn.Module):
    """Low-resolution features of a frozen :class:`MonoDepthNet`'s ViT encoder.

    ``forward(images (B,3,H,W) RGB in [0,1], H, W multiples of the patch)`` →
    ``(B, D, H/p, W/p)``: the tokens of the network's last tapped block (final LayerNorm
    applied), under ``torch.no_grad``.
    """

    def __init__(self, network: nn.Module, source: str):
        super().__init__()
        self.network = network.eval().requires_grad_(False)
        self.source = source

    @property
    def dim(self) -> int:
        return self.network.config.encoder.embed_dim

    @property
    def patch_size(self) -> int:
        return self.network.config.encoder.patch_size

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        net = self.network
        tokens = net.encoder((images - net.mean) / net.std, [net.config.tap_blocks[-1]])[0]
        batch = images.shape[0]
        grid = (images.shape[-2] // self.patch_size, images.shape[-1] // self.patch_size)
        return tokens.transpose(1, 2).reshape(batch, -1, *grid)


def find_encoder(spec: str = "auto") -> Path | None:
    """The encoder weights ``spec`` names: ``auto`` = the first of :data:`ENCODER_SEARCH`
    that exists (shipped mono-depth weights, then finished student/teacher runs, then the
    teacher's last checkpoint), else the path given. None when ``auto`` finds nothing."""
    if spec != "auto":
        return Path(spec)
    for candidate in ENCODER_SEARCH:
        path = REPO_ROOT / candidate
        if path.is_file():
            return path
    return None


def load_encoder(spec: str = "auto") -> FrozenEncoder:
    """A :class:`FrozenEncoder` from ``spec``: ``auto`` (see :func:`find_encoder`), a
    ``.safetensors`` file with its model card, a training checkpoint ``.pt`` of a mono-depth
    recipe, or ``random:<config>`` (an untrained network, e.g. ``random:tiny``; smoke runs).

    Raises:
        FileNotFoundError: ``auto`` found no weights, or the path does not exist.
    """
    from edgegeo.models.mono_depth import MonoDepthNet, MonoDepthNetConfig

    if spec.startswith("random:"):
        torch.manual_seed(0)
        return FrozenEncoder(MonoDepthNet(MonoDepthNetConfig.named(spec[len("random:"):])), spec)
    path = find_encoder(spec)
    if path is None:
        raise FileNotFoundError("no mono-depth encoder found (looked for "
                                f"{', '.join(ENCODER_SEARCH)}); train one, or pass "
                                "--set encoder=PATH or encoder=random:tiny")
    if not path.is_file():
        raise FileNotFoundError(f"encoder weights {path} do not exist")
    from edgegeo.training.mono.model import card_network_config, parse_model_spec

    if path.suffix == ".pt":
        from edgegeo.training.checkpoint import load_checkpoint

        state = load_checkpoint(path)
        network = MonoDepthNet(parse_model_spec(state["config"]["model"]))
        network.load_state_dict(state["model"])
        source = f"{path} (checkpoint of {state['recipe']}, step {state['step']})"
    else:
        from edgegeo.weights_io import load_weights

        network = MonoDepthNet(card_network_config(path))
        network.load_state_dict(load_weights(path))
        source = str(path)
    return FrozenEncoder(network, source)


# ----------------------------------------------------------------------------- jitter

def sample_jitter(rng: np.random.Generator, count: int, max_zoom: float) -> torch.Tensor:
    """``count`` random jitters as ``(count, 4)`` float32 rows ``(zoom, x, y, flip)``:
    zoom ∈ [1, max_zoom] with probability 0.5 (else 1), the crop offset (x, y) as fractions
    in [0, 1] of its valid range, flip ∈ {0, 1} (the padding is :func:`jitter`'s)."""
    zoom = np.where(rng.random(count) < 0.5, rng.uniform(1.0, max_zoom, count), 1.0)
    return torch.tensor(np.stack([zoom, rng.random(count), rng.random(count),
                                  (rng.random(count) < 0.5).astype(float)], 1),
                        dtype=torch.float32)


def jitter(x: torch.Tensor, params: torch.Tensor, pad_fraction: float,
           mode: str = "bilinear") -> torch.Tensor:
    """Apply jitters to a batch, keeping its size: pad by reflection (``pad_fraction`` of
    each side), zoom by ``zoom``, crop an ``H × W`` window at the offset, flip.

    Args:
        x: ``(B, C, H, W)`` image or feature map.
        params: ``(B, 4)`` rows from :func:`sample_jitter`.
        pad_fraction: padding per side as a fraction of the size.
        mode: ``grid_sample`` interpolation.
    Returns:
        ``(B, C, H, W)``; one resampling, so images and features jittered with the same
        params stay aligned pixel for pixel.
    """
    batch, _, height, width = x.shape
    zoom, off_x, off_y, flip = params.to(x).unbind(1)

    def axis(size: int, offset: torch.Tensor) -> torch.Tensor:
        pad = pad_fraction * size
        span = (size + 2 * pad) * zoom - size                  # valid crop offsets: [0, span]
        start = offset * span                                   # in zoomed pixels
        u = torch.arange(size, dtype=x.dtype, device=x.device) + 0.5
        source = (start[:, None] + u[None]) / zoom[:, None] - pad   # original pixel coords
        return 2 * source / size - 1                            # align_corners=False grid

    gx = axis(width, off_x)
    gx = torch.where(flip[:, None] > 0.5, gx.flip(1), gx)
    gy = axis(height, off_y)
    grid = torch.stack([gx[:, None, :].expand(batch, height, width),
                        gy[:, :, None].expand(batch, height, width)], -1)
    return F.grid_sample(x, grid, mode=mode, padding_mode="reflection", align_corners=False)


# ----------------------------------------------------------------------------- downsampler

class AttentionDownsampler(nn.Module):
    """FeatUp's attention downsampler: each ``p × p`` block of the high-resolution map is
    reduced to one vector by a softmax over its pixels of ``w_ij · a(f) + b_ij``, ``a`` a
    learned linear score of the feature, ``w, b`` learned per position in the block.

    ``forward((B, D, H, W))`` → ``(B, D, H/p, W/p)``.
    """

    def __init__(self, dim: int, factor: int):
        super().__init__()
        self.factor = factor
        self.score = nn.Conv2d(dim, 1, 1)
        taps = factor * factor
        self.w = nn.Parameter(torch.ones(taps) + 0.01 * torch.randn(taps))
        self.b = nn.Parameter(0.01 * torch.randn(taps))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        batch, dim, height, width = features.shape
        p = self.factor
        rows, cols = height // p, width // p

        def blocks(x):                               # (B, C, H, W) -> (B, C, rows, cols, p*p)
            x = x.reshape(x.shape[0], x.shape[1], rows, p, cols, p)
            return x.permute(0, 1, 2, 4, 3, 5).reshape(x.shape[0], x.shape[1], rows, cols, p * p)

        logits = blocks(self.score(features))[:, 0] * self.w + self.b      # (B, rows, cols, p²)
        attention = torch.softmax(logits, -1)
        return (blocks(features) * attention[:, None]).sum(-1)


# ----------------------------------------------------------------------------- the model

class FeatureJBUTrainNet(nn.Module):
    """The trained parts (JBU stack, attention downsampler, uncertainty head) around a frozen
    encoder, with the whole multi-view reconstruction loss in ``forward`` (one call, as DDP
    needs).

    Args:
        encoder: the frozen encoder (not a registered sub-module).
        key_dim, correction_hidden: of the JBU stages.
        pad_fraction: jitter padding per side, fraction of the image size.
        sigma, temperature: initial spatial σ (units of the radius) and range τ of the stages.
    """

    def __init__(self, encoder: FrozenEncoder, key_dim: int = 32, correction_hidden: int = 32,
                 pad_fraction: float = 0.125, sigma: float = 1.0, temperature: float = 1.0):
        super().__init__()
        factor = encoder.patch_size
        stages = int(round(math.log2(factor)))
        if 2 ** stages != factor:
            raise ValueError(f"the encoder's patch size {factor} is not a power of two")
        self.upsampler = JBUStack(stages, key_dim=key_dim, correction_hidden=correction_hidden,
                                  sigma=sigma, temperature=temperature)
        self.downsampler = AttentionDownsampler(encoder.dim, factor)
        self.uncertainty = nn.Conv2d(encoder.dim, 1, 1)
        self.pad_fraction = pad_fraction
        self._encoder = [encoder]          # frozen, outside parameters() and state_dict()

    @property
    def encoder(self) -> FrozenEncoder:
        return self._encoder[0]

    def low_res_features(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, D, H/p, W/p)`` features of the frozen encoder (moved to the images' device)."""
        encoder = self.encoder.to(images.device)
        return encoder(images)

    def reconstruction(self, hr_features: torch.Tensor, images: torch.Tensor,
                       jitters: torch.Tensor, downsample: str = "attention"
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(pred, target)`` for each jitter: ``(V, B, D, h, w)`` each.

        Args:
            hr_features: ``(B, D, H, W)`` upsampled features.
            images: ``(B, 3, H, W)``.
            jitters: ``(V, B, 4)`` jitter params.
            downsample: ``attention`` (the learned downsampler) or ``average`` (p × p mean).
        """
        preds, targets = [], []
        for params in jitters:
            moved = jitter(hr_features, params, self.pad_fraction)
            if downsample == "attention":
                preds.append(self.downsampler(moved))
            else:
                preds.append(F.avg_pool2d(moved, self.downsampler.factor))
            targets.append(self.low_res_features(jitter(images, params, self.pad_fraction)))
        return torch.stack(preds), torch.stack(targets)

    def forward(self, images: torch.Tensor, jitters: torch.Tensor
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss of a batch: ``images (B,3,H,W)``, ``jitters (B, V, 4)`` → ``(loss, scalars)``."""
        low = self.low_res_features(images)
        high = self.upsampler(low, images)
        pred, target = self.reconstruction(high, images, jitters.transpose(0, 1))
        mse = (pred - target).pow(2).mean(2)                         # (V, B, h, w)
        scale = F.softplus(self.uncertainty(pred.flatten(0, 1))).view_as(mse) + 1e-3
        loss = (mse / (2 * scale ** 2) + scale.log()).mean()
        return loss, {"mse": mse.mean().detach(), "uncertainty": scale.mean().detach()}


def feature_batch(frames, seed: int, batch_size: int, size: tuple[int, int], views: int,
                  max_zoom: float, work_scale: float = 0.5) -> dict[str, torch.Tensor]:
    """Images for feature-upsampler training, a pure function of ``seed``: a random frame
    resized by ``work_scale`` (area), a random ``size`` crop, a random flip; plus ``views``
    jitters per image.

    Returns:
        ``image (B, 3, H, W)`` float32 in [0, 1], ``jitters (B, views, 4)``.
    """
    import cv2

    rng = np.random.default_rng(seed)
    images = []
    for _ in range(batch_size):
        rgb, _ = frames[int(rng.integers(len(frames)))]
        if work_scale != 1:
            rgb = cv2.resize(rgb, None, fx=work_scale, fy=work_scale,
                             interpolation=cv2.INTER_AREA)
        height, width = rgb.shape[:2]
        if height < size[0] or width < size[1]:
            rgb = cv2.resize(rgb, (max(width, size[1]), max(height, size[0])),
                             interpolation=cv2.INTER_LINEAR)
            height, width = rgb.shape[:2]
        top = int(rng.integers(0, height - size[0] + 1))
        left = int(rng.integers(0, width - size[1] + 1))
        rgb = rgb[top:top + size[0], left:left + size[1]]
        if rng.random() < 0.5:
            rgb = rgb[:, ::-1]
        images.append(image_to_tensor(rgb))
    jitters = sample_jitter(rng, batch_size * views, max_zoom).view(batch_size, views, 4)
    return {"image": torch.stack(images), "jitters": jitters}


UPSAMPLERS = ("bilinear", "bicubic", "jbu")


@torch.no_grad()
def reconstruction_losses(model: FeatureJBUTrainNet, frames, cfg, count: int, views: int = 4,
                          seed: int = 2024) -> dict[str, float]:
    """Held-out multi-view reconstruction error of the upsamplers.

    For ``count`` frames (evenly spaced; each resized by ``cfg.work_scale`` and centre-cropped
    to ``cfg.image_size``) and ``views`` fixed jitters each: the low-resolution features are
    upsampled by bilinear, bicubic (``F.interpolate``) or the learned JBU, jittered,
    downsampled by the learned attention downsampler or a plain ``p × p`` average, and compared
    with the encoder's features of the jittered image.

    Returns:
        ``mse_<upsampler>_<attention|average>`` (mean squared error per feature channel) and
        ``images``.
    """
    import cv2

    model.eval()
    device = next(model.parameters()).device
    rng = np.random.default_rng(seed)
    height, width = cfg.image_size
    picks = np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)
    sums = {f"mse_{u}_{d}": 0.0 for u in UPSAMPLERS for d in ("attention", "average")}
    for index in picks:
        rgb, _ = frames[int(index)]
        if cfg.work_scale != 1:
            rgb = cv2.resize(rgb, None, fx=cfg.work_scale, fy=cfg.work_scale,
                             interpolation=cv2.INTER_AREA)
        if rgb.shape[0] < height or rgb.shape[1] < width:
            rgb = cv2.resize(rgb, (max(rgb.shape[1], width), max(rgb.shape[0], height)))
        top, left = (rgb.shape[0] - height) // 2, (rgb.shape[1] - width) // 2
        image = image_to_tensor(rgb[top:top + height, left:left + width])[None].to(device)
        jitters = sample_jitter(rng, views, cfg.max_zoom).view(views, 1, 4).to(device)
        low = model.low_res_features(image)
        for name in UPSAMPLERS:
            if name == "jbu":
                high = model.upsampler(low, image)
            else:
                high = F.interpolate(low, size=(height, width), mode=name, align_corners=False)
            for down in ("attention", "average"):
                pred, target = model.reconstruction(high, image, jitters, down)
                sums[f"mse_{name}_{down}"] += float((pred - target).pow(2).mean())
    results = {key: value / len(picks) for key, value in sums.items()}
    results["images"] = float(len(picks))
    return results
