"""The main job on its embedded default: everything edgegeo can do end to end, with no input.

1. Render a held-out synthetic indoor walk-through (scene seed never used for training).
2. Stream it through the runtime, as ``edgegeo run`` does: the ``gt`` pipeline (ground-truth
   depth → TSDF fusion: the reference) and the ``mvs`` pipeline (depth of the multi-view model
   for the keyframes → TSDF fusion). Score each mesh against the ground-truth surface the
   cameras saw, and the mvs depth against the ground-truth depth.
3. On the real Middlebury *Motorcycle* pair: the StereoSGBM baseline and the ``stereo`` model
   (EPE, bad-x against the ground-truth disparity), and the ``mono-depth`` model on the left
   image (AbsRel after a per-image scale and shift).
4. Write ``report.md`` (pictures, metrics tables, runtime stats) and ``metrics.json``.

A model is used where its shipped weights exist (``edgegeo/weights/<name>.safetensors``, or in
``DemoConfig.weights_dir``); one without weights gets a "not shipped" row instead.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgegeo.timing import median_time

from .demo_report import (save_frame_sheet, save_mesh_views, save_mono, save_mvs_depth,
                          save_stereo, write_report)

MODELS = ("mvs", "stereo", "mono-depth")


@dataclass(frozen=True)
class DemoConfig:
    """What the demo renders: scene ``seed`` (held out), ``frames`` at ``width`` × ``height``;
    depth up to ``max_depth`` metres is fused (the synthetic rooms are 3–8 m across, so the
    demo looks further than the 3 m fusion default meant for noisy predicted depth).
    ``weights_dir``: where ``<model>.safetensors`` (and its card) are looked for; None = the
    shipped ``edgegeo/weights``. ``mesh_samples``: points sampled on the ground-truth surface
    and on each fused mesh for the mesh metrics."""

    seed: int = 1000
    frames: int = 60
    width: int = 384
    height: int = 288
    max_depth: float = 5.0
    weights_dir: str | None = None
    mesh_samples: int = 200_000


def run_demo(out_dir: str | Path, config: DemoConfig = DemoConfig()) -> dict:
    """Run the main job, writing everything under ``out_dir``; returns the metrics dict:
    ``walkthrough`` (render facts), ``fusion`` (``gt`` and ``mvs`` rows), ``runtime`` (stats
    of each pipeline run), ``stereo`` (``sgbm`` and ``stereo`` rows), ``mono`` (``mono-depth``
    row); a model without weights has a row with ``status`` "not shipped"."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights = {name: _weights(name, config) for name in MODELS}
    results = {"config": asdict(config)}
    results.update(_walkthrough(out, config, weights["mvs"]))
    results.update(_motorcycle(out, weights["stereo"], weights["mono-depth"]))
    (out / "metrics.json").write_text(json.dumps(results, indent=2))
    write_report(out, results)
    return results


def _weights(name: str, config: DemoConfig) -> Path | None:
    from edgegeo.weights_io import WEIGHTS_DIR

    path = Path(config.weights_dir or WEIGHTS_DIR) / f"{name}.safetensors"
    return path if path.is_file() else None


def _not_shipped(key: str, name: str, label: str) -> dict:
    return {key: label, "status": f"not shipped (no {name}.safetensors; train it with "
                                  f"`edgegeo train {name}`)"}


# ---------------------------------------------------------------- walk-through → fusion
def _walkthrough(out: Path, config: DemoConfig, mvs_weights: Path | None) -> dict:
    """Steps 1–2; saves frames.png, mesh.png, mesh.ply, mesh_tracked.ply, trajectory.txt,
    trajectory.png (+ mesh_mvs.ply, mvs_depth.png)."""
    import edgegeo
    from edgegeo.data.visibility import visible_surface_points
    from edgegeo.runtime.sources import SyntheticSource

    start = time.perf_counter()
    source = SyntheticSource(config.seed, config.frames, config.width, config.height)
    frames = source.render()
    render_s = time.perf_counter() - start
    visible_gt = visible_surface_points(source.scene.mesh, frames, config.mesh_samples,
                                        max_depth=config.max_depth)
    fusion, runtime = {}, {}
    fusion["gt"], runtime["gt"], gt_mesh, _ = _fuse(source, "gt", None, visible_gt, config,
                                                    out / "mesh.ply")
    fusion["tracked"], runtime["tracked"], _, _ = _fuse(source, "gt", None, visible_gt, config,
                                                        out / "mesh_tracked.ply", track=True,
                                                        trajectory_png=out / "trajectory.png")
    meshes = [("fused from GT depth", gt_mesh)]
    if mvs_weights is None:
        fusion["mvs"] = _not_shipped("depth", "mvs", "mvs")
    else:
        fusion["mvs"], runtime["mvs"], mesh, depths = _fuse(
            source, "mvs", edgegeo.load("mvs", weights=mvs_weights), visible_gt, config,
            out / "mesh_mvs.ply")
        if mesh is not None:
            meshes.append(("fused from mvs depth", mesh))
        if depths:
            save_mvs_depth(out / "mvs_depth.png", frames, depths)
    save_frame_sheet(out / "frames.png", frames)
    save_mesh_views(out / "mesh.png", meshes, source.scene.mesh, frames)
    return {"walkthrough": {"frames": len(frames), "render_s": render_s,
                            "render_fps": len(frames) / render_s},
            "fusion": fusion, "runtime": runtime}


