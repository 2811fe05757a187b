"""Device profiles (devices/*.toml): every shipped profile loads and is sane, unknown names list
the known ones, auto-detection maps device-tree models and GPUs, the daemon files ship."""
from pathlib import Path

import pytest

from edgegeo.devices.profiles import (PROFILE_DIR, available_profiles, detect_profile,
                                      load_profile)

SHIPPED = ["cpu", "jetson-agx-orin", "jetson-orin-nano", "jetson-orin-nx", "x86-gpu"]


def test_every_shipped_profile_loads():
    assert available_profiles() == SHIPPED
    for name in SHIPPED:
        profile = load_profile(name)
        assert profile.name == name and profile.description
        assert profile.backend in ("tensorrt", "onnxruntime", "torch")
        assert profile.precision in ("fp32", "fp16", "int8")
        assert all(v % 16 == 0 for v in profile.resolution)
        assert profile.max_queue >= 1 and profile.memory_budget_mib > 0
        assert 0.01 <= profile.fusion_voxel_size <= 0.1
        assert profile.fusion_trunc >= profile.fusion_voxel_size
        config = profile.fusion_config()
        assert config.voxel_size == profile.fusion_voxel_size
    assert load_profile("jetson-orin-nano").backend == "tensorrt"
    assert load_profile("cpu").fusion_device == "CPU:0"
    # Bigger devices get finer maps and more memory.
    nano, agx = load_profile("jetson-orin-nano"), load_profile("jetson-agx-orin")
    assert agx.fusion_voxel_size < nano.fusion_voxel_size
    assert agx.memory_budget_mib > nano.memory_budget_mib


def test_fusion_config_overrides_keep_the_truncation_ratio():
    profile = load_profile("cpu")
    config = profile.fusion_config(voxel_size=0.02, max_depth=5.0)
    assert config.voxel_size == 0.02 and config.max_depth == 5.0
    assert config.trunc == pytest.approx(0.02 * profile.fusion_trunc / profile.fusion_voxel_size)


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown device profile 'jetson-tx2'; available: cpu, "
                                         "jetson-agx-orin, .*x86-gpu, auto"):
        load_profile("jetson-tx2")
    with pytest.raises(FileNotFoundError):
        load_profile("/nonexistent/profile.toml")


@pytest.mark.parametrize("model, gpus, expected", [
    ("NVIDIA Jetson Orin Nano Developer Kit", [], "jetson-orin-nano"),
    ("NVIDIA Orin NX Developer Kit", [], "jetson-orin-nx"),
    ("NVIDIA Jetson Orin NX Engineering Reference Developer Kit", [], "jetson-orin-nx"),
    ("Jetson AGX Orin Developer Kit", [], "jetson-agx-orin"),
    ("", ["GPU 0: NVIDIA RTX A4000 (UUID: GPU-1234)"], "x86-gpu"),
    ("", [], "cpu"),
    ("Raspberry Pi 5 Model B Rev 1.0", [], "cpu"),
])
def test_detection(model, gpus, expected):
    assert detect_profile(model, gpus) == expected


def test_auto_on_this_machine_is_a_known_profile():
    assert load_profile("auto").name in SHIPPED


def test_custom_profile_file_is_validated(tmp_path):
    text = (PROFILE_DIR / "cpu.toml").read_text()
    custom = tmp_path / "lab.toml"
    custom.write_text(text.replace('name = "cpu"', 'name = "lab"').replace("0.05", "0.08"))
    profile = load_profile(str(custom))
    assert profile.name == "lab" and profile.fusion_voxel_size == 0.08
    for old, new, message in [
        ('precision = "fp32"', 'precision = "fp8"', "precision must be one of"),
        ("resolution = [192, 256]", "resolution = [190, 256]", "multiples of 16"),
        ("max_queue = 2", "max_queue = 0", "max_queue must be > 0"),
        ("max_queue = 2", "max_queue = 2\nthreads = 4", r"unknown field\(s\) threads"),
        ("[memory]\nbudget_mib = 4000", "", r"missing section \[memory\]"),
        ('device = "CPU:0"', 'device = "GPU"', "CPU:N or CUDA:N"),
        ("fps = 15", 'fps = "fast"', "camera.fps must be int"),
    ]:
        assert old in text, old
        custom.write_text(text.replace(old, new))
        with pytest.raises(ValueError, match=message):
            load_profile(str(custom))
    custom.write_text("name = ")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_profile(str(custom))


def test_daemon_files_ship_with_install_notes():
    import re
    import shlex

    from edgegeo.cli import build_parser

    service = (PROFILE_DIR / "edgegeo.service").read_text()
    assert "Type=notify" in service and "WatchdogSec=" in service and "KillSignal=SIGTERM" in service
    assert "systemctl enable" in service                          # how to install it
    # the unit's command line, with its default environment, is one `edgegeo serve` accepts
    defaults = dict(re.findall(r"^Environment=(\w+)=(.*)$", service, re.M))
    command = re.search(r"^ExecStart=(.*)$", service, re.M).group(1)
    command = re.sub(r"\$\{?(\w+)\}?", lambda m: defaults[m.group(1)], command)
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert args.command == "serve" and args.fuse and args.http == "127.0.0.1:8080"
    rules = (PROFILE_DIR / "99-realsense-edgegeo.rules").read_text()
    assert 'ATTRS{idVendor}=="8086"' in rules and "0b07" in rules   # D435
    assert "udevadm control --reload-rules" in rules
    assert Path(PROFILE_DIR / "profiles.py").is_file()


def test_per_model_backends(tmp_path):
    """[inference.models] names a backend for one model; the others keep the profile's."""
    text = (PROFILE_DIR / "x86-gpu.toml").read_text()
    assert "[inference.models]" not in text and "[camera]" in text
    custom = tmp_path / "lab.toml"
    custom.write_text(text.replace("[camera]", '[inference.models]\nmvs = "torch"\n\n[camera]'))
    profile = load_profile(str(custom))
    assert profile.backend_for("mvs") == "torch"
    assert profile.backend_for("mono-depth") == profile.backend != "torch"
    for table, message in [('mvs = "openvino"', "inference.models.mvs must be one of"),
                           ('depth = "torch"', "unknown model 'depth'")]:
        custom.write_text(text.replace("[camera]", f"[inference.models]\n{table}\n\n[camera]"))
        with pytest.raises(ValueError, match=message):
            load_profile(str(custom))
