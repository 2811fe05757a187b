"""The ``edgegeo`` command line (also ``python -m edgegeo``).

Each subcommand lives in its own module of this package and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (called with the parsed namespace, returns an exit code).
Heavy imports (torch, open3d) happen inside the command functions, so ``--help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys


def _command_modules() -> list[str]:
    """Names of the subcommand modules in this package (every module but this one)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def build_parser() -> argparse.ArgumentParser:
    from edgegeo import __version__

    parser = argparse.ArgumentParser(
        prog="edgegeo",
        description="Geometry perception on edge devices: depth, stereo, multi-view depth, "
                    "bilateral upsampling and TSDF fusion.",
        epilog="Run 'edgegeo COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"edgegeo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _command_modules():
        importlib.import_module(f"edgegeo.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError,
            PermissionError) as exc:
        # Bad input is the user's to fix: one clear line, no traceback.
        print(f"edgegeo {args.command}: error: {exc}", file=sys.stderr)
        return 2
