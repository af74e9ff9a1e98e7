// Command tpsign is the conformance gate's Go driver (docs/conformance.md): it reads a batch of
// requests to sign as JSON on standard input and writes what this signer made of each on standard
// output, in the format conformance/python/tpsign.py documents.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"

	signer "trustplane/signer"
)

type batch struct {
	Keys      map[string]json.RawMessage `json:"keys"`
	IssuerKid string                     `json:"issuer_kid"`
	Issuer    string                     `json:"issuer"`
	Cases     []struct {
		ID           string         `json:"id"`
		Method       string         `json:"method"`
		Authority    string         `json:"authority"`
		PathAndQuery string         `json:"path_and_query"`
		Headers      [][2]string    `json:"headers"`
		BodyBase64   string         `json:"body_base64"`
		BindHeaders  []string       `json:"bind_headers"`
		Route        string         `json:"route"`
		Holder       string         `json:"holder"`
		Nonce        string         `json:"nonce"`
		Ts           int64          `json:"ts"`
		Passport     string         `json:"passport"`
		Claims       map[string]any `json:"claims"`
	} `json:"cases"`
}

type result struct {
	ID         string `json:"id"`
	Passport   string `json:"passport"`
	Proof      string `json:"proof"`
	Transcript string `json:"transcript"`
}

func run() error {
	var b batch
	dec := json.NewDecoder(os.Stdin)
	dec.UseNumber()
	if err := dec.Decode(&b); err != nil {
		return fmt.Errorf("reading the batch: %w", err)
	}
	keys := map[string]*signer.SigningKey{}
	for name, raw := range b.Keys {
		k, err := signer.SigningKeyFromJWK(raw)
		if err != nil {
			return fmt.Errorf("key %s: %w", name, err)
		}
		keys[name] = k
	}
	out := struct {
		Results []result `json:"results"`
	}{Results: []result{}}
	for _, c := range b.Cases {
		passport := c.Passport
		if passport == "" {
			p, err := signer.MintPassport(keys[b.Issuer], b.IssuerKid, c.Claims)
			if err != nil {
				return fmt.Errorf("case %s: minting: %w", c.ID, err)
			}
			passport = p
		}
		body, err := base64.StdEncoding.DecodeString(c.BodyBase64)
		if err != nil {
			return fmt.Errorf("case %s: body: %w", c.ID, err)
		}
		headers := make([]signer.Header, len(c.Headers))
		for i, h := range c.Headers {
			headers[i] = signer.Header{Name: h[0], Value: h[1]}
		}
		signed, err := signer.SignRequest(
			signer.Request{Method: c.Method, Authority: c.Authority, PathAndQuery: c.PathAndQuery, Headers: headers, Body: body},
			signer.Options{Passport: passport, Holder: keys[c.Holder], Route: c.Route, BindHeaders: c.BindHeaders, Nonce: c.Nonce, Ts: c.Ts, FieldDigests: true},
		)
		if err != nil {
			return fmt.Errorf("case %s: %w", c.ID, err)
		}
		out.Results = append(out.Results, result{ID: c.ID, Passport: passport, Proof: signed.Proof, Transcript: signed.Transcript})
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tpsign:", err)
		os.Exit(1)
	}
}
