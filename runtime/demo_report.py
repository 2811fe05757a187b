"""Pictures and ``report.md`` of the demo (``edgegeo.runtime.demo``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgegeo.bench_report import markdown_table

FUSION_COLUMNS = ["depth", "status", "frames with depth", "frames fused", "ATE cm", "lost",
                  "abs_rel",
                  "accuracy", "completeness", "chamfer", "precision", "recall", "fscore",
                  "integrate_ms_median"]
RUNTIME_COLUMNS = ["pipeline", "frames", "fps", "stage median/p95 (ms)", "skipped", "errors",
                   "e2e_p95_ms", "peak_rss_mib"]
STEREO_COLUMNS = ["method", "status", "epe", "bad1", "bad2", "bad3", "d1_all", "density",
                  "seconds"]
MONO_COLUMNS = ["method", "status", "abs_rel", "rmse", "a110", "a125", "seconds"]


# ------------------------------------------------------------------------------ pictures
def save_frame_sheet(path: Path, frames, count: int = 4) -> None:
    """RGB and ground-truth depth of ``count`` frames spread over the walk-through."""
    from edgegeo.viz import colorize, image_grid, save_png

    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    vmax = max(float(frames[i].depth.max()) for i in picks)
    images, labels = [], []
    for i in picks:
        images += [frames[i].rgb, colorize(frames[i].depth, 0, vmax)]
        labels += [f"frame {i}", f"depth {i} (0-{vmax:.1f} m)"]
    save_png(path, image_grid(images, labels, ncols=4))


def save_mvs_depth(path: Path, frames, depths: dict, count: int = 4) -> None:
    """RGB, ground-truth depth, mvs depth and its error for up to ``count`` predicted frames
    (``depths``: ``{frame index: (H,W) float32 m}``) spread over the walk-through."""
    from edgegeo.viz import colorize, image_grid, save_png

    indices = sorted(depths)
    picks = [indices[i] for i in np.linspace(0, len(indices) - 1, min(count, len(indices)))
             .round().astype(int)]
    vmax = max(float(frames[i].depth.max()) for i in picks)
    images, labels = [], []
    for i in picks:
        gt, depth = frames[i].depth, depths[i]
        error = np.where(gt > 0, np.abs(depth - gt), 0).astype(np.float32)
        images += [frames[i].rgb, colorize(gt, 0, vmax), colorize(depth, 0, vmax),
                   colorize(error, 0, 0.5, cmap="inferno")]
        labels += [f"frame {i}", f"GT depth (0-{vmax:.1f} m)", "mvs depth", "|error| (0-0.5 m)"]
    save_png(path, image_grid(images, labels, ncols=4))


def save_mesh_views(path: Path, meshes: list, gt, frames, width: int = 480,
                    height: int = 360) -> None:
    """The fused meshes (``[(label, mesh)]``) and the ground-truth mesh rendered from the same
    overview camera: behind and above the walk-through's first camera, looking where it
    looked."""
    from edgegeo.geometry import K_from_fov, look_at
    from edgegeo.mesh_render import render_mesh
    from edgegeo.viz import image_grid, save_png

    first = frames[0].world_T_cam
    forward, position = first[:3, 2], first[:3, 3]
    target = position + 2.0 * forward
    eye = position - 0.8 * forward + np.array([0.0, 0.0, 0.6])
    pose = look_at(eye, target)
    K = K_from_fov(width, height, 90.0)
    views = [render_mesh(mesh, K, pose, width, height) for _, mesh in meshes]
    views.append(render_mesh(gt, K, pose, width, height, use_vertex_colors=False))
    labels = [label for label, _ in meshes] + ["ground-truth mesh"]
    save_png(path, image_grid(views, labels, ncols=len(views)))


def save_stereo(path: Path, sample, disparities: dict) -> None:
    """Motorcycle: left image and ground-truth disparity, then each method's disparity and
    error (``disparities``: ``{method: (H,W) float32 px}``)."""
    from edgegeo.viz import colorize, image_grid, save_png

    vmax = float(sample.disparity[sample.valid].max())
    images = [sample.left, colorize(sample.disparity, 0, vmax)]
    labels = ["Motorcycle left", "GT disparity"]
    for method, disparity in disparities.items():
        error = np.where(sample.valid, np.abs(disparity - sample.disparity), 0).astype(np.float32)
        error[sample.valid & (disparity <= 0)] = 10.0      # invalid predictions shown as errors
        images += [colorize(disparity, 0, vmax), colorize(error, 0, 10.0, cmap="inferno")]
        labels += [f"{method} disparity", "|error| px (0-10)"]
    save_png(path, image_grid(images, labels, ncols=2))


def save_mono(path: Path, sample, disparity: np.ndarray) -> None:
    """Motorcycle: left image, ground-truth disparity, mono-depth relative disparity (both
    larger = nearer; the relative one in its own range)."""
    from edgegeo.viz import colorize, image_grid, save_png

    vmax = float(sample.disparity[sample.valid].max())
    save_png(path, image_grid(
        [sample.left, colorize(sample.disparity, 0, vmax), colorize(disparity, invalid=None)],
        ["Motorcycle left", "GT disparity", "mono-depth (relative disparity)"], ncols=3))


# -------------------------------------------------------------------------------- report
def write_report(out: Path, results: dict) -> None:
    """``report.md`` in ``out`` from :func:`~edgegeo.runtime.demo.run_demo`'s results (the
    pictures are already there)."""
    cfg, walk = results["config"], results["walkthrough"]
    fusion, runtime = results["fusion"], results["runtime"]
    predicted = fusion["mvs"].get("frames with depth", 0) > 0
    mvs_pictures = "\n\n![mvs depth](mvs_depth.png)" if predicted else ""
    mono_picture = "\n\n![mono-depth](mono.png)" if results["mono"]["status"] == "ok" else ""
    text = f"""# edgegeo demo report

