"""Evaluation metrics: ``depth`` (metric and affine-invariant depth maps), ``stereo``
(EPE, bad-x, D1), ``mesh`` (accuracy, completeness, chamfer, F-score)."""
