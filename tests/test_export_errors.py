"""Bad input to the export layer: clear errors and no partial files left behind."""
import dataclasses
import importlib.util
import json

import pytest
import torch

from edgegeo.cli import main
from edgegeo.export import ParityError, export_model, get_spec, runtime_network, specs
from edgegeo.export.cache import _umask, atomic_output
from edgegeo.export.calibration import parse_calib
from edgegeo.export.onnx_export import load_checked
from edgegeo.export.ort_runner import OrtRunner
from edgegeo.export.tensorrt_engine import EngineCache, EngineKey
from edgegeo.models.mono_depth import MonoDepthNet, MonoDepthNetConfig

SIZE = (32, 48)


@pytest.fixture(scope="module")
def network():
    torch.manual_seed(0)
    return MonoDepthNet(MonoDepthNetConfig.tiny()).eval()


def test_unknown_model_is_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown model 'nope'.*mono-depth"):
        export_model("nope", "fp32", tmp_path)
    assert main(["export", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_unsupported_precision_is_refused(tmp_path, network, monkeypatch):
    with pytest.raises(ValueError, match="unknown precision 'int4'"):
        export_model("mono-depth", "int4", tmp_path, network=network)
    limited = dataclasses.replace(get_spec("mono-depth"), precisions=("fp32", "fp16"))
    monkeypatch.setitem(specs.EXPORT_SPECS, "mono-depth", limited)
    with pytest.raises(ValueError, match="does not support precision 'int8'"):
        export_model("mono-depth", "int8", tmp_path, network=network)
    with pytest.raises(ValueError, match="does not support precision 'int8'"):
        runtime_network("mono-depth", network, "onnxruntime", "int8", cache=tmp_path)
    with pytest.raises(ValueError, match="unknown backend"):
        runtime_network("mono-depth", network, "tflite", "fp32", cache=tmp_path)
    assert not any(tmp_path.iterdir())


def test_bad_calibration_is_refused_before_any_work(tmp_path, network):
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match="calibration folder not found"):
        export_model("mono-depth", "int8", out, network=network, calib=tmp_path / "missing")
    with pytest.raises(ValueError, match="synthetic:N"):
        parse_calib("synthetic:0")
    with pytest.raises(ValueError, match="calibration method"):
        export_model("mono-depth", "int8", out, network=network, calib="synthetic:1",
                     calib_method="kl")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        export_model("mono-depth", "int8", out, network=network, calib=tmp_path / "empty",
                     size=SIZE, parity_sources=("random:1",))
    assert not out.exists() or not any(out.iterdir())


def test_corrupt_or_truncated_onnx_gives_a_clear_error(tmp_path, network):
    result = export_model("mono-depth", "fp32", tmp_path, network=network, size=SIZE,
                          parity_sources=("random:1",))
    data = result.onnx_path.read_bytes()
    for name, content in (("truncated.onnx", data[: len(data) // 2]),
                          ("garbage.onnx", b"\x00\xff not a model" * 10),
                          ("empty.onnx", b"")):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ValueError, match=f"{name}.*(corrupt|truncated)"):
            OrtRunner(path, providers="cpu")
        with pytest.raises(ValueError, match="corrupt|truncated"):
            load_checked(path)
    with pytest.raises(FileNotFoundError):
        OrtRunner(tmp_path / "absent.onnx")


def test_failed_parity_writes_nothing(tmp_path, network, monkeypatch):
    from edgegeo.export import pipeline

    monkeypatch.setitem(pipeline.TOLERANCES, "fp32", 0.0)
    with torch.no_grad():
        network.decoder.head_out.weight.mul_(40.0)     # some error to exceed a zero tolerance
    try:
        with pytest.raises(ParityError, match="nothing written") as info:
            export_model("mono-depth", "fp32", tmp_path, network=network, size=SIZE,
                         parity_sources=("random:1",))
    finally:
        with torch.no_grad():
            network.decoder.head_out.weight.div_(40.0)
    assert info.value.report["parity_passed"] is False
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "model.onnx"
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_output(target) as temp:
            temp.write_bytes(b"half a model")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_output(target) as temp:
        temp.write_bytes(b"complete")
    assert target.read_bytes() == b"complete" and len(list(tmp_path.iterdir())) == 1
    assert target.stat().st_mode & 0o444 == 0o444 & ~_umask()     # not mkstemp's 0600


def test_engine_request_without_tensorrt_fails_cleanly(tmp_path, network):
    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("tensorrt imports here: --engine is exercised by -m tensorrt")
    with pytest.raises(RuntimeError, match="tensorrt"):
        export_model("mono-depth", "fp32", tmp_path, network=network, engine=True)
    assert main(["export", "mono-depth", "--engine", "--random-init", "--out",
                 str(tmp_path)]) == 2
    assert not any(tmp_path.iterdir())


def make_key(**changes):
    fields = dict(model="mono-depth", precision="fp16", onnx_sha256="ab" * 32,
                  tensorrt="10.8.0", gpu="Orin", compute_capability="8.7",
                  shapes={"image": [[1, 3, 64, 64], [1, 3, 256, 320], [1, 3, 512, 640]]})
    fields.update(changes)
    return EngineKey(**fields)


def test_engine_cache_detects_stale_and_corrupt_engines(tmp_path):
    cache = EngineCache(tmp_path)
    key = make_key()
    path = cache.store(key, b"engine-bytes" * 100)
    assert cache.lookup(key) == path and cache.verify(path, key) == (True, "")
    # another TensorRT / GPU / precision / shape / model is another entry
    for other in (make_key(tensorrt="10.9.0"), make_key(gpu="RTX 4090"),
                  make_key(precision="int8"), make_key(onnx_sha256="cd" * 32),
                  make_key(shapes={"image": [[1, 3, 64, 64]] * 3})):
        assert cache.paths(other)[0] != path and cache.lookup(other) is None
    # truncated engine: detected, both files removed (so it is rebuilt, never loaded)
    path.write_bytes(path.read_bytes()[:50])
    assert cache.verify(path)[0] is False
    assert cache.lookup(key) is None and not path.exists()
    assert not path.with_suffix(".json").exists()
    # same size, different bytes
    path = cache.store(key, b"engine-bytes" * 100)
    path.write_bytes(b"X" * path.stat().st_size)
    assert "hash" in cache.verify(path)[1] and cache.lookup(key) is None
    # sidecar of another key (a renamed file)
    path = cache.store(key, b"engine-bytes" * 100)
    sidecar = path.with_suffix(".json")
    info = json.loads(sidecar.read_text())
    info["key"]["tensorrt"] = "8.6.2"
    sidecar.write_text(json.dumps(info))
    assert cache.lookup(key) is None
    # engine without sidecar
    path = cache.store(key, b"engine-bytes" * 100)
    path.with_suffix(".json").unlink()
    assert "sidecar" in cache.verify(path)[1] and cache.lookup(key) is None


def test_profile_for_device_resolution():
    from edgegeo.export.tensorrt_engine import profile_for_resolution, profile_shapes

    spec = get_spec("mono-depth")
    assert profile_for_resolution(spec, (192, 256)) == ((96, 128), (192, 256), (384, 512))
    assert profile_for_resolution(spec, (192, 256), dynamic=False) == ((192, 256),) * 3
    shapes = profile_shapes(get_spec("jbu"), ((64, 64), (256, 320), (512, 640)))
    assert shapes["depth"] == [[1, 1, 16, 16], [1, 1, 64, 80], [1, 1, 128, 160]]
