"""The frames the export layer calibrates and checks on (``edgegeo.export.frames``): one kind
per model family, from rendered scenes, the real Motorcycle pair, shard folders and noise."""
import numpy as np
import pytest

from edgegeo.data.frame import Frame
from edgegeo.data.synthetic import StereoPair, write_shard, write_stereo_shard
from edgegeo.export.calibration import calibration_frames, heldout_frames, parse_calib
from edgegeo.export.frames import (ImageFrame, PosedFrames, StereoFrame, folder_frames,
                                   random_frame, real_frames, synthetic_frames)
from edgegeo.geometry import make_K

SIZE = (32, 48)


def walk(count: int, seed: int = 0) -> list[Frame]:
    """``count`` random frames 5 cm apart along x, with depth."""
    rng = np.random.default_rng(seed)
    K = make_K(40.0, 40.0, 23.5, 15.5)
    frames = []
    for index in range(count):
        pose = np.eye(4)
        pose[0, 3] = 0.05 * index
        frames.append(Frame(rgb=rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8), K=K,
                            depth=np.full(SIZE, 2.0, np.float32), world_T_cam=pose))
    return frames


def test_rendered_frames_of_each_kind():
    (image,) = synthetic_frames("image", range(5), 1, SIZE)
    assert isinstance(image, ImageFrame) and image.rgb.shape == (*SIZE, 3)
    assert image.depth.shape == SIZE and image.depth.max() > 0
    pairs = heldout_frames("stereo", 3, SIZE)
    assert len(pairs) == 3 and all(isinstance(p, StereoFrame) for p in pairs)
    assert all(p.right.shape == p.left.shape and p.disparity.max() > 0 for p in pairs)
    (posed,) = heldout_frames("posed", 1, SIZE)
    assert isinstance(posed, PosedFrames) and len(posed.candidates) == 9
    assert posed.reference.depth is not None and posed.reference.world_T_cam.shape == (4, 4)
    with pytest.raises(ValueError, match="unknown frame kind"):
        synthetic_frames("video", range(5), 1, SIZE)
    with pytest.raises(ValueError, match="more than 1 scenes"):
        synthetic_frames("stereo", range(1), 9, SIZE)


def test_real_frames():
    ((label, pair),) = real_frames("stereo")
    assert label == "real: Middlebury Motorcycle"
    assert pair.left.shape == pair.right.shape and pair.disparity.shape == pair.left.shape[:2]
    ((_, image),) = real_frames("image")
    assert image.depth.shape == image.rgb.shape[:2]
    with pytest.raises(ValueError, match="no real posed sequence"):
        real_frames("posed")


def test_shard_folders(tmp_path):
    frames = walk(12)
    write_shard(tmp_path / "walk" / "scene_0", frames)
    posed = list(folder_frames("posed", tmp_path / "walk"))
    assert [len(p.candidates) for p in posed] == [5, 10, 6]      # ±5 frames around 0, 5, 10
    assert np.array_equal(posed[1].reference.rgb, frames[5].rgb)
    images = calibration_frames(parse_calib(tmp_path / "walk"), "image", SIZE, True)
    assert len(images) == 12 and images[0].depth is not None
    pair = StereoPair(frames[0], frames[1], np.full(SIZE, 3.0, np.float32),
                      np.zeros(SIZE, bool), 0.05)
    write_stereo_shard(tmp_path / "stereo" / "scene_0", [pair, pair])
    pairs = calibration_frames(parse_calib(tmp_path / "stereo"), "stereo", SIZE, False)
    assert len(pairs) == 2 and np.all(pairs[0].disparity == 3.0)
    with pytest.raises(FileNotFoundError, match="no stereo shards"):
        list(folder_frames("stereo", tmp_path / "walk"))


def test_random_frames_are_seeded():
    first, again = random_frame("posed", SIZE, seed=4), random_frame("posed", SIZE, seed=4)
    assert np.array_equal(first.reference.rgb, again.reference.rgb)
    assert len(first.candidates) == 8
    pair = random_frame("stereo", SIZE)
    assert np.array_equal(pair.right[:, :-4], pair.left[:, 4:])           # 4 px disparity
