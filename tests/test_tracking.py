"""RGB-D camera tracking: the tracker on a rendered walk-through (accuracy, loss, recovery) and
tracking in the runtime (TUM folders without poses, --track on posed sources, refusals,
trajectory / bag outputs, SIGTERM)."""
import dataclasses
import json

import numpy as np
import pytest

from edgegeo.fusion import TSDFFusion, FusionConfig
from edgegeo.fusion.tracking import RGBDTracker, TrackingConfig
from edgegeo.metrics.trajectory import absolute_trajectory_error

from _sigterm import run_then_sigterm


@pytest.fixture(scope="module")
def walk():
    """A 24-frame hand-held walk-through at 320×240, 15 fps."""
    from edgegeo.data.synthetic import generate_scene, walkthrough

    return walkthrough(generate_scene(11), 24, 320, 240, seed=11, fps=15, progress=False)


def _relative(frames):
    first = np.linalg.inv(frames[0].world_T_cam)
    return np.stack([first @ f.world_T_cam for f in frames])


@pytest.mark.parametrize("reference", ["keyframe", "frame"])
def test_tracker_follows_a_walkthrough(walk, reference):
    tracker = RGBDTracker(TrackingConfig(reference=reference))
    results = [tracker.track(f.depth, f.K, f.rgb, f.timestamp) for f in walk]
    assert all(r.ok for r in results) and results[0].state == "initialised"
    np.testing.assert_allclose(results[0].world_T_cam, np.eye(4))
    poses = np.stack([r.world_T_cam for r in results])
    true = _relative(walk)
    # no alignment: the first frame is the world frame of both
    errors = np.linalg.norm(poses[:, :3, 3] - true[:, :3, 3], axis=1)
    assert errors.max() < 0.01
    assert absolute_trajectory_error(poses, true).rmse < 0.005
    assert tracker.status()["lost_frames"] == 0 and tracker.keyframes >= 1


def test_a_bad_frame_is_lost_and_the_track_recovers(walk):
    tracker = RGBDTracker()
    rng = np.random.default_rng(0)
    outcomes = []
    for index, frame in enumerate(walk[:12]):
        depth = frame.depth
        if index == 5:    # a frame of something else entirely: random depth
            depth = rng.uniform(0.5, 6.0, depth.shape).astype(np.float32)
        if index == 8:    # the sensor saw nothing
            depth = np.zeros_like(depth)
        outcomes.append(tracker.track(depth, frame.K, frame.rgb, frame.timestamp))
    lost = [i for i, r in enumerate(outcomes) if not r.ok]
    assert lost == [5, 8]
    assert outcomes[5].world_T_cam is None and outcomes[5].reason
    assert "too little depth" in outcomes[8].reason
    assert outcomes[6].state == "recovered" and outcomes[9].state == "recovered"
    true = _relative(walk[:12])
    for index in (6, 7, 9, 10, 11):
        assert np.linalg.norm(outcomes[index].world_T_cam[:3, 3] - true[index][:3, 3]) < 0.01
    assert tracker.status()["lost_frames"] == 2 and tracker.recoveries == 2


def test_frame_to_model_needs_the_map_and_registers_to_it(walk):
    with pytest.raises(ValueError, match="needs the map's raycast"):
        RGBDTracker(TrackingConfig(reference="model"))
    fusion = TSDFFusion(FusionConfig(voxel_size=0.04, trunc=0.12, max_depth=8.0))
    tracker = RGBDTracker(TrackingConfig(reference="model"), raycast=fusion.raycast)
    for frame in walk[:6]:
        result = tracker.track(frame.depth, frame.K, frame.rgb, frame.timestamp)
        assert result.ok
        fusion.integrate(frame.depth, frame.K, result.world_T_cam, frame.rgb)
    depth, color = fusion.raycast(walk[5].K, result.world_T_cam, walk[5].depth.shape)
    assert depth.shape == walk[5].depth.shape and color.shape == depth.shape + (3,)
    assert np.count_nonzero(depth) > 0.5 * depth.size


