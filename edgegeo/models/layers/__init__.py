"""Layers shared by several models.

- ``rope``: 2-D rotary position embedding (CroCo v2).
- ``vit``: ViT encoder (learned or RoPE positions) returning the tokens of chosen blocks.
- ``dpt``: DPT decoder, four token sets → dense non-negative map.
- ``tiling``: tiled dense prediction over images larger than the training crop.
"""
