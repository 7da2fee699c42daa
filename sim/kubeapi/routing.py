"""From method + URL to a verb on a resource, the way the apiserver's RequestInfoFactory reads paths.

``/api/v1/namespaces/{ns}/{plural}/{name}/{sub}``, ``/apis/{g}/{v}/{plural}/{name}`` (cluster
scope and all-namespace lists), the legacy ``/watch/`` prefix, and ``namespaces/{name}/status``.
Unknown resources answer like a real server: 404 "the server could not find the requested resource".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from . import authz_reviews, deletion, errors, reads, writes
from .auth import Authenticator, Authorizer
from .crd import deprecation_warning
from .state import Call, Response, State
from .watch import WatchPlan, open_watch

NOT_FOUND = "the server could not find the requested resource"


@dataclass(frozen=True)
class ResourcePath:
    group: str
    version: str
    namespace: str
    plural: str
    name: str
    subresource: str
    watch: bool


def parse_resource_path(path: str) -> ResourcePath | None:
    """Split a resource URL; None when the path is not a resource path at all."""
    parts = [unquote(p) for p in path.split("/") if p]  # the Python client sends "system:x" as "system%3Ax"
    if len(parts) >= 3 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    watch = False
    if rest and rest[0] == "watch":
        watch, rest = True, rest[1:]
    if not rest:
        return None
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces" and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        return None
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    return ResourcePath(group, version, namespace, plural, name, sub, watch)


def _verb(method: str, rp: ResourcePath, query: Mapping[str, str]) -> str:
    watching = rp.watch or query.get("watch") in ("true", "1")
    if method == "GET":
        if watching:
            return "watch"
        return "get" if rp.name else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if rp.name else "deletecollection"}.get(method, "")


def handle(state: State, method: str, rp: ResourcePath, query: dict[str, str], body: bytes, content_type: str,
           headers: Mapping[str, str], authn: Authenticator, authz: Authorizer) -> Response | WatchPlan:
    """Serve a resource request; authn/authz already ran (authz_filter.admit) and are passed for
    the review APIs, which answer with them."""
    rt = state.registry.lookup(rp.group, rp.version, rp.plural)
    if rt is None:
        raise errors.ApiError(404, NOT_FOUND, details={})
    if rp.namespace and not rt.namespaced:
        raise errors.ApiError(404, NOT_FOUND, details={})
    review = authz_reviews.serve(rt, rp, method, body, headers, authn, authz)  # TokenRequest, *Reviews
    if review is not None:
        return review
    if rp.subresource and (rp.subresource != "status" or not rt.status_subresource):
        raise errors.ApiError(404, NOT_FOUND, details={})
    verb = _verb(method, rp, query)
    if not verb:
        raise errors.method_not_allowed(f"{method} is not supported")
    if rt.namespaced and rp.name and not rp.namespace and verb not in ("watch",):
        raise errors.ApiError(404, NOT_FOUND, details={})
    if rt.namespaced and not rp.namespace and verb in ("create", "deletecollection"):
        raise errors.method_not_allowed("the server does not allow this method on the requested resource")
    call = Call(rt, rp.namespace, rp.name, rp.subresource, query, body, content_type, accept=headers.get("accept", ""))
    if method == "POST" and rp.name:
        raise errors.method_not_allowed(f"POST on a named {rt.kind} is not supported")
    handlers: dict[str, Callable[[State, Call], Response | WatchPlan]] = {
        "watch": open_watch,
        "get": reads.get,
        "list": reads.list_objects,
        "create": writes.create,
        "update": writes.update,
        "patch": writes.patch,
        "delete": deletion.delete,
        "deletecollection": deletion.delete_collection,
    }
    handler = handlers[verb]
    if verb in ("update", "patch") and not rp.name:
        raise errors.method_not_allowed(f"{method} on a collection is not supported")
    result = handler(state, call)
    warning = deprecation_warning(rt)
    if warning and isinstance(result, Response):
        result.warnings.insert(0, warning)
    return result