class _DepthCollector:
    """Sink keeping the depth of every packet that has one, and the depth packets carry for
    earlier frames (mvs's backfilled first keyframes): ``{index: (H,W) float32 m}``."""

    name = "collect-depth"

    def __init__(self):
        self.depths: dict[int, np.ndarray] = {}

    def write(self, packet) -> None:
        if packet.depth is not None:
            self.depths[packet.index] = packet.depth
        self.depths.update({index: depth for index, _, depth in packet.earlier_depths})


def _fuse(source, kind: str, predictor, visible_gt, config: DemoConfig, mesh_path: Path,
          track: bool = False, trajectory_png: Path | None = None):
    """Stream ``source`` (replayed) through the ``kind`` pipeline into TSDF fusion; with
    ``track``, on poses the tracking stage estimates from the depth instead of the true ones
    (the row gets the ATE, ``trajectory_png`` the top view of both paths).

    Returns:
        ``(row, runtime, mesh, depths)``: the metrics row (mesh metrics against
        ``visible_gt``; for a model, also depth metrics against the ground-truth depth over
        the frames it predicted), the run's stats row, the mesh (None if nothing was fused)
        and the depth of every frame that got one, by index.
    """
    import open3d as o3d

    from edgegeo.fusion import FusionConfig
    from edgegeo.metrics.depth import depth_metrics
    from edgegeo.metrics.mesh import mesh_metrics

    from .assembly import RunSpec, assemble_run
    from .pipeline import Pipeline

    from .sinks import TrajectorySink

    collector = _DepthCollector()
    trajectory = TrajectorySink(mesh_path.with_name("trajectory.txt"), every_s=0)
    sinks = (collector, trajectory) if track else (collector,)
    with assemble_run(RunSpec(source.replay(), kind, fuse=True, sinks=sinks,
                              profile="cpu", predictor=predictor,   # cpu: fusion on CPU:0
                              fusion_config=FusionConfig(max_depth=config.max_depth),
                              track=track or None)) as run:
        stats = Pipeline(run.source, run.stages, run.sinks).run(handle_signals=False).snapshot()
    fusion = run.live_map.fusion
    label = "ground truth" if kind == "gt" else kind
    tracked = {}
    if track:
        label += ", tracked poses"
        tracked = _tracking_scores(trajectory, source.render(), trajectory_png)
        tracked["lost"] = stats["stages"]["track"]["state"]["lost_frames"]
    depths = collector.depths
    row = {"depth": label, "status": "ok", "frames with depth": len(depths),
           "frames fused": fusion.frames_integrated, **tracked}
    runtime = _runtime_row(label, stats)
    if kind != "gt" and depths:
        frames = source.render()
        scores = [depth_metrics(depth, frames[i].depth, max_depth=config.max_depth)
                  for i, depth in depths.items()]
        row["abs_rel"] = float(np.mean([s["abs_rel"] for s in scores]))
    mesh = fusion.extract_mesh()
    if track:        # the tracked map's world is the first camera: put it in the true world
        mesh.transform(source.render()[0].world_T_cam)
    if len(mesh.triangles) == 0:
        row["status"] = "empty mesh"
        return row, runtime, None, depths
    o3d.io.write_triangle_mesh(str(mesh_path), mesh)
    integrate_ms = 1000 * np.asarray(fusion.integrate_seconds)
    row.update(integrate_ms_median=float(np.median(integrate_ms)),
               integrate_ms_p95=float(np.percentile(integrate_ms, 95)),
               mesh_triangles=len(mesh.triangles),
               **mesh_metrics(mesh, visible_gt, n_points=config.mesh_samples))
    return row, runtime, mesh, depths


