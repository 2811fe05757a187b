"""``edgegeo serve``: run one pipeline as a supervised service (systemd ``Type=notify`` with
watchdog, health and Prometheus metrics on a local HTTP port) — see
:mod:`edgegeo.runtime.service`. Options come from a TOML file (``--config``) and/or flags; a
flag given on the command line wins."""
from __future__ import annotations

import argparse
import sys

CONFIG_KEYS = {"source": str, "pipeline": str, "fuse": bool, "track": bool, "out": str,
               "device_profile": str, "http": str, "zenoh": str, "sinks": list}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="run a pipeline as a service: systemd notify/watchdog, /healthz, /metrics",
        description="Run one pipeline until stopped, as a systemd Type=notify service: READY "
                    "once the first frame went through, WATCHDOG pings while frames flow (or "
                    "the camera reconnects), STATUS lines, STOPPING on SIGTERM (the map is "
                    "saved). Health (GET /healthz: 200 ok, 503 otherwise), Prometheus metrics "
                    "(GET /metrics) and POST /map/save, /map/reset on --http (localhost).",
        epilog="config file (TOML), keys as the flags: source, pipeline, fuse, track, out, "
               "device_profile, http, zenoh, sinks = [URI, ...]. See devices/edgegeo.service.")
    parser.add_argument("--config", metavar="FILE.toml", help="options from a TOML file")
    parser.add_argument("--source", metavar="URI", help="frame source (as edgegeo run)")
    parser.add_argument("--pipeline", help="gt, mono, stereo or mvs (default gt)")
    parser.add_argument("--fuse", action=argparse.BooleanOptionalAction, default=None,
                        help="fuse a TSDF map (default on)")
    parser.add_argument("--track", action=argparse.BooleanOptionalAction, default=None,
                        help="camera tracking (default: when the source has no poses)")
    parser.add_argument("--out", metavar="DIR", help="output folder (default out/serve)")
    parser.add_argument("--device-profile", metavar="NAME", help="device profile (default auto)")
    parser.add_argument("--http", metavar="HOST:PORT",
                        help="health and metrics address (default 127.0.0.1:8080; 'off': none)")
    parser.add_argument("--zenoh", metavar="ENDPOINT",
                        help="publish ROS 2 topics live over zenoh in rmw_zenoh's format, "
                             "listening on ENDPOINT (e.g. tcp/127.0.0.1:7447); default: none")
    parser.add_argument("--sink", action="append", metavar="URI", dest="sinks",
                        help="an extra output by URI (repeatable; as edgegeo run)")
    parser.set_defaults(func=run)


def options(args: argparse.Namespace) -> dict:
    """The service's options: defaults < ``--config`` file < flags; ValueError naming a bad
    key or value."""
    from pathlib import Path

    try:
        import tomllib
    except ModuleNotFoundError:          # Python 3.10 (JetPack)
        import tomli as tomllib

    merged = dict(pipeline="gt", fuse=True, track=None, out="out/serve", device_profile="auto",
                  http="127.0.0.1:8080", sinks=[])
    if args.config:
        path = Path(args.config)
        if not path.is_file():
            raise FileNotFoundError(f"--config {path}: no such file")
        try:
            loaded = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"--config {path}: not valid TOML ({exc})") from None
        for key, value in loaded.items():
            if key not in CONFIG_KEYS:
                raise ValueError(f"--config {path}: unknown key {key!r}; use "
                                 f"{', '.join(CONFIG_KEYS)}")
            if not isinstance(value, CONFIG_KEYS[key]):
                raise ValueError(f"--config {path}: {key} must be a "
                                 f"{CONFIG_KEYS[key].__name__}, got {value!r}")
            merged[key] = value
    for key in CONFIG_KEYS:
        value = getattr(args, key, None)
        if value is not None:
            merged[key] = value
    if not merged.get("source"):
        raise ValueError("no source: give --source URI or 'source' in --config")
    return merged


def run(args: argparse.Namespace) -> int:
    import logging
    from pathlib import Path

    from edgegeo.runtime.assembly import RunSpec, assemble_run
    from edgegeo.runtime.service import Service, parse_listen
    from edgegeo.runtime.sources import SourceError

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")   # one line per event
    opts = options(args)
    http = None if opts["http"] == "off" else parse_listen(opts["http"])
    out = Path(opts["out"])
    out.mkdir(parents=True, exist_ok=True)
    sinks = list(opts["sinks"])
    if opts["fuse"]:
        sinks = [f"ply://{out}?every=30", f"tum://{out}/trajectory.txt"] + sinks
    if opts.get("zenoh"):
        sinks.append(f"zenoh://{opts['zenoh']}")
    spec = RunSpec(source=opts["source"], pipeline=opts["pipeline"], fuse=opts["fuse"],
                   sinks=tuple(sinks), profile=opts["device_profile"], track=opts["track"])
    try:
        assembled = assemble_run(spec)
    except SourceError as exc:
        print(f"edgegeo serve: error: {exc}", file=sys.stderr)
        return 1
    with assembled:
        for note in assembled.notes:
            logging.getLogger("edgegeo.serve").info(note)
        return Service(assembled, out, http).run(info=dict(command=" ".join(sys.argv)))
