"""The one wall-clock timing helper of the benchmarks, the evaluations and the demo."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def median_time(run: Callable[[], Any], repeats: int = 1, warmup: int = 0) -> tuple[Any, float]:
    """Call ``run()`` ``warmup`` times untimed, then ``repeats`` times timed.

    Returns:
        the last result and the median wall time of the timed calls, seconds.
    Raises:
        ValueError: ``repeats`` < 1 or ``warmup`` < 0.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
    for _ in range(warmup):
        run()
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - start)
    return result, statistics.median(seconds)
