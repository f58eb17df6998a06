"""Calls that may run too long: a torch model from a stranger's checkpoint cannot be interrupted,
so its call runs in a thread of its own and the caller stops waiting at the limit."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class TimeLimitError(TimeoutError):
    """The call did not return within its limit; it may still be running, unwaited for."""


def call_within(fn: Callable[[], T], limit_s: float) -> T:
    """``fn()``'s result, or TimeLimitError once ``limit_s`` seconds have passed without one.

    The caller (and the request slot it holds) is freed at the limit; the call itself runs on
    in a daemon thread until it ends, as nothing can stop a torch operator midway.
    """
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # handed to the caller, raised there as it would have been
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="model-call", daemon=True)
    worker.start()
    worker.join(limit_s)
    if worker.is_alive():
        raise TimeLimitError(f"the model took over {limit_s:g} s for one call")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
