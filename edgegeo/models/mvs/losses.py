"""SimpleRecon's training losses (Sayed et al., ECCV 2022), torch, batched, differentiable in
the prediction.

``total = ms_log_l1 + 1 · gradient + 1 · normal + 0.2 · multiview`` (:data:`LOSS_WEIGHTS`):

* :func:`multiscale_log_l1` — L1 on log depth at each of the four output scales, the lower ones
  upsampled (nearest) to full resolution, scale ``i`` weighted ``1 / 2^i`` (as the authors'
  code);
* :func:`gradient_loss` — L1 between the horizontal and vertical finite differences of the
  predicted and GT depth (metres), full resolution;
* :func:`normal_loss` — ``½ (1 − n_pred · n_gt)`` with normals computed from depth + K
  (:func:`depth_normals`), full resolution;
* :func:`multiview_depth_loss` — the predicted points projected into every source view; L1 on
  log depth against that source's GT depth (sampled, nearest, where the GT point projects),
  only where the GT point is visible there (its depth < 1.05 × the source's GT depth).

The ``planes`` design (``MVSNetConfig.decoder == "planes"``) adds :func:`plane_cross_entropy`
on the raw volume's logits (the matching features learn to match from the first step) and on the
corrected plane logits: :func:`mvs_loss`, weights :data:`PLANE_LOSS_WEIGHTS`.

Ground truth: depth 0 (or NaN/inf) = no GT; GT beyond the model's range is clamped to
``[min_depth, max_depth]`` for the single-view losses (the best the model can say there) and
left out of the multi-view loss.

Reference: Sayed et al., "SimpleRecon: 3D Reconstruction Without 3D Convolutions", ECCV 2022 (code:
https://github.com/nianticlabs/simplerecon).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from edgegeo.geometry.warp import backproject_torch, pixel_to_grid, project_to_camera

LOSS_WEIGHTS = {"ms_log_l1": 1.0, "gradient": 1.0, "normal": 1.0, "multiview": 0.2}
PLANE_LOSS_WEIGHTS = {"volume_ce": 0.3, "plane_ce": 0.3, "local_ce": 0.3, "full_ce": 0.3}
VISIBILITY_RATIO = 1.05
_EPS_DEPTH = 1e-3


def gt_valid(depth: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)`` bool: finite GT depth > 0."""
    return torch.isfinite(depth) & (depth > 0)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` where ``mask``; 0 (with gradient) when the mask is empty."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def multiscale_log_l1(log_depths: list[torch.Tensor], gt_depth: torch.Tensor,
                      valid: torch.Tensor, min_depth: float, max_depth: float) -> torch.Tensor:
    """``Σ_i 2^-i · mean_valid |up_i(ln ẑ_i) − ln clamp(z, min, max)|``.

    Args:
        log_depths: predicted log depth per scale, full resolution first, ``(B, 1, H/2^i,
            W/2^i)``.
        gt_depth: ``(B, 1, H, W)`` metres; valid: ``(B, 1, H, W)`` bool.
    """
    target = torch.log(gt_depth.clamp(min_depth, max_depth))
    total = gt_depth.new_zeros(())
    for index, log_depth in enumerate(log_depths):
        if log_depth.shape[-2:] != gt_depth.shape[-2:]:
            log_depth = F.interpolate(log_depth, size=gt_depth.shape[-2:], mode="nearest")
        total = total + _masked_mean((log_depth - target).abs(), valid) / 2 ** index
    return total


def _differences(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def gradient_loss(pred_depth: torch.Tensor, gt_depth: torch.Tensor, valid: torch.Tensor
                  ) -> torch.Tensor:
    """Mean over valid neighbour pairs (both pixels valid) of ``|Δẑ − Δz|``, horizontal and
    vertical forward differences of depth in metres. All ``(B, 1, H, W)``."""
    pred_dx, pred_dy = _differences(pred_depth)
    gt_dx, gt_dy = _differences(gt_depth)
    valid_x = valid[..., :, 1:] & valid[..., :, :-1]
    valid_y = valid[..., 1:, :] & valid[..., :-1, :]
    error = ((pred_dx - gt_dx).abs() * valid_x).sum() + ((pred_dy - gt_dy).abs() * valid_y).sum()
    return error / (valid_x.sum() + valid_y.sum()).clamp_min(1).to(error.dtype)


def depth_normals(depth: torch.Tensor, K: torch.Tensor, valid: torch.Tensor | None = None):
    """Surface normals of a depth map, in the camera frame, facing the camera.

    ``n = normalize((P(u, v+1) − P(u, v)) × (P(u+1, v) − P(u, v)))`` with ``P`` the
    back-projected points (forward differences; a fronto-parallel plane gives ``(0, 0, −1)``).

    Args:
        depth: ``(B, 1, H, W)`` metres (≥ 0, finite); K: ``(B, 3, 3)``.
        valid: optional ``(B, 1, H, W)`` bool (default ``depth > 0``).
    Returns:
        normals ``(B, 3, H, W)`` (0 where not valid) and valid ``(B, 1, H, W)`` bool: the pixel
        and its right and lower neighbours valid (last row and column never).
    """
    if valid is None:
        valid = depth > 0
    points = backproject_torch(depth * valid.to(depth.dtype), K)
    dx = F.pad(points[..., :, 1:] - points[..., :, :-1], (0, 1, 0, 0))
    dy = F.pad(points[..., 1:, :] - points[..., :-1, :], (0, 0, 0, 1))
    normal_valid = valid.clone()
    normal_valid[..., :, -1] = False
    normal_valid[..., -1, :] = False
    normal_valid[..., :, :-1] &= valid[..., :, 1:]
    normal_valid[..., :-1, :] &= valid[..., 1:, :]
    normals = F.normalize(torch.cross(dy, dx, dim=1), dim=1, eps=1e-12)
    return normals * normal_valid.to(normals.dtype), normal_valid


def normal_loss(pred_depth: torch.Tensor, gt_depth: torch.Tensor, K: torch.Tensor,
                valid: torch.Tensor) -> torch.Tensor:
    """Mean of ``½ (1 − n̂ · n)`` where the GT normal is defined (normals from depth + K)."""
    pred_normals, _ = depth_normals(pred_depth, K, torch.ones_like(valid))
    gt_normals, gt_normal_valid = depth_normals(gt_depth, K, valid)
    cosine = (pred_normals * gt_normals).sum(1, keepdim=True)
    return _masked_mean(0.5 * (1.0 - cosine), gt_normal_valid)


def multiview_depth_loss(pred_depth: torch.Tensor, gt_depth: torch.Tensor,
                         src_depths: torch.Tensor, K: torch.Tensor, src_K: torch.Tensor,
                         src_T_ref: torch.Tensor, valid: torch.Tensor,
                         source_valid: torch.Tensor | None = None) -> torch.Tensor:
    """Predicted reference depth checked against the sources' GT depth.

    For source ``n``: the GT reference points are projected into it; where one lands inside,
    in front, on a pixel with GT depth ``z_n`` (nearest sample) and is visible (its source
    depth < 1.05 · z_n), the predicted point of that pixel, moved into source ``n``, should
    have depth ``z_n``: error ``|ln z_n − ln ẑ_n|``. Mean over all such (source, pixel) pairs.

    Args:
        pred_depth, gt_depth: ``(B, 1, H, W)`` metres; valid: ``(B, 1, H, W)`` bool GT mask.
        src_depths: ``(B, S, 1, H_s, W_s)`` GT depth of the sources (0 = none).
        K: ``(B, 3, 3)`` reference intrinsics; src_K: ``(B, S, 3, 3)``.
        src_T_ref: ``(B, S, 4, 4)`` reference camera → source camera.
        source_valid: optional ``(B, S)`` bool (padding sources are left out).
    """
    B, S, _, Hs, Ws = src_depths.shape
    H, W = gt_depth.shape[-2:]
    dtype = pred_depth.dtype

    def flat(x: torch.Tensor) -> torch.Tensor:            # (B, ...) → (B·S, ...)
        return x.unsqueeze(1).expand(B, S, *x.shape[1:]).reshape(B * S, *x.shape[1:])

    K_src = src_K.reshape(B * S, 3, 3).to(dtype)
    poses = src_T_ref.reshape(B * S, 4, 4).to(dtype)
    gt_points = backproject_torch(flat(gt_depth * valid.to(dtype)), flat(K.to(dtype)))
    uv, z_gt, inside = project_to_camera(gt_points.reshape(B * S, 3, H * W), K_src, poses,
                                         (Hs, Ws))
    grid = pixel_to_grid(uv, Hs, Ws).reshape(B * S, H, W, 2)
    z_src = F.grid_sample(src_depths.reshape(B * S, 1, Hs, Ws).to(dtype), grid,
                          mode="nearest", padding_mode="zeros", align_corners=True)
    z_src = z_src.reshape(B * S, H * W)
    visible = (inside & flat(valid).reshape(B * S, H * W) & (z_src > 0)
               & (z_gt < VISIBILITY_RATIO * z_src))
    if source_valid is not None:
        visible = visible & source_valid.reshape(B * S, 1)
    pred_points = backproject_torch(flat(pred_depth), flat(K.to(dtype)))
    _, z_pred, _ = project_to_camera(pred_points.reshape(B * S, 3, H * W), K_src, poses,
                                     (Hs, Ws))
    visible = visible & (z_pred > _EPS_DEPTH)
    error = (torch.log(z_src.clamp_min(_EPS_DEPTH)) - torch.log(z_pred.clamp_min(_EPS_DEPTH)))
    return _masked_mean(error.abs(), visible)


def simplerecon_loss(outputs: dict, batch: dict, min_depth: float, max_depth: float,
                     weights: dict[str, float] | None = None
                     ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The weighted sum of the four losses for an :class:`MVSNet` output.

    Args:
        outputs: ``MVSNet(...)`` output (``depth`` and ``log_depth`` lists, full res first).
        batch: ``depth (B, 1, H, W)``, ``src_depth (B, S, 1, H, W)``, ``K (B, 3, 3)``,
            ``src_K (B, S, 3, 3)``, ``src_T_ref (B, S, 4, 4)``, optional ``source_valid``.
        min_depth, max_depth: the model's depth range (metres).
        weights: loss name → weight (default :data:`LOSS_WEIGHTS`, 1 : 1 : 1 : 0.2).
    Returns:
        ``(total, {name: unweighted loss (detached)})``.
    """
    weights = LOSS_WEIGHTS if weights is None else weights
    # Losses in float32 even under mixed precision (log depth differences are small numbers).
    dtype = torch.promote_types(outputs["depth"][0].dtype, torch.float32)
    gt = batch["depth"].to(dtype)
    valid = gt_valid(gt)
    gt = torch.where(valid, gt, torch.zeros_like(gt))
    clamped = torch.where(valid, gt.clamp(min_depth, max_depth), gt)
    pred = outputs["depth"][0].to(dtype)
    log_depths = [x.to(dtype) for x in outputs["log_depth"]]
    in_range = valid & (gt <= max_depth)
    losses = {
        "ms_log_l1": multiscale_log_l1(log_depths, gt, valid, min_depth, max_depth),
        "gradient": gradient_loss(pred, clamped, valid),
        "normal": normal_loss(pred, clamped, batch["K"], valid),
        "multiview": multiview_depth_loss(pred, gt, batch["src_depth"], batch["K"],
                                          batch["src_K"], batch["src_T_ref"], in_range,
                                          batch.get("source_valid")),
    }
    total = sum(weights[name] * value for name, value in losses.items())
    return total, {name: value.detach() for name, value in losses.items()}


def cell_centre_depth(gt_depth: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(B, 1, H, W)`` GT depth → ``(B, 1, h, w)``: the GT at the pixel nearest the centre of
    each cell of an ``h × w`` grid over the image (no averaging across depth edges); ``H, W``
    multiples of ``h, w``."""
    H, W = gt_depth.shape[-2:]
    h, w = size
    stride_y, stride_x = H // h, W // w
    return gt_depth[..., stride_y // 2::stride_y, stride_x // 2::stride_x][..., :h, :w]


def plane_targets(gt_depth: torch.Tensor, log_planes: torch.Tensor, size: tuple[int, int]
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The GT plane of every cell of a ``size = (h, w)`` grid over the image (the cost volume's).

    The GT is sampled at the pixel nearest each cell's centre (no averaging across depth
    edges); its log depth, as a fractional plane index ``f`` between planes ``⌊f⌋`` and
    ``⌊f⌋ + 1``, gives the two weights ``1 − (f − ⌊f⌋)`` and ``f − ⌊f⌋`` (two-hot: its
    expectation under the plane depths' logs is the GT log depth exactly).

    Args:
        gt_depth: ``(B, 1, H, W)`` metres (0 / non-finite = none), ``H, W`` multiples of h, w.
        log_planes: ``(D,)`` natural logs of the plane depths, evenly spaced, increasing.
    Returns:
        ``lower (B, 1, h, w)`` int64 plane index, ``upper_weight (B, 1, h, w)`` in [0, 1] and
        ``valid (B, 1, h, w)`` bool (GT inside the planes' range).
    """
    sampled = cell_centre_depth(gt_depth, size)
    D = log_planes.shape[0]
    low, high = float(log_planes[0]), float(log_planes[-1])
    valid = gt_valid(sampled) & (sampled >= math.exp(low)) & (sampled <= math.exp(high))
    log_depth = torch.log(torch.where(valid, sampled, torch.full_like(sampled, math.exp(low))))
    lower, upper_weight = _two_hot(((log_depth - low) / (high - low) * (D - 1)), D)
    return lower, upper_weight, valid


def _two_hot(index: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fractional index over ``count`` bins (clamped to ``[0, count − 1]``) → the lower bin
    (int64) and the upper bin's weight in [0, 1]."""
    index = index.clamp(0, count - 1)
    lower = index.floor().clamp(max=count - 2)
    return lower.long(), index - lower


def _two_hot_cross_entropy(logits: torch.Tensor, lower: torch.Tensor,
                           upper_weight: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of ``softmax(logits)`` over dim 1 against the two-hot target (``lower``
    bin, ``upper_weight`` on the next), mean over ``valid`` cells."""
    log_probability = torch.log_softmax(logits.float(), dim=1)
    loss = -((1 - upper_weight) * log_probability.gather(1, lower)
             + upper_weight * log_probability.gather(1, lower + 1))
    return _masked_mean(loss, valid)


def plane_cross_entropy(logits: torch.Tensor, gt_depth: torch.Tensor,
                        log_planes: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of ``softmax(logits)`` over the planes against the two-hot GT plane
    (:func:`plane_targets`), mean over cells with GT in range.

    Args:
        logits: ``(B, D, h, w)`` plane logits; gt_depth: ``(B, 1, H, W)`` metres;
        log_planes: ``(D,)``.
    """
    lower, upper_weight, valid = plane_targets(gt_depth, log_planes, logits.shape[-2:])
    return _two_hot_cross_entropy(logits, lower, upper_weight, valid)


def local_cross_entropy(logits: torch.Tensor, log_center: torch.Tensor,
                        gt_depth: torch.Tensor, step: float, min_depth: float,
                        max_depth: float) -> torch.Tensor:
    """Cross-entropy of the ½-resolution local volume's hypotheses
    (:class:`~edgegeo.models.mvs.refinement.LocalDepthRefinement`) against the two-hot GT
    hypothesis, mean over cells with GT in ``[min_depth, max_depth]``.

    The GT log depth at each cell (:func:`cell_centre_depth`) as a fractional hypothesis index
    ``(ln z − c) / step + R`` is clamped to ``[0, 2R]``: where the GT lies outside the local
    range the target is the end hypothesis on its side (move as far as the volume allows).

    Args:
        logits: ``(B, K, h, w)``, ``K = 2R + 1``; log_center: ``(B, 1, h, w)`` the hypotheses'
            centre ``c``; gt_depth: ``(B, 1, H, W)`` metres; step: log depth between
            hypotheses.
    """
    count = logits.shape[1]
    sampled = cell_centre_depth(gt_depth, logits.shape[-2:])
    valid = gt_valid(sampled) & (sampled >= min_depth) & (sampled <= max_depth)
    log_gt = torch.log(torch.where(valid, sampled, torch.ones_like(sampled)))
    lower, upper_weight = _two_hot((log_gt - log_center.float()) / step + (count - 1) / 2,
                                   count)
    return _two_hot_cross_entropy(logits, lower, upper_weight, valid)


def mvs_loss(outputs: dict, batch: dict, min_depth: float, max_depth: float,
             log_planes: torch.Tensor, weights: dict[str, float] | None = None,
             plane_weights: dict[str, float] | None = None, local_step: float = 0.0,
             full_step: float = 0.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """:func:`simplerecon_loss`, plus — when the outputs have plane logits (the ``planes``
    decoder) — :func:`plane_cross_entropy` on the raw volume's logits (``volume_ce``) and on
    the corrected ones (``plane_ce``), and — when they have the ½-resolution local volume's
    logits — :func:`local_cross_entropy` (``local_ce``; ``local_step`` = the log depth between
    its hypotheses), and the same for the full-resolution local volume (``full_ce``,
    ``full_step``), weighted by ``plane_weights`` (default :data:`PLANE_LOSS_WEIGHTS`).
    Returns ``(total, {name: unweighted loss (detached)})``."""
    total, parts = simplerecon_loss(outputs, batch, min_depth, max_depth, weights)
    if "plane_logits" not in outputs:
        return total, parts
    plane_weights = PLANE_LOSS_WEIGHTS if plane_weights is None else plane_weights
    gt = batch["depth"]
    for name, key in (("volume_ce", "volume_logits"), ("plane_ce", "plane_logits")):
        if plane_weights[name] > 0:
            value = plane_cross_entropy(outputs[key], gt, log_planes)
            total = total + plane_weights[name] * value
            parts[name] = value.detach()
    for name, prefix, step in (("local_ce", "local", local_step),
                               ("full_ce", "full", full_step)):
        weight = plane_weights.get(name, 0.0)
        if f"{prefix}_logits" not in outputs or weight <= 0:
            continue
        if step <= 0:
            raise ValueError(f"mvs_loss needs {prefix}_step > 0 for the {prefix} volume's "
                             "logits")
        value = local_cross_entropy(outputs[f"{prefix}_logits"], outputs[f"{prefix}_center"],
                                    gt, step, min_depth, max_depth)
        total = total + weight * value
        parts[name] = value.detach()
    return total, parts
