"""Classical (non-learned) baselines our models are compared with: ``sgbm`` (OpenCV
semi-global block matching for stereo)."""
