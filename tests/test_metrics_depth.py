"""Depth metrics on cases with known answers."""
import numpy as np
import pytest

from edgegeo.metrics.depth import align_scale_shift, depth_metrics, relative_depth_metrics


def ramp(shape=(20, 30)):
    return np.linspace(0.5, 4.0, shape[0] * shape[1]).reshape(shape).astype(np.float32)


def test_perfect_prediction():
    gt = ramp()
    metrics = depth_metrics(gt.copy(), gt)
    for key in ("abs_diff", "abs_rel", "sq_rel", "rmse", "log_rmse"):
        assert metrics[key] == 0.0
    assert metrics["a105"] == metrics["a110"] == metrics["a125"] == metrics["density"] == 1.0


def test_constant_offset_on_constant_depth():
    gt = np.full((4, 5), 2.0, np.float32)
    metrics = depth_metrics(gt + 0.16, gt)  # ratio 1.08
    assert metrics["abs_diff"] == pytest.approx(0.16, abs=1e-6)
    assert metrics["abs_rel"] == pytest.approx(0.08, abs=1e-6)
    assert metrics["sq_rel"] == pytest.approx(0.16 ** 2 / 2, abs=1e-6)
    assert metrics["rmse"] == pytest.approx(0.16, abs=1e-6)
    assert metrics["log_rmse"] == pytest.approx(np.log(1.08), abs=1e-6)
    assert (metrics["a105"], metrics["a110"], metrics["a125"]) == (0.0, 1.0, 1.0)


def test_half_the_pixels_twice_too_far():
    gt = ramp()
    pred = gt.copy()
    pred[::2] *= 2.0  # 10 of 20 rows
    metrics = depth_metrics(pred, gt)
    assert metrics["abs_rel"] == pytest.approx(0.5)
    assert metrics["log_rmse"] == pytest.approx(np.sqrt(0.5) * np.log(2.0))
    assert metrics["a125"] == pytest.approx(0.5)


def test_invalid_ground_truth_and_prediction_are_excluded():
    gt = np.full((2, 4), 1.0, np.float32)
    gt[0, 0], gt[0, 1], gt[0, 2] = 0.0, np.nan, np.inf
    pred = np.full((2, 4), 1.1, np.float32)
    pred[1, 0] = 0.0  # no prediction
    metrics = depth_metrics(pred, gt)
    assert metrics["abs_diff"] == pytest.approx(0.1, abs=1e-6)
    assert metrics["density"] == pytest.approx(4 / 5)
    mask = np.zeros((2, 4), bool)
    mask[1, 3] = True
    assert depth_metrics(pred, gt, mask=mask)["density"] == 1.0


def test_depth_range_limits_evaluated_pixels():
    gt = np.array([[1.0, 10.0]], np.float32)
    pred = np.array([[1.0, 20.0]], np.float32)
    assert depth_metrics(pred, gt, max_depth=5.0)["abs_diff"] == 0.0
    assert depth_metrics(pred, gt, min_depth=5.0)["abs_diff"] == pytest.approx(10.0)


def test_errors():
    gt = ramp()
    with pytest.raises(ValueError, match="shape"):
        depth_metrics(gt[:5], gt)
    with pytest.raises(ValueError, match="no pixel"):
        depth_metrics(np.zeros_like(gt), gt)
    with pytest.raises(ValueError, match="mask"):
        depth_metrics(gt, gt, mask=np.ones_like(gt))


def test_align_scale_shift_recovers_affine_map_and_ignores_masked_outliers():
    pred = ramp()
    target = 3.0 * pred + 2.0
    target[0, 0] = 1e6
    mask = np.ones(pred.shape, bool)
    mask[0, 0] = False
    scale, shift = align_scale_shift(pred, target, mask)
    assert scale == pytest.approx(3.0) and shift == pytest.approx(2.0)
    with pytest.raises(ValueError, match="constant"):
        align_scale_shift(np.ones((3, 3)), np.arange(9.0).reshape(3, 3))


def test_relative_metrics_of_an_affine_disparity_are_perfect():
    gt = ramp()
    pred_disparity = 5.0 / gt + 7.0  # gt disparity scaled by 5, shifted by 7
    metrics = relative_depth_metrics(pred_disparity, gt)
    assert metrics["scale"] == pytest.approx(0.2) and metrics["shift"] == pytest.approx(-1.4)
    assert metrics["abs_rel"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["a105"] == 1.0


def test_relative_metrics_clamp_far_predictions_to_the_range_cap():
    gt = np.array([[1.0, 2.0, 2.0]], np.float32)  # disparity 1, 0.5, 0.5
    pred_disparity = np.array([[1.0, 0.5, 0.0]])
    # Least squares: scale 0.5, shift 5/12 -> aligned 11/12, 2/3, 5/12; the last is below the
    # cap 1 / max(gt) = 0.5 and is clamped to it (depth 2.0, instead of 2.4 unclamped).
    metrics = relative_depth_metrics(pred_disparity, gt)
    assert metrics["scale"] == pytest.approx(0.5) and metrics["shift"] == pytest.approx(5 / 12)
    assert metrics["abs_diff"] == pytest.approx((12 / 11 - 1 + 0.5 + 0.0) / 3, rel=1e-5)
