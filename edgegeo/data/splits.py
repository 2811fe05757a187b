"""Which data may train what: the split every recipe and evaluation in edgegeo follows.

Synthetic scenes are identified by their generator seed. Training recipes draw scenes only
from ``TRAIN_SEEDS``, model selection from ``VAL_SEEDS``, and every number reported as
"held-out" comes from ``TEST_SEEDS`` (the demo's default scene, 1000, is the first of them).
The real Middlebury *Motorcycle* pair is evaluation-only: no recipe may use it, even unlabelled.
"""
from __future__ import annotations

TRAIN_SEEDS = range(0, 900)
VAL_SEEDS = range(900, 1000)
TEST_SEEDS = range(1000, 2000)

EVALUATION_ONLY_IMAGES = ("motorcycle_left.png", "motorcycle_right.png")
"""scikit-image files that are test data: never used by a training recipe."""

# scikit-image photos and textures recipes may use as (unlabelled) real images. Each is a
# ``skimage.data`` function name; all ship inside the scikit-image wheel.
TRAINING_PHOTOS = ("astronaut", "brick", "camera", "cat", "chelsea", "coffee", "coins",
                   "grass", "gravel", "hubble_deep_field", "immunohistochemistry", "logo",
                   "moon", "page", "retina", "rocket", "text")


def check_seeds(seeds, split: range, purpose: str) -> None:
    """Raise ``ValueError`` if any scene seed in ``seeds`` lies outside ``split``."""
    outside = sorted(set(seeds) - set(split))
    if outside:
        raise ValueError(f"{purpose} must use scene seeds in [{split.start}, {split.stop}); "
                         f"got {outside[:5]}{'…' if len(outside) > 5 else ''}")
