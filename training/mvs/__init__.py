"""Training parts of the ``mvs`` recipe (SimpleRecon, Sayed et al., ECCV 2022); the recipe
itself is ``edgegeo.training.recipes.mvs``, the model and losses ``edgegeo.models.mvs``.

* :mod:`.data` — posed synthetic walk-throughs (rendered in memory or read from shards) and the
  reference + sources tuples drawn from them;
* :mod:`.cards` — the network config of a recipe config, and ``model_config`` for model cards.
"""
