"""Build ``libedgegeo.so`` (cffi embedding mode) and say how to compile against it."""
from __future__ import annotations

import re
import site
import sys
import sysconfig
from pathlib import Path

HEADER = Path(__file__).with_name("edgegeo.h")


# cffi's start-up (Python < 3.12) spins until PyCapsule_Type.tp_version_tag is 0, which only
# holds before the interpreter has looked anything up on capsules: loaded into a process that
# already runs Python (a C extension, ctypes), the first call would spin forever. Resetting the
# type's version tag (PyType_Modified, what CPython does whenever a type changes) when the
# library is loaded into a running interpreter lets the start-up through.
UNBLOCK_STARTUP = """
__attribute__((constructor)) static void eg_unblock_cffi_startup(void)
{
#if PY_VERSION_HEX < 0x030C0000
    if (Py_IsInitialized()) {
        PyGILState_STATE state = PyGILState_Ensure();
        PyType_Modified(&PyCapsule_Type);
        PyGILState_Release(state);
    }
#endif
}
"""


def library_dir() -> Path:
    """Where the library is built: ``<edgegeo cache>/capi/<python>-<environment>`` — one per
    Python environment, since the library's init code adds that environment's
    site-packages to the embedded interpreter."""
    import hashlib

    from edgegeo.export.cache import cache_dir

    environment = hashlib.sha1(sys.prefix.encode()).hexdigest()[:8]
    return (cache_dir() / "capi"
            / f"py{sys.version_info.major}{sys.version_info.minor}-{environment}")


def _declarations() -> str:
    """The header's declarations, as cffi's parser takes them (no preprocessor lines)."""
    text = re.sub(r"/\*.*?\*/", "", HEADER.read_text(), flags=re.S)
    keep = [line for line in text.splitlines() if line.strip() and not line.startswith("#")
            and "extern \"C\"" not in line and line.strip() != "}"]
    return "\n".join(keep)


def build(force: bool = False) -> Path:
    """Build the library (once; again with ``force``); returns its path."""
    import cffi

    out = library_dir()
    library = out / "libedgegeo.so"
    if library.is_file() and not force and library.stat().st_mtime >= max(
            p.stat().st_mtime for p in Path(__file__).parent.glob("*.py*")):
        return library
    out.mkdir(parents=True, exist_ok=True)
    ffi = cffi.FFI()
    declarations = _declarations()
    ffi.embedding_api(declarations)
    ffi.set_source("libedgegeo", f'#include "{HEADER}"\n' + UNBLOCK_STARTUP,
                   extra_compile_args=["-Wno-array-parameter"])
    paths = [p for p in site.getsitepackages() + [site.getusersitepackages()]
             if Path(p).is_dir()]
    ffi.embedding_init_code(
        "import site, sys\n"
        f"for path in {paths!r}:\n"
        "    site.addsitedir(path)\n"
        "from libedgegeo import ffi\n"
        "from edgegeo.runtime.capi.glue import install\n"
        "install(ffi)\n")
    ffi.compile(tmpdir=str(out), target="libedgegeo.*", verbose=False)
    return library


def cflags() -> str:
    return f"-I{HEADER.parent}"


def libs() -> str:
    """Linker flags: the library, with rpaths to it and to libpython (no LD_LIBRARY_PATH,
    no virtualenv activation needed at run time)."""
    library = build()
    libdir = sysconfig.get_config_var("LIBDIR")
    return (f"-L{library.parent} -ledgegeo -Wl,-rpath,{library.parent} "
            f"-Wl,-rpath,{libdir}")



def call_overhead() -> dict[str, float]:
    """What a C call costs, measured by ``examples/c/call_overhead.c`` compiled here:
    ``empty_call_us`` (the C → Python crossing), ``depth_ms`` (``eg_depth`` at 192×256),
    ``python_depth_ms`` (the same model called from Python, same image), ``push_us`` (a
    640×480 RGB-D push: copy + queue)."""
    import subprocess
    import tempfile

    import numpy as np

    import edgegeo
    from edgegeo.timing import median_time

    source = Path(__file__).resolve().parents[2] / "examples" / "c" / "call_overhead.c"
    if not source.is_file():
        raise FileNotFoundError(f"{source}: the overhead probe ships with the source tree")
    with tempfile.TemporaryDirectory() as tmp:
        program = Path(tmp) / "call_overhead"
        subprocess.run(["cc", str(source), *cflags().split(), *libs().split(), "-o",
                        str(program)], check=True)
        out = subprocess.run([str(program)], check=True, capture_output=True, text=True).stdout
    measured = {key: float(value) for key, value in (line.split() for line in out.splitlines())}
    rgb = (np.arange(192 * 256 * 3) * 7919 % 251).astype(np.uint8).reshape(192, 256, 3)
    model = edgegeo.load("mono-depth", backend="torch")
    measured["python_depth_ms"] = median_time(lambda: model(rgb), 15, warmup=1)[1] * 1e3
    return measured
