"""TUM RGB-D benchmark sequences (https://cvg.cit.tum.de/data/datasets/rgbd-dataset).

Folder layout::

    rgb.txt            "timestamp filename" per line, '#' comments (filename relative to root)
    depth.txt          same, for 16-bit depth PNGs, 5000 units per metre, 0 = invalid
    groundtruth.txt    "timestamp tx ty tz qx qy qz qw" per line (optional)
    intrinsics.txt     "fx fy cx cy" of the colour camera, pixels (optional; an edgegeo
                       addition: TUM's own sequences document theirs on the dataset page)
    rgb/*.png, depth/*.png

``tx ty tz`` is the colour camera's optical centre in the world and ``qx qy qz qw`` (scalar
last) its orientation, so each line is ``world_T_cam`` of an OpenCV-axes camera (TUM's camera
frame is x right, y down, z forward). Depth images are already registered to the colour camera.

Colour and depth are captured asynchronously: frames are formed by associating each colour
timestamp with the closest unused depth timestamp within ``max_difference`` seconds (TUM's
``associate.py`` rule); the pose is the ground-truth sample nearest to the colour timestamp
within the same tolerance (ground truth runs at 100 Hz). Frames with no match are dropped.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from edgegeo.data.frame import Frame
from edgegeo.data.images import load_image, read_depth_png, save_image, write_depth_png
from edgegeo.geometry import make_K, validate_K, validate_pose

TUM_DEPTH_UNITS_PER_METRE = 5000.0
INTRINSICS_FILE = "intrinsics.txt"
#: Colour intrinsics of the Freiburg 1 Kinect (640×480), from the TUM dataset page. fr1 images
#: also have radial distortion (k1 0.2624, k2 −0.9531, p1 −0.0054, p2 0.0026, k3 1.1633) that
#: these readers do not undo.
TUM_FR1_K = make_K(517.3, 516.5, 318.6, 255.3)
#: Freiburg 2 colour intrinsics (distortion k1 0.2312, k2 −0.7849, p1 −0.0033, p2 −0.0001,
#: k3 0.9172, not undone).
TUM_FR2_K = make_K(520.9, 521.0, 325.1, 249.7)
#: Freiburg 3 colour intrinsics (images already undistorted).
TUM_FR3_K = make_K(535.4, 539.2, 320.1, 247.6)
DEFAULT_MAX_DIFFERENCE_S = 0.02


def read_tum_list(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """Read a TUM ``rgb.txt``/``depth.txt`` list.

    Returns:
        ``(timestamps, filenames)``: ``(N,) float64`` seconds and N paths relative to the
        sequence root, in file order.
    Raises:
        FileNotFoundError / ValueError (naming file and line) on a missing file or bad line.
    """
    stamps, names = [], []
    for number, fields in _data_lines(path):
        if len(fields) < 2:
            raise ValueError(f"{path}:{number}: expected 'timestamp filename', got {' '.join(fields)!r}")
        stamps.append(_parse_float(fields[0], path, number))
        names.append(fields[1])
    return np.array(stamps, dtype=np.float64), names


def read_tum_trajectory(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a TUM trajectory (``groundtruth.txt`` format).

    Returns:
        ``(timestamps, world_T_cam)``: ``(N,) float64`` seconds and ``(N, 4, 4) float64``
        camera-to-world poses.
    Raises:
        FileNotFoundError / ValueError (naming file and line) on a missing file, a line without
        8 numbers, NaN/inf, or a quaternion whose norm is not ≈ 1.
    """
    stamps, poses = [], []
    for number, fields in _data_lines(path):
        if len(fields) != 8:
            raise ValueError(f"{path}:{number}: expected 'timestamp tx ty tz qx qy qz qw', "
                             f"got {len(fields)} fields")
        values = np.array([_parse_float(f, path, number) for f in fields])
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{path}:{number}: pose contains NaN or inf")
        norm = np.linalg.norm(values[4:])
        if abs(norm - 1.0) > 1e-2:
            raise ValueError(f"{path}:{number}: quaternion norm {norm:.4f} is not 1")
        pose = np.eye(4)
        pose[:3, :3] = Rotation.from_quat(values[4:]).as_matrix()
        pose[:3, 3] = values[1:4]
        stamps.append(values[0])
        poses.append(pose)
    return np.array(stamps, dtype=np.float64), np.array(poses, dtype=np.float64).reshape(-1, 4, 4)


