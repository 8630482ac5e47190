"""The audit chain's keys, none of them in the database: the one that signs new rows and
all those that can check rows already written. A row records only its key's fingerprint.

``OPSLEDGER_AUDIT_KEY`` signs when it is set: setting it is a deliberate choice, and it
keeps the audit signature apart from field encryption, so rotating the encryption keys
and later dropping the old ones leaves every row it signed verifiable. Without it, the
newest encryption key signs, through its subkey for the audit chain (never the key
itself). Checking knows the audit key and the subkey of every encryption key on the ring,
so rows signed before a rotation verify as long as their encryption key stays on it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from opsledger.config import Settings
from opsledger.security.crypto import KeyRingError, derive_subkey, installed_key_ring

# Changing the label changes every key: rows signed under the old one would stop verifying.
LABEL = b"opsledger audit chain v1"
KEY_ID_LENGTH = 16
NO_KEY = (
    "audit rows are signed with a key derived from the encryption keys or with "
    "OPSLEDGER_AUDIT_KEY, and neither is configured: set OPSLEDGER_ENCRYPTION_KEYS "
    "(or run `opsledger up`)"
)


@dataclass(frozen=True)
class AuditKey:
    """An HMAC key and its fingerprint, ``key_id``: 64 bits of an HMAC under the key,
    which names it in rows and reports and says nothing of the key."""

    key_id: str
    secret: bytes = field(repr=False)

    @classmethod
    def of(cls, secret: bytes) -> AuditKey:
        fingerprint = hmac.new(secret, b"key id", hashlib.sha256).hexdigest()
        return cls(fingerprint[:KEY_ID_LENGTH], secret)


@dataclass(frozen=True)
class AuditKeys:
    signing: AuditKey
    known: Mapping[str, AuditKey]

    @classmethod
    def configured(cls, settings: Settings) -> AuditKeys:
        """The keys of this process: ``settings.audit_key`` and the installed key ring's."""
        keys = []
        if settings.audit_key is not None:
            material = settings.audit_key.get_secret_value().encode()
            keys.append(AuditKey.of(derive_subkey(material, LABEL)))
        ring = installed_key_ring()
        if ring is not None:
            keys += [AuditKey.of(subkey) for subkey in ring.subkeys(LABEL)]
        if not keys:
            raise KeyRingError(NO_KEY)
        return cls(keys[0], {key.key_id: key for key in keys})
