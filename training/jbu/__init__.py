"""Training parts of the JBU upsamplers (FeatUp, Fu et al., ICLR 2024); the recipes are in
``edgegeo.training.recipes.jbu``.

* :mod:`.data` — synthetic frames from pre-rendered shards (or rendered on the fly when none
  are on disk), split-checked, and the depth ×4 batches: crops, invalid-aware area
  downsampling, noise and holes;
* :mod:`.features` — the feature variant: frozen-encoder features, the jitter shared by image
  and features, the attention downsampler and the uncertainty-weighted reconstruction loss.
"""
