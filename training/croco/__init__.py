"""Parts of the ``croco`` (cross-view completion pre-training) and ``stereo`` (CroCo-Stereo
fine-tuning) recipes: two-view data and losses."""
