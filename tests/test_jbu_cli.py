"""``edgegeo upsample`` (the user command) and ``edgegeo bench upsample`` on tiny data."""
import numpy as np
import pytest
import torch

from edgegeo.cli import main
from edgegeo.data.frame import Frame
from edgegeo.data.images import read_depth_png, save_image, write_depth_png
from edgegeo.data.synthetic import write_shard
from edgegeo.models.jbu import DepthJBU, JBUConfig
from edgegeo.weights_io import save_weights


def _scene(height=48, width=64, seed=0):
    """An image with a bright square in front of a darker wall, and its depth."""
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 60, np.uint8)
    depth = np.full((height, width), 4.0, np.float32)
    top, left = rng.integers(4, height // 2), rng.integers(4, width // 2)
    image[top:top + 16, left:left + 20] = 220
    depth[top:top + 16, left:left + 20] = 1.5
    return image, depth


@pytest.fixture()
def weights(tmp_path):
    torch.manual_seed(0)
    card = {"recipe": "jbu", "command": "test", "data": "none", "seed": 0, "wall_time_s": 0.0,
            "metrics": {}, "model_config": JBUConfig.named("tiny").to_dict()}
    return save_weights(DepthJBU(JBUConfig.named("tiny")), "jbu", card, tmp_path / "w")


@pytest.mark.parametrize("method", ["jbu", "fixed", "bilinear"])
@pytest.mark.parametrize("suffix", [".png", ".npy"])
def test_upsample_command(tmp_path, weights, method, suffix, capsys):
    image, depth = _scene()
    low = depth.reshape(12, 4, 16, 4).mean((1, 3))
    low[0, :3] = 0                                           # invalid pixels
    save_image(tmp_path / "image.png", image)
    write_depth_png(tmp_path / "low.png", low)
    out = tmp_path / f"out{suffix}"
    args = ["upsample", str(tmp_path / "low.png"), str(tmp_path / "image.png"), "-o", str(out),
            "--method", method, "--preview", str(tmp_path / "preview.png")]
    if method == "jbu":
        args += ["--weights", str(weights)]
    assert main(args) == 0
    assert f"{method}: depth 16x12 -> 64x48" in capsys.readouterr().out
    result = read_depth_png(out) if suffix == ".png" else np.load(out)
    assert result.shape == (48, 64) and result.dtype == np.float32
    # invalid stays invalid (the fixed op fills pixels that have a valid sample in reach)
    assert (result[:2, :9] == 0).all() if method == "fixed" else (result[:4, :12] == 0).all()
    valid = result > 0
    assert valid.mean() > 0.9
    assert result[valid].min() >= 1.5 - 1e-3 and result[valid].max() <= 4.0 + 1e-3
    assert (tmp_path / "preview.png").is_file()


def test_upsample_command_errors(tmp_path, capsys):
    image, depth = _scene()
    save_image(tmp_path / "image.png", image)
    np.save(tmp_path / "low.npy", depth[::4, ::4].copy())
    assert main(["upsample", str(tmp_path / "low.npy"), str(tmp_path / "image.png"),
                 "-o", str(tmp_path / "out.tif")]) == 2
    assert "must end in .png" in capsys.readouterr().err
    assert main(["upsample", str(tmp_path / "missing.npy"), str(tmp_path / "image.png"),
                 "-o", str(tmp_path / "out.npy")]) == 2
    assert "not found" in capsys.readouterr().err
    np.save(tmp_path / "big.npy", np.ones((96, 128), np.float32))
    assert main(["upsample", str(tmp_path / "big.npy"), str(tmp_path / "image.png"),
                 "-o", str(tmp_path / "out.npy"), "--method", "bilinear"]) == 2
    assert "smaller than the depth" in capsys.readouterr().err


def _write_shards(folder, seeds):
    for seed in seeds:
        frames = []
        for index in range(2):
            image, depth = _scene(seed=seed * 10 + index)
            frames.append(Frame(rgb=image, K=np.eye(3), depth=depth, world_T_cam=np.eye(4)))
        write_shard(folder / f"scene_{seed:06d}", frames)


def test_bench_upsample_writes_its_section(tmp_path, weights, monkeypatch, capsys):
    report = tmp_path / "docs" / "benchmarks.md"
    monkeypatch.setenv("EDGEGEO_BENCH_FILE", str(report))
    _write_shards(tmp_path / "test", [1000, 1001])
    _write_shards(tmp_path / "train", [0])
    picture = tmp_path / "docs" / "images" / "jbu.png"
    assert main(["bench", "upsample", "--test-data", str(tmp_path / "test"),
                 "--train-data", str(tmp_path / "train"), "--weights", str(weights),
                 "--quick", "--tune-frames", "2", "--picture", str(picture),
                 "--feature-weights", "", "--record"]) == 0
    text = report.read_text()
    assert "<!-- bench:upsample-depth -->" in text and "4 held-out synthetic frames" in text
    rows = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ")]
    assert rows[1:] == ["bilinear", "bicubic", "OpenCV ximgproc.jointBilateralFilter",
                        "OpenCV ximgproc.guidedFilter", "fixed JBU (edgegeo.ops)",
                        "learned JBU (ours)"]
    assert "](images/jbu.png)" in text
    assert picture.is_file() and picture.stat().st_size < 300_000
    assert "tuned fixed_jbu on 2 training frames" in capsys.readouterr().out


def test_bench_upsample_refuses_training_seeds_as_test_data(tmp_path, weights, capsys):
    _write_shards(tmp_path / "test", [5])
    assert main(["bench", "upsample", "--test-data", str(tmp_path / "test"),
                 "--train-data", str(tmp_path / "test"), "--weights", str(weights),
                 "--no-render"]) == 2
    assert "scene seeds in [1000, 2000)" in capsys.readouterr().err
