"""The threaded pipeline: drop-oldest keeps latency bounded, bad frames are reported and skipped
without losing the map, backpressure loses nothing, stop/SIGTERM flush, pluggable inference."""
import json
import threading
import time

import numpy as np
import pytest

from edgegeo.data.frame import Frame
from edgegeo.runtime.assembly import standard_stages
from edgegeo.runtime.map import LiveMap
from edgegeo.runtime.packet import BadFrame
from edgegeo.runtime.pipeline import BoundedQueue, Pipeline, Stage
from edgegeo.runtime.stages.check import CheckFrame
from edgegeo.runtime.stages.depth import DepthStage, ScaleToReference
from edgegeo.runtime.stages.fuse import FuseStage
from edgegeo.runtime.stages.upsample import UpsampleStage
from edgegeo.runtime.sources import Source, SourceError, SourceRecord

W, H = 32, 24
K = np.array([[30.0, 0, (W - 1) / 2], [0, 30.0, (H - 1) / 2], [0, 0, 1]])


def _frame(i: int, depth: float = 1.5) -> Frame:
    pose = np.eye(4)
    pose[0, 3] = 0.01 * i
    rgb = np.full((H, W, 3), (i * 10) % 255, np.uint8)
    return Frame(rgb=rgb, K=K, depth=np.full((H, W), depth, np.float32), world_T_cam=pose,
                 timestamp=i / 30)


class FakeSource(Source):
    """Frames from a list, optionally paced like a live camera."""

    kind = "fake"

    def __init__(self, frames, live=False, interval=0.0, fail_at=None):
        super().__init__("fake://")
        self.frames, self.live, self.interval, self.fail_at = frames, live, interval, fail_at

    def _records(self):
        for i, frame in enumerate(self.frames):
            if self.fail_at == i:
                raise SourceError("camera unplugged")
            if self.interval and not self._wait(self.interval):
                return
            yield SourceRecord(frame, i)


def _slow(seconds):
    def slow(packet):
        time.sleep(seconds)
        return packet
    return slow


# ------------------------------------------------------------------------------- queue
def test_bounded_queue_policies():
    queue = BoundedQueue(2, "oldest")
    assert queue.put(1) is None and queue.put(2) is None
    assert queue.put(3) == 1 and len(queue) == 2           # the oldest made room
    queue.put_end()                                        # never dropped, not counted
    assert len(queue) == 2
    assert [queue.get(0.1) for _ in range(2)] == [2, 3]
    assert queue.get(0.1) is not None and len(queue) == 0  # the end marker
    with pytest.raises(TimeoutError):
        queue.get(0.01)
    blocking = BoundedQueue(1, "block")
    blocking.put("a")
    cancel = threading.Event()
    threading.Timer(0.1, cancel.set).start()
    assert blocking.put("b", cancel=cancel) == "b"         # gave up when cancelled
    with pytest.raises(ValueError, match="unknown queue policy"):
        BoundedQueue(1, "newest")


# ------------------------------------------------------------------------ drop-oldest
def test_drop_oldest_keeps_latency_bounded_with_a_slow_stage():
    stage_s, max_queue = 0.04, 2
    source = FakeSource([_frame(i) for i in range(60)], live=True, interval=0.005)
    pipeline = Pipeline(source, [CheckFrame(), Stage("slow", _slow(stage_s))],
                        max_queue=max_queue)
    stats = pipeline.run(handle_signals=False)
    snapshot = stats.snapshot()
    assert pipeline.policy == "oldest"
    assert snapshot["frames_in"] == 60
    assert snapshot["dropped"] > 0
    assert snapshot["frames_out"] + snapshot["dropped"] == 60
    for name, stage in snapshot["stages"].items():
        assert stage["queue_max"] <= max(stage["queue_size"], 0), name
    # A frame waits for at most the queued frames plus the one in service, per slow stage.
    bound = (max_queue + 2) * stage_s + 0.3       # slack for a loaded machine
    assert snapshot["end_to_end"]["p95_ms"] < 1000 * bound


def test_block_policy_loses_nothing_and_keeps_order():
    seen = []

    def record(packet):
        seen.append(packet.index)
        return packet

    source = FakeSource([_frame(i) for i in range(30)])
    pipeline = Pipeline(source, [CheckFrame(), Stage("slow", _slow(0.002)),
                                 Stage("record", record)], max_queue=1)
    stats = pipeline.run(handle_signals=False)
    assert pipeline.policy == "block"
    assert seen == list(range(30)) and stats.frames_out == 30 and stats.dropped() == 0


