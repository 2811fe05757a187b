"""Shards on disk: exact round trips (depth to the millimetre) and refusal of bad input."""
import numpy as np
import pytest

from edgegeo.data.frame import Frame
from edgegeo.data.synthetic import (generate_scene, read_shard, scene_shards, read_stereo_shard, read_view_pair_shard,
                                    stereo_pair, view_pair, walkthrough, write_shard, write_stereo_shard,
                                    write_view_pair_shard)

W, H = 64, 48


@pytest.fixture(scope="module")
def scene():
    return generate_scene(8)


def assert_same_frames(written, read):
    assert len(written) == len(read)
    for a, b in zip(written, read):
        np.testing.assert_array_equal(a.rgb, b.rgb)
        assert b.depth.dtype == np.float32
        assert np.abs(a.depth - b.depth).max() <= 0.0005 + 1e-6
        np.testing.assert_array_equal(a.depth > 0, b.depth > 0)
        np.testing.assert_array_equal(a.K, b.K)
        np.testing.assert_array_equal(a.world_T_cam, b.world_T_cam)
        np.testing.assert_array_equal(a.normals, b.normals)
        np.testing.assert_array_equal(a.instance, b.instance)
        assert a.timestamp == b.timestamp


def test_frame_shard_round_trip(scene, tmp_path):
    frames = walkthrough(scene, 3, W, H, seed=1, progress=False)
    write_shard(tmp_path / "walk", frames)
    assert sorted(p.name for p in (tmp_path / "walk").iterdir())[:2] == ["000000_depth.png", "000000_rgb.png"]
    assert_same_frames(frames, read_shard(tmp_path / "walk"))


def test_frames_without_optional_fields_round_trip(tmp_path):
    frame = Frame(rgb=np.zeros((4, 5, 3), np.uint8), K=np.eye(3), depth=np.full((4, 5), 1.2345, np.float32),
                  world_T_cam=np.eye(4))
    (read,) = read_shard(write_shard(tmp_path, [frame]))
    assert read.normals is None and read.instance is None and read.timestamp is None
    assert abs(read.depth[0, 0] - 1.2345) <= 0.0005 + 1e-6


def test_stereo_and_view_pair_shards_round_trip(scene, tmp_path):
    stereo = [stereo_pair(scene, W, H, seed=s) for s in range(2)]
    read = read_stereo_shard(write_stereo_shard(tmp_path / "stereo", stereo))
    assert_same_frames([p.left for p in stereo], [p.left for p in read])
    assert_same_frames([p.right for p in stereo], [p.right for p in read])
    for a, b in zip(stereo, read):
        np.testing.assert_array_equal(a.disparity, b.disparity)
        np.testing.assert_array_equal(a.occlusion, b.occlusion)
        assert a.baseline_m == b.baseline_m
    pairs = [view_pair(scene, W, H, seed=3)]
    (read_pair,) = read_view_pair_shard(write_view_pair_shard(tmp_path / "pairs", pairs))
    assert_same_frames([pairs[0].first, pairs[0].second], [read_pair.first, read_pair.second])
    assert (read_pair.overlap_iou, read_pair.viewpoint_angle_deg, read_pair.croco_score) == (
        pairs[0].overlap_iou, pairs[0].viewpoint_angle_deg, pairs[0].croco_score)


def test_bad_shards_raise(tmp_path):
    good = Frame(rgb=np.zeros((4, 5, 3), np.uint8), K=np.eye(3), depth=np.ones((4, 5), np.float32),
                 world_T_cam=np.eye(4))
    far = Frame(rgb=good.rgb, K=np.eye(3), depth=np.full((4, 5), 70.0, np.float32), world_T_cam=np.eye(4))
    other_size = Frame(rgb=np.zeros((3, 5, 3), np.uint8), K=np.eye(3), depth=np.ones((3, 5), np.float32),
                       world_T_cam=np.eye(4))
    no_pose = Frame(rgb=good.rgb, K=np.eye(3), depth=good.depth)
    for frames in ([], [far], [good, other_size], [no_pose]):
        with pytest.raises(ValueError):
            write_shard(tmp_path / "bad", frames)
    with pytest.raises(FileNotFoundError):
        read_shard(tmp_path / "missing")


def test_scene_shards_lists_checks_seeds_and_explains_absence(tmp_path):
    frame = Frame(rgb=np.zeros((4, 6, 3), np.uint8), K=np.diag([5.0, 5.0, 1.0]),
                  depth=np.ones((4, 6), np.float32), world_T_cam=np.eye(4))
    for seed in (1001, 3, 1000):
        write_shard(tmp_path / f"scene_{seed:06d}", [frame])
    (tmp_path / "scene_000007").mkdir()                          # not a shard: no meta.npz
    assert [p.name for p in scene_shards(tmp_path)] == ["scene_000003", "scene_001000", "scene_001001"]
    assert len(scene_shards(tmp_path, max_scenes=2)) == 2
    with pytest.raises(ValueError, match="training"):
        scene_shards(tmp_path, range(0, 900), "training")
    assert len(scene_shards(tmp_path, range(0, 2000))) == 3
    assert scene_shards(tmp_path / "none", missing_ok=True) == []
    with pytest.raises(FileNotFoundError, match="edgegeo data render"):
        scene_shards(tmp_path / "none")

