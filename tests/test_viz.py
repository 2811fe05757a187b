"""Picture helpers: shapes, dtypes, colour conventions, PNG writing."""
import cv2
import numpy as np
import pytest

from edgegeo.viz import colorize, image_grid, instance_to_rgb, normals_to_rgb, save_png


def test_colorize_shape_range_and_invalid_black():
    values = np.linspace(0, 4, 12, dtype=np.float32).reshape(3, 4)
    rgb = colorize(values)
    assert rgb.shape == (3, 4, 3) and rgb.dtype == np.uint8
    assert np.all(rgb[0, 0] == 0), "0 is invalid by default"
    assert not np.array_equal(rgb[1, 1], rgb[2, 3])
    values[1, 2] = np.nan
    assert np.all(colorize(values, vmin=0, vmax=2)[1, 2] == 0)
    assert np.array_equal(colorize(values, vmin=0, vmax=2)[2, 2], colorize(values, vmin=0, vmax=2)[2, 3]), "clipped"
    gray = colorize(np.array([[0.0, 1.0]]), cmap="gray", invalid=None)
    assert gray[0, 0].tolist() == [0, 0, 0] and gray[0, 1].tolist() == [255, 255, 255]


def test_colorize_rejects_bad_input():
    with pytest.raises(ValueError):
        colorize(np.zeros((2, 2, 3)))
    with pytest.raises(ValueError):
        colorize(np.zeros((2, 2)), cmap="rainbowish")


def test_normals_and_instances_to_rgb():
    normals = np.zeros((2, 2, 3), np.float32)
    normals[0, 0] = (0, 0, -1)
    rgb = normals_to_rgb(normals)
    assert rgb.dtype == np.uint8 and rgb[0, 0].tolist() == [128, 128, 0] and rgb[1, 1].tolist() == [0, 0, 0]
    ids = np.array([[0, 3, 3], [7, 3, 0]], np.int32)
    colors = instance_to_rgb(ids)
    assert colors.shape == (2, 3, 3) and colors.dtype == np.uint8
    assert np.all(colors[ids == 0] == 0)
    assert np.array_equal(colors[0, 1], colors[1, 1]) and not np.array_equal(colors[0, 1], colors[1, 0])
    assert np.array_equal(instance_to_rgb(np.array([[3]]))[0, 0], colors[0, 1]), "stable across images"
    with pytest.raises(ValueError):
        instance_to_rgb(np.zeros((2, 2), np.float32))


def test_image_grid_layout_and_labels():
    images = [np.full((20, 30, 3), value, np.uint8) for value in (50, 100, 150)]
    images.append(np.full((10, 15), 200, np.uint8))
    grid = image_grid(images, ncols=3)
    assert grid.shape == (40, 90, 3) and grid.dtype == np.uint8
    assert grid[5, 5].tolist() == [50] * 3 and grid[25, 5].tolist() == [200] * 3 and grid[25, 40].tolist() == [0] * 3
    labelled = image_grid(images, labels=["a", "bb", "", "d"], ncols=2)
    assert labelled.shape == (40, 60, 3) and not np.array_equal(labelled[:20, :30], np.full((20, 30, 3), 50))
    with pytest.raises(ValueError):
        image_grid(images, labels=["only one"])
    with pytest.raises(ValueError):
        image_grid([])


def test_save_png_round_trip(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    path = save_png(tmp_path / "deep" / "picture.png", rgb)
    assert np.array_equal(cv2.imread(str(path))[..., ::-1], rgb)


def test_image_grid_leaves_its_inputs_untouched():
    image = np.full((40, 60, 3), 200, np.uint8)
    before = image.copy()
    image_grid([image, image], ["a long label", "b"], ncols=2)
    np.testing.assert_array_equal(image, before)
