"""SimpleRecon's metadata feature vector for every (depth plane, reference pixel, source view).

For reference pixel ``(u, v)`` on the fronto-parallel plane ``z = d`` the 3-D point is
``P = d · K_ref⁻¹ [u, v, 1]`` (reference camera frame). For each source ``n`` (given by
``src_T_ref``, reference camera → source camera) the metadata is:

* the reference matching feature at ``(u, v)`` and the source feature bilinearly sampled where
  ``P`` projects in source ``n`` (0 where ``P`` is behind the source or outside its image);
* their dot product;
* the unit ray from the reference camera centre to ``P`` and the unit ray from source ``n``'s
  centre ``c_n`` to ``P``, both in the reference frame: ``P / ‖P‖`` and ``(P − c_n) / ‖P − c_n‖``;
* the plane depth ``d`` and the reprojected depth of ``P`` in source ``n`` (z in its camera);
* the cosine of the angle between the two rays;
* the pose distance ``sqrt(‖t‖² + R_m²)`` of ``src_T_ref`` and its parts ``t_m = ‖t‖`` (metres)
  and ``R_m = sqrt(2/3 · (3 − min(3, tr R)))`` (the DeepVideoMVS/SimpleRecon measures);
* the validity mask: ``P`` in front of source ``n`` (z > 0).

Sources are **ordered by pose distance** (nearest first) before their channels are stacked, so
the order carries information too (implicit metadata). Reference feature, reference ray and
plane depth appear once; everything else once per source. With ``C`` feature channels and ``S``
sources that is ``C·(S+1) + 10·S + 4`` channels — 202 for SimpleRecon's C = 16, S = 7. The
channel layout is :func:`metadata_layout`.
"""
from __future__ import annotations

import torch

from edgegeo.geometry.planesweep import plane_sweep_grid, plane_sweep_pixels
from edgegeo.geometry.warp import (MIN_PROJECTION_DEPTH, pixel_rays, sample_bilinear,
                                   sample_bilinear_dot)

# Metadata blocks in channel order: (name, width). A width is a fixed channel count or a
# symbol: C = feature channels, S = sources; per-source blocks are source-major (nearest first).
_BLOCKS = (
    ("ref_feature", "C"),          # C
    ("src_features", "SC"),        # S·C, source-major
    ("dot", "S"),                  # S
    ("ref_ray", 3),                # 3
    ("src_rays", "3S"),            # 3·S, source-major (x, y, z per source)
    ("plane_depth", 1),            # 1
    ("reprojected_depth", "S"),    # S
    ("ray_cosine", "S"),           # S
    ("pose_distance", "S"),        # S
    ("pose_t", "S"),               # S
    ("pose_R", "S"),               # S
    ("mask", "S"),                 # S
)


def metadata_layout(channels: int, num_sources: int) -> dict[str, slice]:
    """Channel slices of each metadata block for ``channels`` feature channels and
    ``num_sources`` sources (see the module docstring for the order)."""
    sizes = {"C": channels, "SC": num_sources * channels, "S": num_sources,
             "3S": 3 * num_sources}
    layout, start = {}, 0
    for name, size in _BLOCKS:
        width = sizes[size] if isinstance(size, str) else size
        layout[name] = slice(start, start + width)
        start += width
    return layout


def metadata_channels(channels: int, num_sources: int) -> int:
    """Length of the metadata vector: ``C·(S+1) + 10·S + 4``."""
    return channels * (num_sources + 1) + 10 * num_sources + 4


def scale_intrinsics(K: torch.Tensor, scale: float) -> torch.Tensor:
    """``K`` of an image resized by ``scale`` in both axes, pixel-centre convention (torch
    version of :func:`edgegeo.geometry.scale_K`): ``f' = s·f``, ``c' = (c + 0.5)·s − 0.5``.

    Args:
        K: ``(..., 3, 3)`` intrinsics.
        scale: new size / old size (e.g. 1/4 for the matching features).
    """
    pixel_map = K.new_tensor([[scale, 0.0, 0.5 * scale - 0.5],
                              [0.0, scale, 0.5 * scale - 0.5],
                              [0.0, 0.0, 1.0]])
    return pixel_map @ K


