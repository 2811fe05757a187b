"""The main job and 'edgegeo fuse', end to end on small inputs."""
import json
import shutil

import open3d as o3d
import pytest

from edgegeo.cli import main
from edgegeo.runtime.demo import DemoConfig, run_demo
from edgegeo.weights_io import WEIGHTS_DIR

from _smoke_weights import smoke_weights

SMALL = dict(seed=1000, frames=12, width=96, height=72, mesh_samples=20_000)


def test_demo_without_models_keeps_the_references_and_says_not_shipped(tmp_path, capsys):
    weights_dir = tmp_path / "no-weights"
    weights_dir.mkdir()
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--frames", "8", "--size", "96x72",
                 "--weights-dir", str(weights_dir)]) == 0
    for name in ("report.md", "metrics.json", "mesh.ply", "frames.png", "mesh.png", "stereo.png",
                 "trajectory.txt", "trajectory.png", "mesh_tracked.ply"):
        assert (out / name).stat().st_size > 0, name
    results = json.loads((out / "metrics.json").read_text())
    gt, stereo = results["fusion"]["gt"], results["stereo"]
    # Ground-truth depth streamed through the gt pipeline, fused, scored against the surface
    # the cameras saw.
    assert gt["frames fused"] == 8 and gt["fscore"] > 0.85 and gt["accuracy"] < 0.03
    assert results["runtime"]["gt"]["frames"] == 8 and results["runtime"]["gt"]["errors"] == 0
    # The same depth on tracked poses: a row with the ATE against the true poses.
    tracked = results["fusion"]["tracked"]
    assert tracked["depth"] == "ground truth, tracked poses" and tracked["ATE cm"] >= 0
    assert tracked["frames fused"] + tracked["lost"] == 8
    # The real Motorcycle pair through StereoSGBM (measured: EPE 1.32 px, bad-2 12.4 %).
    assert 0.5 < stereo["sgbm"]["epe"] < 3.0 and 5.0 < stereo["sgbm"]["bad2"] < 25.0
    for row in (results["fusion"]["mvs"], stereo["stereo"], results["mono"]):
        assert row["status"].startswith("not shipped")
    report = (out / "report.md").read_text()
    assert "![mesh](mesh.png)" in report and "fscore" in report
    assert "| stereo model | not shipped (no stereo.safetensors; train it with `edgegeo " \
           "train stereo`) |" in report
    assert "mono.png" not in report and "mvs_depth.png" not in report
    printed = capsys.readouterr().out
    assert "fusion (mvs): not shipped" in printed and "mono-depth (Motorcycle): not shipped" \
        in printed


@pytest.mark.usefixtures("one_torch_thread")
def test_demo_runs_the_models_it_has_weights_for(tmp_path, tmp_path_factory):
    """mvs and stereo with smoke weights (numbers meaningless, rows and pictures real), and the
    shipped mono-depth model."""
    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    for name in ("mvs", "stereo"):
        path = smoke_weights(name, tmp_path_factory)
        for suffix in (".safetensors", ".json"):
            shutil.copy(path.with_suffix(suffix), weights_dir)
    for suffix in (".safetensors", ".json"):
        shutil.copy(WEIGHTS_DIR / f"mono-depth{suffix}", weights_dir)
    out = tmp_path / "demo"
    results = run_demo(out, DemoConfig(**SMALL, weights_dir=str(weights_dir)))
    gt, mvs = results["fusion"]["gt"], results["fusion"]["mvs"]
    assert gt["status"] == "ok" and gt["frames with depth"] == 12
    # Every keyframe gets depth (the first two, short of 2 sources, from the later ones).
    assert mvs["status"] == "ok" and 0 < mvs["frames with depth"] == mvs["frames fused"] < 12
    assert mvs["abs_rel"] > 0 and 0 <= mvs["fscore"] <= 1
    assert "not a keyframe" in results["runtime"]["mvs"]["skipped"]
    stereo = results["stereo"]["stereo"]
    assert stereo["method"] == "stereo model" and stereo["epe"] > 0 and stereo["density"] > 0
    mono = results["mono"]
    assert mono["status"] == "ok" and 0 < mono["abs_rel"] < 0.5     # measured 0.149
    for name in ("mesh_mvs.ply", "mvs_depth.png", "mono.png"):
        assert (out / name).stat().st_size > 0, name
    report = (out / "report.md").read_text()
    assert "![mvs depth](mvs_depth.png)" in report and "![mono-depth](mono.png)" in report
    assert "| mvs | ok |" in report and "not shipped" not in report


def test_fuse_command_on_rendered_shard(tmp_path, capsys):
    assert main(["data", "render", "--rig", "walkthrough", "--out", str(tmp_path / "data"),
                 "--frames", "6", "--width", "80", "--height", "60", "--seed", "3"]) == 0
    shard = next(p for p in (tmp_path / "data").iterdir() if p.is_dir())
    mesh_path, cloud_path = tmp_path / "mesh.ply", tmp_path / "cloud.ply"
    assert main(["fuse", "--source", str(shard), "--out", str(mesh_path), "--cloud",
                 str(cloud_path), "--max-depth", "6"]) == 0
    assert "6 frames fused" in capsys.readouterr().out
    mesh = o3d.io.read_triangle_mesh(str(mesh_path))
    assert len(mesh.triangles) > 100 and mesh.has_vertex_colors()
    assert len(o3d.io.read_point_cloud(str(cloud_path)).points) == len(mesh.vertices)
