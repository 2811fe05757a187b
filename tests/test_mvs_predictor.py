"""MVSPredictor and MVSStream: numpy in, metric depth out; bad inputs give clear errors; the
stream predicts on keyframes once enough sources are buffered; edgegeo.load("mvs") with the
registry entry the model ships with."""
import math

import numpy as np
import pytest
import torch

import edgegeo
from edgegeo.data.frame import Frame
from edgegeo.geometry import make_K
from edgegeo.models.mvs import KeyframeBuffer, MVSNet, MVSNetConfig, MVSPredictor, MVSStream
from edgegeo.weights_io import save_weights

H, W = 50, 70                       # not multiples of 32: the predictor resizes
K = make_K(55.0, 55.0, (W - 1) / 2, (H - 1) / 2)
RESOLUTION = (32, 64)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def pose(x=0.0, yaw_deg=0.0):
    a = math.radians(yaw_deg)
    T = np.eye(4)
    T[:3, :3] = [[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]]
    T[0, 3] = x
    return T


def image(seed):
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def predictor():
    torch.manual_seed(0)
    return MVSPredictor(MVSNet(MVSNetConfig.tiny(num_sources=3)), resolution=RESOLUTION)


def call(predictor, n_sources=3, **changes):
    args = {"ref_image": image(0), "ref_K": K, "ref_world_T_cam": pose(),
            "src_images": [image(i + 1) for i in range(n_sources)],
            "src_Ks": [K] * n_sources,
            "src_world_T_cams": [pose(0.1 * (i + 1)) for i in range(n_sources)]}
    args.update(changes)
    return predictor(**args)


def test_metric_depth_at_the_input_size(predictor):
    depth = call(predictor)
    assert depth.shape == (H, W) and depth.dtype == np.float32
    config = predictor.model.config
    assert np.isfinite(depth).all()
    assert depth.min() >= config.min_depth * 0.999 and depth.max() <= config.max_depth * 1.001


def test_source_order_and_extra_sources(predictor):
    base = call(predictor)
    reordered = call(predictor, src_images=[image(3), image(1), image(2)],
                     src_world_T_cams=[pose(0.3), pose(0.1), pose(0.2)])
    np.testing.assert_allclose(base, reordered, rtol=1e-5)
    # Five sources for a three-source model: the three with the lowest penalty are used
    # (0.15 m → 0, 0.2 → 0.0025, 0.1 → 0.0125; not 0.03 or 0.6).
    images = [image(10 + i) for i in range(5)]
    xs = [0.03, 0.2, 0.6, 0.15, 0.1]
    more = call(predictor, src_images=images, src_Ks=[K] * 5,
                src_world_T_cams=[pose(x) for x in xs])
    chosen = call(predictor, src_images=[images[3], images[1], images[4]],
                  src_world_T_cams=[pose(0.15), pose(0.2), pose(0.1)])
    np.testing.assert_allclose(more, chosen, rtol=1e-5)


def test_fewer_sources_are_padded_when_allowed():
    model = MVSNet(MVSNetConfig.tiny(num_sources=3))
    strict = MVSPredictor(model, resolution=RESOLUTION)
    with pytest.raises(ValueError, match="too few sources: got 2, .* at least 3"):
        call(strict, n_sources=2)
    lenient = MVSPredictor(model, resolution=RESOLUTION, min_sources=1)
    assert call(lenient, n_sources=1).shape == (H, W)
    with pytest.raises(ValueError, match="too few sources: got 0"):
        call(lenient, n_sources=0)
    with pytest.raises(ValueError, match="min_sources"):
        MVSPredictor(model, min_sources=4)
    with pytest.raises(ValueError, match="multiples of 32"):
        MVSPredictor(model, resolution=(50, 64))


def _bad_rotation():
    T = pose(0.1)
    T[:3, :3] *= 1.2
    return T


def _nan_pose():
    T = pose(0.1)
    T[0, 3] = np.nan
    return T


@pytest.mark.parametrize("changes, message", [
    ({"ref_world_T_cam": _nan_pose()}, "ref_world_T_cam contains NaN"),
    ({"ref_world_T_cam": _bad_rotation()}, "ref_world_T_cam: rotation block is not orthonormal"),
    ({"src_world_T_cams": [pose(0.1), _nan_pose(), pose(0.3)]},
     r"src_world_T_cams\[1\] contains NaN"),
    ({"src_world_T_cams": [pose(0.1), pose(0.2), np.eye(3)]},
     r"src_world_T_cams\[2\] must have shape"),
    ({"src_Ks": [K, K * [[2], [2], [1]], K]},
     r"src_Ks\[1\]: principal point .* another resolution"),
    ({"ref_K": make_K(55.0, 55.0, 2 * (W - 1), 2 * (H - 1))}, "ref_K: principal point"),
    ({"ref_K": np.eye(3) * [1, 1, 0]}, "ref_K: must be upper triangular"),
    ({"src_Ks": [K, K]}, "one intrinsics matrix and one pose per source image"),
    ({"src_images": [image(1), image(2)[:40], image(3)]}, r"src_images\[1\] has shape"),
    ({"src_images": [image(1), image(2)[..., 0], image(3)]}, r"src_images\[1\]: image .* is grey"),
    ({"ref_image": image(0).astype(np.float32)}, "must be uint8"),
    ({"src_images": "frames"}, "src_images must be a list"),
])
def test_bad_inputs_raise_clear_errors(predictor, changes, message):
    with pytest.raises(ValueError, match=message):
        call(predictor, **changes)


