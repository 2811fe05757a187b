"""Networks and their predictors.

- ``rope``: 2-D rotary position embedding (CroCo v2).
- ``vit``: ViT encoder (learned or RoPE positions) returning the tokens of chosen blocks.
- ``dpt``: DPT decoder, four token sets → dense non-negative map.
- ``mono_depth``: ``MonoDepthNet`` (ViT + DPT, relative disparity) and its named configs.
- ``predictor``: ``MonoDepthPredictor``, numpy image → disparity at the image's size.
- ``registry``: model names → (network, predictor), behind ``edgegeo.load``.
"""
