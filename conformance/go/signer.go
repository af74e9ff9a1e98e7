package signer

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Header names of section 3.
const (
	PassportHeader = "x-trustplane-passport"
	ProofHeader    = "x-trustplane-proof"
	PassportTyp    = "tp-passport+jwt"
)

func compactJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// MintPassport signs a compact JWS passport (section 4) with a local issuer key.
func MintPassport(issuer *SigningKey, kid string, claims map[string]any) (string, error) {
	header, err := compactJSON(map[string]string{"alg": issuer.Alg, "typ": PassportTyp, "kid": kid})
	if err != nil {
		return "", err
	}
	payload, err := compactJSON(claims)
	if err != nil {
		return "", err
	}
	input := B64url(header) + "." + B64url(payload)
	sig, err := issuer.Sign([]byte(input))
	if err != nil {
		return "", err
	}
	return input + "." + B64url(sig), nil
}

// Claims are what a signer reads from its own passport; nothing is verified here.
type Claims struct {
	Aud        string `json:"aud"`
	Jti        string `json:"jti"`
	KeyBinding string `json:"key_binding"`
	Cnf        struct {
		JWK map[string]string `json:"jwk"`
	} `json:"cnf"`
}

// PassportClaims decodes the claims of a compact JWS passport.
func PassportClaims(passport string) (*Claims, error) {
	parts := strings.Split(trimOWS(passport), ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("passport is not a compact JWS")
	}
	payload, err := B64urlDecode(parts[1])
	if err != nil {
		return nil, fmt.Errorf("passport payload: %w", err)
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("passport payload: %w", err)
	}
	if c.Aud == "" || c.Jti == "" || c.KeyBinding == "" || c.Cnf.JWK == nil {
		return nil, fmt.Errorf("passport lacks aud, jti, key_binding or cnf.jwk")
	}
	return &c, nil
}

// Request is what is signed. Give URL, or Authority and PathAndQuery to control the bytes exactly.
type Request struct {
	Method       string
	URL          string
	Authority    string
	PathAndQuery string
	Headers      []Header
	Body         []byte
	// BodySha256, when set, is used instead of hashing Body (for streamed bodies).
	BodySha256 string
}

// Options says how to sign. Nonce and Ts are chosen when empty / zero.
type Options struct {
	Passport     string
	Holder       *SigningKey
	Route        string
	BindHeaders  []string
	Nonce        string
	Ts           int64
	FieldDigests bool
}

// Signed holds the two headers to add and the transcript that was signed.
type Signed struct {
	Passport, Proof, Transcript string
}

// NewNonce is 18 random bytes, base64url: 24 characters (section 5.2).
func NewNonce() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return B64url(b)
}

type proofParams struct {
	Ts    int64    `json:"ts"`
	Nonce string   `json:"nonce"`
	Route string   `json:"route"`
	H     []string `json:"h"`
	Fd    string   `json:"fd,omitempty"`
}

// SignRequest builds the transcript of req and signs it with the holder key (sections 5-7).
func SignRequest(req Request, o Options) (*Signed, error) {
	authority, pathAndQuery := req.Authority, req.PathAndQuery
	if req.URL != "" {
		u, err := url.Parse(req.URL)
		if err != nil {
			return nil, err
		}
		if authority == "" {
			authority = u.Host
		}
		if pathAndQuery == "" {
			pathAndQuery = u.EscapedPath()
			if pathAndQuery == "" {
				pathAndQuery = "/"
			}
			if u.RawQuery != "" {
				pathAndQuery += "?" + u.RawQuery
			}
		}
	}
	if authority == "" || pathAndQuery == "" {
		return nil, fmt.Errorf("give URL, or Authority and PathAndQuery")
	}
	claims, err := PassportClaims(o.Passport)
	if err != nil {
		return nil, err
	}
	token := trimOWS(o.Passport)
	all := CollectHeaders(req.Headers)
	seen := map[string]bool{}
	var names []string
	for _, n := range o.BindHeaders {
		n = ASCIILower(n)
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	sort.Strings(names)
	bound := make([]Header, 0, len(names))
	for _, n := range names {
		v, ok := all[n]
		if !ok {
			return nil, fmt.Errorf("header %q is to be bound but the request does not carry it", n)
		}
		bound = append(bound, Header{n, v})
	}
	bodySha := req.BodySha256
	if bodySha == "" {
		bodySha = B64sha(req.Body)
	}
	nonce := o.Nonce
	if nonce == "" {
		nonce = NewNonce()
	}
	ts := o.Ts
	if ts == 0 {
		ts = time.Now().Unix()
	}
	jkt, err := JWKThumbprint(claims.Cnf.JWK)
	if err != nil {
		return nil, err
	}
	transcript, err := BuildTranscript(TranscriptInput{
		Method: req.Method, Authority: authority, PathAndQuery: pathAndQuery, Headers: bound,
		BodySha256: bodySha, Nonce: nonce, Audience: claims.Aud, Route: o.Route, Jti: claims.Jti,
		PassportSha256: B64sha([]byte(token)), Ts: ts, KeyBinding: claims.KeyBinding, CnfJkt: jkt,
	})
	if err != nil {
		return nil, err
	}
	params := proofParams{Ts: ts, Nonce: nonce, Route: o.Route, H: names}
	if params.H == nil {
		params.H = []string{}
	}
	if o.FieldDigests {
		params.Fd = B64url(FieldDigests(transcript))
	}
	pj, err := compactJSON(params)
	if err != nil {
		return nil, err
	}
	sig, err := o.Holder.Sign([]byte(transcript))
	if err != nil {
		return nil, err
	}
	return &Signed{Passport: token, Proof: "v1." + B64url(pj) + "." + B64url(sig), Transcript: transcript}, nil
}

// ParseProof returns the proof's parameters (as JSON) and signature bytes (section 5.1).
func ParseProof(proof string) (map[string]any, []byte, error) {
	parts := strings.Split(trimOWS(proof), ".")
	if len(parts) != 3 || parts[0] != "v1" || parts[2] == "" {
		return nil, nil, fmt.Errorf("not a v1 proof")
	}
	raw, err := B64urlDecode(parts[1])
	if err != nil {
		return nil, nil, err
	}
	var params map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&params); err != nil {
		return nil, nil, err
	}
	sig, err := B64urlDecode(parts[2])
	if err != nil {
		return nil, nil, err
	}
	return params, sig, nil
}
