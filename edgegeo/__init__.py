"""edgegeo: geometry perception on edge devices.

Sub-packages: ``edgegeo.geometry`` (cameras, poses, projection, warping, plane sweep),
``edgegeo.data`` (synthetic scene engine, real-data readers), ``edgegeo.metrics``,
``edgegeo.models``, and the stages ``edgegeo.training``, ``edgegeo.export``,
``edgegeo.runtime``, ``edgegeo.devices``. ``edgegeo.load(name)`` gives a ready predictor for a
trained model.
"""
__version__ = "0.1.0"


def load(name: str, backend: str = "torch", device: str = "cpu", **options):
    """A ready predictor for a named model (``"mono-depth"``, …) with its trained weights.

    Imports torch and the model registry on first call, so ``import edgegeo`` stays cheap.
    See :func:`edgegeo.models.registry.load` for the arguments (``weights=``, ``config=``,
    predictor options such as ``resolution=``) and errors.

    Example::

        predictor = edgegeo.load("mono-depth")
        disparity = predictor(rgb)   # (H, W, 3) uint8 RGB -> (H, W) float32, larger = nearer
    """
    from edgegeo.models.registry import load as load_model

    return load_model(name, backend=backend, device=device, **options)
