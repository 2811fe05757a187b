"""The RealSense camera path without hardware: pyrealsense2's software_device streams synthetic
frames through the same syncer → align → depth-units code a live camera uses, and records a
.db3 that file:// plays back."""
import numpy as np
import open3d as o3d
import open3d.core as o3c
import pytest

from edgegeo.geometry import K_from_fov, invert_pose
from edgegeo.runtime.sources import SoftwareCamera, open_source

COLOR_WH, DEPTH_WH = (96, 72), (80, 60)
COLOR_K = K_from_fov(*COLOR_WH, 69.0)            # D435-like: narrower colour, wider depth FOV
DEPTH_K = K_from_fov(*DEPTH_WH, 87.0)
UNITS = 0.0001                                   # 0.1 mm, not the 1 mm default: scaling shows
OFFSET = 0.2                                     # colour camera 20 cm to the left of depth


def _scene():
    """A wall at 2 m and a box at 1 m in front of the cameras (looking down +z)."""
    wall = o3d.geometry.TriangleMesh.create_box(6, 4, 0.1).translate((-3, -2, 2.0))
    box = o3d.geometry.TriangleMesh.create_box(0.5, 0.5, 0.5).translate((-0.25, -0.25, 1.0))
    scene = o3d.t.geometry.RaycastingScene()
    for mesh in (wall, box):
        scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
    return scene


def _depth(scene, K, world_T_cam, size):
    """Z-depth by ray casting (rays with unit z, so t = z)."""
    width, height = size
    u, v = np.meshgrid(np.arange(width), np.arange(height))
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones(u.shape)], -1)
    rays = rays.reshape(-1, 3) @ world_T_cam[:3, :3].T
    origins = np.broadcast_to(world_T_cam[:3, 3], rays.shape)
    t = scene.cast_rays(o3c.Tensor(np.concatenate([origins, rays], 1).astype(np.float32)))
    t = t["t_hit"].numpy().reshape(height, width)
    return np.where(np.isfinite(t), t, 0).astype(np.float32)


@pytest.fixture(scope="module")
def rig():
    """Depth-camera depth, colour-camera GT depth and a textured colour image."""
    color_T_depth = np.eye(4)
    color_T_depth[0, 3] = OFFSET                  # p_color = p_depth + (0.2, 0, 0)
    world_T_depth = np.eye(4)
    world_T_color = world_T_depth @ invert_pose(color_T_depth)
    scene = _scene()
    depth = _depth(scene, DEPTH_K, world_T_depth, DEPTH_WH)
    color_gt = _depth(scene, COLOR_K, world_T_color, COLOR_WH)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (COLOR_WH[1], COLOR_WH[0], 3), dtype=np.uint8)
    ir = rng.integers(0, 255, (DEPTH_WH[1], DEPTH_WH[0]), dtype=np.uint8)
    return dict(color_T_depth=color_T_depth, depth=depth, color_gt=color_gt, rgb=rgb, ir=ir)


def _camera(rig, **options):
    return SoftwareCamera(COLOR_K, COLOR_WH, DEPTH_K, DEPTH_WH,
                          color_T_depth=rig["color_T_depth"], depth_units=UNITS,
                          baseline_m=0.05, **options)


def _stream(camera, rig, frames: int) -> None:
    for _ in range(frames):
        camera.push(rig["rgb"], rig["depth"], rig["ir"], 255 - rig["ir"])


