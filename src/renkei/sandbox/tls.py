"""Throwaway TLS for sandboxes: a self-signed certificate to serve one over HTTPS on
loopback (``serve_in_thread(app, tls=...)``), and a client context that trusts it.

Vendors speak HTTPS only, and what a client keeps per TLS session (SNI, reused
connections) can only be tried against a server that speaks it too.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["TlsFiles", "self_signed"]


@dataclass(frozen=True)
class TlsFiles:
    certificate: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """A verifying context that trusts this certificate (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.certificate))


def self_signed(
    directory: Path,
    *,
    names: Sequence[str] = ("localhost",),
    addresses: Sequence[str] = ("127.0.0.1",),
    valid_for: timedelta = timedelta(hours=1),
) -> TlsFiles:
    """Write a certificate for ``names`` and ``addresses``, and its key, into ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.now(UTC)
    alternative_names: list[x509.GeneralName] = [x509.DNSName(name) for name in names]
    alternative_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + valid_for)
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .sign(key, hashes.SHA256())
    )
    files = TlsFiles(directory / "sandbox-cert.pem", directory / "sandbox-key.pem")
    files.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files
