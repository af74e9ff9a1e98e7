package signer

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

type vectorFile struct {
	Keys map[string]struct {
		Private json.RawMessage   `json:"private_jwk_test_only"`
		Public  map[string]string `json:"public_jwk"`
	} `json:"keys"`
	Positive []struct {
		ID      string `json:"id"`
		Signing struct {
			Holder       string      `json:"holder"`
			Route        string      `json:"route"`
			BindHeaders  []string    `json:"bind_headers"`
			Nonce        string      `json:"nonce"`
			Ts           int64       `json:"ts"`
			FieldDigests bool        `json:"field_digests"`
			Passport     string      `json:"passport"`
			Method       string      `json:"method"`
			Authority    string      `json:"authority"`
			Path         string      `json:"path"`
			Headers      [][2]string `json:"headers"`
			BodyBase64   string      `json:"body_base64"`
		} `json:"signing"`
		Request struct {
			Method    string      `json:"method"`
			Authority string      `json:"authority"`
			Path      string      `json:"path"`
			Headers   [][2]string `json:"headers"`
			Body      struct {
				Source string `json:"source"`
				Base64 string `json:"base64"`
			} `json:"body"`
			RouteID string `json:"route_id"`
		} `json:"request"`
		Transcript     string `json:"transcript"`
		Proof          string `json:"proof"`
		SignatureCheck string `json:"signature_check"`
	} `json:"positive"`
	Negative []json.RawMessage `json:"negative"`
}

func headerList(pairs [][2]string) []Header {
	out := make([]Header, len(pairs))
	for i, p := range pairs {
		out[i] = Header{p[0], p[1]}
	}
	return out
}

// TestVectors runs every positive vector of test/vectors/transcript-v1.json (docs/conformance.md):
// the transcript rebuilt from what Envoy presents and the one signed from the client's request are
// byte-identical to the vector's, Ed25519 proofs are byte-identical, ES256 signatures verify.
func TestVectors(t *testing.T) {
	path := os.Getenv("TRUSTPLANE_VECTORS")
	if path == "" {
		path = filepath.Join("..", "..", "test", "vectors", "transcript-v1.json")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc vectorFile
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Positive) == 0 {
		t.Fatal("no positive vectors")
	}
	for _, v := range doc.Positive {
		v := v
		t.Run(v.ID, func(t *testing.T) {
			s := v.Signing
			holder, err := SigningKeyFromJWK(doc.Keys[s.Holder].Private)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := base64.StdEncoding.DecodeString(s.BodyBase64)
			signed, err := SignRequest(
				Request{Method: s.Method, Authority: s.Authority, PathAndQuery: s.Path, Headers: headerList(s.Headers), Body: body},
				Options{Passport: s.Passport, Holder: holder, Route: s.Route, BindHeaders: s.BindHeaders, Nonce: s.Nonce, Ts: s.Ts, FieldDigests: s.FieldDigests},
			)
			if err != nil {
				t.Fatalf("signing: %v", err)
			}
			if signed.Transcript != v.Transcript {
				t.Errorf("transcript signed from the client's request differs:\n%s\nwant:\n%s", signed.Transcript, v.Transcript)
			}
			if observed := observedTranscript(t, v.Request.Method, v.Request.Authority, v.Request.Path, headerList(v.Request.Headers), v.Request.Body.Source, v.Request.Body.Base64, v.Request.RouteID); observed != v.Transcript {
				t.Errorf("transcript from the observed request differs:\n%s", observed)
			}
			_, sig, err := ParseProof(v.Proof)
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := Verify(doc.Keys[s.Holder].Public, []byte(v.Transcript), sig); !ok || err != nil {
				t.Errorf("the vector's signature does not verify (%v)", err)
			}
			if v.SignatureCheck == "exact" && signed.Proof != v.Proof {
				t.Errorf("Ed25519 proof is not byte-identical:\n%s\nwant\n%s", signed.Proof, v.Proof)
			}
		})
	}
	t.Logf("%d positive vectors; %d negative vectors are verifier decisions and not a signer's", len(doc.Positive), len(doc.Negative))
}

func observedTranscript(t *testing.T, method, authority, path string, headers []Header, bodySource, bodyBase64, routeID string) string {
	t.Helper()
	all := CollectHeaders(headers)
	params, _, err := ParseProof(all[ProofHeader])
	if err != nil {
		t.Fatal(err)
	}
	claims, err := PassportClaims(all[PassportHeader])
	if err != nil {
		t.Fatal(err)
	}
	var bound []Header
	for _, n := range params["h"].([]any) {
		bound = append(bound, Header{n.(string), all[n.(string)]})
	}
	bodySha := B64sha(nil)
	switch bodySource {
	case "bytes":
		b, _ := base64.StdEncoding.DecodeString(bodyBase64)
		bodySha = B64sha(b)
	case "filter_header":
		bodySha = all["x-trustplane-body-sha256"]
	}
	route := routeID
	if route == "" {
		route = params["route"].(string)
	}
	ts, _ := params["ts"].(json.Number).Int64()
	jkt, _ := JWKThumbprint(claims.Cnf.JWK)
	out, err := BuildTranscript(TranscriptInput{
		Method: method, Authority: authority, PathAndQuery: path, Headers: bound, BodySha256: bodySha,
		Nonce: params["nonce"].(string), Audience: claims.Aud, Route: route, Jti: claims.Jti,
		PassportSha256: B64sha([]byte(all[PassportHeader])), Ts: ts, KeyBinding: claims.KeyBinding, CnfJkt: jkt,
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
