"""The authentication and authorization filters, in front of every request as in kube-apiserver.

They run before routing, so a forbidden request gets 403 whether or not the resource exists, and
requests for non-resource paths (discovery, ``/version``, ``/healthz``) are authorized too. The
request is read the way ``RequestInfoFactory`` reads it (a list with
``fieldSelector=metadata.name=x`` is a request for ``x``; ``/api/v1/namespaces/x`` is in namespace
``x``), and 401/403 bodies are worded like ``responsewriters.Forbidden``.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import errors
from .auth import AllowAll, Attributes, Authenticator, Authorizer, UserInfo
from .routing import parse_resource_path

_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def _name_from_field_selector(selector: str) -> str:
    for term in selector.split(","):
        key, sep, value = term.partition("==") if "==" in term else term.partition("=")
        if sep and key.strip() == "metadata.name":  # "metadata.name!=x" leaves "metadata.name!"
            return value.strip()
    return ""


def request_attributes(user: UserInfo, method: str, path: str, query: Mapping[str, str]) -> Attributes:
    """What the authorizer is asked about this request."""
    rp = parse_resource_path(path)
    if rp is None:
        return Attributes(user, method.lower(), "", "", "", "", "", "", path=path, resource_request=False)
    verb = _VERBS.get(method, method.lower())
    name, namespace = rp.name, rp.namespace
    if rp.watch:
        verb = "watch" if method == "GET" else verb
    elif verb == "get" and not name:
        verb = "watch" if query.get("watch") in ("true", "1", "True") else "list"
    if verb in ("list", "watch") and not name:
        name = _name_from_field_selector(query.get("fieldSelector", ""))
    if verb == "delete" and not name:
        verb = "deletecollection"
    if rp.plural == "namespaces" and rp.name and not namespace:
        namespace = rp.name  # RequestInfoFactory: a namespace is in itself
    return Attributes(user, verb, rp.group, rp.version, rp.plural, rp.subresource, namespace, name, path=path)


def forbidden(attrs: Attributes, reason: str) -> errors.ApiError:
    """403 with the message and details a real apiserver sends."""
    who = attrs.user.name
    if not attrs.resource_request:
        msg = f'User "{who}" cannot {attrs.verb} path "{attrs.path}"'
        return errors.ApiError(403, f"forbidden: {msg}" + (f": {reason}" if reason else ""), details={})
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    where = f' in the namespace "{attrs.namespace}"' if attrs.namespace else " at the cluster scope"
    msg = f'User "{who}" cannot {attrs.verb} resource "{resource}" in API group "{attrs.group}"{where}'
    if reason:
        msg += f": {reason}"
    qualified = f"{attrs.resource}.{attrs.group}" if attrs.group else attrs.resource
    head = f'{qualified} "{attrs.name}"' if attrs.name else qualified
    details: dict[str, str] = {"kind": attrs.resource}
    if attrs.group:
        details["group"] = attrs.group
    if attrs.name:
        details["name"] = attrs.name
    return errors.ApiError(403, f"{head} is forbidden: {msg}", details=details)


def admit(authn: Authenticator, authz: Authorizer, method: str, path: str, query: Mapping[str, str],
          headers: Mapping[str, str]) -> UserInfo:
    """The caller, or ApiError 401/403."""
    user = authn.authenticate(headers)
    if user is None:
        raise errors.ApiError(401, "Unauthorized")
    if isinstance(authz, AllowAll):
        return user
    attrs = request_attributes(user, method, path, query)
    allowed, reason = authz.authorize(attrs)
    if not allowed:
        raise forbidden(attrs, reason)
    return user
