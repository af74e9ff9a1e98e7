package signer

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func reasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func TestCanonicalFormsOfTheSpecExamples(t *testing.T) {
	for in, want := range map[string]string{"API.Example.COM": "api.example.com", "api.example.com:443": "api.example.com", "[2001:DB8::1]:8443": "[2001:db8::1]:8443", "h:08443": "h:8443"} {
		if got, err := CanonicalAuthority(in); err != nil || got != want {
			t.Errorf("authority %q = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"user@api.example.com", "\u212aiosk.example.com", "", "h:0", "h:65536", "[::1"} {
		if _, err := CanonicalAuthority(bad); reasonOf(err) != "authority_invalid" {
			t.Errorf("authority %q: %v, want authority_invalid", bad, err)
		}
	}
	for in, want := range map[string]string{"/files/%7Euser/%41bc": "/files/~user/Abc", "/caf%c3%a9": "/caf%C3%A9", "/café": "/caf%C3%A9", "/100%25": "/100%25", "/a/": "/a/"} {
		if got, err := CanonicalPath(in); err != nil || got != want {
			t.Errorf("path %q = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"/a%2Fb", "/a/../b", "/a/%2e%2E/b", "/a//b", "/a\\b", "a", "/a%zz", "/a%00", "/a%5c",
		"/files/..;/admin", "/a/.;/b", "/a;jsessionid=1", "/a/..%3B/b", "/a/%C0%AE%C0%AE/b", "/a/%252e%252e/b", "/a%0A"} {
		if _, err := CanonicalPath(bad); reasonOf(err) != "path_not_canonical" {
			t.Errorf("path %q: %v, want path_not_canonical", bad, err)
		}
	}
	for in, want := range map[string]string{"b=2&a=1&flag": "a=1&b=2&flag", "q=3&q=1&a=z": "a=z&q=3&q=1", "&q=1&&e=&": "e=&q=1", "q=%7e%41": "q=~A"} {
		if got, err := CanonicalQuery(in); err != nil || got != want {
			t.Errorf("query %q = %q, %v; want %q", in, got, err, want)
		}
	}
	if got := FreeText("100% café, \"x\"\x01"); got != `100%25 caf%C3%A9, "x"%01` {
		t.Errorf("free text = %q", got)
	}
	for _, bad := range []string{"AB", "AA==", "A", "A+"} {
		if _, err := B64urlDecode(bad); err == nil {
			t.Errorf("base64url %q accepted", bad)
		}
	}
}

func TestUnbindableHeaderIsRefusedWithItsReason(t *testing.T) {
	if err := CheckBoundNames([]string{"cookie"}); reasonOf(err) != "header_not_bindable" {
		t.Fatalf("got %v", err)
	}
	if err := CheckBoundNames([]string{"b", "a"}); reasonOf(err) != "proof_malformed" {
		t.Fatalf("got %v", err)
	}
}

const edJWK = `{"kty":"OKP","crv":"Ed25519","x":"6shRQdMZ_8rMjNQae1a7Ss3zcHfpn9YkuwLazznloqc","d":"bp2LfWdc4QWY-v_HgaDoNwtQB2EfHNHRiasQtJQRF38"}`
const ecJWK = `{"kty":"EC","crv":"P-256","d":"870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE"}`

// The round tripper signs what it sends: a server that rebuilds the transcript from the request it
// received verifies the proof, and the body it reads is the one that was hashed.
func TestRoundTripperSignsTheRequestItSends(t *testing.T) {
	issuer, err := SigningKeyFromJWK([]byte(edJWK))
	if err != nil {
		t.Fatal(err)
	}
	holder, err := SigningKeyFromJWK([]byte(ecJWK))
	if err != nil {
		t.Fatal(err)
	}
	passport, err := MintPassport(issuer, "k1", map[string]any{"aud": "https://api.example.com", "jti": "j1", "key_binding": "software", "cnf": map[string]any{"jwk": holder.PublicJWK}})
	if err != nil {
		t.Fatal(err)
	}
	var verified bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		params, sig, err := ParseProof(r.Header.Get(ProofHeader))
		if err != nil {
			t.Error(err)
			return
		}
		var bound []Header
		for _, n := range params["h"].([]any) {
			bound = append(bound, Header{n.(string), r.Header.Get(n.(string))})
		}
		ts, _ := params["ts"].(interface{ Int64() (int64, error) }).Int64()
		claims, _ := PassportClaims(r.Header.Get(PassportHeader))
		jkt, _ := JWKThumbprint(claims.Cnf.JWK)
		transcript, err := BuildTranscript(TranscriptInput{Method: r.Method, Authority: r.Host, PathAndQuery: r.URL.RequestURI(), Headers: bound, BodySha256: B64sha(body), Nonce: params["nonce"].(string), Audience: claims.Aud, Route: "r1", Jti: claims.Jti, PassportSha256: B64sha([]byte(r.Header.Get(PassportHeader))), Ts: ts, KeyBinding: claims.KeyBinding, CnfJkt: jkt})
		if err != nil {
			t.Error(err)
			return
		}
		verified, _ = Verify(holder.PublicJWK, []byte(transcript), sig)
		if string(body) != `{"a":1}` {
			t.Errorf("body %q", body)
		}
	}))
	defer srv.Close()
	client := &http.Client{Transport: &RoundTripper{Passport: func() (string, error) { return passport, nil }, Holder: holder, Route: "r1", BindHeaders: []string{"Content-Type"}}}
	req, _ := http.NewRequest("POST", srv.URL+"/v1/x?b=2&a=1", strings.NewReader(`{"a":1}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !verified {
		t.Fatal("the server could not verify the proof over the request it received")
	}
}
