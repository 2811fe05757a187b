"""Record benchmark results in ``docs/benchmarks.md``, one section per benchmark.

Every command that measures something (``edgegeo eval stereo|mono``, ``edgegeo bench
op|upsample|mvs|runtime``, ``edgegeo data bench``, ``edgegeo export NAME --benchmark``) only
prints its tables and saves its files under its ``--out`` folder by default. With ``--record``
(added by :func:`add_record_argument`, the one place that defines the flag) it also replaces
its own section of the benchmarks file (between ``<!-- bench:NAME -->`` markers) and leaves the
others as they are, so every table in the file states the machine and the command that
produced it. ``$EDGEGEO_BENCH_FILE`` names another file to record in (tests, trial runs);
pictures a recorded section links to go to :func:`images_dir` beside it.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import re
import shlex
import sys
from pathlib import Path

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = "# edgegeo benchmarks\n\nEvery section is written by the command it names, on the machine it names.\n"
ENV_VAR = "EDGEGEO_BENCH_FILE"
# A "|" not already escaped: inside a table cell it would end the cell.
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def bench_file() -> Path:
    """The benchmarks file ``--record`` writes: ``$EDGEGEO_BENCH_FILE``, else
    ``docs/benchmarks.md`` of the source tree."""
    return Path(os.environ.get(ENV_VAR) or DEFAULT_PATH)


def images_dir() -> Path:
    """Where ``--record`` saves the pictures its section links to: ``images/`` beside
    :func:`bench_file`."""
    return bench_file().parent / "images"


def link(path: Path | str) -> str:
    """``path`` as the benchmarks file links it (relative to its folder when possible)."""
    try:
        return os.path.relpath(Path(path).resolve(), bench_file().resolve().parent)
    except ValueError:                      # another drive (Windows)
        return str(path)


def picture_path(name: str, out: Path | str, record: bool) -> Path:
    """Default path of a picture a section links to: in :func:`images_dir` when recording
    (the link must resolve from the benchmarks file), else ``out/name``."""
    return (images_dir() if record else Path(out)) / name


def add_record_argument(parser: argparse.ArgumentParser, section: str,
                        condition: str = "") -> None:
    """Add ``--record`` to a benchmark's parser: without it the command only prints and saves
    files under its ``--out`` folder; with it the command also writes ``section`` of the
    benchmarks file (call :func:`write_section` only when ``args.record``).

    Args:
        section: the section's name, for the help text.
        condition: what else the flag needs, for the help text (e.g. "with --benchmark").
    """
    when = f"{condition}: " if condition else ""
    parser.add_argument("--record", action="store_true",
                        help=f"{when}also write section '{section}' of docs/benchmarks.md "
                             f"(${ENV_VAR} names another file); by default the results are "
                             "only printed and saved in the command's own output folder")


def machine_line() -> str:
    """One line describing this machine: CPU model, core count, OS, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def markdown_table(rows: list[dict], columns: list[str] | None = None, fmt: str = "{:.4g}") -> str:
    """Render ``rows`` (dicts sharing keys) as a markdown table; floats formatted with ``fmt``,
    a ``|`` inside a cell (an error message, a shell command) escaped so it stays in its cell."""
    columns = columns or list(rows[0])
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [UNESCAPED_PIPE.sub(r"\\|", fmt.format(v) if isinstance(v, float) else str(v))
                 for v in (row.get(c, "") for c in columns)]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def write_section(name: str, title: str, body: str, command: str | None = None,
                  path: Path | str | None = None) -> Path:
    """Replace (or append) the section ``name`` of the benchmarks file.

    ``body`` is markdown; the section gets ``title`` as a heading plus the machine, date and
    ``command`` (default: this process's command line).
    """
    path = Path(path) if path else bench_file()
    command = command or "edgegeo " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    date = _dt.date.today().isoformat()
    section = (f"<!-- bench:{name} -->\n## {title}\n\n"
               f"Machine: {machine_line()}. Date: {date}.  \nCommand: `{command}`\n\n"
               f"{body.strip()}\n<!-- /bench:{name} -->\n")
    text = path.read_text() if path.exists() else HEADER
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->\n",
                         re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