def test_software_camera_frames_are_aligned_and_scaled(rig):
    camera = _camera(rig)
    source = camera.open_source()
    _stream(camera, rig, 4)
    camera.close()
    records = list(source)
    assert not source.has_stereo               # colour frames: the IR pair is not their pair
    # The syncer does not know the streams yet at frame 0, splits it and it is dropped (once).
    assert [r.index for r in records] == [1, 2, 3]
    assert source.counters.dropped == 1 and source.counters.corrupt == 0
    for record in records:
        frame = record.frame
        assert frame.rgb.shape == (72, 96, 3) and frame.depth.shape == (72, 96)
        np.testing.assert_array_equal(frame.rgb, rig["rgb"])
        np.testing.assert_allclose(frame.K, COLOR_K, atol=1e-4)     # colour intrinsics
        assert record.depth_scale == pytest.approx(UNITS, rel=1e-6)
        assert frame.depth.dtype == np.float32 and frame.depth.max() < 2.2
        # Aligned: depth at colour pixels matches the colour camera's own GT depth.
        gt, depth = rig["color_gt"], frame.depth
        both = (gt > 0) & (depth > 0)
        assert both.mean() > 0.9
        assert np.mean(np.abs(depth[both] - gt[both]) < 0.01) > 0.9
        np.testing.assert_array_equal(record.ir_left, rig["ir"])
        np.testing.assert_array_equal(record.ir_right, 255 - rig["ir"])
        np.testing.assert_allclose(record.ir_K, DEPTH_K, atol=1e-4)
        assert record.baseline_m == pytest.approx(0.05, abs=1e-6)
        assert record.right is None
        assert frame.timestamp == pytest.approx(record.index / 30, abs=1e-6)


def test_unaligned_frames_are_the_infrared_pair(rig):
    """align=0: the frame is the left infrared image in the depth camera's geometry and the
    right infrared image completes it as a rectified pair, with the baseline from the IR
    extrinsics."""
    camera = _camera(rig)
    source = camera.open_source(align=False)
    _stream(camera, rig, 3)
    camera.close()
    records = list(source)
    assert source.has_stereo and [r.index for r in records] == [1, 2]
    for record in records:
        frame = record.frame
        np.testing.assert_array_equal(frame.rgb, np.repeat(rig["ir"][..., None], 3, axis=2))
        np.testing.assert_array_equal(record.right,
                                      np.repeat(255 - rig["ir"][..., None], 3, axis=2))
        np.testing.assert_allclose(frame.K, DEPTH_K, atol=1e-4)
        assert frame.depth.shape == (DEPTH_WH[1], DEPTH_WH[0])
        np.testing.assert_allclose(frame.depth, rig["depth"], atol=UNITS)
        assert record.baseline_m == pytest.approx(0.05, abs=1e-6)


def test_alignment_uses_the_extrinsics(rig):
    """With the extrinsics flipped, alignment must get worse: the test above is not vacuous."""
    flipped = dict(rig, color_T_depth=invert_pose(rig["color_T_depth"]))
    camera = _camera(flipped)
    source = camera.open_source()
    _stream(camera, rig, 2)
    camera.close()
    (record,) = list(source)
    gt, depth = rig["color_gt"], record.frame.depth
    both = (gt > 0) & (depth > 0)
    assert np.mean(np.abs(depth[both] - gt[both]) < 0.01) < 0.85


def test_camera_drops_and_disconnects_are_survived(rig):
    camera = _camera(rig)
    source = camera.open_source(timeout_s=0.2, reconnect_after=2)
    events = []
    source.on_event = lambda kind, index, message: events.append(kind)
    _stream(camera, rig, 3)
    camera.skip(2)                                # the camera loses frames 3 and 4
    _stream(camera, rig, 2)
    iterator = iter(source)
    got = [next(iterator).index for _ in range(4)]
    assert got == [1, 2, 5, 6]
    camera.disconnect()                           # unplugged: timeouts, then a reconnect wait
    import threading
    threading.Timer(0.6, lambda: (camera.reconnect(), _stream(camera, rig, 2))).start()
    got += [next(iterator).index for _ in range(2)]
    camera.close()
    got += [r.index for r in iterator]
    assert got == [1, 2, 5, 6, 7, 8]
    counters = source.counters
    assert counters.dropped == 1 + 2 and counters.timeouts >= 2 and counters.reconnects == 1
    assert {"dropped", "timeout", "reconnect"} <= set(events)


def test_lost_camera_raises_after_reconnect_attempts(rig):
    from edgegeo.runtime.sources import SourceError

    camera = _camera(rig)
    source = camera.open_source(timeout_s=0.05, reconnect_after=1, max_reconnects=2,
                                reconnect_timeout_s=0.05)
    camera.disconnect()
    with pytest.raises(SourceError, match="camera lost, 2 reconnection attempts failed"):
        list(source)
    camera.close()