@pytest.mark.parametrize("options, message", [
    (dict(reference="icp"), "unknown tracking reference"),
    (dict(method="colored"), "unknown tracking method"),
    (dict(min_depth=5.0, max_depth=1.0), "min_depth < max_depth"),
    (dict(iterations=()), "iterations must be positive"),
    (dict(max_speed_mps=0), "max_speed_mps must be > 0"),
])
def test_config_errors_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        TrackingConfig(**options)


def test_frame_size_change_and_bad_depth_are_refused(walk):
    tracker = RGBDTracker()
    frame = walk[0]
    tracker.track(frame.depth, frame.K)
    with pytest.raises(ValueError, match="tracked stream is 320x240"):
        tracker.track(frame.depth[:60], frame.K)
    with pytest.raises(ValueError, match="NaN"):
        tracker.track(np.full_like(frame.depth, np.nan), frame.K)
    with pytest.raises(ValueError, match="needs rgb"):
        RGBDTracker(TrackingConfig(method="hybrid")).track(frame.depth, frame.K)


# --------------------------------------------------------------------------- runtime
def _tum_without_poses(frames, folder):
    from edgegeo.data.tum import write_tum_sequence

    return write_tum_sequence(folder, [dataclasses.replace(f, world_T_cam=None)
                                       for f in frames])


