"""Build the Cython extensions: every ``*.pyx`` under ``edgegeo/`` becomes a module of the same
dotted name, compiled with OpenMP. No torch at build time."""
import sys
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup

ROOT = Path(__file__).parent
STAGES = {"training": "edgegeo.training", "export": "edgegeo.export",
          "runtime": "edgegeo.runtime", "devices": "edgegeo.devices"}


def _packages():
    # edgegeo/<stage> are symlinks to the stage folders (for import-linter, see pyproject.toml);
    # the stages are packaged from their own folders below, so the links are left out here.
    links = [pattern for name in STAGES.values() for pattern in (name, f"{name}.*")]
    pkgs = find_packages(include=["edgegeo", "edgegeo.*"], exclude=links)
    for folder, name in STAGES.items():
        pkgs.append(name)
        pkgs += [f"{name}.{sub}" for sub in find_packages(where=folder)]
    return pkgs


def _extensions():
    openmp = [] if sys.platform == "darwin" else ["-fopenmp"]
    exts = []
    for pyx in sorted((ROOT / "edgegeo").rglob("*.pyx")):
        rel = pyx.relative_to(ROOT).with_suffix("")
        exts.append(Extension(
            ".".join(rel.parts), [str(pyx.relative_to(ROOT))],
            include_dirs=[np.get_include()],
            extra_compile_args=["-O3", *openmp], extra_link_args=openmp,
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        ))
    return cythonize(exts, language_level=3, compiler_directives={"boundscheck": False,
                     "wraparound": False, "cdivision": True, "initializedcheck": False})


setup(packages=_packages(), ext_modules=_extensions())