def test_record_and_play_back(rig, tmp_path):
    path = tmp_path / "rec.db3"
    camera = _camera(rig, record_to=path)
    live = camera.open_source()
    _stream(camera, rig, 5)
    camera.close()
    live_records = {r.index: r for r in live}
    assert path.is_file() and path.stat().st_size > 0

    with open_source(f"file://{path}") as playback:
        assert not playback.live
        records = list(playback)
    # Playback is lossless (as fast as consumed): every recorded frame but frame 0, which the
    # syncer splits (as live: it learns the streams from it) and the source reports dropped.
    assert [r.index for r in records] == [1, 2, 3, 4]
    assert playback.counters.dropped == 1 and playback.counters.corrupt == 0
    assert playback.describe()["device"]["serial"] == camera.serial
    for record in records:
        assert record.depth_scale == pytest.approx(UNITS, rel=1e-6)
        np.testing.assert_allclose(record.frame.K, COLOR_K, atol=1e-4)
        assert record.baseline_m == pytest.approx(0.05, abs=1e-6)
        if record.index in live_records:
            same = live_records[record.index]
            np.testing.assert_array_equal(record.frame.rgb, same.frame.rgb)
            np.testing.assert_array_equal(record.frame.depth, same.frame.depth)
            np.testing.assert_array_equal(record.ir_left, same.ir_left)


def test_slow_consumer_loses_nothing_in_playback(rig, tmp_path):
    import time

    path = tmp_path / "rec.db3"
    camera = _camera(rig, record_to=path)
    _stream(camera, rig, 8)
    camera.close()
    indices = []
    with open_source(f"file://{path}") as playback:
        for record in playback:
            indices.append(record.index)
            time.sleep(0.05)                       # slower than the file is read
    assert indices == list(range(1, 8))


def test_bag_suffix_is_refused_for_recording(tmp_path):
    with pytest.raises(ValueError, match="cannot record to .*db3"):
        SoftwareCamera(COLOR_K, COLOR_WH, record_to=tmp_path / "rec.bag")


def test_recording_runs_through_edgegeo_run(rig, tmp_path, capsys):
    """A RealSense recording through the main job: aligned metric depth reaches the outputs;
    the camera has no poses, so fusing it tracks the camera (here standing still) and, with
    --no-track, nothing is fused but every frame still goes through."""
    import json

    from edgegeo.data.images import read_depth_png
    from edgegeo.cli import main

    path = tmp_path / "rec.db3"
    camera = _camera(rig, record_to=path)
    _stream(camera, rig, 6)
    camera.close()
    out = tmp_path / "run"
    code = main(["run", "--source", f"file://{path}", "--pipeline", "gt", "--fuse", "--out",
                 str(out), "--device-profile", "cpu", "--save-depth", "png16", "--quiet",
                 "--no-track"])
    captured = capsys.readouterr()
    assert code == 1 and "no frame could be fused" in captured.err   # --fuse could not be met
    assert "gives no camera poses and tracking is off" in captured.err
    written = sorted(p.name for p in (out / "depth").glob("*.png"))
    assert written == [f"{i:06d}.png" for i in range(1, 6)]
    depth = read_depth_png(out / "depth" / "000003.png")
    gt = rig["color_gt"]
    both = (gt > 0) & (depth > 0)
    assert np.mean(np.abs(depth[both] - gt[both]) < 0.01) > 0.9
    stats = json.loads((out / "stats.json").read_text())
    assert stats["frames_out"] == 5 and stats["source"]["counters"]["dropped"] == 1
    assert stats["source"]["device"]["serial"] == camera.serial
    assert not (out / "mesh.ply").exists()