def test_run_tracks_and_fuses_a_tum_folder_without_poses(walk, tmp_path, capsys):
    import open3d as o3d
    from rosbags.highlevel import AnyReader

    from edgegeo.cli import main
    from edgegeo.data.tum import read_tum_trajectory

    folder = _tum_without_poses(walk, tmp_path / "seq")
    assert not (folder / "groundtruth.txt").exists()
    out = tmp_path / "run"
    code = main(["run", "--source", f"file://{folder}/", "--pipeline", "gt", "--fuse", "--out",
                 str(out), "--device-profile", "cpu", "--bag", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "camera tracking on" in captured.err and "0 lost" in captured.out
    stamps, poses = read_tum_trajectory(out / "trajectory.txt")
    np.testing.assert_allclose(stamps, [f.timestamp for f in walk], atol=1e-6)
    assert absolute_trajectory_error(poses, _relative(walk)).rmse < 0.005
    assert len(o3d.io.read_triangle_mesh(str(out / "mesh.ply")).triangles) > 100
    stats = json.loads((out / "stats.json").read_text())
    state = stats["stages"]["track"]["state"]
    assert state["frames"] == len(walk) and state["lost_frames"] == 0
    assert stats["stages"]["fuse"]["processed"] == len(walk)
    assert stats["info"]["tracking"]["reference"] == "keyframe"
    with AnyReader([out / "bag"]) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        odometry = [reader.deserialize(raw, c.msgtype) for c, _, raw in
                    reader.messages([c for c in reader.connections
                                     if c.topic == "/edgegeo/odometry"])]
    assert counts["/edgegeo/odometry"] == counts["/tf"] == len(walk)
    last = odometry[-1].pose.pose.position
    np.testing.assert_allclose([last.x, last.y, last.z], poses[-1][:3, 3], atol=1e-6)
    speed = np.linalg.norm([odometry[5].twist.twist.linear.x, odometry[5].twist.twist.linear.y,
                            odometry[5].twist.twist.linear.z])
    assert 0.1 < speed < 1.0                        # the walk is at ~0.35 m/s


def test_track_on_a_posed_source_is_compared_not_replaced(tmp_path, capsys):
    from edgegeo.cli import main
    from edgegeo.data.tum import read_tum_trajectory

    out = tmp_path / "run"
    uri = "synthetic://walkthrough?seed=4&frames=12&size=160x120&fps=15"
    code = main(["run", "--source", uri, "--pipeline", "gt", "--track", "--out", str(out),
                 "--device-profile", "cpu", "--quiet"])
    assert code == 0, capsys.readouterr().err
    _, poses = read_tum_trajectory(out / "trajectory.txt")
    np.testing.assert_allclose(poses[0], np.eye(4), atol=1e-9)   # the first frame is the world
    assert len(poses) == 12


@pytest.mark.parametrize("argv, message", [
    (["--pipeline", "mono", "--fuse", "--source", "{tum}"], "mono depth has none"),
    (["--pipeline", "gt", "--track-reference", "model", "--track", "--source",
      "synthetic://walkthrough?frames=2"], "add --fuse"),
])
def test_tracking_refusals_are_one_clear_line(walk, tmp_path, capsys, argv, message):
    from edgegeo.cli import main

    folder = _tum_without_poses(walk[:3], tmp_path / "seq")
    argv = [a.replace("{tum}", f"file://{folder}/") for a in argv]
    code = main(["run", *argv, "--out", str(tmp_path / "run"), "--device-profile", "cpu",
                 "--quiet"])
    assert code == 2
    assert message in capsys.readouterr().err


def test_no_track_leaves_an_unposed_source_unfused(walk, tmp_path, capsys):
    from edgegeo.cli import main

    folder = _tum_without_poses(walk[:4], tmp_path / "seq")
    out = tmp_path / "run"
    code = main(["run", "--source", f"file://{folder}/", "--fuse", "--no-track", "--out",
                 str(out), "--device-profile", "cpu", "--quiet"])
    captured = capsys.readouterr()
    assert "tracking is off (--no-track)" in captured.err
    # asked for a map that cannot be made: the frames still went through, the exit says so
    assert code == 1 and "no frame could be fused" in captured.err
    assert json.loads((out / "stats.json").read_text())["frames_out"] == 4
    assert not (out / "mesh.ply").exists() and not (out / "trajectory.txt").exists()


def test_a_lost_frame_is_not_fused_and_the_map_survives(walk):
    from edgegeo.runtime.assembly import RunSpec, assemble_run
    from edgegeo.runtime.sources.synthetic import SyntheticSource

    frames = [dataclasses.replace(f, world_T_cam=None) for f in walk[:10]]
    frames[4] = dataclasses.replace(frames[4], depth=np.zeros_like(frames[4].depth))
    source = SyntheticSource(seed=11, frames=10, width=320, height=240).replay(frames)
    source.has_pose = False
    with assemble_run(RunSpec(source=source, pipeline="gt", fuse=True, profile="cpu")) as run:
        stats = run.pipeline().run(handle_signals=False)
        fused = run.live_map.frames_integrated
    snapshot = stats.snapshot()
    assert snapshot["stages"]["track"]["skip_reasons"] == {"tracking lost": 1}
    assert snapshot["stages"]["fuse"]["skip_reasons"] == {"tracking lost": 1}
    assert fused == 9 and snapshot["errors"] == 0


def test_tum_intrinsics_come_from_the_folder_or_the_uri(walk, tmp_path):
    from edgegeo.runtime.sources import open_source

    folder = _tum_without_poses(walk[:2], tmp_path / "seq")
    with open_source(f"file://{folder}/") as source:
        np.testing.assert_allclose(next(iter(source)).frame.K, walk[0].K)
    with open_source(f"file://{folder}/?K=100,101,80,60") as source:
        np.testing.assert_allclose(next(iter(source)).frame.K,
                                   [[100, 0, 80], [0, 101, 60], [0, 0, 1]])
    (folder / "intrinsics.txt").write_text("100 101\n")
    with pytest.raises(ValueError, match="intrinsics.txt: expected 'fx fy cx cy'"):
        open_source(f"file://{folder}/")


def test_sigterm_mid_stream_saves_the_trajectory(walk, tmp_path):
    from edgegeo.data.tum import read_tum_trajectory

    frames = [dataclasses.replace(f, timestamp=i / 5.0) for i, f in enumerate(walk)]
    folder = _tum_without_poses(frames, tmp_path / "seq")     # 5 fps when paced
    out = tmp_path / "run"
    code, _, lines = run_then_sigterm(
        ["--source", f"file://{folder}/?realtime=1", "--fuse", "--out", str(out),
         "--device-profile", "cpu", "--save-every", "0", "--progress-every", "0.1"])
    assert code == 0, "".join(lines)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["stop_reason"] == "SIGTERM" and 3 <= stats["frames_out"] < len(walk)
    _, poses = read_tum_trajectory(out / "trajectory.txt")
    assert len(poses) == stats["frames_out"]
    assert any("tracking" in line for line in lines)         # the state is in the progress line
    assert (out / "mesh.ply").exists()