def _tracking_scores(trajectory, frames, picture: Path | None) -> dict:
    """ATE (cm) of the tracked poses a :class:`TrajectorySink` collected against the frames'
    true poses; saves the top view of both paths to ``picture``."""
    from edgegeo.metrics.trajectory import absolute_trajectory_error, associate_poses
    from edgegeo.viz import save_png, trajectory_plot

    stamps = np.array([f.timestamp for f in frames])
    est_index, true_index = associate_poses(trajectory.timestamps, stamps)
    est = np.stack(trajectory.poses)[est_index]
    true = np.stack([frames[i].world_T_cam for i in true_index])
    ate = absolute_trajectory_error(est, true)
    if picture is not None:
        aligned = est[:, :3, 3] @ ate.alignment[:3, :3].T + ate.alignment[:3, 3]
        true_path = np.stack([f.world_T_cam[:3, 3] for f in frames])[:, :2]
        save_png(picture, trajectory_plot(true_path, aligned[:, :2], "true (grey) vs tracked "
                                          f"(orange): ATE {ate.rmse * 100:.2f} cm"))
    return {"ATE cm": ate.rmse * 100}


def _runtime_row(label: str, stats: dict) -> dict:
    """What a pipeline run's ``stats.json`` says, as one table row."""
    stages = {name: s for name, s in stats["stages"].items() if name not in ("source", "sinks")}
    return {"pipeline": label, "frames": stats["frames_out"], "fps": stats["fps"],
            "stage median/p95 (ms)": " · ".join(
                f"{name} {s['latency']['median_ms']:.1f}/{s['latency']['p95_ms']:.1f}"
                for name, s in stages.items()),
            "skipped": "; ".join(f"{name}: " + ", ".join(f"{n} {why}" for why, n in
                                                        s["skip_reasons"].items())
                                 for name, s in stages.items() if s["skipped"]) or "none",
            "errors": stats["errors"], "e2e_p95_ms": stats["end_to_end"]["p95_ms"],
            "peak_rss_mib": stats["memory"]["peak_rss_mib"]}


# ------------------------------------------------------------------ Motorcycle → stereo, mono
def _motorcycle(out: Path, stereo_weights: Path | None, mono_weights: Path | None) -> dict:
    """Step 3; saves stereo.png (+ mono.png)."""
    import edgegeo
    from edgegeo.baselines.sgbm import sgbm_disparity
    from edgegeo.data.middlebury import load_motorcycle
    from edgegeo.metrics.depth import relative_depth_metrics

    sample = load_motorcycle()
    disparity, seconds = median_time(lambda: sgbm_disparity(sample.left, sample.right,
                                                       num_disparities=sample.ndisp))
    disparities = {"SGBM": disparity}
    stereo = {"sgbm": _stereo_row("OpenCV StereoSGBM", disparity, seconds, sample)}
    if stereo_weights is None:
        stereo["stereo"] = _not_shipped("method", "stereo", "stereo model")
    else:
        model = edgegeo.load("stereo", weights=stereo_weights, max_disparity=sample.ndisp,
                             check_rectification=False)
        disparity, seconds = median_time(lambda: model(sample.left, sample.right))
        disparities["stereo model"] = disparity
        stereo["stereo"] = _stereo_row("stereo model", disparity, seconds, sample)
    save_stereo(out / "stereo.png", sample, disparities)
    if mono_weights is None:
        return {"stereo": stereo, "mono": _not_shipped("method", "mono-depth", "mono-depth")}
    model = edgegeo.load("mono-depth", weights=mono_weights)
    disparity, seconds = median_time(lambda: model(sample.left))
    mono = {"method": "mono-depth", "status": "ok", "seconds": seconds,
            **relative_depth_metrics(disparity, sample.depth(), sample.valid)}
    save_mono(out / "mono.png", sample, disparity)
    return {"stereo": stereo, "mono": mono}


def _stereo_row(method: str, disparity: np.ndarray, seconds: float, sample) -> dict:
    """Metrics of ``disparity`` (pixels) against the sample's ground truth."""
    from edgegeo.metrics.stereo import stereo_metrics

    return {"method": method, "status": "ok", "seconds": seconds,
            **stereo_metrics(disparity, sample.disparity, sample.valid)}
