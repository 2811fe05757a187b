"""Tiled dense prediction (CroCo-Stereo's inference on images larger than the training crop):
overlapping windows of the crop size, merged per pixel with weights that fall as the
predicted uncertainty rises.

A window's weight also ramps down linearly over the outer half of its overlap towards its
edges inside the image (not at the image's own border): a window's edge pixels see the least
context (and for stereo, their matches may lie outside the window), so the neighbour that has
them in its interior decides there.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch

TILE_BATCH = 8
MIN_EDGE_WEIGHT = 1e-3


def tile_starts(length: int, tile: int, overlap: float) -> list[int]:
    """Start offsets of windows of ``tile`` pixels covering ``0 … length`` with at least
    ``overlap`` (fraction of a tile) shared by neighbours; the first starts at 0, the last ends
    at ``length``, the rest are evenly spread."""
    if tile <= 0 or length <= 0:
        raise ValueError(f"tile and length must be positive, got {tile}, {length}")
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    if length <= tile:
        return [0]
    stride = tile * (1 - overlap)
    count = math.ceil((length - tile) / stride) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def edge_taper(size: int, start: int, length: int, ramp: float) -> torch.Tensor:
    """``(size,)`` weights of a window ``[start, start + size)`` of an axis of ``length``:
    rising linearly over ``ramp`` pixels from its inner edges (floor
    :data:`MIN_EDGE_WEIGHT`), flat 1 towards the axis ends."""
    position = torch.arange(size, dtype=torch.float32) + 0.5
    from_low = position if start > 0 else torch.full_like(position, float("inf"))
    from_high = size - position if start + size < length else torch.full_like(position,
                                                                               float("inf"))
    if ramp <= 0:
        return torch.ones(size)
    return (torch.minimum(from_low, from_high) / ramp).clamp(MIN_EDGE_WEIGHT, 1.0)


def tiled_prediction(predict: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                     left: torch.Tensor, right: torch.Tensor, tile_hw: tuple[int, int],
                     overlap: float = 0.5) -> torch.Tensor:
    """Run ``predict`` on overlapping windows and merge them.

    Args:
        predict: ``(n, 3, h, w)`` left and right windows → ``(n, 2, h, w)``: a value (e.g.
            disparity) and its bounded log-scale ``c`` (uncertainty; weight ``exp(−c)``).
        left, right: ``(1, 3, H, W)`` images.
        tile_hw: window size ``(h, w)`` (clipped to the image).
        overlap: fraction of a window shared with each neighbour.
    Returns:
        ``(1, 2, H, W)``: the mean of the value and of ``c`` over the windows covering each
        pixel, weighted by ``exp(−c)`` × the window's edge taper.
    """
    if left.dim() != 4 or left.shape[0] != 1 or left.shape != right.shape:
        raise ValueError(f"tiled_prediction needs two (1, 3, H, W) images of one shape, got "
                         f"{tuple(left.shape)} and {tuple(right.shape)}")
    height, width = left.shape[-2:]
    tile_h, tile_w = min(tile_hw[0], height), min(tile_hw[1], width)
    boxes = [(top, start) for top in tile_starts(height, tile_h, overlap)
             for start in tile_starts(width, tile_w, overlap)]
    total = torch.zeros(1, 2, height, width, dtype=torch.float32, device=left.device)
    weights = torch.zeros(1, 1, height, width, dtype=torch.float32, device=left.device)
    ramp_h, ramp_w = overlap * tile_h / 2, overlap * tile_w / 2
    for first in range(0, len(boxes), TILE_BATCH):
        chunk = boxes[first:first + TILE_BATCH]
        lefts = torch.cat([left[..., t:t + tile_h, s:s + tile_w] for t, s in chunk])
        rights = torch.cat([right[..., t:t + tile_h, s:s + tile_w] for t, s in chunk])
        out = predict(lefts, rights).float()
        weight = torch.exp(-out[:, 1:2])
        for (top, start), tile_out, tile_weight in zip(chunk, out, weight):
            window = (..., slice(top, top + tile_h), slice(start, start + tile_w))
            taper = (edge_taper(tile_h, top, height, ramp_h)[:, None]
                     * edge_taper(tile_w, start, width, ramp_w)[None, :]).to(left.device)
            tile_weight = tile_weight * taper
            total[window] += tile_out * tile_weight
            weights[window] += tile_weight
    return total / weights
