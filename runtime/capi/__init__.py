"""The C API: ``edgegeo.h`` + a shared library (``libedgegeo.so``) that embeds the Python
runtime with cffi's embedding mode, so a C/C++ program (or another C extension) calls edgegeo
without writing Python.

* :mod:`.calls` — what each C function does, in Python (testable without a compiler).
* :mod:`.build` — the cffi build of the library, and the flags ``edgegeo capi`` prints.
* ``edgegeo.h`` — the header.

Why cffi's embedding mode: it generates the C entry points and starts the interpreter on the
first call (also from a thread), needs no hand-written CPython API code and no Cython ``public``
functions with their init-order rules; the cost is one Python call per C call, measured by
``edgegeo capi --overhead`` (a few µs, next to milliseconds of inference).
"""