def frames_along_x(xs, yaw=0.0):
    return [Frame(rgb=image(i), K=K, world_T_cam=pose(x, yaw)) for i, x in enumerate(xs)]


def test_stream_predicts_on_keyframes_once_enough_sources_exist():
    model = MVSNet(MVSNetConfig.tiny(num_sources=3))
    stream = MVSStream(MVSPredictor(model, resolution=RESOLUTION, min_sources=2))
    # Keyframes (≥ 0.1 from the last one) at x = 0, 0.12, 0.24, 0.36, 0.48; the third keyframe
    # is the first with two earlier keyframes to use as sources.
    xs = [0.0, 0.05, 0.12, 0.18, 0.24, 0.3, 0.36, 0.4, 0.48]
    outputs = [stream.push(f) for f in frames_along_x(xs)]
    assert [o is not None for o in outputs] == [False, False, False, False, True, False, True,
                                                 False, True]
    assert all(o.shape == (H, W) and o.dtype == np.float32 for o in outputs if o is not None)
    assert [k.index for k in stream.buffer.keyframes] == [0, 2, 4, 6, 8]
    # Sources of the last keyframe (x = 0.48): 0.36 (t 0.12), 0.24 (0.24), 0.12 (0.36).
    assert stream.last_sources == [6, 4, 2]


def test_the_first_keyframes_get_depth_once_later_ones_exist():
    model = MVSNet(MVSNetConfig.tiny(num_sources=3))
    predictor = MVSPredictor(model, resolution=RESOLUTION, min_sources=2)
    frames = frames_along_x([0.0, 0.05, 0.12, 0.18, 0.24, 0.3, 0.36])
    stream = MVSStream(predictor)
    backfills = []
    for frame in frames:
        stream.push(frame)
        backfills.append([index for index, _, _ in stream.last_backfill])
    # keyframes 0 and 2 had fewer than two earlier keyframes; keyframe 4 has them, and then
    # 0 and 2 have two others each (2 and 4; 0 and 4)
    assert backfills == [[], [], [], [], [0, 2], [], []]
    stream = MVSStream(predictor)
    for frame in frames[:5]:
        stream.push(frame)
    (index, earlier, depth), _ = stream.last_backfill
    assert index == 0 and earlier.rgb is frames[0].rgb
    np.testing.assert_array_equal(earlier.world_T_cam, frames[0].world_T_cam)
    # the same as the predictor on keyframe 0 with the later keyframes 2 and 4 as sources
    expected = predictor(frames[0].rgb, K, frames[0].world_T_cam,
                         [frames[4].rgb, frames[2].rgb], [K, K],
                         [frames[4].world_T_cam, frames[2].world_T_cam])
    np.testing.assert_allclose(depth, expected, rtol=1e-5)
    off = MVSStream(predictor, backfill=False)
    for frame in frames:
        off.push(frame)
        assert off.last_backfill == []


def test_stream_on_every_frame_and_bad_frames():
    model = MVSNet(MVSNetConfig.tiny(num_sources=2))
    stream = MVSStream(MVSPredictor(model, resolution=RESOLUTION), predict_on="all")
    outputs = [stream.push(f) for f in frames_along_x([0.0, 0.12, 0.15, 0.2, 0.26])]
    # From the third frame on, two buffered keyframes (0 and 0.12) are available.
    assert [o is not None for o in outputs] == [False, False, True, True, True]
    before = len(stream.buffer)
    bad = Frame(rgb=image(0), K=K, world_T_cam=np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="NaN"):
        stream.push(bad)
    with pytest.raises(ValueError, match="no pose"):
        stream.push(Frame(rgb=image(0), K=K))
    with pytest.raises(ValueError, match="differs from the buffered"):
        stream.push(Frame(rgb=image(0)[:40], K=K, world_T_cam=pose(0.5)))
    with pytest.raises(ValueError, match="rgb, K and world_T_cam"):
        stream.push("frame")
    assert len(stream.buffer) == before
    with pytest.raises(ValueError, match="predict_on"):
        MVSStream(stream.predictor, predict_on="some")
    custom = MVSStream(stream.predictor, KeyframeBuffer(keyframe_distance=0.3))
    assert custom.buffer.keyframe_distance == 0.3


