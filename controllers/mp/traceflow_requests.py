"""The request long-poll of the adapter channel (docs/adapter-channel.md §5), dispatching by type.

NSX delivers each request once, so every consumer (traceflow here; support bundles and log
collection later) must be served from one loop: register a handler per request type on the one
poller of the process instead of starting a second poll. The first poll after start asks for every
request that has no final result yet (``include_delivered``), for the adapter to pick up what a
previous instance left running.

A stop does not wait for a long poll in flight (up to ``poll_timeout`` seconds, which would hold up
a graceful shutdown): the poll runs on a thread of its own, and a stopping poller abandons it. What
an abandoned poll delivers is not lost: the next start's first poll asks for it again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from loguru import logger

from nsx.channel import AdapterChannel
from nsx.models.channel import PendingRequest

_STOP_CHECK = 0.1  # seconds between looks at the stop event while a poll is in flight


class RequestPoller:
    """Long-polls the channel and dispatches requests by type (one poller per process: a request
    is delivered once, so every request type must be served from the same loop)."""

    def __init__(self, channel: AdapterChannel, poll_timeout: int) -> None:
        self.channel = channel
        self.poll_timeout = poll_timeout
        self.handlers: dict[str, Callable[[PendingRequest], None]] = {}
        self.on_first_poll: list[Callable[[list[PendingRequest]], None]] = []

    def run(self, stop: threading.Event) -> None:
        first, delay = True, 1.0
        while not stop.is_set():
            try:
                requests = self._poll(0 if first else self.poll_timeout, first, stop)
            except Exception as err:
                logger.warning("polling NSX troubleshooting requests failed ({}); retrying in {:.0f} s", err, delay)
                stop.wait(delay)
                delay = min(delay * 2, 60.0)
                continue
            if requests is None:  # stopped while the poll was in flight
                return
            delay = 1.0
            if first:
                for hook in self.on_first_poll:
                    try:
                        hook(requests)
                    except Exception as err:  # adoption is best effort; requests still run below
                        logger.warning("start-up handling of pending requests failed: {}", err)
                first = False
            for request in requests:
                handler = self.handlers.get(request.type)
                if handler is None:
                    logger.debug("no handler for {} request {}", request.type, request.id)
                    continue
                try:
                    handler(request)
                except Exception as err:
                    logger.warning("handling {} request {} failed: {}", request.type, request.id, err)

    def _poll(self, timeout: int, include_delivered: bool, stop: threading.Event) -> list[PendingRequest] | None:
        """One long poll, or None if ``stop`` was set before it answered (the poll is abandoned)."""
        answer: list[list[PendingRequest]] = []
        failure: list[Exception] = []
        done = threading.Event()

        def call() -> None:
            try:
                answer.append(self.channel.poll_requests(timeout, include_delivered=include_delivered))
            except Exception as err:  # raised in the poller's thread below
                failure.append(err)
            finally:
                done.set()

        threading.Thread(target=call, name="nsx-request-poll", daemon=True).start()
        while not done.wait(_STOP_CHECK):
            if stop.is_set():
                logger.debug("stopping: the troubleshooting request poll in flight is abandoned")
                return None
        if failure:
            raise failure[0]
        return answer[0]
