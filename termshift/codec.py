"""Payload encryption: every workflow input, result, query answer, update and activity argument is
sealed with AES-256-GCM before it leaves the process, so the Temporal server (its database, its
web UI, anyone who reads a history) sees only ciphertext.

The key is 32 random bytes, given base64-encoded in TERMSHIFT_PAYLOAD_KEY or in the file named by
TERMSHIFT_PAYLOAD_KEY_FILE (see docs/SECURITY.md). Every worker and every CLI of a namespace must
have the same key. Payloads written before encryption was turned on are read unchanged.

Search attributes are not payloads the codec sees: the server indexes them, so they stay readable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

if TYPE_CHECKING:
    from termshift.settings import Settings

ENCODING = b"binary/encrypted"
"""The `encoding` metadata of an encrypted payload."""
KEY_ID = "encryption-key-id"
"""The metadata entry naming the key (a fingerprint, not the key) that sealed the payload."""
KEY_SIZE = 32
NONCE_SIZE = 12

KEY_VARIABLE = "TERMSHIFT_PAYLOAD_KEY"
KEY_FILE_VARIABLE = "TERMSHIFT_PAYLOAD_KEY_FILE"


class PayloadKeyError(Exception):
    """An encrypted payload that this process cannot open (another key, or altered bytes)."""


def key_id(key: bytes) -> str:
    """The key's public fingerprint: the first 8 hex digits of its SHA-256."""
    return hashlib.sha256(key).hexdigest()[:8]


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over the serialized payload, a fresh random 12-byte nonce per payload.

    An encrypted payload's data is `nonce || ciphertext || tag`; its metadata holds the encoding
    `binary/encrypted` and the key id, which is also bound to the ciphertext as associated data.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_SIZE:
            raise ValueError(f"A payload key is {KEY_SIZE} bytes, not {len(key)}.")
        self._aead = AESGCM(key)
        self.key_id = key_id(key)

    def __repr__(self) -> str:
        return f"EncryptionCodec(key_id={self.key_id!r})"

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._seal(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._open(payload) for payload in payloads]

    def _seal(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_SIZE)
        sealed = self._aead.encrypt(nonce, payload.SerializeToString(), self.key_id.encode("ascii"))
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: self.key_id.encode("ascii")},
            data=nonce + sealed,
        )

    def _open(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before encryption was turned on: read as it is
        sealed_with = payload.metadata.get(KEY_ID, b"").decode("ascii", errors="replace")
        if sealed_with != self.key_id:
            raise PayloadKeyError(
                f"payload encrypted with key {sealed_with or '<unknown>'}, "
                f"this worker has key {self.key_id}"
            )
        nonce, sealed = payload.data[:NONCE_SIZE], payload.data[NONCE_SIZE:]
        try:
            plain = self._aead.decrypt(nonce, sealed, self.key_id.encode("ascii"))
        except InvalidTag:
            raise PayloadKeyError(
                f"payload encrypted with key {self.key_id} failed authentication: "
                "its bytes were altered"
            ) from None
        return Payload.FromString(plain)


def _decode_key(text: str, source: str) -> bytes:
    """The 32 bytes of a base64 key; the error names `source`, never the key."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            f"{source} is not valid base64. Generate a key with "
            '`python -c "import base64,os;print(base64.b64encode(os.urandom(32)).decode())"`.'
        ) from None
    if len(key) != KEY_SIZE:
        raise ValueError(
            f"{source} must be the base64 of {KEY_SIZE} bytes (AES-256), not of {len(key)} bytes."
        )
    return key


def load_key(settings: Settings) -> bytes | None:
    """The payload key from TERMSHIFT_PAYLOAD_KEY or the file TERMSHIFT_PAYLOAD_KEY_FILE; None
    when neither is set (payloads then travel unencrypted). Both set is an error."""
    if settings.payload_key is not None and settings.payload_key_file is not None:
        raise ValueError(f"Set {KEY_VARIABLE} or {KEY_FILE_VARIABLE}, not both.")
    if settings.payload_key is not None:
        return _decode_key(settings.payload_key.get_secret_value(), KEY_VARIABLE)
    if settings.payload_key_file is not None:
        path = settings.payload_key_file
        try:
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not ASCII"
            raise ValueError(
                f"{KEY_FILE_VARIABLE}: cannot read the key file {path} ({reason})."
            ) from None
        return _decode_key(text, f"{KEY_FILE_VARIABLE} ({path})")
    return None
