"""Stereo metrics on cases with known answers."""
import numpy as np
import pytest

from edgegeo.metrics.stereo import fill_invalid_disparity, stereo_metrics


def test_perfect_prediction():
    gt = np.random.default_rng(0).uniform(5, 50, (10, 12)).astype(np.float32)
    assert stereo_metrics(gt.copy(), gt) == {"epe": 0.0, "bad1": 0.0, "bad2": 0.0, "bad3": 0.0,
                                             "d1_all": 0.0, "density": 100.0}


def test_constant_offset():
    gt = np.full((4, 6), 40.0, np.float32)
    metrics = stereo_metrics(gt + 1.5, gt)
    assert metrics["epe"] == pytest.approx(1.5)
    assert (metrics["bad1"], metrics["bad2"], metrics["bad3"], metrics["d1_all"]) == (100.0, 0.0, 0.0, 0.0)


def test_d1_needs_both_3px_and_5_percent():
    pred = np.array([[104.0, 54.0]], np.float32)
    gt = np.array([[100.0, 50.0]], np.float32)  # error 4 px: 4 % of 100, 8 % of 50
    metrics = stereo_metrics(pred, gt)
    assert metrics["bad3"] == 100.0 and metrics["d1_all"] == 50.0


def test_invalid_predictions_count_as_errors_and_are_filled_for_epe():
    gt = np.array([[10.0, 10.0, 10.0, 20.0]], np.float32)
    pred = np.array([[10.0, -1.0, np.nan, 20.0]], np.float32)  # SGBM's -1 and a NaN
    metrics = stereo_metrics(pred, gt)
    # Both holes are filled with min(10, 20) = 10, exactly the ground truth.
    assert metrics["epe"] == 0.0
    assert metrics["bad1"] == metrics["bad3"] == metrics["d1_all"] == 50.0
    assert metrics["density"] == 50.0
    assert stereo_metrics(np.zeros_like(gt), gt)["bad3"] == 100.0  # 0 = no match


def test_missing_ground_truth_and_mask_are_ignored():
    gt = np.array([[10.0, np.inf, 0.0, np.nan, 10.0]], np.float32)
    pred = np.array([[10.0, 99.0, 99.0, 99.0, 13.0]], np.float32)
    assert stereo_metrics(pred, gt)["epe"] == pytest.approx(1.5)
    mask = np.array([[True, True, True, True, False]])
    assert stereo_metrics(pred, gt, valid=mask)["epe"] == 0.0


def test_fill_is_row_wise_background_with_end_extrapolation_then_columns():
    disparity = np.array([[0, 5, 0, 0, 9, 0],
                          [0, 0, 0, 0, 0, 0],
                          [3, 0, 0, 0, 0, 20]], np.float64)
    filled = fill_invalid_disparity(disparity, disparity > 0)
    assert filled[0].tolist() == [5, 5, 5, 5, 9, 9]
    assert filled[2].tolist() == [3, 3, 3, 3, 3, 20]
    assert filled[1].tolist() == [3, 3, 3, 3, 3, 9]  # min of the column neighbours
    assert fill_invalid_disparity(disparity, np.zeros_like(disparity, bool)).max() == 0.0


def test_errors():
    gt = np.ones((3, 3), np.float32)
    with pytest.raises(ValueError, match="shape"):
        stereo_metrics(gt[:2], gt)
    with pytest.raises(ValueError, match="no pixel has ground truth"):
        stereo_metrics(gt, np.zeros_like(gt))
    with pytest.raises(ValueError, match="bool"):
        stereo_metrics(gt, gt, valid=np.ones((3, 3)))
