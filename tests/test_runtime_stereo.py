"""The stereo pipeline: synthetic rectified pairs as a source, the stereo stage's disparity →
metric depth conversion and its clear rejections, and the pipeline end to end (library and
`edgegeo run`) with smoke-trained weights."""
import json

import numpy as np
import pytest

import edgegeo
from edgegeo.cli import main
from edgegeo.runtime.assembly import standard_stages
from edgegeo.runtime.map import LiveMap
from edgegeo.runtime.packet import BadFrame, Packet
from edgegeo.runtime.pipeline import Pipeline
from edgegeo.runtime.sources import Source, SourceRecord, open_source
from edgegeo.runtime.stages.stereo import StereoStage

from _smoke_weights import smoke_weights

W, H, BASELINE = 96, 72, 0.12
URI = f"synthetic://stereo?seed=3&frames=4&size={W}x{H}&baseline={BASELINE}"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pairs():
    """The source and its 4 records (rendered once for the module)."""
    with open_source(URI) as source:
        return source, list(source)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return smoke_weights("stereo", tmp_path_factory)


@pytest.fixture(scope="module")
def predictor(weights):
    return edgegeo.load("stereo", weights=weights, check_rectification=False)


class ListSource(Source):
    """Records from a list (a source whose records a test has edited)."""

    kind = "list"
    has_stereo = True

    def __init__(self, records):
        super().__init__("list://")
        self.records = records

    def _records(self):
        yield from self.records


# ---------------------------------------------------------------------------- source
def test_synthetic_stereo_source_gives_rectified_pairs_with_ground_truth(pairs):
    source, records = pairs
    assert source.has_stereo and source.has_depth and source.has_pose and not source.live
    assert source.describe()["has_stereo"] is True
    assert [r.index for r in records] == [0, 1, 2, 3]
    assert [r.frame.timestamp for r in records] == pytest.approx([0, 0.1, 0.2, 0.3])
    for record in records:
        frame = record.frame
        assert record.right.shape == (H, W, 3) and record.right.dtype == np.uint8
        assert record.baseline_m == pytest.approx(BASELINE)
        assert frame.depth.shape == (H, W) and (frame.depth > 0).mean() > 0.9
        assert frame.world_T_cam.shape == (4, 4)
        assert frame.K[0, 0] == pytest.approx((W / 2) / np.tan(np.deg2rad(35)), rel=0.02)
    # Every pair is a fresh viewpoint, reproducible from (seed, index).
    assert not np.allclose(records[0].frame.world_T_cam, records[1].frame.world_T_cam)
    np.testing.assert_array_equal(source.pair(2).right.rgb, records[2].right)


def test_the_right_image_sits_at_plus_baseline(pairs):
    """Left pixel (u, v) with depth z shows in the right image at (u − fx·B/z, v): the pair is
    rectified with the right camera on the left camera's +x axis (the other sign is worse)."""
    _, records = pairs
    errors = {+1: [], -1: []}
    for record in records:
        frame = record.frame
        left = frame.rgb.astype(np.float32)
        right = record.right.astype(np.float32)
        v, u = np.nonzero(frame.depth > 0)
        disparity = frame.K[0, 0] * BASELINE / frame.depth[v, u]
        for sign in errors:
            x = np.round(u - sign * disparity).astype(int)
            inside = (x >= 0) & (x < W)
            errors[sign].append(np.abs(left[v[inside], u[inside]]
                                       - right[v[inside], x[inside]]).mean())
    assert np.mean(errors[+1]) < 0.6 * np.mean(errors[-1])


def test_uri_options_are_checked():
    with pytest.raises(ValueError, match="baseline must be a positive number"):
        open_source("synthetic://stereo?baseline=-1")
    with pytest.raises(ValueError, match=r"unknown option\(s\) ir for a synthetic-stereo"):
        open_source("synthetic://stereo?ir=1")