# ---------------------------------------------------------------------------- faults
def test_bad_frames_are_reported_and_the_stream_goes_on():
    from edgegeo.fusion import FusionConfig, TSDFFusion

    frames = [_frame(i) for i in range(10)]
    frames[2].depth[3, 4] = np.nan                               # NaN depth
    frames[4] = _frame(4)
    frames[4].rgb = np.zeros((H + 2, W, 3), np.uint8)            # wrong size
    frames[4].depth = np.ones((H + 2, W), np.float32)
    frames[7].world_T_cam = None                                 # no pose: cannot fuse

    def explode_on_6(packet):
        if packet.index == 6:
            raise RuntimeError("inference crashed")
        return packet

    fusion = TSDFFusion(FusionConfig(voxel_size=0.05, trunc=0.15, color=False))
    stages = [CheckFrame(use_source_depth=True), Stage("infer", explode_on_6),
              FuseStage(LiveMap(fusion))]
    stats = Pipeline(FakeSource(frames), stages).run(handle_signals=False)
    snapshot = stats.snapshot()
    assert snapshot["frames_out"] == 6
    assert snapshot["errors"] == 4
    assert snapshot["stages"]["check"]["errors"] == 2
    assert snapshot["stages"]["infer"]["errors"] == 1
    assert snapshot["stages"]["fuse"]["errors"] == 1
    assert fusion.frames_integrated == 6                          # the map kept every good frame
    events = {(e["kind"], e["index"]): e["message"] for e in snapshot["events"]["recent"]}
    assert "NaN" in events[("bad-frame", 2)]
    assert "wrong size" in events[("bad-frame", 4)]
    assert "inference crashed" in events[("stage-error", 6)]
    assert "no camera pose" in events[("bad-frame", 7)]
    assert len(fusion.extract_mesh().triangles) > 0


def test_source_failure_stops_cleanly_and_saves(tmp_path):
    from edgegeo.fusion import FusionConfig, TSDFFusion
    from edgegeo.runtime.sinks import MapSink

    fusion = TSDFFusion(FusionConfig(voxel_size=0.05, trunc=0.15, color=False))
    live_map = LiveMap(fusion)
    stages = standard_stages("gt", live_map=live_map)
    source = FakeSource([_frame(i) for i in range(10)], fail_at=5)
    stats = Pipeline(source, stages, [MapSink(live_map, tmp_path, every_s=0)],
                     stats_path=tmp_path / "stats.json").run(handle_signals=False)
    assert stats.frames_out == 5 and "camera unplugged" in stats.stop_reason
    assert (tmp_path / "mesh.ply").is_file()
    assert json.loads((tmp_path / "stats.json").read_text())["events"]["counts"] == \
        {"source-failed": 1}


def test_stop_from_another_thread_drains_and_flushes(tmp_path):
    from edgegeo.fusion import FusionConfig, TSDFFusion
    from edgegeo.runtime.sinks import MapSink

    fusion = TSDFFusion(FusionConfig(voxel_size=0.05, trunc=0.15, color=False))
    live_map = LiveMap(fusion)
    stages = standard_stages("gt", live_map=live_map)
    source = FakeSource([_frame(i) for i in range(1000)], live=True, interval=0.01)
    pipeline = Pipeline(source, stages, [MapSink(live_map, tmp_path, every_s=0)])
    threading.Timer(0.3, pipeline.stop).start()
    stats = pipeline.run(handle_signals=False)
    assert 5 < stats.frames_in < 1000 and stats.stop_reason == "stop requested"
    assert stats.frames_out + stats.dropped() == stats.frames_in      # drained, none lost
    assert (tmp_path / "mesh.ply").is_file() and (tmp_path / "cloud.ply").is_file()


def test_max_frames_and_progress_and_stats_file(tmp_path):
    lines = []
    source = FakeSource([_frame(i) for i in range(50)], interval=0.01)
    stats = Pipeline(source, standard_stages("gt"), max_frames=12, progress=lines.append,
                     progress_every_s=0.05, stats_path=tmp_path / "stats.json",
                     stats_every_s=0.05).run(handle_signals=False)
    assert stats.frames_out == 12 and "max_frames=12" in stats.stop_reason
    assert lines and lines[-1].startswith("frames 12 |") and "check" in lines[-1]
    data = json.loads((tmp_path / "stats.json").read_text())
    assert data["finished"] and data["frames_out"] == 12
    assert set(data["stages"]) == {"source", "check", "sinks"}
    assert data["memory"]["rss_mib"] > 0 and data["runtime_overhead"]["count"] == 12


