"""Unit tests of the Python signer against the examples docs/transcript-v1.md gives."""
from __future__ import annotations

import json
import os
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from trustplane_signer import TranscriptError, mint_passport, parse_proof, passport_claims, sign_request, signing_key_from_jwk, verify  # noqa: E402
from trustplane_signer.transcript import (  # noqa: E402
    b64url_decode,
    canonical_authority,
    canonical_path,
    canonical_query,
    collect_headers,
    free_text,
    jwk_thumbprint,
)
from trustplane_signer.transport import TrustPlaneSigner, sign_urllib_request  # noqa: E402

ED_HOLDER = {"kty": "OKP", "crv": "Ed25519", "x": "6shRQdMZ_8rMjNQae1a7Ss3zcHfpn9YkuwLazznloqc", "d": "bp2LfWdc4QWY-v_HgaDoNwtQB2EfHNHRiasQtJQRF38"}


class CanonicalForms(unittest.TestCase):
    def test_authority_examples_of_section_6_3(self) -> None:
        self.assertEqual(canonical_authority("API.Example.COM"), "api.example.com")
        self.assertEqual(canonical_authority("api.example.com:443"), "api.example.com")
        self.assertEqual(canonical_authority("[2001:DB8::1]:8443"), "[2001:db8::1]:8443")
        self.assertEqual(canonical_authority("h:08443"), "h:8443")
        for bad in ("user@api.example.com", "\u212aiosk.example.com", "", "h:0", "h:65536", "[::1"):
            with self.assertRaises(TranscriptError) as e:
                canonical_authority(bad)
            self.assertEqual(e.exception.reason, "authority_invalid", bad)

    def test_path_examples_of_section_6_4(self) -> None:
        self.assertEqual(canonical_path("/files/%7Euser/%41bc"), "/files/~user/Abc")
        self.assertEqual(canonical_path("/caf%c3%a9"), "/caf%C3%A9")
        self.assertEqual(canonical_path("/café"), "/caf%C3%A9")
        self.assertEqual(canonical_path("/100%25"), "/100%25")
        self.assertEqual(canonical_path("/a/"), "/a/")
        for bad in ("/a%2Fb", "/a/../b", "/a/%2e%2E/b", "/a//b", "/a\\b", "a", "/a%zz", "/a%00", "/a%5c",
                    "/files/..;/admin", "/a/.;/b", "/a;jsessionid=1", "/a/..%3B/b", "/a/%C0%AE%C0%AE/b",
                    "/a/%252e%252e/b", "/a%0A", "/a/%EF%BC%8E%EF%BC%8E/b"):
            with self.assertRaises(TranscriptError) as e:
                canonical_path(bad)
            self.assertEqual(e.exception.reason, "path_not_canonical", bad)

    def test_query_examples_of_section_6_5(self) -> None:
        self.assertEqual(canonical_query("b=2&a=1&flag"), "a=1&b=2&flag")
        self.assertEqual(canonical_query("q=3&q=1&a=z"), "a=z&q=3&q=1")
        self.assertEqual(canonical_query("&q=1&&e=&"), "e=&q=1")
        self.assertEqual(canonical_query("q=%7e%41"), "q=~A")
        self.assertEqual(canonical_query("a+b=%20"), "a+b=%20")

    def test_free_text_example_of_section_6_16(self) -> None:
        self.assertEqual(free_text('100% café, "x"\u0001'), '100%25 caf%C3%A9, "x"%01')

    def test_repeated_headers_join_as_envoy_presents_them(self) -> None:
        self.assertEqual(collect_headers([("A", " x "), ("a", "y\t")]), {"a": "x,y"})

    def test_strict_base64url(self) -> None:
        self.assertEqual(b64url_decode("AA"), b"\x00")
        for bad in ("AB", "AA==", "A", "A+", "A/"):
            with self.assertRaises(ValueError, msg=bad):
                b64url_decode(bad)

    def test_thumbprint_of_the_worked_example(self) -> None:
        self.assertEqual(jwk_thumbprint(ED_HOLDER), "zKTAkLlwiO2OnOBGdCNeqNg1XsIl5uQWYrGZ9LQgby8")


class Signing(unittest.TestCase):
    def setUp(self) -> None:
        self.issuer = signing_key_from_jwk(ED_HOLDER)
        self.holder = signing_key_from_jwk(
            {"kty": "EC", "crv": "P-256", "d": "870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE"}
        )
        self.passport = mint_passport(
            self.issuer,
            "k1",
            {"iss": "https://issuer.example", "sub": "spiffe://example.org/a", "aud": "https://api.example.com", "iat": 1, "exp": 2, "jti": "j-1", "trust_domain": "example.org", "cnf": {"jwk": self.holder.public_jwk}, "key_binding": "software"},
        )

    def test_a_minted_passport_verifies_with_the_issuer_key(self) -> None:
        head, payload, sig = self.passport.split(".")
        self.assertTrue(verify(self.issuer.public_jwk, f"{head}.{payload}".encode(), b64url_decode(sig)))
        self.assertEqual(json.loads(b64url_decode(head)), {"alg": "EdDSA", "typ": "tp-passport+jwt", "kid": "k1"})
        self.assertEqual(passport_claims(self.passport)["jti"], "j-1")

    def test_an_es256_proof_verifies_over_its_transcript_and_fails_over_another(self) -> None:
        signed = sign_request(method="GET", url="https://api.example.com/v1/x?b=1&a=2", passport=self.passport, holder=self.holder, route="r1", nonce="n" * 16, ts=5)
        params, sig = parse_proof(signed.headers["x-trustplane-proof"])
        self.assertEqual(params["h"], [])
        self.assertIn("query:a=2&b=1\n", signed.transcript)
        self.assertTrue(verify(self.holder.public_jwk, signed.transcript.encode(), sig))
        self.assertFalse(verify(self.holder.public_jwk, signed.transcript.replace("ts:5", "ts:6").encode(), sig))

    def test_binding_a_header_the_request_does_not_carry_is_refused(self) -> None:
        with self.assertRaisesRegex(ValueError, 'header "x-a" is to be bound'):
            sign_request(method="GET", url="https://h/x", passport=self.passport, holder=self.holder, route="r1", bind_headers=["X-A"])

    def test_an_unbindable_header_is_refused_with_its_reason(self) -> None:
        with self.assertRaises(TranscriptError) as e:
            sign_request(method="GET", url="https://h/x", headers={"Cookie": "a"}, passport=self.passport, holder=self.holder, route="r1", bind_headers=["cookie"])
        self.assertEqual(e.exception.reason, "header_not_bindable")

    def test_a_private_key_with_a_non_canonical_coordinate_is_refused(self) -> None:
        bad = dict(ED_HOLDER, d=ED_HOLDER["d"][:-1] + "G")
        with self.assertRaises(ValueError):
            signing_key_from_jwk(bad)

    def test_urllib_helper_signs_method_url_headers_and_body(self) -> None:
        req = urllib.request.Request("https://api.example.com/v1/p", data=b"{}", method="POST", headers={"Content-Type": "application/json"})
        signer = TrustPlaneSigner(lambda: self.passport, self.holder, "r1", bind_headers=["content-type"])
        sign_urllib_request(req, signer)
        proof = req.get_header("X-trustplane-proof")
        self.assertIsNotNone(proof)
        params, _ = parse_proof(proof)
        self.assertEqual(params["h"], ["content-type"])
        self.assertEqual(req.get_header("X-trustplane-passport"), self.passport)


if __name__ == "__main__":
    unittest.main()
