"""The mvs photometric refinement: depth a few per cent off on a textured plane is pulled to
the plane by the ZNCC search over the sources; textureless windows, pixels without depth and
errors beyond the searched span are left alone; its parameters are checked; the predictor
applies it on the sources the network used."""
import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter, map_coordinates

from edgegeo.geometry import make_K
from edgegeo.models.mvs import MVSPredictor
from edgegeo.models.mvs.photometric import PhotometricRefinement, refine_depth

from test_mvs_planar import planes_network, posed_call

H, W = 64, 96
K = make_K(100.0, 100.0, (W - 1) / 2, (H - 1) / 2)
PLANE_Z = 2.0                           # metres: a fronto-parallel wall in front of the reference
TEXTURE_CELL = 0.02                     # metres per texture sample on the wall
SOURCE_OFFSETS = ((0.15, 0.0), (-0.15, 0.0), (0.0, 0.12))    # metres, camera x / y

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def pose(x=0.0, y=0.0):
    world_T_cam = np.eye(4)
    world_T_cam[:2, 3] = x, y
    return world_T_cam


def wall_image(world_T_cam, texture):
    """``(H, W, 3) uint8`` view of the wall ``z = PLANE_Z`` painted with ``texture`` (grey
    levels on a grid of :data:`TEXTURE_CELL` centred on the optical axis)."""
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    depth = PLANE_Z - world_T_cam[2, 3]
    x = (u - K[0, 2]) / K[0, 0] * depth + world_T_cam[0, 3]
    y = (v - K[1, 2]) / K[1, 1] * depth + world_T_cam[1, 3]
    rows = y / TEXTURE_CELL + texture.shape[0] / 2
    columns = x / TEXTURE_CELL + texture.shape[1] / 2
    grey = map_coordinates(texture, [rows, columns], order=1, mode="nearest")
    return np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def wall_views(textured=True):
    """Reference and three sources of the wall; the reference's true depth is PLANE_Z."""
    rng = np.random.default_rng(0)
    texture = (gaussian_filter(rng.uniform(0, 255, (200, 300)), 1.5) - 127.5) * 4 + 127.5
    if not textured:
        texture = np.full_like(texture, 128.0)
    reference = wall_image(pose(), texture)
    poses = [pose(*offset) for offset in SOURCE_OFFSETS]
    return reference, [wall_image(p, texture) for p in poses], [K] * len(poses), poses


def interior(margin=12):
    """Pixels far enough from the border for every source to see their whole window."""
    mask = np.zeros((H, W), bool)
    mask[margin:-margin, margin:-margin] = True
    return mask


def test_depth_a_few_percent_off_on_a_textured_wall_is_pulled_to_the_wall():
    reference, sources, Ks, poses = wall_views()
    depth = np.full((H, W), PLANE_Z * 1.04, np.float32)
    depth[20:24, 30:34] = 0.0                                      # no depth: stays none
    refined = refine_depth(reference, depth, K, pose(), sources, Ks, poses)
    assert refined.shape == (H, W) and refined.dtype == np.float32
    assert (refined[20:24, 30:34] == 0).all()
    inner = interior() & (depth > 0)
    error = np.abs(refined[inner] / PLANE_Z - 1)
    assert np.median(error) < 0.003 and np.mean(error < 0.01) > 0.9


def test_textureless_windows_and_errors_beyond_the_span_are_left_alone():
    reference, sources, Ks, poses = wall_views(textured=False)
    depth = np.full((H, W), PLANE_Z * 1.04, np.float32)
    np.testing.assert_array_equal(refine_depth(reference, depth, K, pose(), sources, Ks, poses),
                                  depth)
    reference, sources, Ks, poses = wall_views()
    far_off = np.full((H, W), PLANE_Z * 1.15, np.float32)         # the truth lies outside ±8 %
    refined = refine_depth(reference, far_off, K, pose(), sources, Ks, poses)
    assert np.mean(refined[interior()] == far_off[interior()]) > 0.9
    wide = refine_depth(reference, far_off, K, pose(), sources, Ks, poses,
                        PhotometricRefinement(span=0.2, steps=41))
    assert np.median(np.abs(wide[interior()] / PLANE_Z - 1)) < 0.005


def test_only_the_best_sources_by_pose_are_searched():
    reference, sources, Ks, poses = wall_views()
    depth = np.full((H, W), PLANE_Z * 1.04, np.float32)
    # a fourth source 2 m away that sees noise: the pose penalty ranks it last
    noise = np.random.default_rng(1).integers(0, 256, (H, W, 3), dtype=np.uint8)
    params = PhotometricRefinement(max_sources=3)
    with_noise = refine_depth(reference, depth, K, pose(), sources + [noise], Ks + [K],
                              poses + [pose(2.0, 0.0)], params)
    np.testing.assert_array_equal(
        with_noise, refine_depth(reference, depth, K, pose(), sources, Ks, poses, params))
    searched_all = refine_depth(reference, depth, K, pose(), sources + [noise], Ks + [K],
                                poses + [pose(2.0, 0.0)], PhotometricRefinement(max_sources=4))
    assert not np.array_equal(searched_all, with_noise)


def test_photometric_parameters_and_inputs_are_checked():
    assert PhotometricRefinement.from_value(None) is None
    assert PhotometricRefinement.from_value(True) == PhotometricRefinement()
    assert PhotometricRefinement.from_value({"steps": 17}).steps == 17
    assert (PhotometricRefinement.from_value(PhotometricRefinement().to_dict())
            == PhotometricRefinement())
    with pytest.raises(ValueError, match="unknown PhotometricRefinement fields"):
        PhotometricRefinement.from_value({"windows": 5})
    with pytest.raises(ValueError, match="photometric must be"):
        PhotometricRefinement.from_value(1)
    for field, value in (("span", 0.0), ("span", 1.5), ("steps", 4), ("window", 1),
                         ("max_sources", 0), ("min_score", 2.0), ("min_texture", -0.1)):
        with pytest.raises(ValueError, match=field):
            PhotometricRefinement(**{field: value})
    reference, sources, Ks, poses = wall_views()
    depth = np.full((H, W), PLANE_Z, np.float32)
    with pytest.raises(ValueError, match="one or more sources"):
        refine_depth(reference, depth, K, pose(), [], [], [])
    with pytest.raises(ValueError, match="like the depth"):
        refine_depth(reference, depth[:, 1:], K, pose(), sources, Ks, poses)


def test_the_predictor_refines_on_the_sources_the_network_used():
    network = planes_network()
    args = posed_call()
    plain = MVSPredictor(network)(*args)
    params = {"min_score": -1.0}                # a random network's depth: refine everywhere
    refined = MVSPredictor(network, photometric=params)(*args)
    expected = refine_depth(args[0], plain, args[1], args[2], args[3], list(args[4]),
                            list(args[5]), PhotometricRefinement(**params))
    np.testing.assert_allclose(refined, expected, rtol=1e-6)
    assert not np.allclose(refined, plain)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="no CUDA device (torch.cuda.is_available() is False)")
def test_the_search_on_a_cuda_device_matches_the_cpu():
    reference, sources, Ks, poses = wall_views()
    depth = np.full((H, W), PLANE_Z * 1.04, np.float32)
    on_cpu = refine_depth(reference, depth, K, pose(), sources, Ks, poses)
    on_gpu = refine_depth(reference, depth, K, pose(), sources, Ks, poses, device="cuda")
    assert np.mean(np.abs(on_gpu - on_cpu) < 1e-4) > 0.99
