"""Run ``edgegeo run`` in a subprocess and SIGTERM it mid-stream (the tests of what a stop
saves share this)."""
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_then_sigterm(run_args: list[str], after_frames: int = 3, wait_s: float = 60.0,
                     before_signal=None):
    """Start ``python -m edgegeo run *run_args`` (it must print progress lines), send SIGTERM
    once its progress line counts ``after_frames`` frames (calling ``before_signal()`` just
    before, to check the state mid-stream), wait for it to exit.

    Returns ``(returncode, stdout, stderr lines)``; fails if the frames never came."""
    command = [sys.executable, "-m", "edgegeo", "run", *run_args]
    process = subprocess.Popen(command, cwd=REPO, env=dict(os.environ, PYTHONUNBUFFERED="1"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines, flowing = [], threading.Event()

    def read_progress():
        for line in process.stderr:
            lines.append(line)
            if line.startswith("frames ") and int(line.split()[1]) >= after_frames:
                flowing.set()

    reader = threading.Thread(target=read_progress, daemon=True)
    reader.start()
    try:
        assert flowing.wait(wait_s), "".join(lines)
        if before_signal is not None:
            before_signal()
        process.send_signal(signal.SIGTERM)
        stdout = process.stdout.read()
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(5)
    return process.returncode, stdout, lines
