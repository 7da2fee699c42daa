"""``NsxClient``: one object for everything the adapter says to NSX.

Typed helpers are grouped by the side of NSX they touch (``policy``, ``registration``,
``inventory``, ``channel``); the raw verbs stay available for the odd call that has no helper.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

from nsx.auth import Auth
from nsx.channel import AdapterChannel
from nsx.inventory_api import InventoryApi
from nsx.paging import iter_models, iter_results
from nsx.policy_api import PolicyApi
from nsx.registration import RegistrationApi
from nsx.tls import TlsSettings
from nsx.transport import RetryPolicy, Timeout, Transport

T = TypeVar("T")


class NsxClient:
    """A client for one NSX Manager cluster (several addresses = failover, not fan-out)."""

    def __init__(
        self,
        managers: Sequence[str] | str,
        auth: Auth,
        *,
        tls: TlsSettings | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout = (10.0, 120.0),
        pool_size: int = 16,
    ) -> None:
        addresses = [managers] if isinstance(managers, str) else list(managers)
        self.transport = Transport(addresses, auth, tls=tls, retry=retry, timeout=timeout,
                                   pool_size=pool_size)
        self.policy = PolicyApi(self.transport)
        self.registration = RegistrationApi(self.transport)
        self.inventory = InventoryApi(self.transport)

    # -- raw verbs --------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
    ) -> Any:
        return self.transport.request(method, path, params=params, json=json, headers=headers, data=data)

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.transport.request("GET", path, params=params)

    def put(self, path: str, body: Any, params: Mapping[str, Any] | None = None) -> Any:
        return self.transport.request("PUT", path, params=params, json=body)

    def patch(self, path: str, body: Any, params: Mapping[str, Any] | None = None) -> Any:
        return self.transport.request("PATCH", path, params=params, json=body)

    def post(self, path: str, body: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        return self.transport.request("POST", path, params=params, json=body)

    def delete(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.transport.request("DELETE", path, params=params)

    def list(
        self, path: str, params: Mapping[str, Any] | None = None, *, page_size: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of a collection, following cursors."""
        return iter_results(self.transport, path, params, page_size=page_size)

    def list_as(
        self,
        path: str,
        item_type: type[T],
        params: Mapping[str, Any] | None = None,
        *,
        page_size: int | None = None,
    ) -> Iterator[T]:
        return iter_models(self.transport, path, item_type, params, page_size=page_size)

    def channel(self, cluster_id: str) -> AdapterChannel:
        """The adapter channel of a registered cluster (its ClusterControlPlane id)."""
        return AdapterChannel(self.transport, cluster_id)

    @property
    def active_manager(self) -> str:
        return self.transport.active_manager

    # -- lifetime ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Log out of cookie sessions and close the connection pools."""
        self.transport.close()

    def __enter__(self) -> NsxClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"NsxClient(managers={self.transport.manager_urls!r})"