def write_tum_trajectory(path: str | Path, timestamps: Sequence[float],
                         world_T_cam: Sequence[np.ndarray]) -> Path:
    """Write ``(N,)`` timestamps (s) and N ``(4, 4)`` camera-to-world poses in TUM format.

    The file is replaced atomically (written beside it, then renamed), so a reader — or a
    run killed while saving — never sees a half-written trajectory. Returns the path written;
    ValueError on a non-rigid pose or mismatched lengths."""
    if len(timestamps) != len(world_T_cam):
        raise ValueError(f"{len(timestamps)} timestamps but {len(world_T_cam)} poses")
    lines = ["# timestamp tx ty tz qx qy qz qw"]
    for stamp, pose in zip(timestamps, world_T_cam):
        pose = validate_pose(pose)
        quaternion = Rotation.from_matrix(pose[:3, :3]).as_quat()
        numbers = [*pose[:3, 3], *quaternion]
        lines.append(f"{stamp:.6f} " + " ".join(f"{v:.9f}" for v in numbers))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
    return path


def associate(stamps_a: np.ndarray, stamps_b: np.ndarray,
              max_difference: float = DEFAULT_MAX_DIFFERENCE_S) -> list[tuple[int, int]]:
    """One-to-one association of two timestamp lists (TUM ``associate.py`` rule).

    Candidate pairs are those with ``|a - b| < max_difference``; they are taken greedily from
    the smallest difference, each index used at most once.

    Args:
        stamps_a: ``(N,)`` seconds. stamps_b: ``(M,)`` seconds.
        max_difference: tolerance in seconds.
    Returns:
        ``(i, j)`` index pairs sorted by ``i``.
    """
    stamps_a = np.asarray(stamps_a, dtype=np.float64)
    order_b = np.argsort(stamps_b, kind="stable")
    sorted_b = np.asarray(stamps_b, dtype=np.float64)[order_b]
    lo = np.searchsorted(sorted_b, stamps_a - max_difference, side="right")
    hi = np.searchsorted(sorted_b, stamps_a + max_difference, side="left")
    candidates = [(abs(stamps_a[i] - sorted_b[k]), i, int(order_b[k]))
                  for i in range(len(stamps_a)) for k in range(lo[i], hi[i])]
    used_a, used_b, pairs = set(), set(), []
    for _, i, j in sorted(candidates):
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j))
    return sorted(pairs)


def nearest_within(stamps: np.ndarray, queries: np.ndarray, max_difference: float) -> np.ndarray:
    """Index of the sample of ``stamps`` nearest to each query, or −1 if none is within
    ``max_difference`` seconds. ``stamps`` must be sorted. Returns ``(Q,) int64``."""
    queries = np.asarray(queries, dtype=np.float64)
    if len(stamps) == 0:
        return np.full(len(queries), -1, dtype=np.int64)
    after = np.searchsorted(stamps, queries)
    left = np.clip(after - 1, 0, len(stamps) - 1)
    right = np.clip(after, 0, len(stamps) - 1)
    nearest = np.where(np.abs(stamps[left] - queries) <= np.abs(stamps[right] - queries), left, right)
    return np.where(np.abs(stamps[nearest] - queries) < max_difference, nearest, -1)


def read_intrinsics(path: str | Path) -> np.ndarray:
    """Read ``fx fy cx cy`` (pixels; whitespace or commas; '#' comments) into a ``(3, 3)`` K.

    Raises FileNotFoundError, or ValueError naming the file when it does not hold four
    numbers that make a valid K."""
    numbers = [_parse_float(text, path, number) for number, fields in _data_lines(path)
               for text in " ".join(fields).replace(",", " ").split()]
    if len(numbers) != 4:
        raise ValueError(f"{path}: expected 'fx fy cx cy' (4 numbers), got {len(numbers)}")
    return validate_K(make_K(*numbers), str(path))


