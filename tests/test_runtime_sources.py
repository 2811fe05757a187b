"""Runtime sources: URI parsing and its errors, synthetic / image-folder / posed-folder / video
sources, corrupt-file reporting, real-time pacing."""
import dataclasses
import time

import cv2
import numpy as np
import pytest

from edgegeo.data.images import save_image
from edgegeo.runtime.sources import SourceError, open_source, parse_uri
from edgegeo.runtime.sources.capture import gstreamer_available


@pytest.fixture(scope="module")
def walk():
    """A tiny synthetic walk-through (rendered once for the module)."""
    with open_source("synthetic://walkthrough?seed=7&frames=4&size=64x48&fps=20") as source:
        records = list(source)
        return source, records


# ------------------------------------------------------------------------------ URIs
def test_parse_uri_splits_scheme_target_and_options():
    uri = parse_uri("synthetic://walkthrough?seed=3&frames=10&size=64x48")
    assert (uri.scheme, uri.target) == ("synthetic", "walkthrough")
    assert uri.options == {"seed": "3", "frames": "10", "size": "64x48"}
    assert parse_uri("realsense://").target == ""
    assert parse_uri("realsense://123456789012?fps=15").options == {"fps": "15"}
    assert parse_uri("v4l2:///dev/video0").target == "/dev/video0"
    bare = parse_uri("some/folder/")
    assert (bare.scheme, bare.target) == ("file", "some/folder/")
    assert parse_uri("file://a%20b.mp4?K=1,2,3,4").target == "a b.mp4"


@pytest.mark.parametrize("uri, message", [
    ("", "empty source URI"),
    ("rtsp://camera/stream", "unknown source scheme 'rtsp'"),
    ("synthetic://walkthrough?seed", "must be key=value"),
    ("synthetic://walkthrough?seed=1&seed=2", "given twice"),
])
def test_parse_uri_errors(uri, message):
    with pytest.raises(ValueError, match=message):
        parse_uri(uri)


@pytest.mark.parametrize("uri, error, message", [
    ("synthetic://walkthrough?sede=3", ValueError, r"unknown option\(s\) sede.*allowed: fps"),
    ("synthetic://walkthrough?size=64by48", ValueError, "size must look like 256x192"),
    ("synthetic://walkthrough?frames=0", ValueError, "frames must be >= 1"),
    ("synthetic://maze", ValueError, "unknown synthetic sequence 'maze'"),
    ("file://", ValueError, "no path after file://"),
    ("file:///nonexistent/edgegeo/rec.db3", FileNotFoundError, "recording not found"),
    ("file:///nonexistent/edgegeo/clip.mp4", FileNotFoundError, "video file not found"),
    ("file:///nonexistent/edgegeo/dir/", FileNotFoundError, "folder not found"),
    ("file:///nonexistent/edgegeo/x.xyz", FileNotFoundError, "no such file"),
    ("file:///tmp?K=1,2", ValueError, "K must be fx,fy,cx,cy"),
    ("file:///tmp?K=1,1,1,1&hfov=60", ValueError, "K or hfov, not both"),
    ("realsense://?fps=fast", ValueError, "fps must be an integer"),
    ("realsense://?exposure=1", ValueError, "unknown option"),
    ("v4l2://camera", ValueError, "expected v4l2:///dev/videoN"),
    ("csi://left", ValueError, "expected csi://N"),
])
def test_open_source_errors_name_the_problem(uri, error, message):
    with pytest.raises(error, match=message):
        open_source(uri)


def test_unknown_file_type_is_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(ValueError, match="cannot tell what 'notes.txt' is"):
        open_source(f"file://{path}")


def test_missing_devices_give_clear_errors():
    import pyrealsense2 as rs

    if len(rs.context().query_devices()) == 0:
        with pytest.raises(SourceError, match="no RealSense camera connected"):
            open_source("realsense://")
    with pytest.raises(SourceError, match="cannot open the camera"):
        open_source("v4l2:///dev/video99")
    if not gstreamer_available():
        with pytest.raises(SourceError, match="no GStreamer support"):
            open_source("csi://0")


# --------------------------------------------------------------------------- synthetic
def test_synthetic_source_yields_ground_truth(walk):
    source, records = walk
    assert [r.index for r in records] == [0, 1, 2, 3]
    assert source.has_depth and source.has_pose and not source.live
    assert source.counters.frames == 4
    for record in records:
        frame = record.frame
        assert frame.rgb.shape == (48, 64, 3) and frame.rgb.dtype == np.uint8
        assert frame.depth.shape == (48, 64) and frame.depth.dtype == np.float32
        assert (frame.depth > 0).mean() > 0.9 and np.isfinite(frame.depth).all()
        assert frame.world_T_cam.shape == (4, 4) and frame.normals is not None
        assert frame.K[0, 2] == pytest.approx(31.5)
    assert [r.frame.timestamp for r in records] == pytest.approx([0, 0.05, 0.1, 0.15])
    assert len(source.scene.mesh.triangles) > 0                 # GT surface for scoring


