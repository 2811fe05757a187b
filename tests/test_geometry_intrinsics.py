"""edgegeo.geometry.intrinsics against closed forms and against cv2.resize of rendered images."""
import cv2
import numpy as np
import pytest

from edgegeo.geometry import K_from_fov, crop_K, make_K, project, resize_K, scale_K, validate_K


def render_blob(uv, H, W, sigma=2.5):
    """Gaussian blob centred at pixel coordinate uv, sampled at pixel centres (float64)."""
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    return np.exp(-((u - uv[0]) ** 2 + (v - uv[1]) ** 2) / (2 * sigma ** 2))


def centroid(image):
    """Intensity-weighted (u, v) centroid."""
    v, u = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    return np.array([(u * image).sum(), (v * image).sum()]) / image.sum()


def test_make_K_layout_and_dtype():
    K = make_K(500, 510, 319.5, 239.5)
    assert K.dtype == np.float64
    np.testing.assert_array_equal(K, [[500, 0, 319.5], [0, 510, 239.5], [0, 0, 1]])


def test_K_from_fov_matches_pinhole_geometry():
    K = K_from_fov(640, 480, 90.0)
    # 90° hfov: half width (320 px) at focal f subtends 45°, so f = 320.
    np.testing.assert_allclose(K, [[320, 0, 319.5], [0, 320, 239.5], [0, 0, 1]])
    # The left edge of pixel 0 (u = -0.5) and right edge of pixel W-1 (u = W-0.5) are at ±hfov/2.
    K = K_from_fov(200, 100, 70.0)
    for u_edge, sign in ((-0.5, -1), (199.5, 1)):
        angle = np.degrees(np.arctan((u_edge - K[0, 2]) / K[0, 0]))
        assert angle == pytest.approx(sign * 35.0)


@pytest.mark.parametrize("sx, sy", [(0.5, 0.25), (2.0, 3.0), (0.37, 1.6)])
def test_scale_K_follows_pixel_centre_rule(sx, sy):
    rng = np.random.default_rng(0)
    K = make_K(*rng.uniform(300, 600, 2), *rng.uniform(100, 300, 2))
    K[0, 1] = 2.0  # skew must scale with the x factor
    points = np.column_stack([rng.uniform(-1, 1, (20, 2)), rng.uniform(1, 4, 20)])
    uv, _ = project(points, K)
    uv_scaled, _ = project(points, scale_K(K, sx, sy))
    expected = (uv + 0.5) * [sx, sy] - 0.5
    np.testing.assert_allclose(uv_scaled, expected, atol=1e-9)


def test_scale_K_agrees_with_cv2_area_downscale():
    # INTER_AREA with an integer factor is a box filter: the blob centroid of the resized image
    # is exactly where the rescaled intrinsics project the point.
    H, W = 48, 64
    K = make_K(70.0, 72.0, 31.3, 24.1)
    point = np.array([[0.15, -0.08, 2.0]])
    uv, _ = project(point, K)
    image = render_blob(uv[0], H, W)
    small = cv2.resize(image, (W // 2, H // 2), interpolation=cv2.INTER_AREA)
    uv_small, _ = project(point, resize_K(K, (H, W), (H // 2, W // 2)))
    np.testing.assert_allclose(centroid(small), uv_small[0], atol=1e-6)


def test_scale_K_agrees_with_cv2_linear_upscale():
    H, W = 40, 50
    K = make_K(60.0, 60.0, 24.5, 19.5)
    point = np.array([[-0.1, 0.05, 1.5]])
    uv, _ = project(point, K)
    big = cv2.resize(render_blob(uv[0], H, W), (3 * W, 2 * H), interpolation=cv2.INTER_LINEAR)
    uv_big, _ = project(point, resize_K(K, (H, W), (2 * H, 3 * W)))
    np.testing.assert_allclose(centroid(big), uv_big[0], atol=2e-3)


def test_crop_K_moves_principal_point():
    K = make_K(400, 400, 200, 150)
    point = np.array([[0.3, -0.2, 2.0]])
    uv, _ = project(point, K)
    uv_crop, _ = project(point, crop_K(K, 17, 9))
    np.testing.assert_allclose(uv_crop, uv - [17, 9])


def test_validate_K_returns_float64_copy():
    K = np.array([[100, 0, 50], [0, 100, 40], [0, 0, 1]], dtype=np.int32)
    checked = validate_K(K)
    assert checked.dtype == np.float64 and checked is not K
    checked[0, 0] = 1.0
    assert K[0, 0] == 100


@pytest.mark.parametrize("K, message", [
    (np.eye(4), r"shape \(3, 3\)"),
    ([[100, 0, 50], [0, np.nan, 40], [0, 0, 1]], "NaN or inf"),
    ([[0, 0, 50], [0, 100, 40], [0, 0, 1]], "focal"),
    ([[100, 0, 50], [0, -100, 40], [0, 0, 1]], "focal"),
    ([[100, 0, 50], [0, 100, 40], [0, 0, 2]], "bottom row"),
    ("not a matrix", "numeric"),
])
def test_validate_K_rejects_bad_input(K, message):
    with pytest.raises(ValueError, match=message):
        validate_K(K)


def test_bad_resize_arguments_raise():
    K = make_K(100, 100, 50, 40)
    with pytest.raises(ValueError, match="sx"):
        scale_K(K, 0.0, 1.0)
    with pytest.raises(ValueError, match="sy"):
        scale_K(K, 1.0, float("nan"))
    with pytest.raises(ValueError, match="to_hw"):
        resize_K(K, (10, 10), (0, 5))
    with pytest.raises(ValueError, match="hfov_deg"):
        K_from_fov(64, 48, 180.0)