def is_tum_sequence(path: str | Path) -> bool:
    """True if ``path`` is a folder holding a TUM ``rgb.txt``."""
    return (Path(path) / "rgb.txt").is_file()


class TUMSequence:
    """Frames of a TUM RGB-D sequence folder (see the module docstring for the layout).

    Index or iterate to get :class:`~edgegeo.data.frame.Frame` with ``rgb (H,W,3) uint8``,
    ``K`` = ``intrinsics``, ``depth (H,W) float32`` metres (0 = invalid; None when the folder
    has no ``depth.txt``), ``world_T_cam (4,4) float64`` (None when it has no
    ``groundtruth.txt``) and ``timestamp`` = the colour timestamp in seconds.

    Args:
        root: the sequence folder.
        intrinsics: ``(3, 3)`` colour intrinsics; None (default): the folder's
            ``intrinsics.txt`` (``fx fy cx cy``) if it has one, else :data:`TUM_FR1_K` (pass
            :data:`TUM_FR2_K` / :data:`TUM_FR3_K` for freiburg2/3 sequences).
        max_difference: association tolerance in seconds (TUM default 0.02).
    Raises:
        FileNotFoundError if ``root`` or ``rgb.txt`` is missing; ValueError on malformed lists
        or when no frame survives association. Colour frames without a depth match, or without
        a pose when ground truth exists, are dropped with one warning.
    """

    def __init__(self, root: str | Path, intrinsics: np.ndarray | None = None,
                 max_difference: float = DEFAULT_MAX_DIFFERENCE_S):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"TUM sequence folder not found: {self.root}")
        if not is_tum_sequence(self.root):
            raise FileNotFoundError(f"{self.root}: not a TUM sequence (no rgb.txt)")
        if intrinsics is None:
            intrinsics = (read_intrinsics(self.root / INTRINSICS_FILE)
                          if (self.root / INTRINSICS_FILE).is_file() else TUM_FR1_K)
        self.K = validate_K(intrinsics, "intrinsics")
        rgb_stamps, rgb_names = read_tum_list(self.root / "rgb.txt")
        n_colour = len(rgb_stamps)
        self._stamps = rgb_stamps
        self._rgb_names = rgb_names
        self._depth_names: list[str | None] = [None] * n_colour
        if (self.root / "depth.txt").is_file():
            depth_stamps, depth_names = read_tum_list(self.root / "depth.txt")
            pairs = associate(rgb_stamps, depth_stamps, max_difference)
            self._stamps = rgb_stamps[[i for i, _ in pairs]]
            self._rgb_names = [rgb_names[i] for i, _ in pairs]
            self._depth_names = [depth_names[j] for _, j in pairs]
        self._poses: list[np.ndarray | None] = [None] * len(self._rgb_names)
        if (self.root / "groundtruth.txt").is_file():
            self._keep_frames_with_pose(*read_tum_trajectory(self.root / "groundtruth.txt"),
                                        max_difference)
        if not self._rgb_names:
            raise ValueError(f"{self.root}: no colour frame has a depth image (and pose) within "
                             f"{max_difference} s")
        if len(self._rgb_names) < n_colour:
            warnings.warn(f"{self.root}: {n_colour - len(self._rgb_names)} of {n_colour} colour "
                          f"frames dropped (no depth/pose within {max_difference} s)", stacklevel=2)

    def _keep_frames_with_pose(self, pose_stamps: np.ndarray, poses: np.ndarray,
                               max_difference: float) -> None:
        order = np.argsort(pose_stamps, kind="stable")
        nearest = nearest_within(pose_stamps[order], self._stamps, max_difference)
        keep = np.flatnonzero(nearest >= 0)
        self._stamps = self._stamps[keep]
        self._rgb_names = [self._rgb_names[k] for k in keep]
        self._depth_names = [self._depth_names[k] for k in keep]
        self._poses = [poses[order[nearest[k]]] for k in keep]

    def __len__(self) -> int:
        return len(self._rgb_names)

    def __getitem__(self, index: int) -> Frame:
        depth_name = self._depth_names[index]
        depth = None if depth_name is None else read_depth_png(self.root / depth_name,
                                                               TUM_DEPTH_UNITS_PER_METRE)
        pose = self._poses[index]
        return Frame(rgb=load_image(self.root / self._rgb_names[index]), K=self.K.copy(),
                     depth=depth, world_T_cam=None if pose is None else pose.copy(),
                     timestamp=float(self._stamps[index]))

    def __iter__(self) -> Iterator[Frame]:
        return (self[i] for i in range(len(self)))


