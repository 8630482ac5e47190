"""The field-encryption key ring: one MultiFernet for the whole process.

Keys come from configuration (newest first) or are derived once, at start-up, from a
password and salt with PBKDF2-HMAC-SHA256. Nothing derives a key per value. Other
purposes (the audit chain's signature) get subkeys derived with HKDF under a label of
their own, so no key ever serves two purposes.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from opsledger.config import Settings

PBKDF2_ITERATIONS = 600_000


class KeyRingError(RuntimeError):
    """The key ring is missing, malformed, or cannot decrypt a stored value."""


def derive_key(password: str, salt: str, iterations: int = PBKDF2_ITERATIONS) -> bytes:
    kdf = PBKDF2HMAC(
        algorithm=hashes.SHA256(), length=32, salt=salt.encode(), iterations=iterations
    )
    return base64.urlsafe_b64encode(kdf.derive(password.encode()))


def derive_subkey(material: bytes, label: bytes) -> bytes:
    """A 32-byte key for the purpose ``label`` names (HKDF-SHA256): it cannot be turned
    back into ``material``, nor into the subkeys for other labels."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(material)


class KeyRing:
    """Encrypts with the newest key and decrypts with any key on the ring."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise KeyRingError("no encryption key configured")
        try:
            self._fernets = [Fernet(key) for key in keys]
        except (ValueError, TypeError):
            raise KeyRingError(
                "an encryption key is not a valid Fernet key (32 url-safe base64 bytes)"
            ) from None
        self._ring = MultiFernet(self._fernets)
        self._keys = [base64.urlsafe_b64decode(key) for key in keys]

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        keys = [key.get_secret_value().encode() for key in settings.encryption_keys]
        if settings.encryption_password is not None:
            if settings.encryption_salt is None:
                raise KeyRingError("OPSLEDGER_ENCRYPTION_PASSWORD needs OPSLEDGER_ENCRYPTION_SALT")
            keys.append(
                derive_key(
                    settings.encryption_password.get_secret_value(),
                    settings.encryption_salt.get_secret_value(),
                )
            )
        return cls(keys)

    def subkeys(self, label: bytes) -> Iterator[bytes]:
        """For each key, newest first, its subkey for ``label`` (``derive_subkey``)."""
        return (derive_subkey(key, label) for key in self._keys)

    def encrypt(self, plaintext: str) -> str:
        return self._ring.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._ring.decrypt(token.encode()).decode()
        except InvalidToken:
            raise KeyRingError(
                "a stored value cannot be decrypted with any configured key"
            ) from None

    def is_current(self, token: str) -> bool:
        """True when the value is encrypted under the newest key."""
        try:
            self._fernets[0].decrypt(token.encode())
        except InvalidToken:
            return False
        return True

    def rotate(self, token: str) -> str:
        """Re-encrypt under the newest key (the value must decrypt with some key)."""
        try:
            return self._ring.rotate(token.encode()).decode()
        except InvalidToken:
            raise KeyRingError(
                "a stored value cannot be decrypted with any configured key"
            ) from None


_current: KeyRing | None = None


def install_key_ring(ring: KeyRing | None) -> KeyRing | None:
    """Make ``ring`` the process key ring; returns the one it replaces."""
    global _current
    previous, _current = _current, ring
    return previous


def installed_key_ring() -> KeyRing | None:
    return _current


def key_ring() -> KeyRing:
    if _current is None:
        raise KeyRingError(
            "no encryption key configured: set OPSLEDGER_ENCRYPTION_KEYS or run `opsledger up`"
        )
    return _current
