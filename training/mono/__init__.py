"""Depth Anything training parts for the ``mono-depth`` recipes (Yang et al., CVPR 2024).

* :mod:`.losses` — MiDaS affine-invariant loss, its CutMix area-weighted form, MiDaS's
  multi-scale gradient matching, and the feature-alignment loss with a tolerance margin;
* :mod:`.augment` — the student's strong perturbations (colour jitter, grey, Gaussian blur,
  CutMix boxes on the patch grid), the camera augmentation of labelled frames and the
  geometric augmentation of every stream;
* :mod:`.data` — the labelled synthetic stream and the unlabelled stream (real photos from
  ``TRAINING_PHOTOS`` plus synthetic frames without their labels);
* :mod:`.render` — renders the labelled data (object-centred scenes, rooms) as shards;
* :mod:`.evaluate_checkpoints`, :mod:`.figure`, :mod:`.latency` — Motorcycle and held-out
  metrics over checkpoints and input sizes, the Motorcycle picture, ORT latency next to the
  DA-V2-S architecture.

The recipes themselves live in ``edgegeo.training.recipes.mono_depth``.
"""