def test_edgegeo_load_mvs_with_the_card_config(tmp_path):
    torch.manual_seed(0)
    model = MVSNet(MVSNetConfig.tiny(num_sources=3, cost_volume="dot"))
    path = save_weights(model, "mvs", {"recipe": "mvs", "command": "pytest", "data": "none",
                                       "seed": 0, "wall_time_s": 0.0, "metrics": {},
                                       "model_config": model.config.to_dict()}, out_dir=tmp_path)
    predictor = edgegeo.load("mvs", weights=path, resolution=RESOLUTION)
    assert isinstance(predictor, MVSPredictor)
    assert predictor.model.config == model.config
    assert call(predictor).shape == (H, W)
    with pytest.raises(ValueError, match="do not fit"):
        edgegeo.load("mvs", weights=path, config="tiny")


def test_resizing_never_blends_depth_with_no_depth():
    from edgegeo.models.mvs.predictor import _resize_depth

    depth = torch.full((1, 1, 8, 8), 2.0)
    depth[..., :, 4:] = 0.0                                  # right half: no depth
    for size in ((16, 16), (5, 5), (8, 12)):
        out = _resize_depth(depth, size)[0, 0]
        assert set(torch.unique(out).tolist()) <= {0.0, 2.0}      # 2 m or nothing in between
        assert (out[:, 0] == 2.0).all() and (out[:, -1] == 0.0).all()
    np.testing.assert_allclose(_resize_depth(torch.full((1, 1, 4, 4), 3.0), (8, 8)), 3.0)


def _hinted_predictor(seed=0):
    torch.manual_seed(seed)
    config = MVSNetConfig.tiny(num_sources=2, cost_volume="correlation", decoder="planes",
                               hint=True)
    return MVSPredictor(MVSNet(config), resolution=RESOLUTION, min_sources=1)


def test_a_hinted_model_starts_as_the_unhinted_one_and_learns_to_follow_the_hint():
    predictor = _hinted_predictor()
    args = dict(n_sources=2)
    plain = call(predictor, **args)
    hint = np.full((H, W), 3.0, np.float32)
    np.testing.assert_array_equal(call(predictor, hint_depth=hint, **args), plain)
    np.testing.assert_array_equal(call(predictor, hint_depth=np.zeros((H, W), np.float32),
                                       **args), plain)
    # A positive gain pulls the plane logits to the hint's plane.
    torch.nn.init.constant_(predictor.model.network.decoder.hint_head.bias, 3.0)
    followed = call(predictor, hint_depth=hint, **args)
    assert np.abs(np.log(followed / 3.0)).mean() < np.abs(np.log(plain / 3.0)).mean() / 2
    for hint_depth, message in (
            (np.full((H, W), np.nan, np.float32), "NaN"),
            (np.ones((H, W + 1), np.float32), "like the reference image")):
        with pytest.raises(ValueError, match=message):
            call(predictor, hint_depth=hint_depth, **args)


def test_an_unhinted_model_refuses_a_hint(predictor):
    with pytest.raises(ValueError, match="reads no depth hint"):
        call(predictor, hint_depth=np.ones((H, W), np.float32))


def test_a_hinted_stream_renders_its_own_fused_map_as_the_hint():
    from edgegeo.fusion import FusionConfig, TSDFFusion

    predictor = _hinted_predictor()
    assert MVSStream(predictor).fusion is not None        # a hinted stream fuses its own map
    assert MVSStream(MVSPredictor(MVSNet(MVSNetConfig.tiny()))).fusion is None
    fusion = TSDFFusion(FusionConfig(voxel_size=0.02, trunc=0.06, color=False))
    stream = MVSStream(predictor, fusion=fusion)
    assert (stream.hint(K, pose(), (H, W)) == 0).all()             # nothing fused yet
    outputs = [stream.push(f) for f in frames_along_x([0.0, 0.12, 0.24, 0.36])]
    predicted = [o for o in outputs if o is not None]
    # three frames with their own depth, and the first keyframe's backfilled once two others
    # exist: every map is fused
    assert len(predicted) == 3 and fusion.frames_integrated == 4
    # A map of a wall at 1.5 m seen by three frames: the hint renders it at 1.5 m from a new
    # pose (to within a voxel).
    wall_map = TSDFFusion(FusionConfig(voxel_size=0.02, trunc=0.06, color=False))
    for x in (0.0, 0.02, 0.04):
        wall_map.integrate(np.full((H, W), 1.5, np.float32), K, pose(x))
    hint = MVSStream(predictor, fusion=wall_map).hint(K, pose(0.01), (H, W))
    inside = hint[10:-10, 10:-10]
    assert (inside > 0).mean() > 0.9
    np.testing.assert_allclose(np.median(inside[inside > 0]), 1.5, atol=0.02)
