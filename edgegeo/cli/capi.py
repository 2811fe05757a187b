"""``edgegeo capi``: build the C API's shared library and print the compiler flags to use it
(as ``python3-config`` does)::

    cc app.c $(edgegeo capi --cflags) $(edgegeo capi --libs) -o app
"""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "capi", help="the C API: compiler flags for edgegeo.h and libedgegeo.so",
        description="Print what to pass to cc to use edgegeo from C: --cflags (the include "
                    "path of edgegeo.h), --libs (libedgegeo.so, built on first use, with rpaths "
                    "so the program runs without LD_LIBRARY_PATH or an activated virtualenv). "
                    "--build rebuilds the library; --overhead measures the cost of one C call "
                    "into the runtime. Examples: examples/c/.")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--cflags", action="store_true", help="compiler flags")
    group.add_argument("--libs", action="store_true", help="linker flags")
    group.add_argument("--pkg-config", action="store_true",
                       help="print a pkg-config file (save it as edgegeo.pc on "
                            "PKG_CONFIG_PATH, then `pkg-config --cflags --libs edgegeo`)")
    group.add_argument("--build", action="store_true", help="(re)build libedgegeo.so")
    group.add_argument("--overhead", action="store_true",
                       help="what a C call costs: an empty call, eg_depth against the same "
                            "Python call, a 640x480 RGB-D push")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgegeo.runtime.capi import build

    if args.cflags:
        print(build.cflags())
    elif args.libs:
        print(build.libs())
    elif args.pkg_config:
        from edgegeo import __version__

        print(f"Name: edgegeo\nDescription: edgegeo C API (edgegeo.h, libedgegeo.so)\n"
              f"Version: {__version__}\nCflags: {build.cflags()}\nLibs: {build.libs()}")
    elif args.build:
        print(build.build(force=True))
    else:
        cost = build.call_overhead()
        print(f"empty C call (eg_init): {cost['empty_call_us']:.2f} µs\n"
              f"eg_depth 192x256 from C: {cost['depth_ms']:.2f} ms; the same call from Python: "
              f"{cost['python_depth_ms']:.2f} ms\n"
              f"eg_pipeline_push_rgbd 640x480: {cost['push_us']:.0f} µs (copy + queue)")
    return 0