def test_synthetic_source_paces_in_real_time(walk):
    from edgegeo.runtime.sources import SyntheticSource

    source = SyntheticSource(seed=7, frames=4, width=64, height=48, fps=20, realtime=True)
    source.frames = walk[0].frames                      # reuse the render: pacing is the test
    start = time.perf_counter()
    assert len(list(source)) == 4
    assert time.perf_counter() - start >= 0.14          # 3 gaps of 50 ms


def test_stop_ends_iteration(walk):
    from edgegeo.runtime.sources import SyntheticSource

    source = SyntheticSource(seed=7, frames=4, width=64, height=48)
    source.frames = walk[0].frames
    taken = []
    for record in source:
        taken.append(record)
        source.stop()
    assert len(taken) == 1
    with pytest.raises(RuntimeError, match="iterated once"):
        list(source)


# ------------------------------------------------------------------------------ files
def test_image_folder_source_skips_and_reports_corrupt_files(tmp_path, walk):
    for i, record in enumerate(walk[1][:3]):
        save_image(tmp_path / f"frame{i * 5}.png", record.frame.rgb)
    (tmp_path / "frame7.png").write_bytes(b"not a png")          # corrupt, between 5 and 10
    events = []
    with open_source(f"file://{tmp_path}/?hfov=90&fps=10") as source:
        source.on_event = lambda kind, index, message: events.append((kind, index))
        records = list(source)
    assert len(records) == 3 and source.counters.corrupt == 1
    assert events == [("corrupt", 2)]
    assert [r.extra["path"].rsplit("/", 1)[1] for r in records] == \
        ["frame0.png", "frame5.png", "frame10.png"]
    assert records[0].frame.K[0, 0] == pytest.approx(31.5 / np.tan(np.deg2rad(45)), rel=0.02)
    assert records[0].frame.depth is None and source.has_depth is False
    assert records[2].frame.timestamp == pytest.approx(0.3)


def test_posed_folder_source_reads_tum_with_depth_and_pose(tmp_path, walk):
    from edgegeo.data.tum import write_tum_sequence

    frames = [dataclasses.replace(r.frame, depth=np.where(r.frame.depth < 13, r.frame.depth, 0))
              for r in walk[1]]                       # TUM PNGs hold up to 13.1 m
    write_tum_sequence(tmp_path, frames)
    K = frames[0].K
    with open_source(f"file://{tmp_path}/?K={K[0, 0]},{K[1, 1]},{K[0, 2]},{K[1, 2]}") as source:
        records = list(source)
    assert source.kind == "posed-folder" and source.has_depth and source.has_pose
    assert len(records) == 4
    np.testing.assert_allclose(records[1].frame.K, K)
    np.testing.assert_allclose(records[1].frame.world_T_cam, frames[1].world_T_cam, atol=1e-5)
    np.testing.assert_allclose(records[1].frame.depth, frames[1].depth, atol=2e-4)


def test_posed_folder_source_reads_a_synthetic_shard(tmp_path, walk):
    from edgegeo.data.synthetic import write_shard

    frames = [dataclasses.replace(r.frame, depth=np.minimum(r.frame.depth, 60)) for r in walk[1]]
    write_shard(tmp_path / "shard", frames)
    with open_source(f"file://{tmp_path / 'shard'}") as source:
        records = list(source)
    assert source.kind == "posed-folder" and len(records) == 4
    np.testing.assert_allclose(records[3].frame.world_T_cam, frames[3].world_T_cam)
    np.testing.assert_allclose(records[3].frame.K, frames[3].K)
    assert records[3].frame.depth.shape == (48, 64)


def test_video_source_yields_every_frame(tmp_path, walk):
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for _ in range(3):
        for record in walk[1]:
            writer.write(record.frame.rgb[..., ::-1].copy())
    writer.release()
    with open_source(f"file://{path}?K=50,50,31.5,23.5") as source:
        records = list(source)
    assert len(records) == 12 and source.counters.corrupt == 0
    assert records[0].frame.rgb.shape == (48, 64, 3)
    assert records[0].frame.K[0, 0] == 50 and source.fps == pytest.approx(10)
    assert records[11].frame.timestamp == pytest.approx(1.1)


def test_corrupt_video_is_reported(tmp_path):
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(20):
        writer.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    writer.release()
    data = bytearray(path.read_bytes())
    start, stop = int(0.4 * len(data)), int(0.6 * len(data))
    data[start:stop] = bytes(stop - start)                    # a damaged stretch mid-file
    path.write_bytes(bytes(data))
    events = []
    with open_source(f"file://{path}") as source:
        source.on_event = lambda kind, index, message: events.append((kind, message))
        records = list(source)
    assert 0 < len(records) < 20
    assert source.counters.corrupt == 20 - len(records)
    assert events and events[0][0] == "corrupt" and "of 20 declared frames" in events[0][1]
