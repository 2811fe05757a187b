"""edgegeo: geometry perception on edge devices.

Sub-packages: ``edgegeo.geometry`` (cameras, poses, projection, warping, plane sweep),
``edgegeo.data`` (synthetic scene engine, real-data readers), ``edgegeo.metrics``,
``edgegeo.models``, and the stages ``edgegeo.training``, ``edgegeo.export``,
``edgegeo.runtime``, ``edgegeo.devices``.
"""
__version__ = "0.1.0"
