"""The inference confidence threshold of the planes mvs model, chosen on validation
walk-throughs by the fused mesh's F-score."""
import pytest
import torch

from edgegeo.models.mvs import MVSNet, MVSNetConfig
from edgegeo.training.mvs.confidence import choose_min_confidence, pick_threshold

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_choose_min_confidence_scores_each_candidate_on_validation_scenes():
    torch.manual_seed(0)
    model = MVSNet(MVSNetConfig.tiny(cost_volume="correlation", decoder="planes",
                                     image_size=(64, 96))).eval()
    threshold, rows = choose_min_confidence(model, scenes=1, frames=10, min_sources=1,
                                            candidates=(0.0, 0.2, 0.99), mesh_points=2000)
    assert [row["min_confidence"] for row in rows] == [0.0, 0.2, 0.99]
    assert threshold == pick_threshold(rows)
    kept = [row["kept"] for row in rows]
    assert kept[0] == 1.0 and kept[0] >= kept[1] >= kept[2]
    assert all(0 <= row["fscore"] <= 1 and 0 <= row["precision"] <= 1 for row in rows)
    with pytest.raises(ValueError, match="planes decoder"):
        choose_min_confidence(MVSNet(MVSNetConfig.tiny()))


def test_a_hinted_model_runs_the_stream_with_its_map_once_per_candidate():
    torch.manual_seed(0)
    model = MVSNet(MVSNetConfig.tiny(cost_volume="correlation", decoder="planes", hint=True,
                                     image_size=(64, 96))).eval()
    threshold, rows = choose_min_confidence(model, scenes=1, frames=10, min_sources=1,
                                            candidates=(0.0, 0.99), mesh_points=2000)
    assert [row["min_confidence"] for row in rows] == [0.0, 0.99] and threshold in (0.0, 0.99)
    assert rows[0]["kept"] == 1.0 and rows[1]["kept"] <= rows[0]["kept"]


def test_the_threshold_is_the_lowest_within_the_tie_of_the_best_fscore():
    rows = [{"min_confidence": t, "fscore": f}
            for t, f in [(0.0, 0.567), (0.2, 0.600), (0.25, 0.6096), (0.3, 0.6133), (0.4, 0.6135)]]
    assert pick_threshold(rows) == 0.25                # within 0.005 of the best (0.4)
    assert pick_threshold(rows, tie=0.0) == 0.4
    assert pick_threshold(rows, tie=0.1) == 0.0


def test_the_planar_prior_is_applied_before_fusion():
    from edgegeo.models.mvs.planar import PlanarPrior

    torch.manual_seed(0)
    model = MVSNet(MVSNetConfig.tiny(cost_volume="correlation", decoder="planes",
                                     image_size=(64, 96))).eval()
    prior = PlanarPrior(fit_confidence=0.0, min_inlier_fraction=0.0, min_region=20,
                        min_fit_pixels=10, segment_k=5000.0)
    rows = {name: choose_min_confidence(model, scenes=1, frames=10, min_sources=1,
                                        candidates=(0.0,), mesh_points=2000,
                                        planar_prior=planar)[1][0]
            for name, planar in (("plain", None), ("planar", prior))}
    assert rows["plain"]["kept"] == rows["planar"]["kept"] == 1.0
    assert rows["plain"]["fscore"] != rows["planar"]["fscore"]
