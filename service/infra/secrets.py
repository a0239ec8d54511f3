"""Webhook signing secrets: made, shown once, kept encrypted at rest.

A receiver checks signatures with the secret, so it must be recoverable to sign (a hash would
not do): it is encrypted with Fernet (AES-128-CBC and HMAC-SHA256, from ``cryptography``) under
a key derived from ``ROLEFIT_SECRET_KEY``. Losing that key makes every stored secret useless:
rotate the endpoints' secrets after changing it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography.fernet import Fernet, InvalidToken

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)


class SecretKeyMissing(RuntimeError):
    """Webhooks need ``ROLEFIT_SECRET_KEY`` to keep their secrets."""


def new_signing_secret() -> str:
    """``whsec_`` and the base64 of 32 random bytes (the Standard Webhooks form)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


class SecretBox:
    """Encrypts and decrypts signing secrets under one service key."""

    def __init__(self, service_key: str | None) -> None:
        if not service_key:
            raise SecretKeyMissing(
                "set ROLEFIT_SECRET_KEY (any long random string) to use webhooks"
            )
        digest = hashlib.sha256(b"rolefit webhook secrets\0" + service_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as error:
            raise SecretKeyMissing(
                "a webhook secret does not open with ROLEFIT_SECRET_KEY: was the key changed?"
            ) from error
