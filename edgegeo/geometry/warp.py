"""Differentiable, batched inverse warping of a source view into a reference view (torch).

Pixel convention: the centre of pixel (0, 0) is at (0, 0). ``grid_sample`` is always called
with ``align_corners=True``, for which normalised −1 / +1 are the centres of the first / last
pixel — the same convention.

``K⁻¹`` is written out analytically (:func:`invert_K`) rather than taken with
``torch.linalg.inv``, which has no operator in the standard ONNX opsets (the TorchScript
exporter refuses it; others emit the contrib ``Inverse`` node, which TensorRT cannot run): the
closed form exports to plain element-wise ops.
"""
import torch
import torch.nn.functional as F

from edgegeo.checks import image_size, positive_int
from ._torch_checks import check_depth_tensor, check_K_tensor, check_pose_tensor, check_tensor

# Points closer than this (metres, along the source optical axis) count as behind the camera.
MIN_PROJECTION_DEPTH = 1e-6
# Projections this far (pixels) outside the first/last pixel centre still count as inside, so
# that rounding does not drop border pixels (the zero-padding weight there is ≤ this value).
BORDER_TOLERANCE_PX = 1e-3


def grid_size(value, name: str):
    """A grid side for the functions here: a Python/numpy int, checked (``positive_int``).

    While torch traces a graph (``torch.onnx.export``), ``tensor.shape`` entries are 0-d
    integer tensors: they are passed through unchecked (the int check would refuse them and
    fail the trace).

    Raises:
        ValueError: not an integer ≥ 1 (outside tracing).
    """
    if torch.jit.is_tracing() and isinstance(value, torch.Tensor) and value.dim() == 0:
        return value
    return positive_int(value, name)


def grid_hw(hw, name: str):
    """``(H, W)`` through :func:`grid_size` (``image_size`` for ints; traced sizes pass)."""
    if torch.jit.is_tracing() and any(isinstance(v, torch.Tensor) for v in hw):
        height, width = hw
        return grid_size(height, f"{name}[0] (H)"), grid_size(width, f"{name}[1] (W)")
    return image_size(hw, name)


def invert_K(K: torch.Tensor) -> torch.Tensor:
    """Inverse of batched pinhole intrinsics, in closed form (exports to element-wise ONNX ops).

    For ``K = [[fx, s, cx], [0, fy, cy], [0, 0, 1]]`` (skew ``s`` allowed)::

        K⁻¹ = [[1/fx, −s/(fx·fy), (s·cy − cx·fy)/(fx·fy)],
               [0,     1/fy,      −cy/fy               ],
               [0,     0,          1                   ]]

    Args:
        K: (B, 3, 3) float intrinsics (pixels), fx, fy > 0, ``K[:, 1, 0] = 0`` and bottom row
            [0, 0, 1] (within 1e-4); the entries that must be 0 or 1 are not read.
    Returns:
        (B, 3, 3) ``K⁻¹`` (pixel ``[u, v, 1]`` → ray with z = 1), dtype and device of
        ``K``.
    Raises:
        ValueError: not (B, 3, 3), non-finite, fx or fy ≤ 0, a bottom row other than
            [0, 0, 1], or ``K[:, 1, 0] ≠ 0`` (not pinhole intrinsics).
    """
    check_tensor(K, "K", (None, 3, 3))
    K = check_K_tensor(K, "K", K.shape[0], like=K)
    if bool((K[:, 1, 0].abs() > 1e-4).any()):
        raise ValueError("K[:, 1, 0] must be 0: invert_K inverts pinhole intrinsics "
                         "[[fx, s, cx], [0, fy, cy], [0, 0, 1]]")
    fx, skew, cx = K[:, 0, 0], K[:, 0, 1], K[:, 0, 2]
    fy, cy = K[:, 1, 1], K[:, 1, 2]
    zero, one = torch.zeros_like(fx), torch.ones_like(fx)
    rows = [torch.stack([1.0 / fx, -skew / (fx * fy), (skew * cy - cx * fy) / (fx * fy)], -1),
            torch.stack([zero, 1.0 / fy, -cy / fy], -1),
            torch.stack([zero, zero, one], -1)]
    return torch.stack(rows, dim=1)


