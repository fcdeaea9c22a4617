"""Encryption of secrets at rest: AES-256-GCM under named keys.

A ciphertext reads ``v1.<key id>.<base64url(nonce || ciphertext || tag)>``. The key id is
derived from the key itself, so several keys can be configured at once: the first
encrypts, all of them decrypt, and ``renkei keys rotate`` re-encrypts everything under
the first. The column a value belongs to (``"table.column"``) is bound in as associated
data, so a ciphertext copied into another column does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = structlog.get_logger("renkei.keyring")

_VERSION = "v1"


class KeyringError(Exception):
    """A key is malformed, missing, or a ciphertext does not decrypt."""


class SecretKeyUnavailable(KeyringError):
    """A ciphertext was sealed with a key this process does not have (a rotation it has not
    been restarted for). Not the caller's fault and not permanent: the API answers 503
    ``secret_key_unavailable``, and a job that meets it is retried on its schedule."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"ciphertext was sealed with key {key_id}, which is not configured")
        self.key_id = key_id


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def generate_key() -> str:
    return _b64encode(AESGCM.generate_key(bit_length=256))


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"renkei-key-id" + key).hexdigest()[:8]


def _parse_keys(keys: Sequence[str]) -> tuple[dict[str, AESGCM], list[str]]:
    if not keys:
        raise KeyringError("the keyring needs at least one key")
    found: dict[str, AESGCM] = {}
    ids: list[str] = []
    for encoded in keys:
        try:
            raw = _b64decode(encoded.strip())
        except ValueError as exc:
            raise KeyringError("a secret key is not valid base64") from exc
        if len(raw) != 32:
            raise KeyringError("a secret key must be 32 bytes (base64 of 32 random bytes)")
        kid = key_id(raw)
        found[kid] = AESGCM(raw)
        ids.append(kid)
    return found, ids


def read_key_file(key_file: Path) -> list[str]:
    return [line.strip() for line in key_file.read_text().splitlines() if line.strip()]


class Keyring:
    """``reload``, when given, returns the keys afresh (the key file): a ciphertext sealed
    with a key this process does not know makes it read them again once, so a running
    server keeps working after ``renkei keys rotate`` wrote a new key into the file."""

    def __init__(
        self, keys: Sequence[str], *, reload: Callable[[], Sequence[str]] | None = None
    ) -> None:
        self._keys, self._ids = _parse_keys(keys)
        self._reload = reload
        self._lock = threading.Lock()

    def _refresh(self, kid: str) -> AESGCM | None:
        """Read the keys again (when there is a source to read) and look ``kid`` up."""
        if self._reload is None:
            return None
        with self._lock:
            if kid not in self._keys:
                try:
                    keys, ids = _parse_keys(self._reload())
                except (OSError, KeyringError) as exc:
                    log.warning("keyring.reload_failed", error=str(exc))
                    return None
                self._keys, self._ids = keys, ids
                log.info("keyring.reloaded", key_ids=ids)
            return self._keys.get(kid)

    @property
    def current_key_id(self) -> str:
        return self._ids[0]

    @property
    def key_ids(self) -> list[str]:
        return list(self._ids)

    def encrypt(self, plaintext: str, *, context: str = "") -> str:
        nonce = os.urandom(12)
        sealed = self._keys[self.current_key_id].encrypt(
            nonce, plaintext.encode(), context.encode()
        )
        return f"{_VERSION}.{self.current_key_id}.{_b64encode(nonce + sealed)}"

    def decrypt(self, token: str, *, context: str = "") -> str:
        try:
            version, kid, body = token.split(".", 2)
        except ValueError:
            raise KeyringError("not a Renkei ciphertext") from None
        if version != _VERSION:
            raise KeyringError(f"unknown ciphertext version {version!r}")
        aead = self._keys.get(kid) or self._refresh(kid)
        if aead is None:
            raise SecretKeyUnavailable(kid)
        data = _b64decode(body)
        try:
            return aead.decrypt(data[:12], data[12:], context.encode()).decode()
        except InvalidTag:
            raise KeyringError("ciphertext does not decrypt (tampered, or wrong context)") from None

    def needs_rotation(self, token: str) -> bool:
        return token.split(".", 2)[1:2] != [self.current_key_id]


def load_keyring(configured: Sequence[str], key_file: Path) -> Keyring:
    """Use ``RENKEI_SECRET_KEY``; failing that a key file, created on first run with a warning."""
    if configured:
        return Keyring(configured)
    if key_file.exists():
        return Keyring(read_key_file(key_file), reload=lambda: read_key_file(key_file))
    key_file.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(generate_key() + "\n")
    log.warning(
        "keyring.generated_key",
        path=str(key_file),
        hint="back this file up, or set RENKEI_SECRET_KEY; without it stored secrets are lost",
    )
    return Keyring(read_key_file(key_file), reload=lambda: read_key_file(key_file))


def write_key_file(key_file: Path, keys: Sequence[str]) -> None:
    """Replace the key file atomically (readable by its owner only)."""
    _parse_keys(keys)
    temporary = key_file.with_name(f".{key_file.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write("".join(f"{key.strip()}\n" for key in keys))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, key_file)
