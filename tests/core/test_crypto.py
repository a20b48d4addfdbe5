"""core.crypto's many-value helpers give what the one-value functions always gave: stored
ciphertexts still decrypt and stored blind indexes still match."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core import crypto


@pytest.fixture
def keys(app):
    with app.app_context():
        yield crypto.data_keys()


def _old_encrypt(key_id: str, key: bytes, plaintext: str, aad: str) -> str:
    nonce = os.urandom(12)
    ct = AESGCM(key).encrypt(nonce, plaintext.encode(), aad.encode())
    return f"{key_id}:{base64.urlsafe_b64encode(nonce + ct).decode()}"


def test_tokens_round_trip_and_old_tokens_decrypt(keys):
    (key_id, key), *_ = keys.items()
    decrypt, encrypt = crypto.decryptor(), crypto.encryptor()
    # enough tokens that urlsafe base64's "-" and "_" both occur
    tokens = [_old_encrypt(key_id, key, f"3171{n:012d}", f"person:{n}:nik") for n in range(200)]
    assert any("-" in t for t in tokens) and any("_" in t for t in tokens)
    assert [decrypt(t, f"person:{n}:nik") for n, t in enumerate(tokens)] == [
        f"3171{n:012d}" for n in range(200)
    ]
    token = encrypt("Jl. Melati 5", "person:x:address")
    assert crypto.decrypt(token, "person:x:address") == "Jl. Melati 5"
    with pytest.raises(InvalidTag):  # bound to its row
        decrypt(token, "person:y:address")


def test_blind_indexes_are_unchanged(app):
    with app.app_context():
        secret = app.config.get("BLIND_INDEX_KEY") or app.config["SECRET_KEY"]
        key = crypto._derive(secret, b"sentra blind index nik")
        expected = hmac.new(key, b"3171014101900001", hashlib.sha256).hexdigest()
        assert crypto.blind_indexer("nik")("3171014101900001") == expected
        assert crypto.blind_index("3171014101900001", "nik") == expected
