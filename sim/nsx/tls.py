"""The simulator's PKI: a CA made at start-up, the server leaf it signs, and client certificates.

Clients trust the CA file (or pin the leaf's SHA-256 thumbprint, as NSX admins do); principal-identity
clients authenticate with a certificate this CA signs, or with any self-signed certificate that was
registered through the principal-identity API (the server adds registered PEMs to its trust store).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_KeyT = ec.EllipticCurvePrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "antrea-nsx-adapter NSX simulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _key() -> _KeyT:
    # P-256 keys: generated in milliseconds (RSA-2048 would slow every test start-up).
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: _KeyT) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _validity(builder: x509.CertificateBuilder, days: int) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return builder.not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))


def der_thumbprint(der: bytes) -> str:
    """SHA-256 hex (lower-case, no colons) of a DER certificate: NSX's thumbprint format."""
    return hashlib.sha256(der).hexdigest()


def pem_thumbprint(pem: str | bytes) -> str:
    data = pem.encode() if isinstance(pem, str) else pem
    cert = x509.load_pem_x509_certificate(data)
    return der_thumbprint(cert.public_bytes(serialization.Encoding.DER))


def pem_common_name(pem: str | bytes) -> str:
    data = pem.encode() if isinstance(pem, str) else pem
    cert = x509.load_pem_x509_certificate(data)
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


@dataclass
class Pki:
    """CA + server leaf written under ``directory``; issues client certificates on demand."""

    directory: Path
    host: str

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._ca_key = _key()
        ca_name = _name("NSX simulator CA")
        builder = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(self._ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._ca_key.public_key()), critical=False)
        )
        self._ca_cert = _validity(builder, 3650).sign(self._ca_key, hashes.SHA256())
        self.ca_file = self.directory / "ca.pem"
        self.ca_file.write_bytes(self._ca_cert.public_bytes(serialization.Encoding.PEM))

        server_key = _key()
        sans: list[x509.GeneralName] = [x509.DNSName("localhost")]
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(self.host)))
        except ValueError:
            sans.append(x509.DNSName(self.host))
        if self.host != "127.0.0.1":
            sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
        leaf = self._sign(
            _name(self.host), server_key, sans=sans, usage=ExtendedKeyUsageOID.SERVER_AUTH, days=825
        )
        self.server_cert_file = self.directory / "server.pem"
        self.server_key_file = self.directory / "server-key.pem"
        self.server_cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        self.server_key_file.write_bytes(_key_pem(server_key))
        self.server_key_file.chmod(0o600)
        self.thumbprint = der_thumbprint(leaf.public_bytes(serialization.Encoding.DER))

    def _sign(
        self,
        subject: x509.Name,
        key: _KeyT,
        *,
        sans: list[x509.GeneralName],
        usage: x509.ObjectIdentifier,
        days: int,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._ca_key.public_key()), critical=False
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return _validity(builder, days).sign(self._ca_key, hashes.SHA256())

    def issue_client_certificate(self, name: str) -> tuple[Path, Path]:
        """A client certificate with CN ``name`` (PI name == CN == cluster name, KB 345885)."""
        key = _key()
        cert = self._sign(_name(name), key, sans=[], usage=ExtendedKeyUsageOID.CLIENT_AUTH, days=365)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        cert_path = self.directory / f"client-{safe}.pem"
        key_path = self.directory / f"client-{safe}-key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(_key_pem(key))
        key_path.chmod(0o600)
        return cert_path, key_path

    def server_context(self) -> ssl.SSLContext:
        """TLS server context asking for (not requiring) a client certificate."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.server_cert_file, self.server_key_file)
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(cafile=str(self.ca_file))
        return ctx


def trust_pem(ctx: ssl.SSLContext, pem: str) -> None:
    """Add a registered PI certificate to the trust store so self-signed PI certs can authenticate."""
    ctx.load_verify_locations(cadata=pem)
