"""Write benchmark results into ``docs/benchmarks.md``, one section per benchmark.

Each ``edgegeo bench``/``edgegeo eval`` command that measures something replaces its own
section (between ``<!-- bench:NAME -->`` markers) and leaves the others as they are, so every
table in the file states the machine and the command that produced it.
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import shlex
import sys
from pathlib import Path

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = "# edgegeo benchmarks\n\nEvery section is written by the command it names, on the machine it names.\n"


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
    """Render ``rows`` (dicts sharing keys) as a markdown table; floats formatted with ``fmt``."""
    columns = columns or list(rows[0])
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [fmt.format(v) if isinstance(v, float) else str(v) for v in (row.get(c, "") for c in columns)]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def write_section(name: str, title: str, body: str, command: str | None = None,
                  path: Path | str | None = None) -> Path:
    """Replace (or append) the section ``name`` of the benchmarks file.

    ``body`` is markdown; the section gets ``title`` as a heading plus the machine, date and
    ``command`` (default: this process's command line).
    """
    path = Path(path or os.environ.get("EDGEGEO_BENCH_FILE", DEFAULT_PATH))
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