def pixel_rays(K: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """Rays ``K⁻¹ [u, v, 1]`` (z = 1) through every pixel centre, row-major.

    Args:
        K: (B, 3, 3) float intrinsics of an H×W image.
    Returns:
        (B, 3, H·W) rays in the camera frame (metres per metre of depth), dtype and device
        of ``K``; column ``v·W + u`` belongs to pixel (u, v).
    """
    K_inv = invert_K(K)
    H, W = grid_size(H, "H"), grid_size(W, "W")
    v, u = torch.meshgrid(torch.arange(H, dtype=K.dtype, device=K.device),
                          torch.arange(W, dtype=K.dtype, device=K.device), indexing="ij")
    pixels = torch.stack([u.reshape(-1), v.reshape(-1), torch.ones_like(u).reshape(-1)])
    return K_inv @ pixels


def backproject_torch(depth: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Lift a batch of depth maps to camera-frame points.

    Args:
        depth: (B, 1, H, W) float z-depth in metres, finite, ≥ 0 (0 = invalid).
        K: (B, 3, 3) intrinsics (cast to ``depth``'s dtype and device).
    Returns:
        (B, 3, H, W) points ``depth · K⁻¹ [u, v, 1]`` in metres; invalid pixels → 0.
    """
    check_depth_tensor(depth, "depth")
    B, _, H, W = depth.shape
    K = check_K_tensor(K, "K", B, like=depth)
    return (pixel_rays(K, H, W) * depth.reshape(B, 1, H * W)).reshape(B, 3, H, W)


def pixel_to_grid(uv: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """Normalise pixel coordinates for ``F.grid_sample(..., align_corners=True)``.

    ``x = 2u / (W − 1) − 1``, ``y = 2v / (H − 1) − 1``: pixel centre 0 → −1, W − 1 → +1.

    Args:
        uv: (..., 2) pixel coordinates (u, v) in the sampled image.
        H, W: size of the sampled image, each ≥ 2.
    Returns:
        (..., 2) normalised coordinates, same dtype as ``uv``.
    """
    if not isinstance(uv, torch.Tensor) or uv.ndim < 1 or uv.shape[-1] != 2:
        raise ValueError(f"uv must be a tensor of shape (..., 2), got "
                         f"{tuple(getattr(uv, 'shape', ())) or type(uv).__name__}")
    if H < 2 or W < 2:
        raise ValueError(f"pixel_to_grid needs H, W >= 2 (align_corners=True), got {H}x{W}")
    scale = uv.new_tensor([2.0 / (W - 1), 2.0 / (H - 1)])
    return uv * scale - 1.0


def project_to_pixels(points_ref: torch.Tensor, K_src: torch.Tensor, src_T_ref: torch.Tensor,
                      src_hw: tuple[int, int]):
    """:func:`project_to_camera` with the pixel coordinates as two ``(B, N)`` tensors ``u, v``
    (what a sampler that does its own indexing reads, with no ``(…, 2)`` layout to split).

    Returns:
        u, v, z, valid: ``(B, N)`` each, as in :func:`project_to_camera`.
    """
    check_tensor(points_ref, "points_ref", (None, 3, None))
    B = points_ref.shape[0]
    K_src = check_K_tensor(K_src, "K_src", B, like=points_ref)
    src_T_ref = check_pose_tensor(src_T_ref, "src_T_ref", B, like=points_ref)
    points_src = src_T_ref[:, :3, :3] @ points_ref + src_T_ref[:, :3, 3:]
    z = points_src[:, 2]
    image_points = K_src @ points_src
    z_safe = z.clamp(min=MIN_PROJECTION_DEPTH)
    u, v = image_points[:, 0] / z_safe, image_points[:, 1] / z_safe
    H_src, W_src = grid_hw(src_hw, "src_hw")
    margin = BORDER_TOLERANCE_PX
    inside = ((u >= -margin) & (u <= W_src - 1 + margin)
              & (v >= -margin) & (v <= H_src - 1 + margin))
    return u, v, z, inside & (z > MIN_PROJECTION_DEPTH)


def project_to_camera(points_ref: torch.Tensor, K_src: torch.Tensor, src_T_ref: torch.Tensor,
                      src_hw: tuple[int, int]):
    """Move reference-frame points into a source camera and project them.

    Args:
        points_ref: (B, 3, N) points in the reference camera frame, metres.
        K_src: (B, 3, 3) source intrinsics.
        src_T_ref: (B, 4, 4) rigid transform reference → source camera.
        src_hw: (H_src, W_src) size of the source image, for the validity test.
    Returns:
        uv: (B, N, 2) source pixel coordinates (meaningful only where ``valid``).
        z: (B, N) depth of each point in the source camera (metres; ≤ 0 means behind).
        valid: (B, N) bool, point in front of the source (z > MIN_PROJECTION_DEPTH) and its
            projection inside ``[0, W_src − 1] × [0, H_src − 1]`` (where bilinear sampling
            needs no padding), widened by BORDER_TOLERANCE_PX against rounding.
    """
    u, v, z, valid = project_to_pixels(points_ref, K_src, src_T_ref, src_hw)
    return torch.stack([u, v], dim=-1), z, valid


def sample_bilinear(features: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """``F.grid_sample(features, grid, mode="bilinear", padding_mode="zeros",
    align_corners=True)``, exported to ONNX as four row gathers instead of ``GridSample``.

    ONNX Runtime's CPU ``GridSample`` kernel is slow: on the plane sweep of the shipped ``mvs``
    model (7 sources × 64 planes of 48×64 samples, 16 channels) it took 70 % of the whole
    network's time, and the same sampling as gathers of channel rows runs 4× faster there
    (1.51 s → 0.37 s on one core; ``docs/benchmarks.md``, runtime section). The map is laid
    out as channels-last rows with a border of zeros, onto which off-map corners are clamped:
    one index per corner, no masks, one transpose of the result (the whole ``mvs`` graph 10 %
    faster on ORT than per-corner masks and transposes). Eager torch keeps its own (faster)
    kernel; both paths give the same values to float rounding (tested).

    Args:
        features: ``(N, C, H, W)`` float.
        grid: ``(N, h, w, 2)`` normalised (x, y) sample positions, −1 / +1 = centres of the
            first / last pixel; finite.
    Returns:
        ``(N, C, h, w)``: bilinear samples, corners outside the map contributing 0.
    """
    if not torch.onnx.is_in_onnx_export():
        return F.grid_sample(features, grid, mode="bilinear", padding_mode="zeros",
                             align_corners=True)
    N, C, H, W = features.shape
    x = (grid[..., 0] + 1) * (0.5 * (W - 1))
    y = (grid[..., 1] + 1) * (0.5 * (H - 1))
    x0, y0 = torch.floor(x), torch.floor(y)
    fx, fy = x - x0, y - y0
    # Channels-last rows of the map padded with a border of zeros: a corner off the map is
    # clamped onto the border, so no masks are needed (one index per tap).
    padded_w = W + 2
    rows = F.pad(features, (1, 1, 1, 1)).permute(0, 2, 3, 1).reshape(-1, C)
    first_row = (torch.arange(N, device=features.device) * ((H + 2) * padded_w)).view(N, 1, 1)
    sampled = None
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            # + 1: the border; any tap beyond it (far-off positions too) reads the border.
            xi = (x0 + (dx + 1)).clamp(0, W + 1)
            yi = (y0 + (dy + 1)).clamp(0, H + 1)
            index = first_row + (yi * padded_w + xi).long()
            term = rows[index] * (wx * wy).unsqueeze(-1)                       # (N, h, w, C)
            sampled = term if sampled is None else sampled + term
    return sampled.permute(0, 3, 1, 2)


def sample_bilinear_dot(features: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                        query: torch.Tensor):
    """Dot products of bilinear feature samples with a per-pixel query vector, and the
    samples' coverage, without building the warped feature volume.

    For reference pixel ``p``, map ``s`` and sample ``k``: ``dot = ⟨query[p], bilinear sample
    of features[s] at (x, y)⟩`` (zero padding) and ``coverage`` = the same sample of a map of
    ones (1 inside, falling to 0 across the border). Equal, to float rounding, to
    ``grid_sample`` (``align_corners=True``, zeros padding) of the features followed by the
    channel dot product (tested), and it is the form the ``mvs`` correlation volumes export
    as: ONNX Runtime spends most of a gather-then-multiply sweep on element-wise passes over
    the warped channels (``C`` floats per sample, four corners). Here each sample is one
    ``Gather`` of its four corners' channels at once (from a table of 2×2 neighbourhoods) and
    one batched ``MatMul`` per pixel against its query: 2× faster on the ``mvs`` plane sweep.

    Args:
        features: ``(B, S, C, Hs, Ws)`` float, ``S`` maps per batch item (Hs, Ws ≥ 2).
        x, y: ``(B, P, S, K)`` sample positions in pixels of ``features`` (centre of pixel
            (0, 0) at (0, 0)), ``K`` per map and reference pixel; anything off the map
            samples zeros (send invalid samples off the map, e.g. to −1).
        query: ``(B, P, C)`` one vector per reference pixel.
    Returns:
        dot, coverage: ``(B, P, S, K)``, dtype of ``features``.
    """
    B, S, C, Hs, Ws = features.shape
    P, K = x.shape[1], x.shape[3]
    padded_w = Ws + 2
    # Off-map positions are clamped to one pixel beyond the border, where all taps read zeros
    # (with the frozen fractions of the clamped positions).
    x = x.clamp(-1, Ws)
    y = y.clamp(-1, Hs)
    x0, y0 = torch.floor(x), torch.floor(y)
    fx, fy = x - x0, y - y0
    weights = torch.stack([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx], dim=-1)
    # Channels-last rows of every map with a border of zeros, then pw + 1 zero rows so the
    # 2×2 neighbourhood of the last clamped position stays inside the table.
    first_row = (torch.arange(B * S, device=x.device, dtype=x.dtype)
                 * ((Hs + 2) * padded_w) + (padded_w + 1)).view(B, 1, S, 1)
    corner = (first_row + y0 * padded_w + x0).long()                             # (B, P, S, K)
    rows = F.pad(features.reshape(B * S, C, Hs, Ws), (1, 1, 1, 1)).permute(0, 2, 3, 1)
    rows = F.pad(rows.reshape(-1, C), (0, 0, 0, padded_w + 1))
    n = rows.shape[0] - padded_w - 1
    neighbourhoods = torch.cat([rows[:n], rows[1:n + 1], rows[padded_w:n + padded_w],
                                rows[padded_w + 1:n + padded_w + 1]], dim=-1)    # (n, 4C)
    taps = neighbourhoods[corner].reshape(B, P, S * K * 4, C)
    dot = (torch.matmul(taps, query.unsqueeze(-1)).reshape(B, P, S, K, 4) * weights).sum(-1)
    # The ones map sampled with zero padding, in closed form: 1 inside, linear to 0 across
    # the one-pixel border band.
    coverage = ((torch.minimum(x + 1, Ws - x).clamp(max=1.0)
                 * torch.minimum(y + 1, Hs - y).clamp(max=1.0)))
    return dot, coverage


def warp_by_depth(src_image: torch.Tensor, ref_depth: torch.Tensor, K_ref: torch.Tensor,
                  K_src: torch.Tensor, src_T_ref: torch.Tensor):
    """Inverse-warp a source image into the reference view using the reference depth.

    For each reference pixel: back-project with ``ref_depth``, transform by ``src_T_ref``,
    project with ``K_src`` and sample ``src_image`` bilinearly. Differentiable w.r.t. the
    image, the depth, the intrinsics and the pose.

    Args:
        src_image: (B, C, Hs, Ws) float source image or features (Hs, Ws ≥ 2).
        ref_depth: (B, 1, H, W) reference z-depth in metres, finite, ≥ 0 (0 = invalid).
        K_ref: (B, 3, 3) reference intrinsics; K_src: (B, 3, 3) source intrinsics.
        src_T_ref: (B, 4, 4) rigid transform reference camera → source camera.
        (Depth, K and poses are cast to ``src_image``'s dtype.)
    Returns:
        warped: (B, C, H, W) source values seen from the reference view; 0 where not valid.
        valid: (B, 1, H, W) bool: depth > 0, point in front of the source camera and
            projecting inside the source image.
    """
    check_tensor(src_image, "src_image", (None, None, None, None))
    B, _, H_src, W_src = src_image.shape
    check_tensor(ref_depth, "ref_depth", (B, 1, None, None))
    _, _, H, W = ref_depth.shape
    points_ref = backproject_torch(ref_depth.to(src_image.dtype), K_ref).reshape(B, 3, H * W)
    uv, _, valid = project_to_camera(points_ref, K_src, src_T_ref, (H_src, W_src))
    valid = valid & (ref_depth.reshape(B, H * W) > 0)
    grid = pixel_to_grid(uv, H_src, W_src).reshape(B, H, W, 2)
    warped = F.grid_sample(src_image, grid, mode="bilinear", padding_mode="zeros",
                           align_corners=True)
    valid = valid.reshape(B, 1, H, W)
    return warped * valid.to(warped.dtype), valid
