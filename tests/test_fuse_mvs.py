"""'edgegeo fuse --depth mvs': depth from the mvs model's keyframe stream, fused into a mesh; the
frames skipped (not keyframes, too few sources yet) are counted; missing weights are a clear
error."""
import re

import open3d as o3d
import pytest

from edgegeo.cli import main
from edgegeo.data.synthetic import generate_scene, walkthrough, write_shard
from edgegeo.models.mvs import KeyframeBuffer

FRAMES, WIDTH, HEIGHT = 12, 96, 64

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Smoke-trained mvs weights (2 sources, 8 planes, 96x64), model card beside them."""
    out = tmp_path_factory.mktemp("mvs-smoke")
    assert main(["train", "mvs", "--smoke", "--set", "val_scenes=0", "--out", str(out)]) == 0
    return out / "mvs.safetensors"


@pytest.fixture(scope="module")
def shard(tmp_path_factory):
    """A 12-frame walk-through at 5 fps (7 cm between frames: a keyframe every few frames)."""
    frames = walkthrough(generate_scene(1000), FRAMES, WIDTH, HEIGHT, seed=7, fps=5.0,
                         progress=False)
    return write_shard(tmp_path_factory.mktemp("walk") / "scene_001000", frames), frames


def keyframe_count(frames) -> int:
    buffer = KeyframeBuffer()
    return sum(buffer.try_add(frame.world_T_cam) for frame in frames)


@pytest.mark.parametrize("min_sources", [None, 2])
def test_fuses_mvs_depth_and_counts_skipped_frames(tmp_path, capsys, weights, shard,
                                                   min_sources):
    path, frames = shard
    keyframes = keyframe_count(frames)
    # Default: the card's min_sources, what the model was trained and validated with (1 for
    # smoke weights); the smoke model takes up to 2 sources.
    needed = 1 if min_sources is None else min_sources
    assert needed + 2 <= keyframes < FRAMES        # the sequence exercises both skip reasons
    mesh_path = tmp_path / "mesh.ply"
    argv = ["fuse", "--source", str(path), "--depth", "mvs", "--weights", str(weights),
            "--out", str(mesh_path), "--max-depth", "8"]
    if min_sources is not None:
        argv += ["--min-sources", str(min_sources)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    predicted = keyframes - needed
    assert (f"mvs depth for {predicted} of {FRAMES} frames; skipped {FRAMES - keyframes} (not "
            f"keyframes) + {needed} (fewer than {needed} keyframe sources") in out
    fused = int(re.search(r"(\d+) frames fused", out).group(1))
    assert fused == predicted                      # all predicted depth lies in [0.25, 8] m
    mesh = o3d.io.read_triangle_mesh(str(mesh_path))
    assert len(mesh.triangles) > 100 and mesh.has_vertex_colors()


def test_missing_weights_are_a_clear_error(tmp_path, capsys, shard, monkeypatch):
    path, _ = shard
    argv = ["fuse", "--source", str(path), "--depth", "mvs", "--out", str(tmp_path / "m.ply")]
    assert main(argv + ["--weights", str(tmp_path / "none.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "none.safetensors: no such file" in err and "edgegeo train mvs" in err
    # No --weights and nothing shipped: the registry says where it looked and how to train.
    monkeypatch.setattr("edgegeo.models.registry.WEIGHTS_DIR", tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'mvs.safetensors'} does not exist" in err and "edgegeo train mvs" in err
    assert not (tmp_path / "m.ply").exists()


def test_mvs_options_need_depth_mvs(tmp_path, capsys, weights, shard):
    path, _ = shard
    assert main(["fuse", "--source", str(path), "--weights", str(weights), "--out",
                 str(tmp_path / "m.ply")]) == 2
    assert "only apply to --depth mvs" in capsys.readouterr().err
