"""Signing a request (docs/transcript-v1.md §3–§8) and minting a passport with a local issuer key (§4)."""
from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import urlsplit

from .keys import SigningKey
from .transcript import (
    TranscriptInput,
    ascii_lower,
    b64sha,
    b64url,
    b64url_decode,
    build_transcript,
    collect_headers,
    field_digests,
    jwk_thumbprint,
)

PASSPORT_HEADER = "x-trustplane-passport"
PROOF_HEADER = "x-trustplane-proof"
PASSPORT_TYP = "tp-passport+jwt"

HeaderInput = Union[Mapping[str, Union[str, Sequence[str]]], Iterable[Tuple[str, str]]]


@dataclass(frozen=True)
class SignedRequest:
    headers: dict  # the two headers to add
    transcript: str


def _compact_json(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def mint_passport(issuer: SigningKey, kid: str, claims: Mapping[str, object]) -> str:
    """A compact JWS passport (§4): header {alg, typ, kid}, the claims as given."""
    header = {"alg": issuer.alg, "typ": PASSPORT_TYP, "kid": kid}
    signing_input = f"{b64url(_compact_json(header))}.{b64url(_compact_json(dict(claims)))}"
    return f"{signing_input}.{b64url(issuer.sign(signing_input.encode('ascii')))}"


def passport_claims(passport: str) -> dict:
    """The claims a signer needs from its own passport; nothing is verified here."""
    parts = passport.strip(" \t").split(".")
    if len(parts) != 3:
        raise ValueError("passport is not a compact JWS")
    claims = json.loads(b64url_decode(parts[1]))
    for name in ("aud", "jti", "key_binding"):
        if not isinstance(claims.get(name), str):
            raise ValueError(f"passport lacks {name}")
    if not isinstance(claims.get("cnf"), dict) or not isinstance(claims["cnf"].get("jwk"), dict):
        raise ValueError("passport lacks cnf.jwk")
    return claims


def _header_pairs(headers: Optional[HeaderInput]) -> list:
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        pairs = []
        for name, value in headers.items():
            if isinstance(value, str):
                pairs.append((name, value))
            else:
                pairs.extend((name, v) for v in value)
        return pairs
    return list(headers)


def new_nonce() -> str:
    """18 random bytes, base64url: 24 characters (§5.2)."""
    return b64url(secrets.token_bytes(18))


def sign_request(
    *,
    method: str,
    passport: str,
    holder: SigningKey,
    route: str,
    url: Optional[str] = None,
    authority: Optional[str] = None,
    path_and_query: Optional[str] = None,
    headers: Optional[HeaderInput] = None,
    body: Union[bytes, str, None] = None,
    body_sha256: Optional[str] = None,
    bind_headers: Sequence[str] = (),
    nonce: Optional[str] = None,
    ts: Optional[int] = None,
    include_field_digests: bool = True,
) -> SignedRequest:
    """Sign one request. Give `url`, or `authority` and `path_and_query` to control the bytes exactly."""
    if url is not None:
        parts = urlsplit(url)
        authority = parts.netloc if authority is None else authority
        if path_and_query is None:
            path_and_query = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if authority is None or path_and_query is None:
        raise ValueError("give url, or authority and path_and_query")
    claims = passport_claims(passport)
    token = passport.strip(" \t")
    all_headers = collect_headers(_header_pairs(headers))
    names = sorted({ascii_lower(n) for n in bind_headers}, key=lambda s: s.encode("ascii"))
    bound = []
    for n in names:
        if n not in all_headers:
            raise ValueError(f'header "{n}" is to be bound but the request does not carry it')
        bound.append((n, all_headers[n]))
    if body_sha256 is None:
        data = body.encode("utf-8") if isinstance(body, str) else (body or b"")
        body_sha256 = b64url(hashlib.sha256(data).digest())
    the_nonce = new_nonce() if nonce is None else nonce
    the_ts = int(time.time()) if ts is None else ts
    transcript = build_transcript(
        TranscriptInput(
            method=method,
            authority=authority,
            path_and_query=path_and_query,
            headers=bound,
            body_sha256=body_sha256,
            nonce=the_nonce,
            audience=claims["aud"],
            route=route,
            jti=claims["jti"],
            passport_sha256=b64sha(token.encode("ascii")),
            ts=the_ts,
            key_binding=claims["key_binding"],
            cnf_jkt=jwk_thumbprint(claims["cnf"]["jwk"]),
        )
    )
    params: dict = {"ts": the_ts, "nonce": the_nonce, "route": route, "h": names}
    if include_field_digests:
        params["fd"] = b64url(field_digests(transcript))
    signature = holder.sign(transcript.encode("utf-8"))
    proof = f"v1.{b64url(_compact_json(params))}.{b64url(signature)}"
    return SignedRequest(headers={PASSPORT_HEADER: token, PROOF_HEADER: proof}, transcript=transcript)


def parse_proof(proof: str) -> Tuple[dict, bytes]:
    """The proof's parameters and signature bytes (§5.1); for tests and the vector runner."""
    parts = proof.strip(" \t").split(".")
    if len(parts) != 3 or parts[0] != "v1" or parts[2] == "":
        raise ValueError("not a v1 proof")
    return json.loads(b64url_decode(parts[1])), b64url_decode(parts[2])