def pose_distance_terms(src_T_ref: torch.Tensor):
    """DeepVideoMVS pose distance of relative poses (torch, batched, no gradient).

    Args:
        src_T_ref: ``(..., 4, 4)`` rigid transforms.
    Returns:
        ``(distance, t_m, R_m)``, each ``(...)``: ``sqrt(t_m² + R_m²)``, ``t_m = ‖t‖`` (metres)
        and ``R_m = sqrt(2/3 · (3 − min(3, tr R)))``. (``R_m²`` is the rotation term of
        :func:`edgegeo.geometry.pose_distance_parts`.)
    """
    pose = src_T_ref.detach()
    t_m = pose[..., :3, 3].norm(dim=-1)
    trace = pose[..., 0, 0] + pose[..., 1, 1] + pose[..., 2, 2]
    rot_term = (2.0 / 3.0) * (3.0 - trace.clamp(max=3.0))
    R_m = rot_term.sqrt()
    return (t_m.square() + rot_term).sqrt(), t_m, R_m


def source_order(src_T_ref: torch.Tensor, source_valid: torch.Tensor | None = None
                 ) -> torch.Tensor:
    """Indices sorting sources by pose distance, nearest first, invalid sources last.

    Args:
        src_T_ref: ``(B, S, 4, 4)``; source_valid: optional ``(B, S)`` bool.
    Returns:
        ``(B, S)`` int64 (a stable sort: ties keep the input order).
    """
    distance = pose_distance_terms(src_T_ref)[0]
    if source_valid is not None:
        distance = torch.where(source_valid, distance, torch.full_like(distance, float("inf")))
    return stable_argsort(distance)


def stable_argsort(values: torch.Tensor) -> torch.Tensor:
    """``torch.argsort(values, dim=1, stable=True)`` for small ``(B, S)`` float tensors
    without NaN, by pairwise comparisons (``S²`` of them).

    ``torch.argsort(stable=True)`` does not export to ONNX (the TorchScript exporter has no
    stable ``Sort``; ``TopK`` does not keep ties in order). Comparisons and float sums export
    to element-wise ops and float ``ReduceSum`` (TensorRT 8.6 reduces floats only). The rank
    of entry ``i`` is the count of entries smaller than it plus the count of equal entries
    before it (a permutation of ``0 … S−1``); ``order[k]`` is the ``i`` of rank ``k``.

    Returns:
        ``(B, S)`` int64 indices, ascending values, ties in input order.
    """
    S = values.shape[1]
    index = torch.arange(S, device=values.device, dtype=torch.float32)
    a, b = values.unsqueeze(2), values.unsqueeze(1)                  # (B, S, 1), (B, 1, S)
    before = (b < a) | ((b == a) & (index.view(1, 1, S) < index.view(1, S, 1)))
    rank = before.to(torch.float32).sum(2)                            # (B, S), exact
    one_hot = (rank.unsqueeze(1) == index.view(1, S, 1)).to(torch.float32)   # [b, k, i]
    return (one_hot * index.view(1, 1, S)).sum(2).long()


