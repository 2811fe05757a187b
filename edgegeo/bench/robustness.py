"""``edgegeo bench robustness``: an adversarial sweep of the public API — how each bad input
ends — and what validation costs per call.

Every case runs in a forked child process (the models are loaded once, in the parent) under a
time limit, and ends as one of:

* **clear error** — ``ValueError`` (or ``FileNotFoundError`` / ``IsADirectoryError``) with a
  message: what the conventions promise;
* **valid** — a result that passes the API's own validity check (shape, dtype, finite, ranges),
  for a case that is allowed to succeed (e.g. a non-contiguous array, a list);
* **silent failure** — a result for an input that cannot have a meaningful one, or a result
  that fails the validity check;
* **unclear error** — any other exception;
* **hang** — still running at the time limit;
* **crash** — the child died (segfault, abort, out of memory).

The cases (:func:`cases`) are the classes of the sweep that opened the robustness issue:
wrong shapes / dtypes / containers, NaN / inf / huge / tiny values, empty and elongated
images, intrinsics and poses that cannot describe a camera, out-of-range op parameters and
configs, corrupt files.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

OUTCOMES = ("clear error", "valid", "silent failure", "unclear error", "hang", "crash")
CLEAR_ERRORS = (ValueError, FileNotFoundError, IsADirectoryError)


@dataclass
class Case:
    """One input to one API: ``call()`` runs it, ``check(result)`` says whether a result is
    valid, ``may_succeed`` whether a result is allowed at all."""

    api: str
    name: str
    call: Callable
    check: Callable = lambda result: True
    may_succeed: bool = False


# ------------------------------------------------------------------------------ checks
def _finite_map(shape):
    def check(out):
        out = np.asarray(out)
        return out.shape == shape and out.dtype == np.float32 and bool(np.isfinite(out).all()) \
            and float(out.min(initial=0)) >= 0
    return check


def _finite_signed(shape):
    def check(out):
        out = np.asarray(out)
        return out.shape == shape and bool(np.isfinite(out).all())
    return check


def _image(h=48, w=64):
    return np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)


BAD_IMAGES = {
    "float image": np.zeros((48, 64, 3), np.float32),
    "grey image": np.zeros((48, 64), np.uint8),
    "RGBA image": np.zeros((48, 64, 4), np.uint8),
    "empty image": np.zeros((0, 64, 3), np.uint8),
    "1000x8 image": np.zeros((1000, 8, 3), np.uint8),
    "list image": [[0, 0, 0]],
    "None": None,
}
GOOD_VARIANTS = {
    "non-contiguous image": lambda: _image(48, 128)[:, ::2],
    "Fortran-order image": lambda: np.asfortranarray(_image()),
}
BAD_K = {
    "fx 1e300": np.array([[1e300, 0, 32], [0, 1e300, 24], [0, 0, 1.0]]),
    "fx 1e-300": np.array([[1e-300, 0, 32], [0, 1e-300, 24], [0, 0, 1.0]]),
    "fx NaN": np.array([[np.nan, 0, 32], [0, 50, 24], [0, 0, 1.0]]),
    "cx 1e12": np.array([[50.0, 0, 1e12], [0, 50, 24], [0, 0, 1]]),
    "fx 0": np.array([[0.0, 0, 32], [0, 0, 24], [0, 0, 1]]),
    "K 2x2": np.eye(2),
}
FAR = np.eye(4)
FAR[0, 3] = 1e12
BAD_POSES = {"translation 1e12": FAR, "scaled rotation": np.diag([2.0, 2.0, 2.0, 1.0]),
             "NaN pose": np.full((4, 4), np.nan), "3x3 pose": np.eye(3)}
BAD_DEPTH = {
    "NaN depth": np.full((24, 32), np.nan, np.float32),
    "inf depth": np.full((24, 32), np.inf, np.float32),
    "3e38 depth": np.full((24, 32), 3e38, np.float32),
    "negative depth": np.full((24, 32), -1.0, np.float32),
    "uint16 depth": np.ones((24, 32), np.uint16),
    "3-D depth": np.ones((24, 32, 1), np.float32),
    "empty depth": np.zeros((0, 32), np.float32),
}


# ------------------------------------------------------------------------------- cases
def cases(models: dict) -> list[Case]:
    """The sweep (see the module docstring); ``models``: ``{name: predictor}`` loaded once."""
    from edgegeo.fusion import FusionConfig, TSDFFusion
    from edgegeo.fusion.tracking import RGBDTracker
    from edgegeo.ops import joint_bilateral_upsample

    out: list[Case] = []
    mono, stereo, jbu, mvs = (models[k] for k in ("mono-depth", "stereo", "jbu", "mvs"))
    K = np.array([[50.0, 0, 31.5], [0, 50.0, 23.5], [0, 0, 1]])
    for name, image in BAD_IMAGES.items():
        out.append(Case("mono-depth", name, lambda im=image: mono(im)))
        out.append(Case("stereo", name, lambda im=image: stereo(im, im)))
        out.append(Case("jbu", name, lambda im=image: jbu(np.ones((12, 16), np.float32), im)))
    for name, make in GOOD_VARIANTS.items():
        out.append(Case("mono-depth", name, lambda m=make: mono(m()), _finite_map((48, 64)),
                        True))
        out.append(Case("stereo", name, lambda m=make: stereo(m(), m()), _finite_map((48, 64)),
                        True))
    out.append(Case("stereo", "different sizes", lambda: stereo(_image(), _image(40, 64))))
    for name, depth in BAD_DEPTH.items():
        out.append(Case("jbu", name, lambda d=depth: jbu(d, _image())))
    image = _image()
    for name, bad in BAD_K.items():
        out.append(Case("mvs", name, lambda k=bad: mvs(image, k, np.eye(4), [image], [K],
                                                       [np.eye(4)])))
    for name, pose in BAD_POSES.items():
        out.append(Case("mvs", name, lambda p=pose: mvs(image, K, p, [image], [K], [np.eye(4)])))

    def fuse(depth, K_, pose, **config):
        return TSDFFusion(FusionConfig(color=False, **config)).integrate(depth, K_, pose)
    depth = np.full((48, 64), 2.0, np.float32)
    for name, bad in BAD_DEPTH.items():
        out.append(Case("fusion", name, lambda d=bad: fuse(d, K, np.eye(4))))
    for name, bad in BAD_K.items():
        out.append(Case("fusion", name, lambda k=bad: fuse(depth, k, np.eye(4))))
    for name, pose in BAD_POSES.items():
        out.append(Case("fusion", name, lambda p=pose: fuse(depth, K, p)))
    for name, config in {"voxel inf": dict(voxel_size=float("inf")),
                         "voxel 1e-30": dict(voxel_size=1e-30),
                         "max_depth inf": dict(max_depth=float("inf")),
                         "trunc < voxel": dict(voxel_size=0.1, trunc=0.01),
                         "min > max depth": dict(min_depth=5.0, max_depth=1.0)}.items():
        out.append(Case("fusion", name, lambda c=config: fuse(depth, K, np.eye(4), **c)))
    one_pixel = np.zeros((6, 6), np.float32)
    one_pixel[4, 4] = 1.0
    out.append(Case("fusion", "only pixel off Open3D's grid",
                    lambda: fuse(one_pixel, np.array([[5.0, 0, 3], [0, 5, 3], [0, 0, 1]]),
                                 np.eye(4)), lambda seconds: seconds == 0.0, True))
    out.append(Case("fusion", "strided depth", lambda: fuse(np.full((48, 128), 2.0,
                                                                    np.float32)[:, ::2], K,
                                                            np.eye(4)),
                    lambda seconds: seconds >= 0, True))

    src, guide = np.ones((12, 16), np.float32), _image(24, 32)
    for name, kwargs in {"scale 1e308": dict(scale=1e308), "scale NaN": dict(scale=np.nan),
                         "scale 0.5": dict(scale=0.5), "radius 1e6": dict(scale=2, radius=10**6),
                         "radius -1": dict(scale=2, radius=-1),
                         "sigma 0": dict(scale=2, sigma_spatial=0.0),
                         "sigma inf": dict(scale=2, sigma_range=np.inf)}.items():
        out.append(Case("bilateral op", name,
                        lambda k=kwargs: joint_bilateral_upsample(src, guide, **k)))
    for name, bad in BAD_DEPTH.items():
        if name == "negative depth":    # the op upsamples any signed map (features too)
            out.append(Case("bilateral op", "negative values",
                            lambda d=bad: joint_bilateral_upsample(d, _image(48, 64), 2),
                            _finite_signed((48, 64)), True))
            continue
        out.append(Case("bilateral op", name,
                        lambda d=bad: joint_bilateral_upsample(d, _image(48, 64), 2)))
    out.append(Case("bilateral op", "guide of another size",
                    lambda: joint_bilateral_upsample(src, _image(30, 30), 2)))

    for name, bad in BAD_DEPTH.items():
        out.append(Case("tracking", name, lambda d=bad: RGBDTracker().track(d, K)))
    for name, bad in BAD_K.items():
        out.append(Case("tracking", name, lambda k=bad: RGBDTracker().track(depth, k)))
    return out


def _file_cases(tmp: str, main=None) -> list[Case]:
    """Corrupt and hostile image files through the readers and (with ``main``, the CLI's entry
    point, which the CLI layer passes in) ``edgegeo depth``; impossible options through
    ``edgegeo run``."""
    import struct
    import zlib
    from pathlib import Path

    from edgegeo.data.images import load_image, read_depth_png

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I",
                                                                        zlib.crc32(kind + data))
    huge = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 32768, 32768, 16, 6,
                                                             0, 0, 0)) + chunk(b"IEND", b"")
    files = {"header claims 32768x32768": huge, "empty file": b"", "random bytes":
             bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8)),
             "truncated PNG": huge[:20]}
    out = []
    for name, data in files.items():
        path = Path(tmp) / f"{name.replace(' ', '_')}.png"
        path.write_bytes(data)
        out.append(Case("image files", name, lambda p=path: load_image(p)))
        out.append(Case("image files", f"{name} as depth", lambda p=path: read_depth_png(p)))
        if main is None:
            continue
        out.append(Case("edgegeo depth CLI", name,
                        lambda p=path: _exit_code(main, ["depth", str(p), "-o",
                                                         str(Path(tmp) / "o.png")])))
    out.append(Case("image files", "a folder", lambda: load_image(tmp)))
    if main is None:
        return out
    source = "synthetic://walkthrough?frames=2&size=64x48"
    for name, argv in {"--voxel inf": ["--fuse", "--voxel", "inf"],
                       "--voxel 1e-30": ["--fuse", "--voxel", "1e-30"],
                       "--max-depth -1": ["--fuse", "--max-depth", "-1"],
                       "--max-frames 0": ["--max-frames", "0"],
                       "unknown sink": ["--sink", "ftp://x"],
                       "mono on tracked fusion": ["--pipeline", "mono", "--track"]}.items():
        out.append(Case("edgegeo run CLI", name, lambda a=argv: _exit_code(
            main, ["run", "--source", source, "--out", str(Path(tmp) / "run"),
                   "--device-profile", "cpu", "--quiet", *a])))
    out.append(Case("edgegeo run CLI", "unknown source scheme", lambda: _exit_code(
        main, ["run", "--source", "gopher://x", "--out", str(Path(tmp) / "run"), "--quiet"])))
    return out


def _exit_code(main, argv):
    """A CLI run as a case: exit code 2 with its one-line message is the clear error."""
    code = main(argv)
    if code == 2:
        raise ValueError("the CLI exited 2 with its one-line error")
    return code


# ------------------------------------------------------------------------------ runner
def _child(case: Case, pipe) -> None:
    try:
        result = case.call()
    except CLEAR_ERRORS as exc:
        pipe.send(("clear error" if str(exc) else "unclear error", str(exc)[:120]))
        return
    except BaseException as exc:                      # noqa: BLE001 - classified, reported
        pipe.send(("unclear error", f"{type(exc).__name__}: {str(exc)[:100]}"))
        return
    try:
        good = bool(case.check(result))
    except Exception:                                 # noqa: BLE001 - a check that fails
        good = False
    pipe.send(("valid" if good and case.may_succeed else "silent failure", ""))


def run_case(case: Case, timeout_s: float) -> tuple[str, str]:
    """``(outcome, detail)`` of one case in a forked child (see the module docstring)."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(case, send))
    child.start()
    send.close()
    if receive.poll(timeout_s):
        outcome = receive.recv()
        child.join(10)
        return outcome
    child.join(0.1)
    if child.is_alive():
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        return "hang", f"still running after {timeout_s:g} s"
    return "crash", f"exit code {child.exitcode}"