def write_tum_sequence(root: str | Path, frames: Sequence[Frame], fps: float = 30.0) -> Path:
    """Write frames as a TUM RGB-D folder readable by :class:`TUMSequence`.

    Writes ``rgb/<t>.png``, ``depth/<t>.png`` (5000 units per metre), the three lists
    (``depth.txt`` / ``groundtruth.txt`` only if every frame has depth / a pose) and
    ``intrinsics.txt`` (the first frame's K), which :class:`TUMSequence` reads back.

    Args:
        root: output folder (created).
        frames: frames with ``timestamp`` set, or all None (then ``t = index / fps``).
    Returns:
        ``root``.
    Raises:
        ValueError if only some frames have depth, a pose or a timestamp, if timestamps repeat
        (at microsecond resolution), or on depth beyond 13.1 m (the 16-bit range at 5000/m).
    """
    root = Path(root)
    if not frames:
        raise ValueError("no frames to write")
    stamps = [f.timestamp for f in frames]
    if any(s is None for s in stamps):
        if not all(s is None for s in stamps):
            raise ValueError("either every frame or no frame must have a timestamp")
        stamps = [i / fps for i in range(len(frames))]
    names = [f"{s:.6f}.png" for s in stamps]
    if len(set(names)) != len(names):
        raise ValueError("frame timestamps repeat (at microsecond resolution)")
    with_depth = _all_or_none([f.depth is not None for f in frames], "depth")
    with_pose = _all_or_none([f.world_T_cam is not None for f in frames], "world_T_cam")
    rgb_lines, depth_lines = ["# timestamp filename"], ["# timestamp filename"]
    for stamp, name, frame in zip(stamps, names, frames):
        save_image(root / "rgb" / name, frame.rgb)
        rgb_lines.append(f"{stamp:.6f} rgb/{name}")
        if with_depth:
            write_depth_png(root / "depth" / name, frame.depth, TUM_DEPTH_UNITS_PER_METRE)
            depth_lines.append(f"{stamp:.6f} depth/{name}")
    (root / "rgb.txt").write_text("\n".join(rgb_lines) + "\n")
    K = validate_K(frames[0].K)
    numbers = " ".join(repr(float(v)) for v in (K[0, 0], K[1, 1], K[0, 2], K[1, 2]))
    (root / INTRINSICS_FILE).write_text(f"# fx fy cx cy (pixels)\n{numbers}\n")
    if with_depth:
        (root / "depth.txt").write_text("\n".join(depth_lines) + "\n")
    if with_pose:
        write_tum_trajectory(root / "groundtruth.txt", stamps, [f.world_T_cam for f in frames])
    return root


def _all_or_none(flags: list[bool], what: str) -> bool:
    if any(flags) and not all(flags):
        raise ValueError(f"either every frame or no frame must have {what}")
    return all(flags)


def _data_lines(path: str | Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, whitespace-split fields) of the non-empty, non-comment lines."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"TUM list file not found: {path}")
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            yield number, line.split()


def _parse_float(text: str, path, number: int) -> float:
    try:
        return float(text)
    except ValueError as exc:
        raise ValueError(f"{path}:{number}: {text!r} is not a number") from exc
