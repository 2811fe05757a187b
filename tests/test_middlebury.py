"""Middlebury 2014 Motorcycle as shipped by scikit-image: sizes, calibration, ground truth."""
import numpy as np
import pytest

from edgegeo.data.middlebury import load_motorcycle, warp_right_to_left


@pytest.fixture(scope="module")
def sample():
    return load_motorcycle()


def test_shapes_and_types(sample):
    assert sample.left.shape == sample.right.shape == (500, 741, 3)
    assert sample.left.dtype == sample.right.dtype == np.uint8
    assert sample.disparity.shape == sample.valid.shape == (500, 741)
    assert sample.disparity.dtype == np.float32 and sample.valid.dtype == bool
    assert np.all(np.isfinite(sample.disparity)) and np.all(sample.disparity[~sample.valid] == 0)


def test_calibration_is_the_quarter_scale_middlebury_one(sample):
    assert sample.scale == 741 / 2964 == 0.25
    assert sample.K_left[0, 0] == pytest.approx(3979.911 / 4)
    assert sample.K_left[0, 2] == pytest.approx((1244.772 + 0.5) / 4 - 0.5)
    assert sample.K_left[1, 2] == sample.K_right[1, 2] == pytest.approx((1019.507 + 0.5) / 4 - 0.5)
    assert sample.K_right[0, 2] - sample.K_left[0, 2] == pytest.approx(sample.doffs)
    assert sample.doffs == pytest.approx(124.343 / 4) and sample.baseline_m == 0.193001
    assert sample.ndisp == 67.5


def test_ground_truth_range_is_plausible(sample):
    assert 0.9 < sample.valid.mean() < 0.95
    gt = sample.disparity[sample.valid]
    # Middlebury's calib.txt bounds Motorcycle's disparities by vmin=23, vmax=245 at full size.
    assert 23 / 4 <= gt.min() and gt.max() <= 245 / 4
    depth = sample.depth()
    assert depth.dtype == np.float32 and np.all(depth[~sample.valid] == 0)
    assert 2.0 < depth[sample.valid].min() and depth[sample.valid].max() < 5.5  # metres
    assert np.allclose(sample.depth(sample.disparity)[sample.valid], depth[sample.valid])
    ten = sample.depth(np.full((500, 741), 10.0))
    assert ten[0, 0] == pytest.approx(0.193001 * 3979.911 / 4 / (10 + 124.343 / 4))
    assert sample.depth(np.zeros((500, 741))).max() == 0.0  # 0 = no match -> invalid depth


def test_warping_right_by_ground_truth_matches_left(sample):
    def photometric_error(disparity):
        warped = warp_right_to_left(sample.right, disparity)
        error = np.abs(warped - sample.left).mean(axis=2)
        return np.median(error[sample.valid & np.isfinite(error)])

    aligned = photometric_error(sample.disparity)
    assert aligned < 5.0  # grey levels; the median pixel includes sensor noise only
    assert photometric_error(sample.disparity + 3.0) > 2 * aligned
    assert photometric_error(np.zeros_like(sample.disparity)) > 4 * aligned


def test_missing_data_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="motorcycle_left.png"):
        load_motorcycle(tmp_path)
