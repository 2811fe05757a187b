"""Regressions of the adversarial sweep (issue "bad input never hangs, never lies"): each
input that hung, failed silently or raised an unclear error now gets a clear ValueError (or a
valid result), the same on every backend because the predictors check before they call it."""
import dataclasses
import struct
import zlib

import numpy as np
import pytest

import edgegeo
from edgegeo.cli import main
from edgegeo.fusion import FusionConfig, TSDFFusion
from edgegeo.ops import joint_bilateral_upsample

K6 = np.array([[5.0, 0, 3], [0, 5.0, 3], [0, 0, 1]])
FAR = np.eye(4)
FAR[0, 3] = 1e12


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a ``width × height`` 16-bit RGBA image."""
    header = struct.pack(">IIBBBBB", width, height, 16, 6, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


# --------------------------------------------------------------------------- fusion
@pytest.mark.parametrize("options, message", [
    (dict(voxel_size=float("inf")), "voxel_size must be finite"),
    (dict(voxel_size=1e-30), r"voxel_size must be in \[0.001, 1.0\]"),
    (dict(max_depth=float("inf")), "max_depth must be finite"),
    (dict(trunc=100.0), "trunc must be 1-32 voxels"),
    (dict(initial_blocks=0), "initial_blocks must be an integer >= 1"),
])
def test_fusion_config_is_validated_at_construction(options, message):
    with pytest.raises(ValueError, match=message):
        FusionConfig(**options)


@pytest.mark.parametrize("K, pose, message", [
    (np.array([[1e-6, 0, 3], [0, 1e-6, 3], [0, 0, 1]]), np.eye(4), "fx = 1e-06 px is implausible"),
    (np.array([[5.0, 0, 1e12], [0, 5.0, 3], [0, 0, 1]]), np.eye(4), "cx = 1e\\+12 px is far"),
    (K6, FAR, "translation reaches 1e\\+12 m, beyond the"),
])
def test_fusion_refuses_frames_that_cannot_add_anything(K, pose, message):
    fusion = TSDFFusion(FusionConfig(color=False))
    with pytest.raises(ValueError, match=message):
        fusion.integrate(np.ones((6, 6), np.float32), K, pose)
    assert fusion.frames_integrated == 0


def test_block_guard_samples_the_pixels_open3d_scans():
    """Open3D allocates from every 4th pixel of the H//4 x W//4 grid: (4, 4) of a 6x6 depth is
    not one of them, so the frame changes nothing (no RuntimeError from Open3D)."""
    fusion = TSDFFusion(FusionConfig(color=False))
    depth = np.zeros((6, 6), np.float32)
    depth[4, 4] = 1.0
    assert fusion.integrate(depth, K6, np.eye(4)) == 0.0 and fusion.frames_integrated == 0


def test_saving_onto_a_folder_is_refused_and_leaves_nothing(tmp_path):
    fusion = TSDFFusion(FusionConfig(color=False))
    (tmp_path / "mesh").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder"):
        fusion.save_mesh(tmp_path / "mesh")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mesh"]


# ------------------------------------------------------------------------------- ops
@pytest.mark.parametrize("src, guide, options, message", [
    (np.ones((0, 4), np.float32), np.zeros((0, 8, 3), np.uint8), dict(scale=2), "src is empty"),
    (np.ones((4, 4), np.float32), np.zeros((8, 8, 3), np.uint8), dict(scale=1e308),
     r"scale must be a number in \[1, 64\]"),
    (np.ones((4, 4), np.float32), np.zeros((8, 8, 3), np.uint8), dict(scale=2, radius=10 ** 6),
     r"radius must be an integer in \[0, 64\]"),
])
def test_bilateral_upsampling_parameters_are_bounded(src, guide, options, message):
    with pytest.raises(ValueError, match=message):
        joint_bilateral_upsample(src, guide, **options)


# ----------------------------------------------------------------------------- files
def test_an_image_header_over_the_pixel_budget_is_refused_before_decoding(tmp_path, capsys):
    from edgegeo.data.images import load_image

    path = tmp_path / "huge.png"
    path.write_bytes(_png_header_only(32768, 32768))
    assert path.stat().st_size < 100
    with pytest.raises(ValueError, match="1074 MP, over the 100 MP"):
        load_image(path)
    assert main(["depth", str(path), "-o", str(tmp_path / "out.png")]) == 2
    assert "over the 100 MP" in capsys.readouterr().err


# -------------------------------------------------------------------------- models
def test_jbu_refuses_depth_beyond_float32_sense():
    predictor = edgegeo.load("jbu")
    depth = np.full((8, 8), 3e38, np.float32)
    with pytest.raises(ValueError, match="depth reaches 3e\\+38 m"):
        predictor(depth, np.zeros((32, 32, 3), np.uint8))


@pytest.mark.parametrize("focal", [1e300, 1e-300])
def test_mvs_refuses_focal_lengths_before_any_backend(focal):
    predictor = edgegeo.load("mvs")
    K = np.array([[focal, 0, 31.5], [0, focal, 23.5], [0, 0, 1]])
    image = np.zeros((48, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="implausible"):
        predictor.check_inputs(image, K, np.eye(4), [image], [K], [np.eye(4)])


# ----------------------------------------------------------------------------- CLIs
def _tum(tmp_path, walk, half_depth=False):
    from edgegeo.data.tum import write_tum_sequence

    frames = list(walk)
    if half_depth:
        frames = [dataclasses.replace(f, depth=np.ascontiguousarray(f.depth[::2, ::2]))
                  for f in frames]
    return write_tum_sequence(tmp_path / "seq", frames)


@pytest.fixture(scope="module")
def walk():
    from edgegeo.data.synthetic import generate_scene, walkthrough

    return walkthrough(generate_scene(2), 4, 64, 48, seed=2, progress=False)


def test_fuse_skips_depth_of_another_size_and_says_so(walk, tmp_path, capsys):
    folder = _tum(tmp_path, walk, half_depth=True)
    (folder / "intrinsics.txt").unlink()
    code = main(["fuse", "--source", str(folder), "--out", str(tmp_path / "m.ply"),
                 "--no-color"])
    captured = capsys.readouterr()
    assert code == 1 and "no frame of" in captured.err
    assert "depth 32x24 does not match the image 64x48" in captured.err
    assert not (tmp_path / "m.ply").exists()
    code = main(["fuse", "--source", str(folder), "--out", str(tmp_path / "m.ply"), "--no-color",
                 "--strict"])
    assert code == 2 and "does not match the image" in capsys.readouterr().err


def test_fuse_and_run_both_skip_a_missing_frame(walk, tmp_path, capsys):
    folder = _tum(tmp_path, walk)
    sorted((folder / "rgb").iterdir())[1].unlink()
    code = main(["fuse", "--source", str(folder), "--out", str(tmp_path / "m.ply"),
                 "--max-depth", "10"])
    captured = capsys.readouterr()
    assert code == 0 and "1 bad frames skipped" in captured.out
    assert "skipped frame 1" in captured.err
    code = main(["fuse", "--source", str(folder), "--out", str(tmp_path / "m.ply"), "--strict"])
    assert code == 2
    code = main(["run", "--source", f"file://{folder}/", "--fuse", "--out",
                 str(tmp_path / "run"), "--device-profile", "cpu", "--max-depth", "10",
                 "--quiet"])
    assert code == 0


def test_run_refuses_an_impossible_voxel(tmp_path, capsys):
    code = main(["run", "--source", "synthetic://walkthrough?frames=2&size=64x48", "--fuse",
                 "--voxel", "inf", "--out", str(tmp_path), "--device-profile", "cpu"])
    assert code == 2 and "voxel_size must be finite" in capsys.readouterr().err
