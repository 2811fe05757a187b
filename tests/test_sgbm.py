"""SGBM baseline on a synthetic shift with a known answer and on Motorcycle; the eval CLI."""
import numpy as np
import pytest

from edgegeo.baselines.sgbm import sgbm_disparity
from edgegeo.metrics.stereo import stereo_metrics


def shifted_pair(shift=8, hw=(64, 96), seed=0):
    """A random texture and the same texture seen ``shift`` px further left in the right view."""
    texture = np.random.default_rng(seed).integers(0, 256, (hw[0], hw[1] + shift), dtype=np.uint8)
    texture = np.repeat(texture[:, :, None], 3, axis=2)
    return np.ascontiguousarray(texture[:, :hw[1]]), np.ascontiguousarray(texture[:, shift:])


def test_constant_shift_is_recovered():
    left, right = shifted_pair(shift=8)
    disparity = sgbm_disparity(left, right, num_disparities=16)
    assert disparity.shape == (64, 96) and disparity.dtype == np.float32
    interior = disparity[4:-4, 8:-4]
    assert np.mean(np.abs(interior - 8.0) < 0.25) > 0.98


def test_left_padding_matches_the_first_columns():
    left, right = shifted_pair(shift=8)
    padded = sgbm_disparity(left, right, num_disparities=32)
    unpadded = sgbm_disparity(left, right, num_disparities=32, pad_left=False)
    assert np.all(unpadded[:, :32] == 0)  # OpenCV leaves min_disparity + num_disparities columns
    assert np.mean(np.abs(padded[4:-4, 8:32] - 8.0) < 0.25) > 0.95


def test_bad_input():
    left, right = shifted_pair()
    with pytest.raises(ValueError, match="same size"):
        sgbm_disparity(left, right[:, :-1])
    with pytest.raises(ValueError, match="uint8"):
        sgbm_disparity(left.astype(np.float32), right)
    with pytest.raises(ValueError, match="odd"):
        sgbm_disparity(left, right, block_size=4)
    with pytest.raises(ValueError, match="mode"):
        sgbm_disparity(left, right, mode="fast")


def test_motorcycle_scores_in_the_expected_range():
    from edgegeo.data.middlebury import load_motorcycle

    sample = load_motorcycle()
    metrics = stereo_metrics(sgbm_disparity(sample.left, sample.right, sample.ndisp),
                             sample.disparity, sample.valid)
    # Measured with OpenCV 5.0: EPE 1.32 px, bad-2 12.4 %, density 93.3 %.
    assert 1.0 < metrics["epe"] < 1.7
    assert 10.0 < metrics["bad2"] < 15.0
    assert 90.0 < metrics["density"] < 96.0


def test_eval_stereo_cli_prints_saves_and_records(tmp_path, monkeypatch, capsys):
    from edgegeo.cli import main

    bench = tmp_path / "benchmarks.md"
    monkeypatch.setenv("EDGEGEO_BENCH_FILE", str(bench))
    assert main(["eval", "stereo", "--baseline", "sgbm", "--out", str(tmp_path / "out"),
                 "--repeats", "1", "--record"]) == 0
    printed = capsys.readouterr().out
    assert "SGBM (defaults)" in printed and "bad-2 (%)" in printed
    picture = tmp_path / "out" / "stereo-motorcycle.png"
    assert picture.stat().st_size > 10_000
    text = bench.read_text()
    assert "<!-- bench:stereo-motorcycle -->" in text and "SGBM (tuned on Motorcycle GT)" in text
