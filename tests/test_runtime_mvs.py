"""The mvs pipeline: posed frames through the multi-view model's keyframe stream on a short
synthetic walk-through with smoke-trained weights — keyframes get depth and are fused, the other
frames pass on without depth and are counted (not errors), unposed frames are clear errors."""
import dataclasses
import json

import numpy as np
import pytest

import edgegeo
from edgegeo.cli import main
from edgegeo.models.mvs import KeyframeBuffer, MVSStream
from edgegeo.runtime.assembly import RunSpec, standard_stages
from edgegeo.runtime.map import LiveMap
from edgegeo.runtime.pipeline import Pipeline
from edgegeo.runtime.stages.mvs import NOT_KEYFRAME, TOO_FEW_SOURCES
from edgegeo.runtime.sources import Source, SourceRecord, SyntheticSource

from _smoke_weights import smoke_weights

FRAMES, WIDTH, HEIGHT = 12, 96, 64
WALK = f"synthetic://walkthrough?seed=1000&frames={FRAMES}&size={WIDTH}x{HEIGHT}&fps=5"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def walk():
    """A 12-frame walk-through at 5 fps (7 cm between frames: a keyframe every few frames)."""
    source = SyntheticSource(seed=1000, frames=FRAMES, width=WIDTH, height=HEIGHT, fps=5.0)
    source.render()
    return source


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Smoke mvs weights: 2 sources, 8 planes, 96x64."""
    return smoke_weights("mvs", tmp_path_factory)


def keyframes_of(frames) -> list[int]:
    buffer = KeyframeBuffer()
    return [i for i, frame in enumerate(frames) if buffer.try_add(frame.world_T_cam)]


class Collect:
    """A sink keeping each packet's index and depth, and the depth it carried for earlier
    frames."""

    def __init__(self):
        self.depth, self.earlier = {}, {}

    def write(self, packet):
        self.depth[packet.index] = packet.depth
        self.earlier.update({index: depth for index, _, depth in packet.earlier_depths})


class ListSource(Source):
    kind = "list"

    def __init__(self, frames):
        super().__init__("list://")
        self.frames = frames

    def _records(self):
        for index, frame in enumerate(self.frames):
            yield SourceRecord(frame, index)


def test_keyframes_get_depth_and_the_other_frames_pass_on(walk, weights):
    from edgegeo.fusion import FusionConfig, TSDFFusion

    frames = walk.render()
    keyframes = keyframes_of(frames)
    sources = 2                                        # the smoke model's num_sources
    assert sources + 2 <= len(keyframes) < FRAMES      # both skip reasons show up
    predictor = edgegeo.load("mvs", weights=weights, min_sources=sources)
    fusion = TSDFFusion(FusionConfig(voxel_size=0.05, trunc=0.15, max_depth=8.0))
    stages = standard_stages("mvs", live_map=LiveMap(fusion), predictor=predictor)
    assert [s.name for s in stages] == ["check", "mvs", "fuse"]
    sink = Collect()
    snapshot = Pipeline(walk.replay(), stages, [sink]).run(handle_signals=False).snapshot()

    assert snapshot["frames_out"] == FRAMES and snapshot["errors"] == 0
    mvs = snapshot["stages"]["mvs"]
    assert mvs["skip_reasons"] == {TOO_FEW_SOURCES: sources, NOT_KEYFRAME: FRAMES - len(keyframes)}
    assert snapshot["stages"]["fuse"]["skip_reasons"] == {"no depth": mvs["skipped"]}
    predicted = keyframes[sources:]
    assert sorted(i for i, depth in sink.depth.items() if depth is not None) == predicted
    # The first keyframes get depth from the later ones, carried by the packet that made it
    # possible, and are fused too.
    assert sorted(sink.earlier) == keyframes[:sources]
    assert fusion.frames_integrated == len(keyframes)
    # The stage is the model's keyframe stream, frame for frame.
    stream = MVSStream(predictor)
    for index, frame in enumerate(frames):
        expected = stream.push(frame)
        if index in predicted:
            assert sink.depth[index].shape == (HEIGHT, WIDTH)
            np.testing.assert_allclose(sink.depth[index], expected, rtol=1e-5)
        for earlier, _, depth in stream.last_backfill:
            np.testing.assert_allclose(sink.earlier[earlier], depth, rtol=1e-5)


def test_an_unposed_frame_is_rejected_and_the_stream_goes_on(walk, weights):
    frames = list(walk.render())
    frames[0] = dataclasses.replace(frames[0], world_T_cam=None)
    keyframes = keyframes_of(frames[1:])
    stages = standard_stages("mvs", predictor=edgegeo.load("mvs", weights=weights,
                                                            min_sources=2))
    sink = Collect()
    snapshot = Pipeline(ListSource(frames), stages, [sink]).run(handle_signals=False).snapshot()
    assert snapshot["frames_out"] == FRAMES - 1 and snapshot["stages"]["mvs"]["errors"] == 1
    event = snapshot["events"]["recent"][0]
    assert event["index"] == 0 and event["message"].startswith(
        "no camera pose: the mvs pipeline needs posed frames (world_T_cam)")
    # The buffer never saw frame 0: the keyframes are those of frames 1.. alone.
    with_depth = sorted(i - 1 for i, depth in sink.depth.items() if depth is not None)
    assert with_depth == keyframes[2:]


def test_edgegeo_run_mvs(tmp_path, capsys, weights):
    out = tmp_path / "run"
    code = main(["run", "--source", WALK, "--pipeline", "mvs", "--weights", str(weights),
                 "--backend", "torch", "--min-sources", "1", "--fuse", "--max-depth", "8",
                 "--save-depth", "npy", "--out", str(out), "--device-profile", "cpu",
                 "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    stats = json.loads((out / "stats.json").read_text())
    mvs = stats["stages"]["mvs"]
    predicted = mvs["processed"] - mvs["skipped"]
    assert mvs["skip_reasons"] == {TOO_FEW_SOURCES: 1, NOT_KEYFRAME: FRAMES - predicted - 1}
    assert (f"mvs depth for {predicted} frames; passed on without depth: 1 {TOO_FEW_SOURCES}, "
            f"{FRAMES - predicted - 1} {NOT_KEYFRAME}") in captured.out
    assert len(list((out / "depth").glob("*.npy"))) == predicted
    assert (out / "mesh.ply").is_file() and stats["frames_out"] == FRAMES


def test_edgegeo_run_mvs_needs_a_posed_source(tmp_path, capsys):
    from edgegeo.data.images import save_image

    save_image(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    code = main(["run", "--source", f"file://{tmp_path}/", "--pipeline", "mvs",
                 "--out", str(tmp_path / "o")])
    assert code == 2
    assert "gives no camera poses: the mvs pipeline needs posed frames" in capsys.readouterr().err


def test_edgegeo_run_mvs_tracks_an_rgbd_source_without_poses(tmp_path, capsys, weights):
    """A TUM folder without poses: the camera is tracked on the source's own depth, the model
    predicts from colour on the tracked poses, its depth is fused; the tracked trajectory
    matches the true one."""
    from edgegeo.data.tum import read_tum_trajectory, write_tum_sequence
    from edgegeo.metrics.trajectory import absolute_trajectory_error

    # Tracking needs more geometry than the 96x64 frames hold (see edgegeo.fusion.tracking).
    source = SyntheticSource(seed=1000, frames=2 * FRAMES, width=160, height=120, fps=15.0)
    frames = list(source.render())
    folder = write_tum_sequence(tmp_path / "seq", [dataclasses.replace(f, world_T_cam=None)
                                                   for f in frames])
    out = tmp_path / "run"
    code = main(["run", "--source", f"file://{folder}/", "--pipeline", "mvs", "--weights",
                 str(weights), "--backend", "torch", "--min-sources", "1", "--fuse",
                 "--max-depth", "8", "--out", str(out), "--device-profile", "cpu"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "camera tracking on" in captured.err + captured.out
    stats = json.loads((out / "stats.json").read_text())
    assert list(stats["stages"])[1:4] == ["check", "track", "mvs"]
    mvs = stats["stages"]["mvs"]
    assert mvs["errors"] == 0 and mvs["processed"] - mvs["skipped"] >= 2
    _, poses = read_tum_trajectory(out / "trajectory.txt")
    assert len(poses) == 2 * FRAMES
    truth = [np.linalg.inv(frames[0].world_T_cam) @ f.world_T_cam for f in frames]
    assert absolute_trajectory_error(poses, truth).rmse < 0.02            # metres
    assert (out / "mesh.ply").is_file()


def test_mvs_tracking_refuses_a_source_without_depth_or_the_model_reference(walk, tmp_path,
                                                                            capsys):
    from edgegeo.data.images import save_image

    save_image(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    code = main(["run", "--source", f"file://{tmp_path}/", "--pipeline", "mvs", "--track",
                 "--out", str(tmp_path / "o")])
    assert code == 2 and "no camera poses" in capsys.readouterr().err
    code = main(["run", "--source", WALK, "--pipeline", "mvs", "--track",
                 "--track-reference", "model", "--fuse", "--out", str(tmp_path / "p")])
    assert code == 2 and "use keyframe or frame" in capsys.readouterr().err


def test_every_frame_gets_depth_with_mvs_frames_all(walk, weights):
    frames = walk.render()
    keyframes = keyframes_of(frames)
    predictor = edgegeo.load("mvs", weights=weights, min_sources=2)
    sink = Collect()
    stages = standard_stages("mvs", predictor=predictor, mvs_frames="all")
    snapshot = Pipeline(walk.replay(), stages, [sink]).run(handle_signals=False).snapshot()
    assert snapshot["errors"] == 0
    with_depth = sorted(i for i, depth in sink.depth.items() if depth is not None)
    # once two keyframes are buffered, every frame gets depth: the keyframes and the others
    assert with_depth == list(range(with_depth[0], FRAMES)) and with_depth[0] <= keyframes[2]
    assert len(with_depth) > len(keyframes)
    stream = MVSStream(predictor, predict_on="all")
    for index, frame in enumerate(frames):
        expected = stream.push(frame)
        if index in with_depth:
            np.testing.assert_allclose(sink.depth[index], expected, rtol=1e-5)


def test_mvs_frames_is_checked():
    with pytest.raises(ValueError, match="--mvs-frames must be one of"):
        RunSpec("synthetic://walkthrough", "mvs", mvs_frames="some")
    with pytest.raises(ValueError, match="--mvs-frames applies to --pipeline mvs"):
        RunSpec("synthetic://walkthrough", "gt", mvs_frames="all")