## Synthetic walk-through → depth → TSDF fusion

Scene seed {cfg['seed']} (held out), {walk['frames']} frames at {cfg['width']}×{cfg['height']},
rendered in {walk['render_s']:.1f} s ({walk['render_fps']:.1f} frames/s). Streamed through the
runtime as `edgegeo run` does (threaded stages, bounded queues): the `gt` pipeline fuses the
ground-truth depth (the reference row); the "tracked poses" row fuses the same depth on the
poses camera tracking estimated from it (`--track`: keyframe point-to-plane registration; `ATE
cm` against the true poses, `lost` frames; trajectory.txt and trajectory.png), the map put in
the true world by the first frame's pose; the `mvs` pipeline fuses the multi-view model's depth
of the keyframes (other frames pass on without depth). TSDF with 4 cm voxels, 12 cm truncation,
{cfg['max_depth']:g} m max depth. Meshes scored against the ground-truth surface the camera saw
within {cfg['max_depth']:g} m (ray-cast from every camera, 1 cm uniform samples, at most
{cfg['mesh_samples']}; distances in metres, precision/recall/F-score at 5 cm); `abs_rel` is the
mean AbsRel of the predicted depth maps against the ground-truth depth; `integrate_ms_median`
per fused frame.

{markdown_table(list(fusion.values()), FUSION_COLUMNS)}

![frames](frames.png)

![mesh](mesh.png){mvs_pictures}

![tracked vs true camera path](trajectory.png)

### Runtime

What each pipeline run's stats say (service time per stage, frames a stage passed on without
its work, end-to-end latency p95, peak resident memory of the process):

{markdown_table(list(runtime.values()), RUNTIME_COLUMNS)}

## Middlebury Motorcycle (real) → stereo

{markdown_table(list(results['stereo'].values()), STEREO_COLUMNS)}

EPE in pixels; bad-x and D1 in % of ground-truth pixels, invalid predictions counted as errors.
The stereo model shrinks the pair by its trained disparity range over the dataset's `ndisp`.

![stereo](stereo.png)

## Middlebury Motorcycle (real) → mono-depth

{markdown_table([results['mono']], MONO_COLUMNS)}

Relative depth of the left image, aligned to the ground truth per image (least-squares scale
and shift in disparity), then scored as depth: AbsRel, RMSE (m), δ < 1.10 / 1.25.{mono_picture}
"""
    (out / "report.md").write_text(text)
