"""The inference confidence threshold of the planes mvs model, chosen on validation
walk-throughs by the fused mesh's F-score."""
import pytest
import torch

from edgegeo.models.mvs import MVSNet, MVSNetConfig
from edgegeo.training.mvs.confidence import choose_min_confidence

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_choose_min_confidence_scores_each_candidate_on_validation_scenes():
    torch.manual_seed(0)
    model = MVSNet(MVSNetConfig.tiny(cost_volume="correlation", decoder="planes",
                                     image_size=(64, 96))).eval()
    threshold, rows = choose_min_confidence(model, scenes=1, frames=10, min_sources=1,
                                            candidates=(0.0, 0.2, 0.99), mesh_points=2000)
    assert [row["min_confidence"] for row in rows] == [0.0, 0.2, 0.99]
    assert threshold == max(rows, key=lambda row: row["fscore"])["min_confidence"]
    kept = [row["kept"] for row in rows]
    assert kept[0] == 1.0 and kept[0] >= kept[1] >= kept[2]
    assert all(0 <= row["fscore"] <= 1 and 0 <= row["precision"] <= 1 for row in rows)
    with pytest.raises(ValueError, match="planes decoder"):
        choose_min_confidence(MVSNet(MVSNetConfig.tiny()))
