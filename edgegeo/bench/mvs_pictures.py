"""Pictures of ``edgegeo bench mvs`` (one scene): per depth source a strip of depth and error
maps for a few frames, and its fused mesh rendered beside the GT mesh."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

STRIP_FRAMES = 3          # frames per depth strip, evenly spaced over the frames with depth
ERROR_MAX = 0.25          # relative error |pred − gt| / gt at the top of the colour map
VIEW_HFOV_DEG = 90.0      # field of view of the mesh pictures
VIEW_SCALE = 2            # mesh pictures are this many times the frame size


def file_stem(label: str) -> str:
    """``label`` as a file-name part: runs of other characters than ``[A-Za-z0-9_.-]`` → ``-``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-") or "model"


def depth_strip(frames: list, depths: dict[int, np.ndarray], label: str,
                count: int = STRIP_FRAMES) -> np.ndarray:
    """Rows ``RGB | GT depth | predicted depth | |error| / GT`` for up to ``count`` frames.

    Args:
        frames: the walk-through's Frames (``rgb``, GT ``depth``).
        depths: frame index → ``(H, W) float32`` predicted depth in metres (not empty).
        label: the depth source's name, drawn on its column.
    Returns:
        ``(rows·H, 4·W, 3) uint8`` RGB. Depth colours span the GT's 2nd–98th percentile of each
        frame (turbo, near = blue); errors 0–:data:`ERROR_MAX` (turbo), black where no GT.
    """
    from edgegeo.viz import colorize, image_grid

    if not depths:
        raise ValueError(f"{label}: no frame with depth to draw")
    indices = sorted(depths)
    picks = sorted({indices[round(k)] for k in np.linspace(0, len(indices) - 1,
                                                           min(count, len(indices)))})
    images, labels = [], []
    for index in picks:
        gt, pred = frames[index].depth, depths[index]
        valid = gt > 0
        low, high = (float(v) for v in np.percentile(gt[valid], [2, 98]))
        error = colorize(np.abs(pred - gt) / np.where(valid, gt, 1.0), 0.0, ERROR_MAX,
                         invalid=None)
        error[~valid] = 0
        images += [frames[index].rgb, colorize(gt, low, high), colorize(pred, low, high), error]
        labels += [f"frame {index}", "GT depth", label, f"|error|/GT 0-{ERROR_MAX:g}"]
    return image_grid(images, labels, ncols=4)


def overview_camera(frames: list) -> tuple[np.ndarray, np.ndarray, int, int]:
    """``(K, world_T_cam, width, height)`` of the mesh pictures: the middle frame's pose with a
    :data:`VIEW_HFOV_DEG` field of view, :data:`VIEW_SCALE` × its size."""
    from edgegeo.geometry import K_from_fov

    frame = frames[len(frames) // 2]
    height, width = (VIEW_SCALE * s for s in frame.hw)
    return K_from_fov(width, height, VIEW_HFOV_DEG), frame.world_T_cam, width, height


def mesh_beside_gt(gt_mesh, mesh, label: str, frames: list) -> np.ndarray:
    """``GT mesh | fused mesh`` rendered from :func:`overview_camera` (head-light shading,
    vertex colours), ``(H', 2·W', 3) uint8``; black where a mesh has nothing."""
    from edgegeo.mesh_render import render_mesh
    from edgegeo.viz import image_grid

    K, pose, width, height = overview_camera(frames)
    images = [render_mesh(m, K, pose, width, height) for m in (gt_mesh, mesh)]
    return image_grid(images, ["GT mesh", f"fused: {label}"], ncols=2)


def save_pictures(outputs, out_dir: str | Path, gt_label: str) -> dict[str, list[Path]]:
    """Write ``depth_<label>.png`` (not for ``gt_label``) and ``mesh_<label>.png`` for every
    depth source of a :class:`~edgegeo.bench.mvs.SceneOutputs` into ``out_dir``.

    Returns:
        label → the files written for it.
    """
    from edgegeo.viz import save_png

    out_dir = Path(out_dir)
    written: dict[str, list[Path]] = {}
    for label, mesh in outputs.meshes.items():
        paths = []
        depths = outputs.depths[label]
        if label != gt_label and depths:
            paths.append(save_png(out_dir / f"depth_{file_stem(label)}.png",
                                  depth_strip(outputs.frames, depths, label)))
        paths.append(save_png(out_dir / f"mesh_{file_stem(label)}.png",
                              mesh_beside_gt(outputs.gt_mesh, mesh, label, outputs.frames)))
        written[label] = paths
    return written
