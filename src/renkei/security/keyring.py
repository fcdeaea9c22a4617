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
from collections.abc import Sequence
from pathlib import Path

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = structlog.get_logger("renkei.keyring")

_VERSION = "v1"


class KeyringError(Exception):
    """A key is malformed, missing, or a ciphertext does not decrypt."""


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def generate_key() -> str:
    return _b64encode(AESGCM.generate_key(bit_length=256))


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"renkei-key-id" + key).hexdigest()[:8]


class Keyring:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise KeyringError("the keyring needs at least one key")
        self._keys: dict[str, AESGCM] = {}
        self._ids: list[str] = []
        for encoded in keys:
            try:
                raw = _b64decode(encoded.strip())
            except ValueError as exc:
                raise KeyringError("a secret key is not valid base64") from exc
            if len(raw) != 32:
                raise KeyringError("a secret key must be 32 bytes (base64 of 32 random bytes)")
            kid = key_id(raw)
            self._keys[kid] = AESGCM(raw)
            self._ids.append(kid)

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
        aead = self._keys.get(kid)
        if aead is None:
            raise KeyringError(f"ciphertext was sealed with key {kid}, which is not configured")
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
        return Keyring([line for line in key_file.read_text().splitlines() if line.strip()])
    key_file.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(generate_key() + "\n")
    log.warning(
        "keyring.generated_key",
        path=str(key_file),
        hint="back this file up, or set RENKEI_SECRET_KEY; without it stored secrets are lost",
    )
    return Keyring(key_file.read_text().splitlines())
