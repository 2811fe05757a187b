"""The mvs planar prior: noisy depth on flat-coloured planar regions snaps to the region's plane,
non-planar regions, far-off pixels and pixels without depth are left alone; its parameters are
checked; the predictor applies it from the model's confidence, on torch and ONNX Runtime alike
(the exported graph outputs that confidence)."""
import numpy as np
import onnx
import pytest
import torch

import edgegeo
from edgegeo.export import export_model
from edgegeo.export.calibration import heldout_frames
from edgegeo.geometry import make_K
from edgegeo.geometry.projection import backproject
from edgegeo.models.mvs import MVSNet, MVSNetConfig, MVSPredictor
from edgegeo.models.mvs.planar import PlanarPrior, snap_to_planes
from edgegeo.weights_io import save_weights

H, W = 64, 96
K = make_K(100.0, 100.0, (W - 1) / 2, (H - 1) / 2)
BAND = W // 3
COLOURS = ((200, 40, 40), (40, 40, 200), (40, 200, 40))
# A prior that acts on a tiny random network's depth: every pixel votes (the network is unsure
# everywhere), no region is too small and none needs agreeing voters.
EAGER_PRIOR = {"fit_confidence": 0.0, "min_region": 20, "min_fit_pixels": 10,
               "min_inlier_fraction": 0.0, "segment_k": 5000.0}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def planar_scene(noise=0.01, seed=0):
    """Three vertical bands of one colour each: two planes (inverse depth affine in the rays)
    and one band of random depth; ``noise`` relative depth noise on all of it."""
    rng = np.random.default_rng(seed)
    rays = backproject(np.ones((H, W)), K)
    inverse = np.stack([0.4 + 0.1 * rays[..., 0] + 0.05 * rays[..., 1],
                        0.6 - 0.08 * rays[..., 1], np.zeros((H, W))])
    truth = np.zeros((H, W))
    image = np.zeros((H, W, 3), np.uint8)
    for band in range(3):
        columns = slice(band * BAND, (band + 1) * BAND)
        image[:, columns] = COLOURS[band]
        truth[:, columns] = (1.0 / inverse[band][:, columns] if band < 2
                             else rng.uniform(1.0, 3.0, (H, BAND)))
    depth = truth * (1.0 + noise * rng.standard_normal((H, W)))
    return image, truth, depth.astype(np.float32), np.full((H, W), 0.9, np.float32)


def test_noisy_planes_snap_to_the_plane_and_the_rest_is_left_alone():
    image, truth, depth, confidence = planar_scene()
    depth[5:10, 5:20] = 0.0                                           # no depth: stays none
    depth[30, 40] *= 1.5                                              # off the plane: kept
    snapped = snap_to_planes(image, depth, confidence, K)
    assert snapped.shape == (H, W) and snapped.dtype == np.float32
    assert (snapped[5:10, 5:20] == 0).all()
    assert snapped[30, 40] == pytest.approx(depth[30, 40])
    planes = np.zeros((H, W), bool)
    planes[:, :2 * BAND] = True
    planes[5:10, 5:20] = planes[30, 40] = False
    inner = planes.copy()
    inner[:, BAND - 2:BAND + 2] = False              # the boundary pixels may join either band
    before = np.abs(depth[inner] / truth[inner] - 1)
    after = np.abs(snapped[inner] / truth[inner] - 1)
    assert before.mean() > 0.007 and after.mean() < 0.001 and after.max() < 0.01
    np.testing.assert_array_equal(snapped[:, 2 * BAND + 2:], depth[:, 2 * BAND + 2:])


