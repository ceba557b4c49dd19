"""The robot's own HTTPS certificate, for serving its pages on the care home's network.

`make_certificate(directory, names)` makes a self-signed certificate (ECDSA P-256, with the
`cryptography` package) for the robot's host names and addresses, and its private key (mode
0600), in the robot's data dir. Staff compare its SHA-256 fingerprint, which `bidvis ui
make-certificate` prints and the staff page shows, with what a tablet's browser shows before
they trust it. The certificate's names are the only host names the robot answers to on the
network (`web_guard.SiteAddress`).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERTIFICATE_FILE = "robot_certificate.pem"
KEY_FILE = "robot_key.pem"
VALID_DAYS = 5 * 365
HOST_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


class CertificateError(Exception):
    """The certificate cannot be made or read: the message says what to do."""


@dataclass(frozen=True)
class RobotCertificate:
    """Where the certificate and key are, the names it is for, and its SHA-256 fingerprint."""

    certificate_path: Path
    key_path: Path
    names: tuple[str, ...]
    fingerprint: str
    not_after: datetime


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        pass
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_name = ""
    if not HOST_NAME.fullmatch(ascii_name):
        raise CertificateError(f"{name!r} is neither a host name nor an IP address")
    return x509.DNSName(ascii_name)


def _describe(certificate: x509.Certificate, certificate_path: Path, key_path: Path) -> RobotCertificate:
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound as exc:
        raise CertificateError(f"{certificate_path} names no host; make a new one") from exc
    listed = [str(n.value) for n in names if isinstance(n, x509.DNSName | x509.IPAddress)]
    digest = certificate.fingerprint(hashes.SHA256())
    return RobotCertificate(
        certificate_path,
        key_path,
        tuple(listed),
        ":".join(f"{b:02X}" for b in digest),
        certificate.not_valid_after_utc,
    )


def make_certificate(directory: Path, names: Sequence[str], *, days: int = VALID_DAYS) -> RobotCertificate:
    """A new self-signed certificate for `names` (host names and IP addresses) in `directory`;
    replaces an older one. Raises `CertificateError`."""
    wanted = [n.strip().lower() for n in names if n.strip()]
    if not wanted:
        raise CertificateError("name the robot: its host name on the network and/or its IP address (--name)")
    alternatives = [_general_name(n) for n in wanted]
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, wanted[0][:64])])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    key_path, certificate_path = directory / KEY_FILE, directory / CERTIFICATE_FILE
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        for path, data in (
            (key_path, key_bytes),
            (certificate_path, certificate.public_bytes(serialization.Encoding.PEM)),
        ):
            temporary = path.with_name(path.name + ".tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temporary, path)
    except OSError as exc:
        raise CertificateError(f"cannot write the certificate into {directory}: {exc}") from exc
    return _describe(certificate, certificate_path, key_path)


def load_certificate(directory: Path) -> RobotCertificate | None:
    """The robot's certificate in `directory`, or None when it has none. Raises
    `CertificateError` for a broken, expired or key-less one."""
    key_path, certificate_path = directory / KEY_FILE, directory / CERTIFICATE_FILE
    if not certificate_path.exists():
        return None
    try:
        certificate = x509.load_pem_x509_certificate(certificate_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise CertificateError(
            f"the robot's certificate in {directory} is unreadable ({exc}); make a new one with "
            "`bidvis ui make-certificate`"
        ) from exc
    if key.public_key() != certificate.public_key():
        raise CertificateError(f"{key_path} is not the key of {certificate_path}; make a new certificate")
    described = _describe(certificate, certificate_path, key_path)
    if described.not_after <= datetime.now(UTC):
        raise CertificateError(f"the robot's certificate expired on {described.not_after:%Y-%m-%d}; make a new one")
    return described
