"""PFM reader/writer: byte order, row flip, channel count, errors."""
import numpy as np
import pytest

from edgegeo.data.pfm import read_pfm, write_pfm


def test_reads_hand_written_big_endian_file_bottom_row_first(tmp_path):
    path = tmp_path / "a.pfm"
    # Stored rows bottom first: bottom row (3, 4), then top row (1, 2).
    path.write_bytes(b"Pf\n2 2\n1.0\n" + np.array([3, 4, 1, 2], dtype=">f4").tobytes())
    assert np.array_equal(read_pfm(path), np.array([[1, 2], [3, 4]], dtype=np.float32))


def test_reads_hand_written_little_endian_colour_file(tmp_path):
    path = tmp_path / "c.pfm"
    bottom, top = [7, 8, 9, 10, 11, 12], [1, 2, 3, 4, 5, 6]  # 2 pixels x 3 channels per row
    path.write_bytes(b"PF\n2 2\n-1.0\n" + np.array(bottom + top, dtype="<f4").tobytes())
    image = read_pfm(path)
    assert image.shape == (2, 2, 3) and image.dtype == np.float32
    assert image[0, 1].tolist() == [4, 5, 6] and image[1, 0].tolist() == [7, 8, 9]


@pytest.mark.parametrize("little_endian", [True, False])
@pytest.mark.parametrize("shape", [(3, 5), (3, 5, 3)])
def test_round_trip_keeps_values_and_inf(tmp_path, little_endian, shape):
    values = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    values[0, 0] = np.inf
    path = write_pfm(tmp_path / "x.pfm", values, little_endian=little_endian)
    assert path.read_bytes().split(b"\n")[2] == (b"-1.0" if little_endian else b"1.0")
    assert np.array_equal(read_pfm(path), values)


def test_single_channel_3d_array_is_written_as_grey(tmp_path):
    path = write_pfm(tmp_path / "g.pfm", np.ones((2, 3, 1)))
    assert path.read_bytes().startswith(b"Pf\n3 2\n")
    assert read_pfm(path).shape == (2, 3)


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_pfm(tmp_path / "missing.pfm")
    bad_magic = tmp_path / "bad.pfm"
    bad_magic.write_bytes(b"P6\n2 2\n255\n" + bytes(12))
    with pytest.raises(ValueError, match="not a PFM"):
        read_pfm(bad_magic)
    truncated = tmp_path / "short.pfm"
    truncated.write_bytes(b"Pf\n4 4\n-1.0\n" + bytes(8))
    with pytest.raises(ValueError, match="truncated"):
        read_pfm(truncated)
    with pytest.raises(ValueError, match="shape"):
        write_pfm(tmp_path / "y.pfm", np.zeros((2, 2, 2)))
