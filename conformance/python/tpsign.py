#!/usr/bin/env python3
"""The conformance gate's Python driver (docs/conformance.md): reads a batch of requests to sign as
JSON on standard input and writes what this signer made of each as JSON on standard output.

Input:  {"keys": {name: private JWK}, "issuer_kid": kid, "issuer": key name,
         "cases": [{"id", "method", "authority", "path_and_query", "headers": [[name, value]],
                    "body_base64", "bind_headers", "route", "holder": key name, "nonce", "ts",
                    "passport": token | "claims": {...} (minted here with the issuer key)}]}
Output: {"results": [{"id", "passport", "proof", "transcript"}]}
"""
from __future__ import annotations

import base64
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from trustplane_signer import mint_passport, sign_request, signing_key_from_jwk  # noqa: E402


def main() -> int:
    batch = json.load(sys.stdin)
    keys = {name: signing_key_from_jwk(jwk) for name, jwk in batch["keys"].items()}
    results = []
    for case in batch["cases"]:
        passport = case.get("passport")
        if passport is None:
            passport = mint_passport(keys[batch["issuer"]], batch["issuer_kid"], case["claims"])
        signed = sign_request(
            method=case["method"],
            authority=case["authority"],
            path_and_query=case["path_and_query"],
            headers=[(n, v) for n, v in case["headers"]],
            body=base64.b64decode(case["body_base64"]),
            passport=passport,
            holder=keys[case["holder"]],
            route=case["route"],
            bind_headers=case["bind_headers"],
            nonce=case["nonce"],
            ts=case["ts"],
        )
        results.append({"id": case["id"], "passport": passport, "proof": signed.headers["x-trustplane-proof"], "transcript": signed.transcript})
    json.dump({"results": results}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
