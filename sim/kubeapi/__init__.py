"""An emulated kube-apiserver over HTTP for tests and the demo.

The official Python client and kubectl talk to it unchanged over loopback: discovery, OpenAPI v3
(enough for server-side field validation), CRUD with optimistic concurrency, patches, watches with
resume/bookmarks/410, CRDs with structural-schema pruning/defaulting/validation, finalizers, and the
namespace/CRD-cleanup/garbage-collection controllers. Fault injection and a request log make the
failure paths of controllers testable. See ``server.KubeApiServer``.
"""

from .faults import RequestRecord
from .server import KubeApiServer

__all__ = ["KubeApiServer", "RequestRecord"]