def run_sweep(timeout_s: float = 30.0, progress=print, cli_main=None) -> list[dict]:
    """Every case, with its outcome: ``[{api, case, outcome, detail}]``; ``cli_main``
    (``edgegeo.cli.main``) adds the command-line cases."""
    import tempfile

    import torch

    import edgegeo

    torch.set_num_threads(1)
    models = {name: edgegeo.load(name) for name in ("mono-depth", "stereo", "jbu")}
    models["mvs"] = edgegeo.load("mvs", min_sources=1)     # one source reaches the checks
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgegeo-robustness-") as tmp:
        for case in cases(models) + _file_cases(tmp, cli_main):
            outcome, detail = run_case(case, timeout_s)
            rows.append(dict(api=case.api, case=case.name, outcome=outcome, detail=detail))
            if outcome not in ("clear error", "valid"):
                progress(f"  {case.api}: {case.name}: {outcome} {detail}")
    return rows


def validation_cost_us(repeats: int = 200) -> dict[str, float]:
    """Median µs of the checks a call makes before its backend, at 480×640."""
    from edgegeo.fusion import check_depth
    from edgegeo.geometry import validate_pose
    from edgegeo.limits import check_aspect, check_distances, check_intrinsics_for_image
    from edgegeo.models.common import check_rgb_image
    from edgegeo.timing import median_time

    image = _image(480, 640)
    depth = np.full((480, 640), 2.0, np.float32)
    K = np.array([[500.0, 0, 319.5], [0, 500.0, 239.5], [0, 0, 1]])
    checks = {
        "image (mono, stereo, jbu)": lambda: (check_rgb_image(image), check_aspect(480, 640)),
        "depth (fusion, tracking)": lambda: (check_depth(depth), check_distances(depth, "d")),
        "intrinsics + pose (fusion, mvs)": lambda: (check_intrinsics_for_image(K, (480, 640)),
                                                    validate_pose(np.eye(4))),
    }
    return {name: median_time(check, repeats, warmup=5)[1] * 1e6
            for name, check in checks.items()}


def tables(rows: list[dict], cost: dict[str, float]) -> tuple[str, str]:
    """The outcome table (inputs per API × outcome) and the validation-cost table."""
    from edgegeo.bench_report import markdown_table

    apis = list(dict.fromkeys(row["api"] for row in rows))
    table = []
    for api in apis + ["all"]:
        mine = [row for row in rows if api in ("all", row["api"])]
        table.append({"API": api, "inputs": len(mine),
                      **{outcome: sum(row["outcome"] == outcome for row in mine)
                         for outcome in OUTCOMES}})
    costs = [{"check": name, "µs per call (480×640)": f"{us:.0f}"} for name, us in cost.items()]
    return markdown_table(table), markdown_table(costs)
