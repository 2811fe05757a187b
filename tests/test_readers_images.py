"""Image, depth-PNG, folder and video readers."""
import cv2
import numpy as np
import pytest

from edgegeo.data.images import (ImageFolder, VideoReader, load_image, read_depth_png,
                                 save_image, write_depth_png)


def test_load_image_returns_rgb_from_bgr_file(tmp_path):
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 0] = 200  # blue in OpenCV's BGR order
    cv2.imwrite(str(tmp_path / "b.png"), bgr)
    rgb = load_image(tmp_path / "b.png")
    assert rgb.shape == (4, 5, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == [0, 0, 200]


def test_grey_alpha_and_16_bit_images_become_rgb_uint8(tmp_path):
    cv2.imwrite(str(tmp_path / "grey.png"), np.full((3, 3), 77, np.uint8))
    assert load_image(tmp_path / "grey.png")[1, 1].tolist() == [77, 77, 77]
    bgra = np.zeros((3, 3, 4), np.uint8)
    bgra[..., 2], bgra[..., 3] = 90, 10  # red, nearly transparent: alpha is dropped
    cv2.imwrite(str(tmp_path / "alpha.png"), bgra)
    assert load_image(tmp_path / "alpha.png")[0, 0].tolist() == [90, 0, 0]
    cv2.imwrite(str(tmp_path / "deep.png"), np.full((3, 3, 3), 257 * 100, np.uint16))
    assert load_image(tmp_path / "deep.png")[2, 2].tolist() == [100, 100, 100]


def test_save_image_round_trip(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    assert np.array_equal(load_image(save_image(tmp_path / "sub" / "x.png", rgb)), rgb)


def test_load_image_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        load_image(tmp_path / "empty.png")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    with pytest.raises(ValueError, match="corrupt"):
        load_image(tmp_path / "corrupt.png")


def test_depth_png_round_trip_in_millimetres_and_tum_units(tmp_path):
    depth = np.array([[0.0, 1.2344], [2.5, 65.535]], np.float32)
    back = read_depth_png(write_depth_png(tmp_path / "d.png", depth))
    assert back.dtype == np.float32
    assert np.allclose(back, [[0.0, 1.234], [2.5, 65.535]], atol=1e-6)
    raw = cv2.imread(str(tmp_path / "d.png"), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16 and raw.tolist() == [[0, 1234], [2500, 65535]]
    tum = read_depth_png(write_depth_png(tmp_path / "t.png", depth[:1], 5000.0), 5000.0)
    assert np.allclose(tum, [[0.0, 1.2344]], atol=1e-6)


def test_depth_png_errors(tmp_path):
    with pytest.raises(ValueError, match="NaN"):
        write_depth_png(tmp_path / "n.png", np.array([[np.nan]], np.float32))
    with pytest.raises(ValueError, match="negative"):
        write_depth_png(tmp_path / "n.png", np.array([[-1.0]], np.float32))
    with pytest.raises(ValueError, match="16-bit range"):
        write_depth_png(tmp_path / "n.png", np.array([[70.0]], np.float32))
    cv2.imwrite(str(tmp_path / "eight.png"), np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="16-bit"):
        read_depth_png(tmp_path / "eight.png")


def test_image_folder_natural_order_and_errors(tmp_path):
    for index in (10, 2, 1):
        cv2.imwrite(str(tmp_path / f"frame{index}.png"), np.full((2, 2, 3), index, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    folder = ImageFolder(tmp_path)
    assert [p.name for p in folder.paths] == ["frame1.png", "frame2.png", "frame10.png"]
    assert len(folder) == 3 and [int(im[0, 0, 0]) for im in folder] == [1, 2, 10]
    with pytest.raises(FileNotFoundError):
        ImageFolder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        ImageFolder(tmp_path / "empty")


def test_video_reader_yields_rgb_frames(tmp_path):
    path = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for level in (0, 100, 200):
        frame = np.zeros((24, 32, 3), np.uint8)
        frame[..., 2] = level  # red channel in BGR
        writer.write(frame)
    writer.release()
    with VideoReader(path) as video:
        assert video.fps == pytest.approx(10.0)
        frames = list(video)
        assert len(list(video)) == 3  # iterating again restarts
    assert len(frames) == 3 and frames[0].shape == (24, 32, 3) and frames[0].dtype == np.uint8
    assert [round(float(f[..., 0].mean()) / 10) for f in frames] == [0, 10, 20]
    assert all(float(f[..., 2].mean()) < 5 for f in frames)


def test_video_reader_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        VideoReader(tmp_path / "missing.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"definitely not a video" * 10)
    with pytest.raises(ValueError, match="cannot open"):
        VideoReader(tmp_path / "junk.mp4")