# ----------------------------------------------------------------------------- stage
def test_stereo_stage_turns_disparity_into_metric_depth(pairs):
    record = pairs[1][0]
    fx = record.frame.K[0, 0]
    disparity = np.zeros((H, W), np.float32)
    disparity[:, W // 2:] = 8.0                     # no match (0) on the left half
    packet = StereoStage(lambda left, right: disparity)(Packet(0, record, 0.0))
    np.testing.assert_array_equal(packet.disparity, disparity)
    np.testing.assert_array_equal(packet.depth[:, :W // 2], 0)
    np.testing.assert_allclose(packet.depth[:, W // 2:], fx * BASELINE / 8.0, rtol=1e-6)
    assert packet.depth.dtype == np.float32 and packet.info["depth_from"] == "stereo"


def test_stereo_stage_runs_the_model_on_the_pair(pairs, predictor):
    record = pairs[1][2]
    packet = StereoStage(predictor)(Packet(0, record, 0.0))
    expected = predictor(record.frame.rgb, record.right)
    np.testing.assert_allclose(packet.disparity, expected, rtol=1e-5)
    valid = expected > 0
    assert valid.any()
    np.testing.assert_allclose(packet.depth[valid],
                               record.frame.K[0, 0] * BASELINE / expected[valid], rtol=1e-5)


def test_stereo_stage_masks_pixels_the_model_is_unsure_of(pairs):
    record = pairs[1][0]
    disparity = np.full((H, W), 8.0, np.float32)
    confidence = np.full((H, W), 2.0, np.float32)      # expected error 0.5 px
    confidence[:, :10] = 0.25                           # expected error 4 px: masked

    def predictor(left, right, return_confidence=False):
        return (disparity, confidence) if return_confidence else disparity

    packet = StereoStage(predictor, max_disparity_error_px=2.0)(Packet(0, record, 0.0))
    np.testing.assert_array_equal(packet.disparity, disparity)
    assert (packet.depth[:, :10] == 0).all() and (packet.depth[:, 10:] > 0).all()
    assert packet.info["masked_fraction"] == pytest.approx(10 / W)
    np.testing.assert_array_equal(packet.confidence, confidence)
    with pytest.raises(ValueError, match="max_disparity_error_px"):
        StereoStage(predictor, max_disparity_error_px=0)


@pytest.mark.parametrize("change, message", [
    (dict(right=None), "no right image in the packet: the stereo pipeline needs rectified "
                       "pairs"),
    (dict(baseline_m=None), "no stereo baseline"),
    (dict(right=np.zeros((H, W - 2, 3), np.uint8)), r"right image must be \(72, 96, 3\) uint8"),
])
def test_stereo_stage_rejects_packets_without_a_usable_pair(pairs, change, message):
    record = pairs[1][0]
    edited = SourceRecord(record.frame, 0, **{"right": record.right,
                                              "baseline_m": record.baseline_m, **change})
    with pytest.raises(BadFrame, match=message):
        StereoStage(lambda left, right: np.ones((H, W), np.float32))(Packet(0, edited, 0.0))


# ------------------------------------------------------------------------- pipeline
def test_stereo_pipeline_fuses_pairs_and_survives_a_frame_without_a_pair(pairs, predictor):
    from edgegeo.fusion import FusionConfig, TSDFFusion

    records = [SourceRecord(r.frame, r.index, right=r.right, baseline_m=r.baseline_m)
               for r in pairs[1]]
    records[1].right = None                                 # a frame that lost its pair
    fusion = TSDFFusion(FusionConfig(voxel_size=0.05, trunc=0.15, max_depth=5.0))
    stages = standard_stages("stereo", live_map=LiveMap(fusion), predictor=predictor)
    assert [s.name for s in stages] == ["check", "stereo", "fuse"]
    snapshot = Pipeline(ListSource(records), stages).run(handle_signals=False).snapshot()
    assert snapshot["frames_out"] == 3 and snapshot["errors"] == 1
    assert snapshot["stages"]["stereo"]["errors"] == 1
    event = snapshot["events"]["recent"][0]
    assert event["index"] == 1 and "no right image" in event["message"]
    assert snapshot["stages"]["fuse"]["processed"] == 3 and fusion.frames_integrated == 3


def test_edgegeo_run_stereo(tmp_path, capsys, weights):
    out = tmp_path / "run"
    code = main(["run", "--source", URI, "--pipeline", "stereo", "--weights", str(weights),
                 "--backend", "torch", "--fuse", "--max-depth", "5", "--save-depth", "npy",
                 "--out", str(out), "--device-profile", "cpu", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "4 frames in" in captured.out and "errors 0" in captured.out
    assert "stereo on torch fp32 (asked for)" in captured.err
    depths = sorted((out / "depth").glob("*.npy"))
    assert len(depths) == 4 and np.load(depths[0]).shape == (H, W)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["info"]["inference"] == {"model": "stereo", "backend": "torch",
                                          "precision": "fp32", "reason": "asked for"}
    assert stats["stages"]["stereo"]["processed"] == 4 and stats["source"]["has_stereo"]
