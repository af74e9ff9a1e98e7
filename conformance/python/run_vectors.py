#!/usr/bin/env python3
"""Runs every positive vector of test/vectors/transcript-v1.json through this signer and reports per
vector (docs/conformance.md): the transcript rebuilt from what Envoy presents must be byte-identical,
the transcript signed from the client's request must be byte-identical, Ed25519 proofs must be
byte-identical (`signature_check: exact`), and ES256 signatures must verify (`verify`).

Negative vectors describe verifier decisions; a signer has no verdict to give on them and they are
listed as such. Exit status 1 if any positive vector fails.
"""
from __future__ import annotations

import base64
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from trustplane_signer import TranscriptInput, build_transcript, parse_proof, passport_claims, sign_request, signing_key_from_jwk, verify  # noqa: E402
from trustplane_signer.transcript import b64sha, collect_headers, jwk_thumbprint  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = os.path.join(HERE, "..", "..", "test", "vectors", "transcript-v1.json")


def observed_transcript(vector: dict) -> str:
    req = vector["request"]
    headers = collect_headers([(n, v) for n, v in req["headers"]])
    passport = headers["x-trustplane-passport"]
    params, _ = parse_proof(headers["x-trustplane-proof"])
    claims = passport_claims(passport)
    body = req["body"]
    if body["source"] == "bytes":
        body_sha = b64sha(base64.b64decode(body["base64"]))
    elif body["source"] == "filter_header":
        body_sha = headers["x-trustplane-body-sha256"]
    else:
        body_sha = b64sha(b"")
    return build_transcript(
        TranscriptInput(
            method=req["method"],
            authority=req["authority"],
            path_and_query=req["path"],
            headers=[(n, headers[n]) for n in params["h"]],
            body_sha256=body_sha,
            nonce=params["nonce"],
            audience=claims["aud"],
            route=req.get("route_id", params["route"]),
            jti=claims["jti"],
            passport_sha256=b64sha(passport.encode("ascii")),
            ts=params["ts"],
            key_binding=claims["key_binding"],
            cnf_jkt=jwk_thumbprint(claims["cnf"]["jwk"]),
        )
    )


def run(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    keys = doc["keys"]
    failed = 0
    for v in doc["positive"]:
        s = v["signing"]
        problems = []
        try:
            if observed_transcript(v) != v["transcript"]:
                problems.append("transcript from the observed request differs")
            holder = signing_key_from_jwk(keys[s["holder"]]["private_jwk_test_only"])
            signed = sign_request(
                method=s["method"],
                authority=s["authority"],
                path_and_query=s["path"],
                headers=[(n, val) for n, val in s["headers"]],
                body=base64.b64decode(s["body_base64"]),
                passport=s["passport"],
                holder=holder,
                route=s["route"],
                bind_headers=s["bind_headers"],
                nonce=s["nonce"],
                ts=s["ts"],
                include_field_digests=s["field_digests"],
            )
            if signed.transcript != v["transcript"]:
                problems.append("transcript signed from the client's request differs")
            _, signature = parse_proof(v["proof"])
            if not verify(keys[s["holder"]]["public_jwk"], v["transcript"].encode("utf-8"), signature):
                problems.append("the vector's signature does not verify")
            if v["signature_check"] == "exact" and signed.headers["x-trustplane-proof"] != v["proof"]:
                problems.append("the Ed25519 proof is not byte-identical")
        except Exception as e:  # a vector that makes the signer raise is a failure, reported as such
            problems.append(f"raised {type(e).__name__}: {e}")
        status = "ok  " if not problems else "FAIL"
        print(f"{status} positive {v['id']}" + ("" if not problems else f": {'; '.join(problems)}"))
        failed += bool(problems)
    print(f"skip {len(doc['negative'])} negative vectors (verifier decisions; a signer gives none)")
    total = len(doc["positive"])
    print(f"python: {total - failed} passed, {failed} failed (positive vectors)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1] if len(sys.argv) > 1 else DEFAULT))
