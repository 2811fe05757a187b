"""Networks and their predictors, one folder a model.

- ``layers``: shared layers (``vit``, ``dpt``, ``rope``, ``tiling``).
- ``common``: helpers shared by several models (ImageNet normalisation, RGB input check).
- ``mono_depth``: ``MonoDepthNet`` (ViT + DPT, relative disparity), its named configs and
  ``MonoDepthPredictor`` (numpy image → disparity at the image's size).
- ``jbu``: ``DepthJBU`` (learned joint bilateral ×4 depth upsampling), ``JBUPredictor``, the
  exportable ``adaptive_conv`` wrapper (``jbu.ops``) and the non-learned baselines
  (``jbu.baselines``).
- ``registry``: model names → (network, predictor), behind ``edgegeo.load``.
"""
