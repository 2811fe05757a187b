"""The package's layering holds: the import-linter contracts of ``pyproject.toml`` pass,
``import edgegeo`` stays free of the stages, and no two top-level subpackages import each other.

The import graph is grimp's (what ``lint-imports`` checks): built from the source files, so a
function-level (lazy) import counts like a module-level one. grimp finds modules by walking the
folder of ``edgegeo``; the stages live in other folders (setuptools ``package-dir``) and are
linked into it (``edgegeo/training -> ../training``, ...), which
:func:`test_every_mapped_stage_is_linked_into_the_package_folder` keeps true.
"""
import itertools
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
STAGES = ("training", "export", "runtime", "devices")
ABOVE = ("bench", "api", "cli")
SUBPACKAGES = ("geometry", "data", "metrics", "ops", "models", "fusion", *STAGES, *ABOVE)


def test_every_mapped_stage_is_linked_into_the_package_folder():
    mapping = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"]
    stages = {name.split(".", 1)[1]: folder for name, folder in mapping.items()
              if name.startswith("edgegeo.")}
    assert sorted(stages) == sorted(STAGES)
    for stage, folder in stages.items():
        link = REPO / "edgegeo" / stage
        assert link.is_symlink() and link.resolve() == (REPO / folder).resolve(), (
            f"edgegeo/{stage} must be a symlink to ../{folder}, or import-linter cannot see "
            f"edgegeo.{stage}")


def test_import_linter_contracts_hold():
    pytest.importorskip("importlinter", reason="import-linter (the [dev] extra) not installed")
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=REPO, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_import_edgegeo_loads_no_stage():
    code = ("import edgegeo, sys; print(' '.join(sorted(m for m in sys.modules "
            "if m.startswith('edgegeo.'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.split()
    loaded = {name.split(".")[1] for name in out}
    assert not loaded & {*STAGES, *ABOVE}, f"import edgegeo loaded {out}"


def test_no_two_subpackages_import_each_other():
    """For every pair of top-level subpackages, grimp finds an import chain (direct or
    through other modules) in at most one direction. A cycle between packages needs a chain
    each way, so none exists."""
    grimp = pytest.importorskip("grimp", reason="grimp (installed by import-linter) missing")
    graph = grimp.build_graph("edgegeo", cache_dir=None)
    packages = [f"edgegeo.{name}" for name in SUBPACKAGES]
    missing = [name for name in packages if name not in graph.modules]
    assert not missing, f"not in the import graph: {missing}"
    both_ways = [(a, b) for a, b in itertools.combinations(packages, 2)
                 if graph.chain_exists(a, b, as_packages=True)
                 and graph.chain_exists(b, a, as_packages=True)]
    assert not both_ways, f"subpackages importing each other: {both_ways}"