def test_only_confident_pixels_vote_for_the_plane():
    image, truth, depth, confidence = planar_scene(noise=0.0)
    rows = slice(0, H // 2)
    depth[rows, :BAND] *= 1.1                       # a wrong half of the first band ...
    confidence[rows, :BAND] = 0.3                   # ... that the model is unsure of
    snapped = snap_to_planes(image, depth, confidence, K)
    np.testing.assert_allclose(snapped[:, 2:BAND - 2], truth[:, 2:BAND - 2], rtol=1e-4)
    everyone = snap_to_planes(image, depth, confidence, K, PlanarPrior(fit_confidence=0.2))
    # with everyone voting, half the band is off any one plane: not planar, left alone
    np.testing.assert_array_equal(everyone[:, 2:BAND - 2], depth[:, 2:BAND - 2])


def test_planar_prior_parameters_are_checked():
    assert PlanarPrior.from_value(None) is None and PlanarPrior.from_value(False) is None
    assert PlanarPrior.from_value(True) == PlanarPrior()
    assert PlanarPrior.from_value({"snap_tolerance": 0.1}).snap_tolerance == 0.1
    assert PlanarPrior.from_value(PlanarPrior().to_dict()) == PlanarPrior()
    with pytest.raises(ValueError, match="unknown PlanarPrior fields"):
        PlanarPrior.from_value({"tolerance": 0.1})
    with pytest.raises(ValueError, match="planar_prior must be"):
        PlanarPrior.from_value("yes")
    for field, value in (("fit_tolerance", 0.0), ("hypotheses", 0), ("min_region", 2.5),
                         ("fit_confidence", 1.5), ("segment_k", float("nan"))):
        with pytest.raises(ValueError, match=field):
            PlanarPrior(**{field: value})
    with pytest.raises(ValueError, match="min_fit_pixels"):
        PlanarPrior(min_fit_pixels=50, max_fit_pixels=10)
    image, _, depth, confidence = planar_scene()
    with pytest.raises(ValueError, match="uint8"):
        snap_to_planes(image.astype(np.float32), depth, confidence, K)
    with pytest.raises(ValueError, match="same height and width"):
        snap_to_planes(image, depth[:, 1:], confidence, K)
    depth[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        snap_to_planes(image, depth, confidence, K)


def planes_network(size=(64, 96)) -> MVSNet:
    torch.manual_seed(0)
    return MVSNet(MVSNetConfig.tiny(image_size=size, cost_volume="correlation",
                                    decoder="planes")).eval()


def posed_call():
    (frame,) = heldout_frames("posed", 1, (H, W))
    reference, sources = frame.reference, frame.candidates[:2]
    return (reference.rgb, reference.K, reference.world_T_cam, [s.rgb for s in sources],
            [s.K for s in sources], [s.world_T_cam for s in sources])


def test_the_predictor_snaps_its_depth_with_the_models_confidence():
    network = planes_network()
    args = posed_call()
    plain = MVSPredictor(network)(*args)
    snapped = MVSPredictor(network, planar_prior=EAGER_PRIOR)(*args)
    with torch.no_grad():
        batch = MVSPredictor(network).make_batch(args[0], args[1], args[2], args[3],
                                                 list(args[4]), list(args[5]))
        outputs = network(batch["image"], batch["src_images"], batch["K"], batch["src_K"],
                          batch["src_T_ref"], batch["source_valid"])
    assert outputs["full_confidence"].shape == (1, 1, H, W)
    expected = snap_to_planes(args[0], outputs["depth"][0][0, 0].numpy(),
                              outputs["full_confidence"][0, 0].numpy(),
                              batch["K"][0].double().numpy(), PlanarPrior(**EAGER_PRIOR))
    np.testing.assert_allclose(snapped, expected, rtol=1e-6)
    assert not np.allclose(snapped, plain)
    with pytest.raises(ValueError, match="planes decoder"):
        MVSPredictor(MVSNet(MVSNetConfig.tiny()), planar_prior=True)


def test_the_graph_outputs_the_confidence_and_onnxruntime_snaps_as_torch(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEGEO_CACHE", str(tmp_path / "cache"))
    network = planes_network()
    result = export_model("mvs", "fp32", tmp_path / "export", network=network,
                          parity_sources=("synthetic:1",))
    graph = onnx.load(str(result.onnx_path))
    assert [o.name for o in graph.graph.output] == ["depth", "confidence"]
    assert result.report["parity_passed"]
    weights = save_weights(network, "mvs", {
        "recipe": "mvs", "command": "pytest", "data": "none", "seed": 0, "wall_time_s": 0.0,
        "metrics": {}, "model_config": network.config.to_dict(),
        "predictor_options": {"min_sources": 1, "planar_prior": EAGER_PRIOR}}, tmp_path)
    torch_predictor = edgegeo.load("mvs", weights=weights)
    onnx_predictor = edgegeo.load("mvs", weights=weights, backend="onnxruntime")
    assert torch_predictor.planar_prior == onnx_predictor.planar_prior == PlanarPrior(**EAGER_PRIOR)
    args = posed_call()
    expected, got = torch_predictor(*args), onnx_predictor(*args)
    assert np.abs(got - expected).max() <= 1e-3 * np.abs(expected).max()
