"""TUM RGB-D and ScanNet-style sequence readers/writers, and format detection."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from edgegeo.data.frame import Frame
from edgegeo.data.images import save_image, write_depth_png
from edgegeo.data.scannet import (ScanNetSequence, open_sequence, register_depth,
                                  write_matrix_txt, write_scannet_sequence)
from edgegeo.data.tum import (TUM_FR1_K, TUMSequence, associate, read_tum_trajectory,
                              write_tum_sequence)
from edgegeo.geometry import make_K, scale_K

K = make_K(40.0, 41.0, 15.5, 11.5)


def make_frames(count=3, hw=(24, 32), seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for index in range(count):
        depth = rng.uniform(0.5, 3.0, hw).astype(np.float32)
        depth[0, :5] = 0.0
        pose = np.eye(4)
        pose[:3, :3] = Rotation.random(random_state=seed + index).as_matrix()
        pose[:3, 3] = rng.normal(size=3)
        frames.append(Frame(rgb=rng.integers(0, 256, (*hw, 3), dtype=np.uint8), K=K.copy(),
                            depth=depth, world_T_cam=pose, timestamp=100.0 + index / 30))
    return frames


def test_tum_round_trip(tmp_path):
    frames = make_frames()
    write_tum_sequence(tmp_path, frames)
    sequence = TUMSequence(tmp_path, intrinsics=K)
    assert len(sequence) == 3
    for original, read in zip(frames, sequence):
        assert np.array_equal(read.rgb, original.rgb)
        assert read.depth.dtype == np.float32
        assert np.abs(read.depth - original.depth).max() <= 0.5 / 5000 + 1e-6
        assert read.depth[0, 0] == 0.0
        assert np.allclose(read.world_T_cam, original.world_T_cam, atol=1e-8)
        assert np.array_equal(read.K, K) and read.timestamp == pytest.approx(original.timestamp)


def test_tum_reader_decodes_quaternion_depth_factor_and_associates(tmp_path):
    for name in ("a", "b", "c"):
        save_image(tmp_path / "rgb" / f"{name}.png", np.zeros((4, 4, 3), np.uint8))
    for name in ("a", "b"):
        write_depth_png(tmp_path / "depth" / f"{name}.png", np.full((4, 4), 1.0, np.float32), 5000.0)
    (tmp_path / "rgb.txt").write_text("# colour\n0.000 rgb/a.png\n0.033 rgb/b.png\n0.066 rgb/c.png\n")
    (tmp_path / "depth.txt").write_text("0.030 depth/b.png\n0.004 depth/a.png\n0.300 depth/c.png\n")
    s = np.sqrt(0.5)  # 90 degrees about z
    (tmp_path / "groundtruth.txt").write_text(
        f"# timestamp tx ty tz qx qy qz qw\n0.001 1 2 3 0 0 {s} {s}\n0.034 0 0 0 0 0 0 1\n")
    with pytest.warns(UserWarning, match="1 of 3 colour frames dropped"):
        sequence = TUMSequence(tmp_path)
    assert len(sequence) == 2
    first = sequence[0]
    assert np.array_equal(first.K, TUM_FR1_K) and first.timestamp == 0.0
    assert np.allclose(first.depth, 1.0)
    assert np.allclose(first.world_T_cam, [[0, -1, 0, 1], [1, 0, 0, 2], [0, 0, 1, 3], [0, 0, 0, 1]])
    assert np.allclose(sequence[1].world_T_cam, np.eye(4))


def test_associate_is_one_to_one_closest_first():
    assert associate(np.array([0.0, 0.010]), np.array([0.009])) == [(1, 0)]
    assert associate(np.array([0.0, 1.0]), np.array([0.5])) == []


def test_tum_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        TUMSequence(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="rgb.txt"):
        TUMSequence(tmp_path)
    (tmp_path / "gt.txt").write_text("0.0 1 2 3 0 0 0 2\n")
    with pytest.raises(ValueError, match="gt.txt:1: quaternion norm"):
        read_tum_trajectory(tmp_path / "gt.txt")


def test_scannet_round_trip_lossless(tmp_path):
    frames = make_frames()
    write_scannet_sequence(tmp_path, frames, color_format="png")
    sequence = open_sequence(tmp_path)
    assert isinstance(sequence, ScanNetSequence) and len(sequence) == 3
    for original, read in zip(frames, sequence):
        assert np.array_equal(read.rgb, original.rgb)
        assert np.abs(read.depth - original.depth).max() <= 0.5e-3 + 1e-6
        assert np.allclose(read.world_T_cam, original.world_T_cam, atol=1e-8)
        assert np.allclose(read.K, K)


def test_scannet_skips_invalid_poses_with_warning(tmp_path):
    frames = make_frames(count=3)
    frames[1].world_T_cam = None  # written as -inf, like ScanNet's failed tracking
    write_scannet_sequence(tmp_path, frames, color_format="png")
    with pytest.warns(UserWarning, match="skipped 1 of 3 frames"):
        sequence = ScanNetSequence(tmp_path)
    assert sequence.indices == [0, 2]
    assert np.allclose(sequence[1].world_T_cam, frames[2].world_T_cam, atol=1e-8)


def test_scannet_registers_smaller_depth_to_colour(tmp_path):
    K_depth = make_K(20.0, 20.0, 7.5, 5.5)  # 16x12 depth, colour is 2x larger
    K_color = scale_K(K_depth, 2.0, 2.0)
    v, u = np.mgrid[0:12, 0:16]
    depth = (1.0 + 0.01 * u + 0.1 * v).astype(np.float32)
    save_image(tmp_path / "color" / "0.png", np.zeros((24, 32, 3), np.uint8))
    write_depth_png(tmp_path / "depth" / "0.png", depth)
    for name, matrix in (("intrinsic_color", K_color), ("intrinsic_depth", K_depth)):
        K44 = np.eye(4)
        K44[:3, :3] = matrix
        write_matrix_txt(tmp_path / "intrinsic" / f"{name}.txt", K44)
    frame = ScanNetSequence(tmp_path)[0]
    assert frame.depth.shape == (24, 32) and np.allclose(frame.K, K_color)
    # Colour pixel u maps to depth pixel (u + 0.5) / 2 - 0.5: 0 -> -0.25 -> 0, 5 -> 2.25 -> 2.
    assert frame.depth[0, 0] == pytest.approx(1.0, abs=1e-3)
    assert frame.depth[7, 5] == pytest.approx(1.0 + 0.02 + 0.3, abs=1e-3)  # 7 -> 3.25 -> 3
    assert frame.world_T_cam is None
    half = ScanNetSequence(tmp_path, image_hw=(12, 16))[0]
    assert half.rgb.shape == (12, 16, 3)
    assert np.allclose(half.K, K_depth) and np.allclose(half.depth, depth, atol=1e-3)


def test_register_depth_outside_is_invalid():
    K_depth = make_K(10.0, 10.0, 1.5, 1.5)
    shifted = make_K(10.0, 10.0, 3.5, 1.5)  # target principal point 2 px further right
    depth = np.ones((4, 4), np.float32)
    registered = register_depth(depth, K_depth, shifted, (4, 4))
    assert registered[:, :2].tolist() == [[0.0, 0.0]] * 4 and np.all(registered[:, 2:] == 1.0)


def test_open_sequence_detects_tum_and_rejects_unknown(tmp_path):
    write_tum_sequence(tmp_path / "tum", make_frames(count=2))
    assert isinstance(open_sequence(tmp_path / "tum", intrinsics=K), TUMSequence)
    (tmp_path / "other").mkdir()
    with pytest.raises(ValueError, match="unknown sequence format"):
        open_sequence(tmp_path / "other")
    with pytest.raises(FileNotFoundError):
        open_sequence(tmp_path / "missing")
