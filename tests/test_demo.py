"""The main job and 'edgegeo fuse', end to end on small inputs."""
import json

import open3d as o3d

from edgegeo.cli import main
from edgegeo.runtime.demo import DemoConfig, run_demo


def test_demo_writes_report_mesh_pictures_and_scores_well(tmp_path):
    results = run_demo(tmp_path, DemoConfig(seed=1000, frames=8, width=96, height=72))
    for name in ("report.md", "metrics.json", "mesh.ply", "frames.png", "mesh.png", "stereo.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    fusion, stereo = results["fusion"], results["stereo"]
    # Ground-truth depth fused and scored against the surface the cameras saw.
    assert fusion["fscore"] > 0.85 and fusion["accuracy"] < 0.03
    # The real Motorcycle pair through StereoSGBM (measured: EPE 1.32 px, bad-2 12.4 %).
    assert 0.5 < stereo["epe"] < 3.0 and 5.0 < stereo["bad2"] < 25.0
    assert json.loads((tmp_path / "metrics.json").read_text())["fusion"]["fscore"] == fusion["fscore"]
    report = (tmp_path / "report.md").read_text()
    assert "![mesh](mesh.png)" in report and "fscore" in report


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