def test_recording_runs_the_stereo_pipeline_on_the_infrared_pair(rig, tmp_path, capsys,
                                                                  tmp_path_factory):
    """`--pipeline stereo` opens a recording in the infrared geometry (align=0) by itself; the
    depth comes out at the infrared resolution; align=1 is refused."""
    import json

    from _smoke_weights import smoke_weights
    from edgegeo.cli import main

    weights = smoke_weights("stereo", tmp_path_factory)
    path = tmp_path / "rec.db3"
    camera = _camera(rig, record_to=path)
    _stream(camera, rig, 4)
    camera.close()
    out = tmp_path / "run"
    argv = ["run", "--pipeline", "stereo", "--weights", str(weights), "--backend", "torch",
            "--out", str(out), "--device-profile", "cpu", "--save-depth", "npy", "--quiet"]
    code = main(argv + ["--source", f"file://{path}"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    depths = sorted((out / "depth").glob("*.npy"))
    assert [p.stem for p in depths] == ["000001", "000002", "000003"]
    assert np.load(depths[0]).shape == (DEPTH_WH[1], DEPTH_WH[0])
    stats = json.loads((out / "stats.json").read_text())
    assert stats["source"]["uri"].endswith("rec.db3?align=0") and stats["errors"] == 0
    assert stats["stages"]["stereo"]["processed"] == 3
    assert main(argv + ["--source", f"file://{path}?align=1"]) == 2
    assert "drop align=1" in capsys.readouterr().err


def test_a_moving_camera_is_tracked_through_recording_and_playback(tmp_path, capsys):
    """A 320×240 software device moves and turns in front of a wall, a floor and boxes; its
    .db3 recording played back through `edgegeo run --fuse` (tracking on by itself: no
    poses) gives the colour camera's motion back. (At the 96×72 of the other tests there is
    too little geometry to register: translation comes out wrong.)"""
    from scipy.spatial.transform import Rotation

    from edgegeo.cli import main
    from edgegeo.data.tum import read_tum_trajectory
    from edgegeo.metrics.trajectory import absolute_trajectory_error

    scene = o3d.t.geometry.RaycastingScene()      # a wall, a floor and boxes at 1-2.5 m
    for size, corner in (((6, 4, 0.1), (-3, -2, 2.5)), ((6, 0.1, 4), (-3, 0.6, -1)),
                         ((0.4, 0.4, 0.4), (-0.6, -0.3, 1.2)), ((0.3, 0.8, 0.3), (0.3, -0.4, 1.6)),
                         ((0.5, 0.2, 0.5), (-0.1, 0.3, 1.0))):
        box = o3d.geometry.TriangleMesh.create_box(*size).translate(corner)
        scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(box))
    size = (320, 240)
    color_K, depth_K = K_from_fov(*size, 69.0), K_from_fov(*size, 87.0)
    color_T_depth = np.eye(4)
    color_T_depth[0, 3] = 0.05
    path = tmp_path / "rec.db3"
    camera = SoftwareCamera(color_K, size, depth_K, size, color_T_depth=color_T_depth,
                            depth_units=UNITS, baseline_m=0.05, record_to=path)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    ir = rng.integers(0, 255, (size[1], size[0]), dtype=np.uint8)
    true = []
    for index in range(10):
        world_T_depth = np.eye(4)
        world_T_depth[:3, :3] = Rotation.from_euler("y", 0.8 * index, degrees=True).as_matrix()
        world_T_depth[:3, 3] = (0.02 * index, 0.005 * index, 0.01 * index)
        true.append(world_T_depth @ invert_pose(color_T_depth))
        camera.push(rgb, _depth(scene, depth_K, world_T_depth, size), ir, 255 - ir)
    camera.close()
    out = tmp_path / "run"
    code = main(["run", "--source", f"file://{path}", "--pipeline", "gt", "--fuse", "--out",
                 str(out), "--device-profile", "cpu", "--max-depth", "3", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "camera tracking on" in captured.err
    _, poses = read_tum_trajectory(out / "trajectory.txt")
    expected = np.stack([invert_pose(true[1]) @ pose for pose in true[1:]])  # frame 0 dropped
    assert len(poses) == len(expected)
    assert absolute_trajectory_error(poses, expected).rmse < 0.01
    assert np.linalg.norm(poses[-1][:3, 3] - expected[-1][:3, 3]) < 0.02
    assert (out / "mesh.ply").exists()
