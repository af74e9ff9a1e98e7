"""Holder and issuer keys from JWKs (RFC 7517/8037), and the two signature algorithms of
docs/transcript-v1.md §7: Ed25519 (RFC 8032, PureEdDSA) and ES256 (RFC 7518 §3.4, r || s)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Union

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from .transcript import b64url, b64url_decode

PrivateKey = Union[ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey]
PublicKey = Union[ed25519.Ed25519PublicKey, ec.EllipticCurvePublicKey]


@dataclass(frozen=True)
class SigningKey:
    """A private key with its JWS algorithm (EdDSA or ES256) and its public JWK."""

    alg: str
    private: PrivateKey
    public_jwk: dict

    def sign(self, data: bytes) -> bytes:
        if self.alg == "EdDSA":
            return self.private.sign(data)  # type: ignore[call-arg]
        der = self.private.sign(data, ec.ECDSA(hashes.SHA256()))  # type: ignore[call-arg]
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _exact(jwk: dict, members: set) -> None:
    extra = set(jwk) - members - {"kid", "alg", "use", "key_ops"}
    if extra:
        raise ValueError(f"unexpected JWK members: {sorted(extra)}")


def signing_key_from_jwk(jwk: Union[dict, str]) -> SigningKey:
    """A private Ed25519 or P-256 JWK (with `d`); every coordinate must be canonical base64url."""
    if isinstance(jwk, str):
        jwk = json.loads(jwk)
    if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
        _exact(jwk, {"kty", "crv", "x", "d"})
        d = b64url_decode(jwk["d"])
        if len(d) != 32:
            raise ValueError("Ed25519 d must be 32 bytes")
        private = ed25519.Ed25519PrivateKey.from_private_bytes(d)
        x = b64url(private.public_key().public_bytes_raw() if hasattr(private.public_key(), "public_bytes_raw") else _raw_public(private))
        if "x" in jwk and jwk["x"] != x:
            raise ValueError("Ed25519 x does not belong to d")
        return SigningKey("EdDSA", private, {"kty": "OKP", "crv": "Ed25519", "x": x})
    if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        _exact(jwk, {"kty", "crv", "x", "y", "d"})
        d = b64url_decode(jwk["d"])
        if len(d) != 32:
            raise ValueError("P-256 d must be 32 bytes")
        private = ec.derive_private_key(int.from_bytes(d, "big"), ec.SECP256R1())
        numbers = private.public_key().public_numbers()
        x, y = b64url(numbers.x.to_bytes(32, "big")), b64url(numbers.y.to_bytes(32, "big"))
        if ("x" in jwk and jwk["x"] != x) or ("y" in jwk and jwk["y"] != y):
            raise ValueError("P-256 x, y do not belong to d")
        return SigningKey("ES256", private, {"kty": "EC", "crv": "P-256", "x": x, "y": y})
    raise ValueError("key is neither an Ed25519 (OKP) nor a P-256 (EC) private JWK")


def _raw_public(private: ed25519.Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_from_jwk(jwk: dict) -> PublicKey:
    if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
        x = b64url_decode(jwk["x"])
        if len(x) != 32:
            raise ValueError("Ed25519 x must be 32 bytes")
        return ed25519.Ed25519PublicKey.from_public_bytes(x)
    if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        x, y = b64url_decode(jwk["x"]), b64url_decode(jwk["y"])
        if len(x) != 32 or len(y) != 32:
            raise ValueError("P-256 coordinates must be 32 bytes")
        return ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()).public_key()
    raise ValueError("key is neither Ed25519 nor P-256")


def verify(public_jwk: dict, data: bytes, signature: bytes) -> bool:
    """Verify a §7 signature; the algorithm follows the key type, and only 64-byte signatures verify."""
    key = public_key_from_jwk(public_jwk)
    if len(signature) != 64:
        return False
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            key.verify(der, data, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False
