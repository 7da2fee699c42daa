"""Counting the requests an NSX simulator answered, from its ``/__admin/stats``.

The simulator logs every request, its own admin ones included, and a stats call sees the log as it
was before itself: after ``k`` earlier stats calls the total holds ``k`` admin requests, which
:class:`NsxRequestCounter` takes off so a delta is exactly the requests of the clients measured.
"""

from __future__ import annotations

import requests


class NsxRequestCounter:
    def __init__(self, url: str, password: str, ca_file: str | None = None) -> None:
        self._url = url.rstrip("/") + "/__admin/stats"
        self._http = requests.Session()
        self._http.trust_env = False
        self._http.auth = ("admin", password)
        if ca_file is not None:
            self._http.verify = ca_file
        self._own = 0

    def total(self) -> int:
        """Requests answered so far, not counting this counter's own."""
        resp = self._http.get(self._url, timeout=60)
        resp.raise_for_status()
        value = int(resp.json()["requests"]) - self._own
        self._own += 1
        return value

    def close(self) -> None:
        self._http.close()
