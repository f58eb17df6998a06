"""Calls that may run too long: a torch model from a stranger's checkpoint cannot be interrupted,
so its call runs on a worker thread and the caller stops waiting at the limit."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

T = TypeVar("T")

# Workers are kept, not started per call: torch sets up its thread pool once per calling thread,
# which would cost more than a small model's forward pass. A call abandoned at its limit holds
# its worker until it ends; the others go on serving.
_WORKERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="model-call")


class TimeLimitError(TimeoutError):
    """The call did not return within its limit; it may still be running, unwaited for."""


def call_within(fn: Callable[[], T], limit_s: float) -> T:
    """``fn()``'s result (or its exception), or TimeLimitError once ``limit_s`` seconds have passed
    without one. The caller, and the request slot it holds, is freed at the limit."""
    future = _WORKERS.submit(fn)
    try:
        return future.result(timeout=limit_s)
    except FutureTimeout:
        future.cancel()  # if it had not started, it never will
        raise TimeLimitError(f"the model took over {limit_s:g} s for one call") from None
