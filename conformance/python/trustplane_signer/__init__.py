"""TrustPlane transcript-v1 signer for Python (docs/transcript-v1.md; docs/conformance.md)."""
from .keys import SigningKey, signing_key_from_jwk, verify
from .signer import PASSPORT_HEADER, PROOF_HEADER, SignedRequest, mint_passport, new_nonce, parse_proof, passport_claims, sign_request
from .transcript import TranscriptError, TranscriptInput, build_transcript, field_digests, jwk_thumbprint

__all__ = [
    "PASSPORT_HEADER",
    "PROOF_HEADER",
    "SignedRequest",
    "SigningKey",
    "TranscriptError",
    "TranscriptInput",
    "build_transcript",
    "field_digests",
    "jwk_thumbprint",
    "mint_passport",
    "new_nonce",
    "parse_proof",
    "passport_claims",
    "sign_request",
    "signing_key_from_jwk",
    "verify",
]