# ----------------------------------------------------------------------- inference
def test_mono_pipeline_with_a_random_tiny_model():
    from edgegeo.models.mono_depth import MonoDepthNet, MonoDepthNetConfig, MonoDepthPredictor
    from edgegeo.fusion import FusionConfig, TSDFFusion

    import torch

    torch.manual_seed(0)
    predictor = MonoDepthPredictor(MonoDepthNet(MonoDepthNetConfig.tiny()), resolution=32)
    fusion = TSDFFusion(FusionConfig(voxel_size=0.05, trunc=0.15, color=True))
    stages = standard_stages("mono", live_map=LiveMap(fusion), predictor=predictor, max_depth=3.0)
    assert [s.name for s in stages] == ["check", "mono", "scale", "fuse"]
    frames = [_frame(i) for i in range(4)]
    frames[3].depth = None                       # no reference depth: no metric scale
    stats = Pipeline(FakeSource(frames), stages).run(handle_signals=False)
    snapshot = stats.snapshot()
    assert snapshot["frames_out"] == 3 and snapshot["stages"]["scale"]["errors"] == 1
    assert snapshot["stages"]["mono"]["latency"]["count"] == 4


def test_scale_to_reference_recovers_metric_depth():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 4.0, (H, W)).astype(np.float32)
    disparity = (2.0 / depth + 0.3).astype(np.float32)          # affine in inverse depth
    from edgegeo.runtime.packet import Packet

    packet = Packet(0, SourceRecord(Frame(rgb=np.zeros((H, W, 3), np.uint8), K=K, depth=depth),
                                    0), 0.0, disparity=disparity)
    out = ScaleToReference(max_depth=10).__call__(packet)
    np.testing.assert_allclose(out.depth, depth, rtol=1e-4)
    assert out.info["scale"] == pytest.approx(0.5, rel=1e-4)


def test_depth_stage_rejects_bad_predictions():
    from edgegeo.runtime.packet import Packet

    packet = Packet(0, SourceRecord(_frame(0), 0), 0.0)
    with pytest.raises(BadFrame, match="NaN"):
        DepthStage(lambda rgb: np.full(rgb.shape[:2], np.nan, np.float32))(packet)
    with pytest.raises(BadFrame, match="expected"):
        DepthStage(lambda rgb: rgb)(packet)


def test_upsample_stage_brings_low_res_depth_to_full_res():
    from edgegeo.runtime.packet import Packet

    frame = _frame(0)
    packet = Packet(0, SourceRecord(frame, 0), 0.0, depth=np.full((H // 4, W // 4), 2.0,
                                                                   np.float32))
    np.testing.assert_allclose(packet.depth_K()[0, 0], K[0, 0] / 4)
    out = UpsampleStage()(packet)
    assert out.depth.shape == (H, W)
    np.testing.assert_allclose(out.depth, 2.0, rtol=1e-5)
    # A learned upsampler plugs in the same way (here: nearest neighbour as a stand-in).
    packet.depth = np.full((H // 4, W // 4), 3.0, np.float32)
    nearest = UpsampleStage(lambda depth, rgb: np.kron(depth, np.ones((4, 4), np.float32)))
    np.testing.assert_array_equal(nearest(packet).depth, np.full((H, W), 3.0, np.float32))


def test_unknown_pipelines_and_missing_predictors():
    with pytest.raises(ValueError, match="unknown pipeline 'lidar'; use gt, mono, stereo, mvs"):
        standard_stages("lidar")
    for kind in ("mono", "stereo", "mvs"):
        with pytest.raises(ValueError, match=f"the {kind} pipeline needs a predictor"):
            standard_stages(kind)


def test_skipped_packets_pass_on_counted_per_reason_not_as_errors():
    """A stage that passes a frame on without its work (mvs: not a keyframe) is counted per
    reason; later depth stages pass it on too; depth lost otherwise is still a bad frame."""
    from edgegeo.fusion import FusionConfig, TSDFFusion

    def every_third(packet):
        if packet.index % 3:
            packet.depth = None
            return packet.skip("every-third", "not a third")
        return packet

    def lose_depth_of_9(packet):
        if packet.index == 9:
            packet.depth = None
        return packet

    fusion = TSDFFusion(FusionConfig(voxel_size=0.05, trunc=0.15, color=False))
    stages = [CheckFrame(use_source_depth=True), Stage("every-third", every_third),
              Stage("lose", lose_depth_of_9), UpsampleStage(), FuseStage(LiveMap(fusion))]
    seen = []
    sink = type("Sink", (), {"write": lambda self, packet: seen.append(packet.index)})()
    snapshot = Pipeline(FakeSource([_frame(i) for i in range(10)]), stages,
                        [sink]).run(handle_signals=False).snapshot()
    assert seen == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    third = snapshot["stages"]["every-third"]
    assert (third["processed"], third["skipped"], third["errors"]) == (10, 6, 0)
    assert third["skip_reasons"] == {"not a third": 6}
    for name in ("upsample", "fuse"):
        assert snapshot["stages"][name]["skip_reasons"] == {"no depth": 6}, name
    assert snapshot["stages"]["upsample"]["errors"] == 1 and snapshot["errors"] == 1
    assert snapshot["events"]["recent"][0]["message"] == "no depth to upsample"
    assert fusion.frames_integrated == 3
