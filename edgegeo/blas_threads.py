"""NumPy's BLAS on one thread for the small linear algebra between torch calls.

NumPy's OpenBLAS runs a matrix product of a few hundred thousand rows (``pixels @ K⁻¹ᵀ``, a
RANSAC's ``points @ planes.T``) on all cores, and its worker threads then busy-wait for the next
call instead of sleeping. On a small device torch's own threads share those cores: in the mvs
predictor the planar prior's NumPy products made the photometric refinement that follows them
twice as slow (171 ms against 77 ms per keyframe at 384×288, 2 cores). Such products gain
nothing from more threads, so the code that makes them runs inside :func:`single_threaded_blas`.

The thread limit is threadpoolctl's (https://github.com/joblib/threadpoolctl), scoped to the
block: the process's own BLAS setting is restored after it.
"""
from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache


@lru_cache(maxsize=1)
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def single_threaded_blas():
    """Context: the BLAS libraries loaded in this process (NumPy's, SciPy's) use one thread
    inside the block (about 10 µs to enter and leave)."""
    with _controller().limit(limits=1, user_api="blas"):
        yield
