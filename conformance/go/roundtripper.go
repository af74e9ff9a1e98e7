package signer

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// RoundTripper signs every request before handing it to Next (http.DefaultTransport when nil):
//
//	client := &http.Client{Transport: &signer.RoundTripper{Passport: src, Holder: key, Route: "orders-read"}}
//
// The body is read to hash it and replaced with an identical reader, so what is sent is what was signed.
type RoundTripper struct {
	Next        http.RoundTripper
	Passport    func() (string, error)
	Holder      *SigningKey
	Route       string
	BindHeaders []string
}

// RoundTrip implements http.RoundTripper. It does not modify the caller's request (it signs a clone).
func (t *RoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	passport, err := t.Passport()
	if err != nil {
		return nil, fmt.Errorf("trustplane: passport: %w", err)
	}
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("trustplane: reading the body to sign it: %w", err)
		}
	}
	out := req.Clone(req.Context())
	if body != nil {
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
	}
	var headers []Header
	for name, values := range req.Header {
		for _, v := range values {
			headers = append(headers, Header{name, v})
		}
	}
	authority := req.Host
	if authority == "" {
		authority = req.URL.Host
	}
	pathAndQuery := req.URL.RequestURI()
	signed, err := SignRequest(
		Request{Method: req.Method, Authority: authority, PathAndQuery: pathAndQuery, Headers: headers, Body: body},
		Options{Passport: passport, Holder: t.Holder, Route: t.Route, BindHeaders: t.BindHeaders, FieldDigests: true},
	)
	if err != nil {
		return nil, fmt.Errorf("trustplane: %w", err)
	}
	out.Header.Set(PassportHeader, signed.Passport)
	out.Header.Set(ProofHeader, signed.Proof)
	next := t.Next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(out)
}
