"""NSX Manager REST client and pydantic models; knows nothing of Kubernetes.

Entry point: ``NsxClient(managers, auth, tls=TlsSettings(...))`` with one of ``BasicAuth``,
``SessionAuth`` or ``ClientCertificateAuth``; errors are subclasses of ``NsxError``.
"""

from nsx.auth import Auth, BasicAuth, ClientCertificateAuth, SessionAuth
from nsx.client import NsxClient
from nsx.errors import (
    AuthenticationError,
    BadRequest,
    NotFound,
    NsxApiError,
    NsxConnectionError,
    NsxError,
    RateLimited,
    RevisionConflict,
    ServiceUnavailable,
    TlsVerificationError,
)
from nsx.registration import cluster_control_plane_path
from nsx.tls import TlsSettings
from nsx.transport import RetryPolicy

__all__ = [
    "Auth", "AuthenticationError", "BadRequest", "BasicAuth", "ClientCertificateAuth", "NotFound",
    "NsxApiError", "NsxClient", "NsxConnectionError", "NsxError", "RateLimited", "RetryPolicy",
    "RevisionConflict", "ServiceUnavailable", "SessionAuth", "TlsSettings", "TlsVerificationError",
    "cluster_control_plane_path",
]
