"""Packed archives (`edgegeo data pack`): one .npz per rig that reads back as the shard readers'
objects — JPEG RGB close, disparity within 1/64 px, depth within 1 mm, K/poses/seeds exact."""
import numpy as np
import pytest

from edgegeo.cli import main
from edgegeo.data.splits import TRAIN_SEEDS
from edgegeo.data.synthetic import (generate_scene, is_packed, pack_shards, read_packed, read_shard,
                                    read_stereo_shard, read_view_pair_shard, stereo_pair, view_pair, walkthrough,
                                    write_shard, write_stereo_shard, write_view_pair_shard)

W, H = 64, 48
QUALITY = 95      # 4:4:4; at 90 the renderer's sensor noise costs ~3 grey levels of mean error
SEEDS = (TRAIN_SEEDS.start, TRAIN_SEEDS.start + 1)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Shard roots per rig: two training-seed scenes (the same scene rendered, renamed)."""
    root = tmp_path_factory.mktemp("shards")
    scene = generate_scene(8)
    frames = walkthrough(scene, 3, W, H, seed=1, progress=False)
    stereo = [stereo_pair(scene, W, H, seed=s) for s in range(2)]
    pairs = [view_pair(scene, W, H, seed=3)]
    for seed in SEEDS:
        write_shard(root / "walkthrough" / f"scene_{seed:06d}", frames)
        write_stereo_shard(root / "stereo" / f"scene_{seed:06d}", stereo)
        write_view_pair_shard(root / "pairs" / f"scene_{seed:06d}", pairs)
    return root


def assert_close_frames(shard, packed, depth=True):
    assert len(shard) == len(packed)
    for a, b in zip(shard, packed):
        assert b.rgb.shape == a.rgb.shape and b.rgb.dtype == np.uint8
        assert np.abs(a.rgb.astype(float) - b.rgb).mean() < 3
        np.testing.assert_array_equal(a.K, b.K)
        np.testing.assert_array_equal(a.world_T_cam, b.world_T_cam)
        if depth:
            assert b.depth.dtype == np.float32
            assert np.abs(a.depth - b.depth).max() <= 0.001
            np.testing.assert_array_equal(a.depth > 0, b.depth > 0)
            assert a.timestamp == b.timestamp


def test_walkthrough_pack_round_trip(shards, tmp_path):
    result = pack_shards(shards / "walkthrough", "walkthrough", tmp_path / "walk.npz", jpeg_quality=QUALITY)
    assert result["items"] == 6 and result["scenes"] == 2 and is_packed(tmp_path / "walk.npz")
    packed = read_packed(tmp_path / "walk.npz", "walkthrough", TRAIN_SEEDS)
    assert list(packed) == list(SEEDS)
    for seed in SEEDS:
        assert_close_frames(read_shard(shards / "walkthrough" / f"scene_{seed:06d}"), packed[seed])
    assert list(read_packed(tmp_path / "walk.npz", max_scenes=1)) == [SEEDS[0]]
    with pytest.raises(ValueError, match="training"):
        read_packed(tmp_path / "walk.npz", split=range(500, 900), purpose="training")
    with pytest.raises(ValueError, match="stereo"):
        read_packed(tmp_path / "walk.npz", "stereo")
    partial = pack_shards(shards / "walkthrough", "walkthrough", tmp_path / "part.npz", max_items=4)
    assert partial["items"] == 4 and [len(v) for v in read_packed(tmp_path / "part.npz").values()] == [3, 1]


def test_stereo_pack_round_trip(shards, tmp_path):
    pack_shards(shards / "stereo", "stereo", tmp_path / "stereo.npz", jpeg_quality=QUALITY)
    packed = read_packed(tmp_path / "stereo.npz")
    assert list(packed) == list(SEEDS)
    for seed in SEEDS:
        written = read_stereo_shard(shards / "stereo" / f"scene_{seed:06d}")
        assert_close_frames([p.left for p in written], [p.left for p in packed[seed]], depth=False)
        assert_close_frames([p.right for p in written], [p.right for p in packed[seed]], depth=False)
        for a, b in zip(written, packed[seed]):
            assert b.disparity.dtype == np.float32 and b.disparity.shape == (H, W)
            assert np.abs(a.disparity - b.disparity).max() <= 1 / 128 + 1e-6
            np.testing.assert_array_equal(a.disparity > 0, b.disparity > 0)
            np.testing.assert_array_equal(a.occlusion, b.occlusion)
            assert a.baseline_m == b.baseline_m


def test_pairs_pack_round_trip(shards, tmp_path):
    pack_shards(shards / "pairs", "pairs", tmp_path / "pairs.npz", jpeg_quality=QUALITY)
    packed = read_packed(tmp_path / "pairs.npz", "pairs")
    for seed in SEEDS:
        (a,) = read_view_pair_shard(shards / "pairs" / f"scene_{seed:06d}")
        (b,) = packed[seed]
        assert_close_frames([a.first, a.second], [b.first, b.second], depth=False)
        assert (a.overlap_iou, a.viewpoint_angle_deg, a.croco_score) == (
            b.overlap_iou, b.viewpoint_angle_deg, b.croco_score)


def test_recipe_loaders_read_packed_files(shards, tmp_path, capsys):
    from edgegeo.training.croco.data import load_two_view_shards
    from edgegeo.training.mono.data import load_shard_frames
    from edgegeo.training.mvs.data import load_shard_sequences

    for rig in ("stereo", "pairs", "walkthrough"):
        assert main(["data", "pack", "--rig", rig, "--src", str(shards / rig),
                     "--out", str(tmp_path / f"{rig}.npz"), "--quality", "90"]) == 0
        assert "MiB" in capsys.readouterr().out
    stereo = load_two_view_shards(tmp_path / "stereo.npz", "stereo", split=TRAIN_SEEDS)
    from_shards = load_two_view_shards(shards / "stereo", "stereo")
    assert len(stereo) == len(from_shards) == 4 and stereo.first.shape == from_shards.first.shape
    assert np.abs(stereo.disparity - from_shards.disparity).max() <= 1 / 128 + 1e-6
    assert len(load_two_view_shards(tmp_path / "pairs.npz", "pairs", max_scenes=1)) == 1
    with pytest.raises(ValueError):
        load_two_view_shards(tmp_path / "pairs.npz", "stereo")
    with pytest.raises(ValueError, match="mvs training"):
        load_shard_sequences(_repack_outside_train(shards, tmp_path), (H, W))
    sequences = load_shard_sequences(tmp_path / "walkthrough.npz", (H, W))
    assert len(sequences.sequences) == 2 and sequences.num_frames == 6
    mono = load_shard_frames(tmp_path / "walkthrough.npz")
    assert mono.rgb.shape == (6, H, W, 3) and mono.depth.shape == (6, H, W)


def _repack_outside_train(shards, tmp_path):
    """A packed walk-through whose scene seed is not a training seed."""
    root = tmp_path / "outside"
    (frame,) = read_shard(shards / "walkthrough" / f"scene_{SEEDS[0]:06d}")[:1]
    write_shard(root / f"scene_{TRAIN_SEEDS.stop:06d}", [frame])
    return pack_shards(root, "walkthrough", tmp_path / "outside.npz")["path"]
