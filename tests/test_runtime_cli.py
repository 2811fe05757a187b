"""``edgegeo run``: the main job from the command line — SIGTERM mid-stream flushes the map and
stats, clear one-line errors, the inference backend chosen and recorded, outputs a user can
open."""
import json

import pytest

from edgegeo.cli import main

from _sigterm import run_then_sigterm

SYNTHETIC = "synthetic://walkthrough?seed=3&frames=6&size=64x48"


def test_run_writes_what_was_asked(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", "--source", SYNTHETIC, "--pipeline", "gt", "--fuse", "--out", str(out),
                 "--device-profile", "cpu", "--max-depth", "5", "--save-depth", "png16",
                 "--video", "--bag", "--quiet", "--max-frames", "5"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "5 frames in" in printed and "stopped: max_frames=5 reached" in printed
    for name in ("mesh.ply", "cloud.ply", "stats.json", "depth.mp4", "bag/metadata.yaml"):
        assert (out / name).is_file(), name
    assert len(list((out / "depth").glob("*.png"))) == 5
    stats = json.loads((out / "stats.json").read_text())
    assert stats["info"]["profile"]["name"] == "cpu" and stats["info"]["pipeline"] == "gt"
    assert stats["info"]["fusion"]["max_depth"] == 5.0
    assert stats["info"]["sinks"] == ["map", "trajectory", "depth-frames", "depth-video",
                                      "rosbag"]


@pytest.mark.parametrize("argv, message", [
    (["--pipeline", "mono", "--weights", "/nonexistent/mono.safetensors"], "no weights"),
    (["--pipeline", "stereo"], "gives no rectified stereo pairs: the stereo pipeline needs "
                               "rectified pairs: synthetic://stereo, or a RealSense"),
    (["--pipeline", "mono", "--max-disparity", "64"],
     "--max-disparity applies to --pipeline stereo, not mono"),
    (["--min-sources", "2"], "--min-sources applies to --pipeline mvs, not gt"),
    (["--backend", "torch"], "--backend applies to the model pipelines"),
    (["--pipeline", "stereo", "--source", "realsense://?align=1"], "drop align=1"),
    (["--device-profile", "raspberry"], "unknown device profile 'raspberry'; available: cpu"),
    (["--max-frames", "0"], "--max-frames must be >= 1"),
])
def test_run_errors_are_one_clear_line(tmp_path, capsys, argv, message):
    code = main(["run", "--source", SYNTHETIC, "--out", str(tmp_path)] + argv)
    assert code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("pipeline", ["mono", "stereo", "mvs"])
def test_run_says_how_to_get_missing_weights(tmp_path, capsys, monkeypatch, pipeline):
    monkeypatch.setattr("edgegeo.models.registry.WEIGHTS_DIR", tmp_path)
    source = SYNTHETIC.replace("walkthrough", "stereo") if pipeline == "stereo" else SYNTHETIC
    code = main(["run", "--source", source, "--pipeline", pipeline, "--backend", "torch",
                 "--out", str(tmp_path / "o")])
    model = "mono-depth" if pipeline == "mono" else pipeline
    assert code == 2
    assert f"no weights for '{model}'" in capsys.readouterr().err


def test_auto_backend_follows_the_profile_to_onnxruntime(tmp_path, capsys, monkeypatch):
    """mono-depth exports, and the cpu profile prefers ONNX Runtime: auto exports the shipped
    model once into the artefact cache and streams through it."""
    monkeypatch.setenv("EDGEGEO_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    code = main(["run", "--source", SYNTHETIC, "--pipeline", "mono", "--out", str(out),
                 "--device-profile", "cpu", "--quiet", "--max-frames", "2"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "mono-depth on onnxruntime fp32 (the device profile prefers onnxruntime)" in \
        captured.err
    stats = json.loads((out / "stats.json").read_text())
    assert stats["info"]["backend"] == "onnxruntime" and stats["frames_out"] == 2
    assert list((tmp_path / "cache" / "onnx" / "mono-depth").glob("*/mono-depth.fp32.onnx"))


def test_run_refuses_gt_on_a_source_without_depth(tmp_path, capsys):
    from edgegeo.data.images import save_image
    import numpy as np

    save_image(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    code = main(["run", "--source", f"file://{tmp_path}/", "--out", str(tmp_path / "o")])
    assert code == 2 and "has no depth" in capsys.readouterr().err


def test_run_reports_a_missing_camera(tmp_path, capsys):
    import pyrealsense2 as rs

    if len(rs.context().query_devices()):
        pytest.skip("a RealSense camera is connected")
    code = main(["run", "--source", "realsense://", "--out", str(tmp_path)])
    assert code == 1 and "no RealSense camera connected" in capsys.readouterr().err


def test_sigterm_mid_stream_flushes_the_map_and_stats(tmp_path):
    import open3d as o3d

    out = tmp_path / "run"
    uri = "synthetic://walkthrough?seed=3&frames=20&size=64x48&fps=10&realtime=1"
    def not_saved_yet():
        assert not (out / "mesh.ply").exists()            # periodic saving is off: only at exit

    code, stdout, lines = run_then_sigterm(
        ["--source", uri, "--pipeline", "gt", "--fuse", "--out", str(out), "--device-profile",
         "cpu", "--max-depth", "5", "--save-every", "0", "--progress-every", "0.1"],
        wait_s=30, before_signal=not_saved_yet)
    assert code == 0, "".join(lines)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["finished"] and stats["stop_reason"] == "SIGTERM"
    assert 3 <= stats["frames_out"] < 20
    assert stats["frames_out"] == stats["stages"]["fuse"]["processed"]
    mesh = o3d.io.read_triangle_mesh(str(out / "mesh.ply"))
    assert len(mesh.triangles) > 100
    assert len(o3d.io.read_point_cloud(str(out / "cloud.ply")).points) > 100
    assert "stopped: SIGTERM" in stdout