def gather_sources(tensor: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """``tensor[b, order[b]]`` for a ``(B, S, ...)`` tensor and ``(B, S)`` indices."""
    index = order.view(*order.shape, *([1] * (tensor.dim() - 2))).expand_as(tensor)
    return torch.gather(tensor, 1, index)


def geometry_dtype(tensor: torch.Tensor) -> torch.dtype:
    """float32 for half/bfloat16 tensors (projections need more than 8 mantissa bits: under
    mixed precision the sweep and metadata stay float32), else the tensor's dtype."""
    return torch.float32 if tensor.dtype in (torch.float16, torch.bfloat16) else tensor.dtype


def _check_inputs(ref_feats, src_feats, K_ref, K_src, src_T_ref, depths, source_valid):
    if ref_feats.dim() != 4 or src_feats.dim() != 5:
        raise ValueError(f"ref_feats must be (B, C, h, w) and src_feats (B, S, C, h, w), got "
                         f"{tuple(ref_feats.shape)} and {tuple(src_feats.shape)}")
    B, C = ref_feats.shape[:2]
    S = src_feats.shape[1]
    if src_feats.shape[0] != B or src_feats.shape[2] != C:
        raise ValueError(f"src_feats {tuple(src_feats.shape)} does not match ref_feats "
                         f"{tuple(ref_feats.shape)} in batch or channels")
    expected = {"K_ref": (K_ref, (B, 3, 3)), "K_src": (K_src, (B, S, 3, 3)),
                "src_T_ref": (src_T_ref, (B, S, 4, 4))}
    for name, (tensor, shape) in expected.items():
        if tuple(tensor.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(tensor.shape)}")
    if depths.dim() != 1 and not (depths.dim() == 4 and depths.shape[0] == B
                                  and tuple(depths.shape[2:]) == tuple(ref_feats.shape[2:])):
        raise ValueError(f"depths must be (D,) planes or (B, D, h, w) per-pixel hypotheses, "
                         f"got {tuple(depths.shape)}")
    if source_valid is not None and tuple(source_valid.shape) != (B, S):
        raise ValueError(f"source_valid must be (B, S) = {(B, S)}, got "
                         f"{tuple(source_valid.shape)}")


# Pixels beyond a source map's first / last pixel centre over which the correlation volume's
# samples fade to 0, and the total coverage below which its mean fades to 0: together they make
# the volume continuous in the projections, so torch and an exported graph that round a border
# projection to opposite sides agree (a hard cut there cost the exported mvs graph its fp32
# parity). Inside the map nothing changes.
BORDER_FADE_PX = 0.25
FADE_COVERAGE = 0.1


def border_fade_weight(u: torch.Tensor, v: torch.Tensor, hw) -> torch.Tensor:
    """Weight of a sample at source pixel ``(u, v)`` (any equal shapes; ``hw`` the map's
    ``(H, W)``): 1 within the first / last pixel centres, falling linearly to 0 over
    :data:`BORDER_FADE_PX` beyond them, 0 further out."""
    height, width = int(hw[0]), int(hw[1])

    def ramp(t: torch.Tensor, last: int) -> torch.Tensor:
        inside = torch.minimum(t, last - t) + BORDER_FADE_PX
        return (inside / BORDER_FADE_PX).clamp(0.0, 1.0)

    return ramp(u, width - 1) * ramp(v, height - 1)


def _sweep_geometry(ref_feats, src_feats, K_ref, K_src, src_T_ref, depths):
    """The arguments of :func:`~edgegeo.geometry.planesweep.plane_sweep_grid` for every
    source at once (batch ``B·S``; arguments as :func:`sweep_sources`, depths cast to
    ``src_feats``' dtype)."""
    B, _, h, w = ref_feats.shape
    S, _, hs, ws = src_feats.shape[1:]
    depths = depths.to(dtype=src_feats.dtype, device=src_feats.device)
    if depths.dim() == 4:
        D = depths.shape[1]
        depths = depths.unsqueeze(1).expand(B, S, D, h, w).reshape(B * S, D, h, w)
    K_ref_rep = K_ref.unsqueeze(1).expand(B, S, 3, 3).reshape(B * S, 3, 3)
    return (K_ref_rep, K_src.reshape(B * S, 3, 3), src_T_ref.reshape(B * S, 4, 4), depths,
            h, w, (hs, ws))


def sweep_sources(ref_feats: torch.Tensor, src_feats: torch.Tensor, K_ref: torch.Tensor,
                  K_src: torch.Tensor, src_T_ref: torch.Tensor, depths: torch.Tensor):
    """Warp every source's features onto every reference depth plane.

    Args:
        ref_feats: ``(B, C, h, w)`` reference features (only its size is used here).
        src_feats: ``(B, S, C, h_s, w_s)`` source features (h_s, w_s ≥ 2).
        K_ref: ``(B, 3, 3)`` intrinsics of the ``h × w`` reference feature grid.
        K_src: ``(B, S, 3, 3)`` intrinsics of the source feature maps.
        src_T_ref: ``(B, S, 4, 4)`` rigid transforms reference camera → source camera.
        depths: ``(D,)`` plane depths in metres, or ``(B, D, h, w)`` per-pixel depth
            hypotheses (metres).
    Returns (float32 when the features are half/bfloat16, else their dtype):
        warped: ``(B, S, C, D, h, w)`` bilinearly sampled source features, 0 where the plane
            point is behind the source or projects outside its feature map.
        src_depth: ``(B, S, D, h, w)`` z of each plane point in each source camera (metres).
        in_front: ``(B, S, D, h, w)`` bool, ``src_depth > MIN_PROJECTION_DEPTH``.
    """
    B, _, h, w = ref_feats.shape
    S, C, hs, ws = src_feats.shape[1:]
    D = depths.shape[0] if depths.dim() == 1 else depths.shape[1]
    dtype = geometry_dtype(src_feats)
    src_feats = src_feats.to(dtype)
    grid, src_depth, valid = plane_sweep_grid(
        *_sweep_geometry(ref_feats, src_feats, K_ref, K_src, src_T_ref, depths))
    # Invalid samples are sent far outside the map, where zero padding gives exactly 0: the
    # same as multiplying the (much larger) warped volume by the validity mask.
    grid = torch.where(valid.unsqueeze(-1), grid, torch.full_like(grid, -4.0))
    sampled = sample_bilinear(src_feats.reshape(B * S, C, hs, ws),
                              grid.reshape(B * S, D * h, w, 2).to(dtype))
    src_depth = src_depth.reshape(B, S, D, h, w).to(dtype)
    return sampled.reshape(B, S, C, D, h, w), src_depth, src_depth > MIN_PROJECTION_DEPTH


def build_metadata(ref_feats: torch.Tensor, src_feats: torch.Tensor, K_ref: torch.Tensor,
                   K_src: torch.Tensor, src_T_ref: torch.Tensor, depths: torch.Tensor,
                   source_valid: torch.Tensor | None = None, channels_last: bool = False
                   ) -> torch.Tensor:
    """The metadata volume of one batch.

    Sources are first sorted by pose distance (nearest first; invalid ones last), then their
    metadata is stacked per :func:`metadata_layout`.

    Args:
        ref_feats: ``(B, C, h, w)`` reference matching features.
        src_feats: ``(B, S, C, h_s, w_s)`` source matching features, any order.
        K_ref: ``(B, 3, 3)`` intrinsics of the reference feature grid (scale image intrinsics
            with :func:`scale_intrinsics`).
        K_src: ``(B, S, 3, 3)`` intrinsics of the source feature maps.
        src_T_ref: ``(B, S, 4, 4)`` reference camera → source camera.
        depths: ``(D,)`` plane depths in metres.
        source_valid: optional ``(B, S)`` bool; an invalid (padding) source gets all its
            per-source channels set to 0 (mask included).
        channels_last: return ``(B, D, h, w, F)`` instead (what a per-vector MLP of Linear
            layers reads without a transpose).
    Returns:
        ``(B, F, D, h, w)`` with ``F = metadata_channels(C, S)``, dtype of ``src_feats``
        (float32 for half/bfloat16 features).
    """
    _check_inputs(ref_feats, src_feats, K_ref, K_src, src_T_ref, depths, source_valid)
    order = source_order(src_T_ref, source_valid)
    src_feats, K_src, src_T_ref = (gather_sources(t, order) for t in (src_feats, K_src,
                                                                      src_T_ref))
    warped, src_depth, in_front = sweep_sources(ref_feats, src_feats, K_ref, K_src, src_T_ref,
                                                depths)
    B, S, C, D, h, w = warped.shape
    dtype = warped.dtype
    ref_feats = ref_feats.to(dtype)
    depths = depths.to(dtype=dtype, device=warped.device)

    # Rays: P = d · r with r = K⁻¹[u, v, 1]; the reference ray r / ‖r‖ does not depend on the
    # plane. For the source ray (P − c) / ‖P − c‖ the norm and the cosine come from small
    # per-pixel / per-source terms: ‖P − c‖² = d²‖r‖² − 2d (r·c) + ‖c‖² and
    # cos = (d‖r‖² − r·c) / (‖r‖ ‖P − c‖) (no reduction over the big volume).
    rays = pixel_rays(K_ref.to(dtype), h, w)                                  # (B, 3, hw)
    rr = rays.square().sum(1)                                                 # (B, hw)
    ref_ray = rays / rr.sqrt().unsqueeze(1)
    rotation, translation = src_T_ref[..., :3, :3].to(dtype), src_T_ref[..., :3, 3].to(dtype)
    centres = -(rotation.transpose(-1, -2) @ translation.unsqueeze(-1)).squeeze(-1)  # (B,S,3)
    rc = (centres @ rays).view(B, S, 1, h * w)                                # r·c
    cc = centres.square().sum(-1).view(B, S, 1, 1)
    d = depths.view(1, 1, D, 1)
    inverse_norm = torch.rsqrt((d.square() * rr.view(B, 1, 1, h * w) - 2 * d * rc + cc)
                               .clamp_min(1e-12))                             # (B, S, D, hw)
    cosine = (d * rr.view(B, 1, 1, h * w) - rc) * inverse_norm * rr.rsqrt().view(B, 1, 1, h * w)
    src_ray = ((rays.view(B, 1, 3, 1, h * w) * d.unsqueeze(1)
                - centres.view(B, S, 3, 1, 1)) * inverse_norm.unsqueeze(2))  # (B, S, 3, D, hw)

    distance, t_m, R_m = (v.to(dtype) for v in pose_distance_terms(src_T_ref))
    mask = in_front.to(dtype)
    dot = (warped * ref_feats.view(B, 1, C, 1, h, w)).sum(2) * mask          # (B, S, D, h, w)

    per_source = [warped.reshape(B, S * C, D, h, w), dot,
                  src_ray.reshape(B, S * 3, D, h, w), src_depth,
                  cosine.reshape(B, S, D, h, w)]
    if source_valid is not None:
        keep = gather_sources(source_valid, order).to(dtype)                  # (B, S)
        warped_keep = keep.repeat_interleave(C, dim=1)
        ray_keep = keep.repeat_interleave(3, dim=1)
        factors = [warped_keep, keep, ray_keep, keep, keep]
        per_source = [x * f.view(B, -1, 1, 1, 1) for x, f in zip(per_source, factors)]
        distance, t_m, R_m = distance * keep, t_m * keep, R_m * keep
        mask = mask * keep.view(B, S, 1, 1, 1)
    warped_block, dot, src_rays, src_depth, cosine = per_source

    def per_pixel(values: torch.Tensor) -> torch.Tensor:                      # (B, S) → volume
        return values.view(B, S, 1, 1, 1).expand(B, S, D, h, w)

    blocks = [
        ref_feats.unsqueeze(2).expand(B, C, D, h, w),
        warped_block,
        dot,
        ref_ray.view(B, 3, 1, h, w).expand(B, 3, D, h, w),
        src_rays,
        depths.view(1, 1, D, 1, 1).expand(B, 1, D, h, w),
        src_depth,
        cosine,
        per_pixel(distance), per_pixel(t_m), per_pixel(R_m),
        mask,
    ]
    if channels_last:
        return torch.cat([block.movedim(1, -1) for block in blocks], dim=-1)
    return torch.cat(blocks, dim=1)


def dot_product_volume(ref_feats: torch.Tensor, src_feats: torch.Tensor, K_ref: torch.Tensor,
                       K_src: torch.Tensor, src_T_ref: torch.Tensor, depths: torch.Tensor,
                       source_valid: torch.Tensor | None = None) -> torch.Tensor:
    """The plain dot-product cost volume (SimpleRecon's ablation baseline): for every plane and
    pixel, the sum over sources of ``⟨reference feature, warped source feature⟩`` (0 where the
    point is behind a source or outside it; invalid sources left out).

    Arguments as :func:`build_metadata`. Returns ``(B, D, h, w)``.
    """
    _check_inputs(ref_feats, src_feats, K_ref, K_src, src_T_ref, depths, source_valid)
    warped, _, in_front = sweep_sources(ref_feats, src_feats, K_ref, K_src, src_T_ref, depths)
    B, S, C, D, h, w = warped.shape
    ref_feats = ref_feats.to(warped.dtype)
    dot = (warped * ref_feats.view(B, 1, C, 1, h, w)).sum(2) * in_front.to(warped.dtype)
    if source_valid is not None:
        dot = dot * source_valid.to(dot.dtype).view(B, S, 1, 1, 1)
    return dot.sum(1)


def cosine_volume(ref_feats: torch.Tensor, src_feats: torch.Tensor, K_ref: torch.Tensor,
                  K_src: torch.Tensor, src_T_ref: torch.Tensor, depths: torch.Tensor,
                  source_valid: torch.Tensor | None = None) -> torch.Tensor:
    """The normalised dot-product cost volume: for every plane and pixel, the mean over the
    sources that see the plane point (in front, inside the map, valid source) of the cosine
    similarity of the reference feature and the warped source feature; 0 where no source
    sees it. Values in [−1, 1] whatever the scale of the features, and independent of how many
    sources see a point — the un-normalised sum of :func:`dot_product_volume` mixes both into
    its magnitude.

    Arguments as :func:`build_metadata`. Returns ``(B, D, h, w)``.
    """
    _check_inputs(ref_feats, src_feats, K_ref, K_src, src_T_ref, depths, source_valid)
    unit_src = _unit_length(src_feats, 2)
    warped, _, in_front = sweep_sources(ref_feats, unit_src, K_ref, K_src, src_T_ref, depths)
    B, S, C, D, h, w = warped.shape
    unit_ref = _unit_length(ref_feats.to(warped.dtype), 1)
    # Bilinear samples of unit vectors are shorter than 1 between texels, and 0 off the map.
    length = warped.norm(dim=2)                                          # (B, S, D, h, w)
    cosine = (warped * unit_ref.view(B, 1, C, 1, h, w)).sum(2) / length.clamp_min(1e-6)
    seen = in_front & (length > 1e-3)
    if source_valid is not None:
        seen = seen & source_valid.view(B, S, 1, 1, 1).bool()
    seen = seen.to(cosine.dtype)
    return (cosine * seen).sum(1) / seen.sum(1).clamp_min(1.0)


def correlation_volume(ref_feats: torch.Tensor, src_feats: torch.Tensor, K_ref: torch.Tensor,
                       K_src: torch.Tensor, src_T_ref: torch.Tensor, depths: torch.Tensor,
                       source_valid: torch.Tensor | None = None) -> torch.Tensor:
    """The correlation cost volume of the ``planes`` design: features are made unit length per
    texel *before* the sweep, so the score of a plane point is the mean, over the sources that
    see it, of ``⟨unit reference feature, bilinear sample of the unit source features⟩`` —
    in [−1, 1] and independent of how many sources see the point, at the cost of the plain
    dot product (:func:`cosine_volume` normalises the much larger warped volume instead).

    Which sources see a point comes from the same sweep: a constant-one channel is warped
    with the features, and its sample (1 inside the source map, falling to 0 across its border,
    0 behind the camera) weights that source's score and the mean.

    Arguments as :func:`build_metadata`, except that ``depths`` may also be ``(B, D, h, w)``
    per-pixel depth hypotheses (metres; the local volume of
    :class:`~edgegeo.models.mvs.refinement.LocalDepthRefinement`). Returns ``(B, D, h, w)``;
    0 where no source sees the point.
    """
    _check_inputs(ref_feats, src_feats, K_ref, K_src, src_T_ref, depths, source_valid)
    if torch.onnx.is_in_onnx_export():
        return _correlation_volume_by_gathers(ref_feats, src_feats, K_ref, K_src, src_T_ref,
                                              depths, source_valid)
    B, C, h, w = ref_feats.shape
    S, _, hs, ws = src_feats.shape[1:]
    dtype = geometry_dtype(src_feats)
    unit_src = _unit_length(src_feats.to(dtype), 2)
    sources = torch.cat([unit_src, torch.ones_like(unit_src[:, :, :1])], dim=2)   # + coverage
    grid, src_depth, _ = plane_sweep_grid(
        *_sweep_geometry(ref_feats, sources, K_ref, K_src, src_T_ref, depths))
    fade = border_fade_weight((grid[..., 0] + 1) * (0.5 * (ws - 1)),
                              (grid[..., 1] + 1) * (0.5 * (hs - 1)), (hs, ws))
    in_front = src_depth > MIN_PROJECTION_DEPTH
    # Samples of no weight are sent far outside the map, where zero padding gives exactly 0.
    grid = torch.where((in_front & (fade > 0)).unsqueeze(-1), grid, torch.full_like(grid, -4.0))
    sampled = sample_bilinear(sources.reshape(B * S, C + 1, hs, ws),
                              grid.reshape(B * S, -1, w, 2).to(dtype))
    sampled = sampled.view(B * S, C + 1, -1, h, w)                     # (B·S, C + 1, D, h, w)
    unit_ref = _unit_length(ref_feats.to(dtype), 1)
    unit_ref = unit_ref.unsqueeze(1).expand(B, S, C, h, w).reshape(B * S, C, 1, h, w)
    # The dot product over channels, one channel at a time: a broadcast product of the whole
    # (B·S, C, D, h, w) volume costs twice the time on a CPU (memory traffic, fresh pages).
    dot = sampled[:, 0] * unit_ref[:, 0]
    for channel in range(1, C):
        dot = dot.addcmul(sampled[:, channel], unit_ref[:, channel])
    fade = fade.view_as(dot).to(dtype)
    dot = (dot * fade).view(B, S, -1, h, w)                               # (B, S, D, h, w)
    coverage = (sampled[:, C] * fade * in_front.view_as(fade)).view(B, S, -1, h, w)
    if source_valid is not None:
        keep = source_valid.to(dot.dtype).view(B, S, 1, 1, 1)
        dot, coverage = dot * keep, coverage * keep
    return _mean_over_sources(dot, coverage, 1)


def _unit_length(features: torch.Tensor, dim: int) -> torch.Tensor:
    """``features`` divided by their length along ``dim`` (lengths below 1e-6 count as
    1e-6)."""
    return features / (features * features).sum(dim, keepdim=True).sqrt().clamp_min(1e-6)


def _mean_over_sources(dot: torch.Tensor, coverage: torch.Tensor, dim: int) -> torch.Tensor:
    """A sample partly off the map has its feature and its coverage scaled alike by the zero
    padding: the coverage-weighted mean of the sources' correlations (0 where none sees it).
    A total coverage below :data:`FADE_COVERAGE` (a point seen only by sources fading out at
    their borders) divides by that instead, so the mean fades to 0 rather than jumping there."""
    total = coverage.sum(dim)
    return dot.sum(dim) / total.clamp_min(FADE_COVERAGE)


def _correlation_volume_by_gathers(ref_feats, src_feats, K_ref, K_src, src_T_ref, depths,
                                   source_valid):
    """:func:`correlation_volume` as the exported graph computes it: per reference pixel, one
    gather of each sample's 2×2 source neighbourhood and one ``MatMul`` against its feature
    (:func:`~edgegeo.geometry.warp.sample_bilinear_dot`), instead of warping the source
    channels; the same values to float rounding (tested)."""
    B, C, h, w = ref_feats.shape
    S = src_feats.shape[1]
    dtype = geometry_dtype(src_feats)
    unit_src = _unit_length(src_feats.to(dtype), 2)
    unit_ref = _unit_length(ref_feats.to(dtype), 1)
    x, y, src_depth, _ = plane_sweep_pixels(
        *_sweep_geometry(ref_feats, unit_src, K_ref, K_src, src_T_ref, depths))
    fade = border_fade_weight(x, y, unit_src.shape[-2:])
    valid = (src_depth > MIN_PROJECTION_DEPTH) & (fade > 0)
    D = x.shape[1]

    def pixel_major(values: torch.Tensor) -> torch.Tensor:       # (B·S, D, h, w) → (B, hw, S, D)
        return values.reshape(B, S, D, h * w).permute(0, 3, 1, 2)

    x = torch.where(valid, x, torch.full_like(x, -1.0))          # off the map: reads zeros
    dot, coverage = sample_bilinear_dot(unit_src, pixel_major(x), pixel_major(y),
                                        unit_ref.reshape(B, C, h * w).transpose(1, 2))
    fade = pixel_major(fade.to(dtype))
    dot, coverage = dot * fade, coverage * fade
    if source_valid is not None:
        keep = source_valid.to(dtype).view(B, 1, S, 1)
        dot, coverage = dot * keep, coverage * keep
    return _mean_over_sources(dot, coverage, 2).transpose(1, 2).reshape(B, D, h, w)
