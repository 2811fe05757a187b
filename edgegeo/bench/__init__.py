"""Benchmarks and evaluations: the one home of the code behind ``edgegeo bench`` and
``edgegeo eval stereo``.

- ``op``: ``adaptive_conv`` (Cython) against the unfold + einsum reference (``bench op``).
- ``jbu``: depth ×N upsampling, learned JBU against interpolation and filters (``bench upsample``).
- ``mvs``: multi-view depth and fused meshes on held-out walk-throughs (``bench mvs``);
  ``mvs_pictures``: its depth/error strips and mesh renderings.
- ``stereo``: learned stereo models beside the classical baselines (``eval stereo``).

A layer above the stages: it may import the core and ``edgegeo.training`` / ``export`` /
``runtime``; nothing but ``edgegeo.cli`` imports it (``import-linter`` contracts in
``pyproject.toml``). Import the modules themselves: this package imports nothing.
"""
