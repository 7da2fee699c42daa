"""The create-only review APIs and ``TokenRequest``: asking the server who you are and what you may do.

``kubectl auth can-i`` sends SelfSubjectAccessReviews (``--list``: SelfSubjectRulesReviews),
``kubectl auth whoami`` a SelfSubjectReview, ``kubectl create token`` a TokenRequest. They answer
from the same authenticator and authorizer that guard requests, so "can-i says yes" and "the
request is allowed" cannot disagree. Nothing here is stored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import authz_proto, errors
from .auth import Attributes, Authenticator, Authorizer, UserInfo
from .kinds import ResourceType
from .rbac import RbacAuthorizer
from .state import Response
from .tokens import token_request

if TYPE_CHECKING:
    from .routing import ResourcePath

AUTHZ = "authorization.k8s.io"
AUTHN = "authentication.k8s.io"
REVIEWS = {(AUTHZ, "selfsubjectaccessreviews"), (AUTHZ, "selfsubjectrulesreviews"), (AUTHZ, "subjectaccessreviews"),
           (AUTHN, "selfsubjectreviews"), (AUTHN, "tokenreviews")}
_ALL_RULES = ([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}], [{"verbs": ["*"], "nonResourceURLs": ["*"]}])


def serve(rt: ResourceType, rp: ResourcePath, method: str, body: bytes, headers: Mapping[str, str],
          authn: Authenticator, authz: Authorizer) -> Response | None:
    """The answer when the request is for one of these APIs, else None (routing goes on)."""
    token = rt.group == "" and rt.plural == "serviceaccounts" and rp.subresource == "token" and bool(rp.name)
    if not token and (rt.group, rt.plural) not in REVIEWS:
        return None
    if method != "POST" or (not token and (rp.name or rp.subresource)):
        raise errors.method_not_allowed("the server does not allow this method on the requested resource")
    doc = authz_proto.decode(body, headers.get("content-type") or "application/json")
    if token:
        return token_request(authn, rp.namespace, rp.name, doc)
    user = authn.authenticate(headers)
    assert user is not None  # the filter admitted the request
    spec = doc.get("spec") or {}
    if rt.plural == "selfsubjectreviews":
        status: dict[str, Any] = {"userInfo": _user_info(user)}
    elif rt.plural == "tokenreviews":
        who = authn.authenticate({"authorization": f"Bearer {spec.get('token', '')}"}) if spec.get("token") else None
        status = {"authenticated": True, "user": _user_info(who)} if who else {"authenticated": False,
                                                                             "error": "invalid bearer token"}
    elif rt.plural == "selfsubjectrulesreviews":
        status = _rules_review(authz, user, str(spec.get("namespace") or ""))
    else:
        subject = user
        if rt.plural == "subjectaccessreviews":
            subject = UserInfo(str(spec.get("user") or ""), tuple(spec.get("groups") or ()), str(spec.get("uid") or ""))
        status = _access_review(authz, subject, spec)
    out = {"kind": rt.kind, "apiVersion": rt.api_version,
           "metadata": {**(doc.get("metadata") or {}), "creationTimestamp": None}, "spec": spec, "status": status}
    return Response(201, json.dumps(out).encode())


def _user_info(user: UserInfo) -> dict[str, Any]:
    info: dict[str, Any] = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        info["uid"] = user.uid
    if user.extra:
        info["extra"] = {k: list(v) for k, v in user.extra}
    return info


def _access_review(authz: Authorizer, user: UserInfo, spec: dict[str, Any]) -> dict[str, Any]:
    res, non = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if isinstance(res, dict):
        attrs = Attributes(user, str(res.get("verb") or ""), str(res.get("group") or ""),
                           str(res.get("version") or ""), str(res.get("resource") or ""),
                           str(res.get("subresource") or ""), str(res.get("namespace") or ""),
                           str(res.get("name") or ""))
    elif isinstance(non, dict):
        attrs = Attributes(user, str(non.get("verb") or ""), "", "", "", "", "", "", path=str(non.get("path") or ""),
                           resource_request=False)
    else:
        raise errors.invalid(AUTHZ, "SelfSubjectAccessReview", "", [errors.cause(
            "FieldValueRequired", "spec.resourceAttributes",
            "exactly one of nonResourceAttributes or resourceAttributes must be specified")])
    allowed, reason = authz.authorize(attrs)
    status: dict[str, Any] = {"allowed": allowed}
    if reason:
        status["reason"] = reason
    return status


def _rules_review(authz: Authorizer, user: UserInfo, namespace: str) -> dict[str, Any]:
    if not isinstance(authz, RbacAuthorizer):
        resource_rules, url_rules = _ALL_RULES
        return {"resourceRules": resource_rules, "nonResourceRules": url_rules, "incomplete": False}
    rules, problems = authz.rules_for(user, namespace)
    resource_rules = [{k: r[k] for k in ("verbs", "apiGroups", "resources", "resourceNames") if r.get(k)}
                      for r in rules if r.get("resources")]
    url_rules = [{"verbs": r.get("verbs") or [], "nonResourceURLs": r["nonResourceURLs"]}
                 for r in rules if r.get("nonResourceURLs")]
    status: dict[str, Any] = {"resourceRules": resource_rules, "nonResourceRules": url_rules,
                              "incomplete": bool(problems)}
    if problems:
        status["evaluationError"] = ", ".join(problems)
    return status
