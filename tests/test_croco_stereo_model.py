"""CroCo-Stereo network, tiled inference and the stereo predictor's checks."""
import numpy as np
import pytest
import torch
from torch import nn

from edgegeo.models.croco import CroCoConfig, CroCoNet
from edgegeo.models.croco_stereo import (CroCoStereoNet, CroCoStereoConfig, bounded_log_scale,
                                   load_backbone_weights)
from edgegeo.models.croco_stereo import CroCoStereoPredictor
from edgegeo.models.layers.tiling import tile_starts, tiled_prediction
from edgegeo.models.stereo import rectification_problem


@pytest.fixture(scope="module")
def tiny_stereo():
    torch.manual_seed(0)
    return CroCoStereoNet(CroCoStereoConfig.tiny()).eval()


def _textured(height, width, seed=0):
    from skimage import data

    photo = data.astronaut()
    rng = np.random.default_rng(seed)
    top, left = rng.integers(0, 100, size=2)
    return np.ascontiguousarray(photo[top:top + height, left:left + width])


def test_stereo_net_outputs_disparity_and_bounded_log_scale(tiny_stereo):
    out = tiny_stereo(torch.rand(2, 3, 32, 48), torch.rand(2, 3, 32, 48))
    assert out.shape == (2, 2, 32, 48)
    assert (out[:, 0] >= 0).all()
    assert (out[:, 1].abs() < 3).all()
    assert bounded_log_scale(torch.tensor([-1e6, 0.0, 1e6])).tolist() == pytest.approx(
        [-3.0, 0.0, 3.0])
    assert CroCoStereoConfig.small().dec_taps == (0, 2, 3)
    assert CroCoStereoConfig.from_dict(CroCoStereoConfig.small().to_dict()) == CroCoStereoConfig.small()


def test_backbone_initialises_from_croco_weights(tiny_stereo):
    croco = CroCoNet(CroCoConfig.tiny())
    model = CroCoStereoNet(CroCoStereoConfig.tiny())
    copied = load_backbone_weights(model, croco.state_dict())
    assert copied == len(model.backbone.state_dict())
    for name, tensor in model.backbone.state_dict().items():
        assert torch.equal(tensor, croco.backbone.state_dict()[name])
    with pytest.raises(ValueError, match="no CroCo backbone"):
        load_backbone_weights(model, {"head.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="do not fit"):
        load_backbone_weights(CroCoStereoNet(CroCoStereoConfig.small()), croco.state_dict())


def test_tile_starts_cover_with_overlap():
    assert tile_starts(100, 160, 0.5) == [0]
    starts = tile_starts(370, 160, 0.5)
    assert starts[0] == 0 and starts[-1] == 370 - 160
    assert all(b - a <= 80 for a, b in zip(starts, starts[1:]))


class _ShiftInvariantStereo(nn.Module):
    """A purely local 'stereo model' (3×3 convs): its output at a pixel depends only on a small
    neighbourhood, so tiles and the whole image must agree away from tile borders."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(6, 2, 3, padding=1)

    def forward(self, left, right):
        out = self.conv(torch.cat([left, right], 1))
        return torch.cat([out[:, :1], bounded_log_scale(out[:, 1:])], 1)


def test_tiled_prediction_equals_untiled_for_a_local_model():
    model = _ShiftInvariantStereo()
    left, right = torch.rand(1, 3, 40, 120), torch.rand(1, 3, 40, 120)
    whole = model(left, right)
    tiled = tiled_prediction(model, left, right, (40, 48), overlap=0.5)
    # A tile's edge pixels see its zero padding; the taper hands them to the neighbour.
    interior = (..., slice(1, -1), slice(1, -1))
    assert torch.allclose(tiled[:, 0][interior], whole[:, 0][interior], atol=0.02)


def test_tiled_equals_untiled_when_the_image_is_one_tile(tiny_stereo):
    left, right = torch.rand(1, 3, 32, 48), torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        tiled = tiled_prediction(tiny_stereo, left, right, (32, 48))
        whole = tiny_stereo(left, right)
    assert torch.allclose(tiled, whole, atol=1e-5)


def test_tiled_merge_prefers_confident_tiles():
    """Two tiles disagree on the shared columns; the merge leans to the surer one."""

    def predict(left, right):
        out = torch.zeros(left.shape[0], 2, *left.shape[-2:])
        out[0, 0], out[0, 1] = 10.0, -2.0          # first tile: 10 px, confident
        out[1, 0], out[1, 1] = 20.0, 2.0           # second tile: 20 px, unsure
        return out

    image = torch.zeros(1, 3, 8, 24)
    merged = tiled_prediction(predict, image, image, (8, 16), overlap=0.5)
    # Columns 8-15 are shared. Column 11: the first tile's taper is 1 (4.5 px from its inner
    # edge, ramp 4 px), the second's 3.5 / 4.
    a, b = np.exp(2) * 1.0, np.exp(-2) * 3.5 / 4
    expected = (10 * a + 20 * b) / (a + b)
    assert torch.allclose(merged[0, 0, :, 11], torch.full((8,), expected), atol=1e-4)
    assert merged[0, 0, 0, 8] < merged[0, 0, 0, 11] < merged[0, 0, 0, 15]
    assert torch.all(merged[0, 0, :, :8] == 10) and torch.all(merged[0, 0, :, 16:] == 20)


def test_predictor_shapes_scale_and_confidence(tiny_stereo):
    predictor = CroCoStereoPredictor(tiny_stereo, tile_size=(32, 48), check_rectification=False,
                                max_disparity=96.0, trained_max_disparity=48.0)
    assert predictor.working_scale() == 0.5
    left = _textured(70, 130)
    disparity, confidence = predictor(left, left, return_confidence=True)
    assert disparity.shape == (70, 130) and disparity.dtype == np.float32
    assert (disparity >= 0).all() and np.isfinite(disparity).all()
    assert confidence.shape == (70, 130)
    assert (confidence > np.exp(-3) - 1e-6).all() and (confidence < np.exp(3) + 1e-6).all()


def test_predictor_rejects_bad_pairs(tiny_stereo):
    predictor = CroCoStereoPredictor(tiny_stereo, tile_size=(32, 48))
    left = _textured(120, 160)
    with pytest.raises(ValueError, match="differ in size"):
        predictor(left, left[:-1])
    with pytest.raises(ValueError, match="uint8"):
        predictor(left.astype(np.float32), left.astype(np.float32))
    with pytest.raises(ValueError, match="grey"):
        predictor(left[..., 0], left[..., 0])
    photo = _textured(300, 300)
    shifted_down = photo[12:132, 40:200]           # same columns, rows 12 px lower
    with pytest.raises(ValueError, match="not look rectified"):
        predictor(photo[:120, 40:200], shifted_down)
    right_of = photo[:120, 50:210]                 # content moved left: true right view
    assert rectification_problem(photo[:120, 40:200], right_of) is None
    with pytest.raises(ValueError, match="swapped"):
        predictor(right_of, photo[:120, 40:200])
    with pytest.raises(ValueError, match="tile_size"):
        CroCoStereoPredictor(tiny_stereo, tile_size=(30, 48))
    with pytest.raises(ValueError, match="max_disparity"):
        CroCoStereoPredictor(tiny_stereo, max_disparity=0)
