"""edgegeo.blas_threads: NumPy's BLAS on one thread inside the block, restored after it."""
import numpy as np
from threadpoolctl import threadpool_info

from edgegeo.blas_threads import single_threaded_blas


def blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_blas_runs_on_one_thread_inside_and_as_before_after():
    np.ones((4, 4)) @ np.ones((4, 4))                   # NumPy's BLAS is loaded
    before = blas_threads()
    assert before
    with single_threaded_blas():
        assert blas_threads() == [1] * len(before)
        product = np.arange(12.0).reshape(4, 3) @ np.ones((3, 2))
    assert blas_threads() == before
    np.testing.assert_array_equal(product[:, 0], [3.0, 12.0, 21.0, 30.0])
