"""Polling for a condition, the one way every end-to-end test waits: the systems under test are
eventually consistent, so a test states what it waits for and how long is generous enough."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition", *,
             ignore: tuple[type[BaseException], ...] = ()) -> Any:
    """The first truthy result of ``check``, polled every 50 ms; fails the test with the last result
    after ``timeout`` seconds. Exceptions in ``ignore`` count as "not yet" (an object not written
    yet, a key not reported yet), so a check can read what may not exist."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except ignore:
            last = None
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout} s (last: {last!r})")
