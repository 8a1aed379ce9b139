"""Credentials at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from ``WAHUB_SECRET_KEY``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from wahub import errors


class Vault:
    """Encrypts and decrypts small JSON documents (account credentials)."""

    def __init__(self, secret_key: str) -> None:
        if len(secret_key) < 16:
            raise errors.InvalidInput("WAHUB_SECRET_KEY must be at least 16 characters")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"wahub-credentials-v1", info=b"fernet").derive(
            secret_key.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))
        self._secret = secret_key.encode()
        self._link_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"wahub-links-v1", info=b"hmac").derive(
            secret_key.encode()
        )

    def derive_key(self, purpose: str) -> bytes:
        """A 32-byte key of its own for ``purpose`` (e.g. session tokens), derived from the secret key."""
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=f"wahub-{purpose}-v1".encode(), info=b"key").derive(
            self._secret
        )

    def sign(self, message: str) -> str:
        """A signature of ``message`` (for short-lived links), URL-safe."""
        digest = hmac.new(self._link_key, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def verify(self, message: str, signature: str) -> bool:
        # As bytes: compare_digest refuses str with non-ASCII characters, which a forged signature may have.
        return hmac.compare_digest(self.sign(message).encode(), signature.encode())

    def encrypt(self, document: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(document, separators=(",", ":")).encode())

    def decrypt(self, token: bytes) -> dict[str, Any]:
        try:
            value = json.loads(self._fernet.decrypt(token))
        except InvalidToken as exc:
            raise errors.InvalidInput(
                "stored credentials cannot be decrypted: WAHUB_SECRET_KEY differs from the one used to store them"
            ) from exc
        if not isinstance(value, dict):
            raise errors.InvalidInput("stored credentials are not a JSON object")
        return value


def new_secret_key() -> str:
    return secrets.token_urlsafe(32)
