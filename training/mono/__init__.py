"""Depth Anything training parts for the ``mono-depth`` recipes (Yang et al., CVPR 2024).

* :mod:`.losses` — MiDaS affine-invariant loss, its CutMix area-weighted form, and the
  feature-alignment loss with a tolerance margin;
* :mod:`.augment` — the student's strong perturbations (colour jitter, grey, Gaussian blur,
  CutMix boxes on the patch grid) and the geometric augmentation of every stream;
* :mod:`.data` — the labelled synthetic stream and the unlabelled stream (real photos from
  ``TRAINING_PHOTOS`` plus synthetic frames without their labels).

The recipes themselves live in ``edgegeo.training.recipes.mono_depth``.
"""
