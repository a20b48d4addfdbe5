"""Encryption of data at rest (AES-256-GCM) and keyed blind indexes (HMAC-SHA256).

Ciphertexts carry the id of the key that made them (``kid:nonce+ct`` in base64), so
keys rotate: the first key in ``DATA_KEYS`` encrypts, every listed key decrypts.
The associated data binds a ciphertext to the row it belongs to, so a value copied
into another row does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import os
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


def parse_keys(spec: str) -> dict[str, bytes]:
    """Parse ``"k1:<base64 32 bytes>,k0:<...>"`` into an ordered mapping of key id → key."""
    keys: dict[str, bytes] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        kid, sep, b64 = part.partition(":")
        if not sep or not kid.isalnum():
            raise ValueError("each key is written id:base64, ids letters and digits only")
        try:
            key = base64.b64decode(b64, validate=True)
        except ValueError as exc:
            raise ValueError(f"key {kid!r} is not valid base64") from exc
        if len(key) != 32:
            raise ValueError(f"key {kid!r} must be 32 bytes (256 bits), not {len(key)}")
        keys[kid] = key
    if not keys:
        raise ValueError("no keys given")
    return keys


@functools.lru_cache(maxsize=32)
def _derive(secret: str, purpose: bytes) -> bytes:
    # Pure, and HKDF per call was a third of a roster import's CPU: derive once.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret.encode()
    )


@functools.lru_cache(maxsize=8)
def _parsed_keys(spec: str) -> tuple[tuple[str, bytes], ...]:
    return tuple(parse_keys(spec).items())


def data_keys() -> dict[str, bytes]:
    """The configured data keys; in development, one derived from SECRET_KEY."""
    spec = current_app.config.get("DATA_KEYS")
    if spec:
        return dict(_parsed_keys(spec))
    return {"dev": _derive(current_app.config["SECRET_KEY"], b"sentra data key")}


def encrypt(plaintext: str, aad: str) -> str:
    """Encrypt text under the current key, bound to ``aad`` (e.g. table:row id)."""
    return encryptor()(plaintext, aad)


def encryptor() -> Callable[[str, str], str]:
    """:func:`encrypt` for many values: the current key is read and its cipher made once
    (a roster import encrypts two values a row)."""
    kid, key = next(iter(data_keys().items()))
    cipher = AESGCM(key)

    def encrypt_one(plaintext: str, aad: str) -> str:
        nonce = os.urandom(12)
        ct = cipher.encrypt(nonce, plaintext.encode(), aad.encode())
        return f"{kid}:{base64.urlsafe_b64encode(nonce + ct).decode()}"

    return encrypt_one


def decrypt(token: str, aad: str) -> str:
    """Decrypt a value made by :func:`encrypt` with any configured key."""
    return decryptor()(token, aad)


_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


def decryptor() -> Callable[[str, str], str]:
    """:func:`decrypt` for many values: the keys are read and their ciphers made once
    (reading them costs more than decrypting; exports decrypt a million values)."""
    ciphers = {kid: AESGCM(key) for kid, key in data_keys().items()}

    def decrypt_one(token: str, aad: str) -> str:
        kid, _, b64 = token.partition(":")
        cipher = ciphers.get(kid)
        if cipher is None:
            raise ValueError(f"data key {kid!r} is not configured")
        # base64.urlsafe_b64decode, without its per-call checks (half the cost of a
        # decryption): a non-ASCII token still raises ValueError (UnicodeEncodeError)
        raw = binascii.a2b_base64(b64.encode("ascii").translate(_URLSAFE_TO_STANDARD))
        return cipher.decrypt(raw[:12], raw[12:], aad.encode()).decode()

    return decrypt_one


def blind_index(value: str, purpose: str) -> str:
    """A keyed hash for equality lookups (duplicate detection) that leaks nothing else.

    The key is separate from the encryption keys, so knowing a ciphertext key does not
    let anyone brute-force the small space of, say, NIKs.
    """
    return blind_indexer(purpose)(value)


def blind_indexer(purpose: str) -> Callable[[str], str]:
    """:func:`blind_index` for many values of one purpose, the key read once."""
    secret = current_app.config.get("BLIND_INDEX_KEY") or current_app.config["SECRET_KEY"]
    key = _derive(secret, b"sentra blind index " + purpose.encode())

    def index_one(value: str) -> str:
        # hmac.digest: OpenSSL's one-shot HMAC, the same value as hmac.new(...).hexdigest()
        return hmac.digest(key, value.encode(), "sha256").hex()

    return index_one
