"""Networks and their predictors, one folder a model.

- ``layers``: shared layers (``vit``, ``dpt``, ``rope``, ``tiling``).
- ``common``: helpers shared by several models (ImageNet normalisation, RGB input check).
- ``mono_depth``: ``MonoDepthNet`` (ViT + DPT, relative disparity), its named configs and
  ``MonoDepthPredictor`` (numpy image → disparity at the image's size).
- ``jbu``: ``DepthJBU`` (learned joint bilateral ×4 depth upsampling), ``JBUPredictor`` and the
  non-learned baselines (``jbu.baselines``); the exportable ``adaptive_conv`` they call is the
  op's own (``edgegeo.ops.exportable``).
- ``croco``: the CroCo v2 backbone, ``CroCoNet`` (cross-view completion pre-training) and
  ``CroCoCompleter``.
- ``mvs``, ``stereo``, ``croco_stereo``: multi-view depth, edge stereo, CroCo-Stereo.
- ``registry``: model names → (network, predictor), behind ``edgegeo.load``.
"""
