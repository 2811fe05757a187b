"""edgegeo: geometry perception on edge devices.

Sub-packages, in layers. The core: ``edgegeo.geometry`` (cameras, poses, projection, warping,
plane sweep), ``edgegeo.data`` (synthetic scene engine, real-data readers),
``edgegeo.metrics``, ``edgegeo.ops``, ``edgegeo.models``, ``edgegeo.fusion`` (TSDF). The stages,
which import the core and never the reverse: ``edgegeo.training``, ``edgegeo.export``,
``edgegeo.runtime``, ``edgegeo.devices``. Above them: ``edgegeo.bench`` (benchmarks and
evaluation), ``edgegeo.cli`` and ``edgegeo.api``, whose ``load(name)`` (``edgegeo.load``) gives a
ready predictor for a trained model. The rules are import-linter contracts in
``pyproject.toml`` (``lint-imports``).
"""
__version__ = "0.1.0"


def load(name: str, backend: str = "torch", device: str = "cpu", **options):
    """A ready predictor for a named model (``"mono-depth"``, …) with its trained weights.

    Imports torch and the model registry on first call, so ``import edgegeo`` stays cheap.
    See :func:`edgegeo.api.load` for the arguments (``weights=``, ``config=``,
    predictor options such as ``resolution=``) and errors.

    Example::

        predictor = edgegeo.load("mono-depth")
        disparity = predictor(rgb)   # (H, W, 3) uint8 RGB -> (H, W) float32, larger = nearer
    """
    from edgegeo.api import load as load_model

    return load_model(name, backend=backend, device=device, **options)


def available_models() -> list[str]:
    """The names :func:`load` accepts, sorted (imports torch and the model registry)."""
    from edgegeo.api import available_models as registered

    return registered()
