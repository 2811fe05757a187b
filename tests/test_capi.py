"""The C API: the examples in examples/c/ compiled with `edgegeo capi` flags and run; their
outputs equal the Python API's, a mesh comes out of the pipeline, bad arguments give messages."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgegeo

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "c"
pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc)")


def _flags(kind: str) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "edgegeo", "capi", f"--{kind}"], check=True,
                         capture_output=True, text=True).stdout
    return out.split()


@pytest.fixture(scope="module")
def compile_example(tmp_path_factory):
    flags = _flags("cflags") + _flags("libs")
    out = tmp_path_factory.mktemp("capi")

    def build(name: str) -> Path:
        program = out / name
        subprocess.run(["cc", str(EXAMPLES / f"{name}.c"), *flags, "-o", str(program)],
                       check=True)
        return program
    return build


def test_mono_depth_from_c_equals_python(compile_example, tmp_path):
    from skimage import data

    image = np.ascontiguousarray(data.astronaut()[::4, ::3])            # 128 x 171
    height, width = image.shape[:2]
    ppm = tmp_path / "image.ppm"
    ppm.write_bytes(f"P6 {width} {height} 255\n".encode() + image.tobytes())
    result = subprocess.run([str(compile_example("mono_depth")), str(ppm),
                             str(tmp_path / "out.f32")], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    from_c = np.fromfile(tmp_path / "out.f32", np.float32).reshape(height, width)
    from_python = edgegeo.load("mono-depth", backend="torch")(image)
    assert np.abs(from_c - from_python).max() <= 1e-5 * np.abs(from_python).max()
    assert "NULL image: rgb is NULL" in result.stdout
    assert "short stride: rgb: row_stride_bytes 2 is shorter than a row" in result.stdout
    assert "unknown model: unknown model 'no-such-model'" in result.stdout


def test_a_pipeline_fed_from_c_fuses_a_mesh(compile_example, tmp_path):
    import open3d as o3d

    from edgegeo.data.synthetic import generate_scene, walkthrough

    frames = walkthrough(generate_scene(1000), 12, 96, 72, seed=1000, progress=False)
    sequence = tmp_path / "sequence"
    sequence.mkdir()
    (sequence / "meta.txt").write_text(f"{len(frames)} 72 96\n")
    for index, frame in enumerate(frames):
        depth_mm = np.clip(np.round(frame.depth * 1000), 0, 65535).astype(np.uint16)
        (sequence / f"frame_{index:04d}.bin").write_bytes(
            frame.rgb.tobytes() + depth_mm.tobytes() + np.asarray(frame.K, np.float64).tobytes()
            + np.asarray(frame.world_T_cam, np.float64).tobytes()
            + np.float64(frame.timestamp).tobytes())
    mesh_path = tmp_path / "mesh.ply"
    result = subprocess.run([str(compile_example("fuse_rgbd")), str(sequence), str(mesh_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "zero height: rgb: height and width must be > 0" in result.stdout
    mesh = o3d.io.read_triangle_mesh(str(mesh_path))
    assert len(mesh.triangles) > 100


def test_one_call_costs_microseconds(compile_example):
    out = subprocess.run([str(compile_example("call_overhead"))], capture_output=True,
                         text=True, check=True, timeout=300).stdout
    cost = {key: float(value) for key, value in (line.split() for line in out.splitlines())}
    assert cost["empty_call_us"] < 100 and cost["depth_ms"] > 0 and cost["push_us"] > 0


def test_stereo_from_c_equals_python(compile_example, tmp_path):
    from edgegeo.data.middlebury import load_motorcycle

    pair = load_motorcycle()
    left = np.ascontiguousarray(pair.left[::4, ::4])
    right = np.ascontiguousarray(pair.right[::4, ::4])
    height, width = left.shape[:2]
    for name, image in (("left", left), ("right", right)):
        (tmp_path / f"{name}.ppm").write_bytes(f"P6 {width} {height} 255\n".encode()
                                               + image.tobytes())
    result = subprocess.run([str(compile_example("stereo")), str(tmp_path / "left.ppm"),
                             str(tmp_path / "right.ppm"), str(tmp_path / "out.f32")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    from_c = np.fromfile(tmp_path / "out.f32", np.float32).reshape(height, width)
    from_python = edgegeo.load("stereo", backend="torch")(left, right)
    assert np.abs(from_c - from_python).max() <= 1e-5 * np.abs(from_python).max()
    assert "NULL right: right is NULL" in result.stdout
    assert "freed model: not an open model" in result.stdout


def test_a_python_c_extension_reaches_the_api(tmp_path):
    """examples/c/pyext_depth.c: a CPython extension that calls eg_depth, built and imported
    in a fresh interpreter (the library then runs inside that interpreter)."""
    import sysconfig

    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    module = tmp_path / f"pyext_depth{suffix}"
    subprocess.run(["cc", "-shared", "-fPIC", str(EXAMPLES / "pyext_depth.c"),
                    f"-I{sysconfig.get_paths()['include']}", *_flags("cflags"),
                    *_flags("libs"), "-o", str(module)], check=True)
    script = (
        "import numpy as np, torch, edgegeo, pyext_depth\n"
        "rgb = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)\n"
        "out = np.frombuffer(pyext_depth.depth(rgb.tobytes(), 48, 64), np.float32)\n"
        "ref = edgegeo.load('mono-depth', backend='torch')(rgb).ravel()\n"
        "assert np.abs(out - ref).max() <= 1e-5 * np.abs(ref).max()\n"
        "try:\n    pyext_depth.depth(b'x', 48, 64)\nexcept ValueError as e:\n    print(e)\n"
        "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok") and "short buffer" in result.stdout


def test_pkg_config_file():
    out = subprocess.run([sys.executable, "-m", "edgegeo", "capi", "--pkg-config"],
                         check=True, capture_output=True, text=True).stdout
    fields = dict(line.split(": ", 1) for line in out.strip().splitlines())
    assert fields["Name"] == "edgegeo" and "-ledgegeo" in fields["Libs"]
    assert fields["Cflags"].startswith("-I") and Path(fields["Cflags"][2:], "edgegeo.h").is_file()
