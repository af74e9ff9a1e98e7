// Package signer is a transcript-v1 signer written from docs/transcript-v1.md alone (the
// standard library only): canonical forms and layout (sections 2 and 6), field digests (section 8),
// Ed25519 and ES256 proofs (section 7), passports minted with a local issuer key (section 4), and an
// http.RoundTripper that signs every request a Go client sends.
package signer

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// VersionLine is line 0 of every transcript (section 6.1).
const VersionLine = "trustplane-transcript-v1"

// MaxBoundHeaders bounds the proof's h (section 5.2).
const MaxBoundHeaders = 32

// Error is an input the verifier would refuse; Reason is its reason code (docs/reason-codes.md).
type Error struct {
	Reason string
	Detail string
}

func (e *Error) Error() string { return e.Reason + ": " + e.Detail }

func refuse(reason, format string, args ...any) error {
	return &Error{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// Go's regexp has no trailing-newline exception: `$` without (?m) matches only at the end of text.
var (
	methodRe     = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,32}$")
	headerNameRe = regexp.MustCompile("^[a-z0-9!#$%&'*+.^_`|~-]+$")
	nonceRe      = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)
	ipv6HostRe   = regexp.MustCompile(`^\[[0-9a-f:.]+\]$`)
	regHostRe    = regexp.MustCompile(`^[a-z0-9._~!$&'()*+,;=-]+$`)
	portRe       = regexp.MustCompile(`^[0-9]{1,5}$`)
	b64urlRe     = regexp.MustCompile(`^[A-Za-z0-9_-]*$`)
)

var unbindable = map[string]bool{
	"host": true, "cookie": true, "connection": true, "keep-alive": true, "proxy-connection": true,
	"transfer-encoding": true, "upgrade": true, "te": true, "trailer": true, "proxy-authorization": true,
	"proxy-authenticate": true, "x-envoy-auth-partial-body": true,
}

func byteSet(s string) [256]bool {
	var set [256]bool
	for i := 0; i < len(s); i++ {
		set[s[i]] = true
	}
	return set
}

const unreservedChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"

var (
	unreserved        = byteSet(unreservedChars)
	pathLiteral       = byteSet(unreservedChars + "!$&'()*+,;=:@/")
	queryKeyLiteral   = byteSet(unreservedChars + "!$'()*+,;:@/?")
	queryValueLiteral = byteSet(unreservedChars + "!$'()*+,;:@/?=")
)

// B64url is RFC 4648 section 5 base64url without padding.
func B64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// B64urlDecode is the strict decoding of section 2: the alphabet only, no padding, canonical bits.
func B64urlDecode(s string) ([]byte, error) {
	if !b64urlRe.MatchString(s) || len(s)%4 == 1 {
		return nil, fmt.Errorf("not canonical base64url")
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || B64url(b) != s {
		return nil, fmt.Errorf("not canonical base64url")
	}
	return b, nil
}

// B64sha is base64url(SHA-256(b)).
func B64sha(b []byte) string {
	sum := sha256.Sum256(b)
	return B64url(sum[:])
}

// ASCIILower maps exactly A-Z to a-z (section 2).
func ASCIILower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// CanonicalAuthority implements section 6.3.
func CanonicalAuthority(raw string) (string, error) {
	a := ASCIILower(raw)
	if a == "" || len(a) > 255 || strings.Contains(a, "@") {
		return "", refuse("authority_invalid", "authority %q is empty, too long or has userinfo", raw)
	}
	var host, port string
	hasPort := false
	if strings.HasPrefix(a, "[") {
		end := strings.Index(a, "]")
		if end < 0 {
			return "", refuse("authority_invalid", "unterminated IPv6 literal")
		}
		host = a[:end+1]
		rest := a[end+1:]
		if !ipv6HostRe.MatchString(host) {
			return "", refuse("authority_invalid", "bad IPv6 literal %q", host)
		}
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return "", refuse("authority_invalid", "text after the IPv6 literal")
			}
			port, hasPort = rest[1:], true
		}
	} else {
		if i := strings.LastIndex(a, ":"); i >= 0 {
			host, port, hasPort = a[:i], a[i+1:], true
		} else {
			host = a
		}
		if !regHostRe.MatchString(host) {
			return "", refuse("authority_invalid", "bad host %q", host)
		}
	}
	if !hasPort {
		return host, nil
	}
	if !portRe.MatchString(port) {
		return "", refuse("authority_invalid", "bad port %q", port)
	}
	n, _ := strconv.Atoi(port)
	if n < 1 || n > 65535 {
		return "", refuse("authority_invalid", "bad port %q", port)
	}
	if n == 80 || n == 443 {
		return host, nil
	}
	return host + ":" + strconv.Itoa(n), nil
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

const upperHex = "0123456789ABCDEF"

// percentCanonical is section 6.4 step 3 (and 6.5 step 3 with the query literal sets).
func percentCanonical(raw string, literal *[256]bool, refused []byte, what string) (string, error) {
	var out strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' {
			if i+2 >= len(raw) {
				return "", refuse("path_not_canonical", "malformed percent-escape in the %s", what)
			}
			hi, ok1 := hexVal(raw[i+1])
			lo, ok2 := hexVal(raw[i+2])
			if !ok1 || !ok2 {
				return "", refuse("path_not_canonical", "malformed percent-escape in the %s", what)
			}
			d := hi<<4 | lo
			for _, r := range refused {
				if d == r {
					return "", refuse("path_not_canonical", "escaped byte 0x%02X in the %s", d, what)
				}
			}
			if unreserved[d] {
				out.WriteByte(d)
			} else {
				out.WriteByte('%')
				out.WriteByte(upperHex[d>>4])
				out.WriteByte(upperHex[d&15])
			}
			i += 2
			continue
		}
		if c == 0 {
			return "", refuse("path_not_canonical", "NUL byte in the %s", what)
		}
		if literal[c] {
			out.WriteByte(c)
		} else {
			out.WriteByte('%')
			out.WriteByte(upperHex[c>>4])
			out.WriteByte(upperHex[c&15])
		}
	}
	return out.String(), nil
}

// SplitPathAndQuery splits at the first '?'.
func SplitPathAndQuery(pq string) (string, string) {
	if i := strings.Index(pq, "?"); i >= 0 {
		return pq[:i], pq[i+1:]
	}
	return pq, ""
}

// CanonicalPath implements section 6.4.
func CanonicalPath(path string) (string, error) {
	if !strings.HasPrefix(path, "/") {
		return "", refuse("path_not_canonical", "the path does not start with '/'")
	}
	if strings.ContainsAny(path, "\\#") {
		return "", refuse("path_not_canonical", "backslash or '#' in the path")
	}
	canon, err := percentCanonical(path, &pathLiteral, []byte{0x2F, 0x5C, 0x00}, "path")
	if err != nil {
		return "", err
	}
	if err := refuseOtherPaths(canon); err != nil {
		return "", err
	}
	segments := strings.Split(canon, "/")[1:]
	for i, s := range segments {
		if s == "." || s == ".." {
			return "", refuse("path_not_canonical", "dot segment in the path")
		}
		if s == "" && i != len(segments)-1 {
			return "", refuse("path_not_canonical", "empty segment in the path")
		}
	}
	return canon, nil
}

var hexEscapeRe = regexp.MustCompile(`%[0-9A-Fa-f]{2}`)

// refuseOtherPaths is section 6.4 step 4: forms an upstream could resolve to another path than the
// one signed. The step's NFKC rule is not applied here: Go's standard library has no Unicode
// normalisation, and this signer takes nothing else. A path that only NFKC would refuse is signed,
// and the verifier then denies it path_not_canonical, so nothing is allowed that should not be.
func refuseOtherPaths(canon string) error {
	if strings.Contains(canon, "%") {
		raw := make([]byte, 0, len(canon))
		for i := 0; i < len(canon); i++ {
			if canon[i] == '%' {
				hi, _ := hexVal(canon[i+1])
				lo, _ := hexVal(canon[i+2])
				raw = append(raw, hi<<4|lo)
				i += 2
			} else {
				raw = append(raw, canon[i])
			}
		}
		if !utf8.Valid(raw) {
			return refuse("path_not_canonical", "escapes that are not well-formed UTF-8")
		}
		for _, b := range raw {
			if b < 0x20 || b == 0x7F {
				return refuse("path_not_canonical", "an escaped control character")
			}
		}
		text := string(raw)
		if strings.Contains(text, ";") {
			return refuse("path_not_canonical", "an escaped ';'")
		}
		if hexEscapeRe.MatchString(text) {
			return refuse("path_not_canonical", "a second layer of escapes")
		}
	}
	if strings.Contains(canon, ";") {
		return refuse("path_not_canonical", "a path parameter (';')")
	}
	return nil
}

// CanonicalQuery implements section 6.5.
func CanonicalQuery(query string) (string, error) {
	if query == "" {
		return "", nil
	}
	if strings.Contains(query, "#") {
		return "", refuse("path_not_canonical", "'#' in the query")
	}
	type param struct{ key, text string }
	var params []param
	for _, part := range strings.Split(query, "&") {
		if part == "" {
			continue
		}
		keyRaw, valueRaw, hasValue := part, "", false
		if i := strings.Index(part, "="); i >= 0 {
			keyRaw, valueRaw, hasValue = part[:i], part[i+1:], true
		}
		key, err := percentCanonical(keyRaw, &queryKeyLiteral, []byte{0}, "query")
		if err != nil {
			return "", err
		}
		text := key
		if hasValue {
			value, err := percentCanonical(valueRaw, &queryValueLiteral, []byte{0}, "query")
			if err != nil {
				return "", err
			}
			text = key + "=" + value
		}
		params = append(params, param{key, text})
	}
	sort.SliceStable(params, func(i, j int) bool { return params[i].key < params[j].key })
	texts := make([]string, len(params))
	for i, p := range params {
		texts[i] = p.text
	}
	return strings.Join(texts, "&"), nil
}

// FreeText implements section 6.16.
func FreeText(s string) string {
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c <= 0x7E && c != '%' {
			out.WriteByte(c)
		} else {
			out.WriteByte('%')
			out.WriteByte(upperHex[c>>4])
			out.WriteByte(upperHex[c&15])
		}
	}
	return out.String()
}

func trimOWS(s string) string { return strings.Trim(s, " \t") }

// Header is one (name, value) entry.
type Header struct{ Name, Value string }

// CollectHeaders joins the occurrences of each lower-cased name with ',' after trimming each, in
// arrival order: the value Envoy presents for it (section 6.6).
func CollectHeaders(headers []Header) map[string]string {
	out := map[string]string{}
	for _, h := range headers {
		n := ASCIILower(h.Name)
		v := trimOWS(h.Value)
		if prev, ok := out[n]; ok {
			out[n] = prev + "," + v
		} else {
			out[n] = v
		}
	}
	return out
}

// CheckBoundNames enforces section 6.6 on the names of h.
func CheckBoundNames(names []string) error {
	if len(names) > MaxBoundHeaders {
		return refuse("proof_malformed", "more than 32 bound headers")
	}
	for i, n := range names {
		if !headerNameRe.MatchString(n) || unbindable[n] || strings.HasPrefix(n, "x-trustplane-") {
			return refuse("header_not_bindable", "header %q may not be bound", n)
		}
		if i > 0 && names[i-1] >= n {
			return refuse("proof_malformed", "bound header names are not sorted and unique")
		}
	}
	return nil
}

// JWKThumbprint is RFC 7638 over the required members (section 6.15).
func JWKThumbprint(jwk map[string]string) (string, error) {
	switch {
	case jwk["kty"] == "OKP" && jwk["crv"] == "Ed25519":
		return B64sha([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + jwk["x"] + `"}`)), nil
	case jwk["kty"] == "EC" && jwk["crv"] == "P-256":
		return B64sha([]byte(`{"crv":"P-256","kty":"EC","x":"` + jwk["x"] + `","y":"` + jwk["y"] + `"}`)), nil
	}
	return "", fmt.Errorf("cnf key is neither Ed25519 nor P-256")
}

// TranscriptInput is everything a transcript binds (section 6.1).
type TranscriptInput struct {
	Method, Authority, PathAndQuery string
	Headers                         []Header // bound names, sorted and unique, with their values
	BodySha256, Nonce, Audience     string
	Route, Jti, PassportSha256      string
	Ts                              int64
	KeyBinding, CnfJkt              string
}

// BuildTranscript lays out section 6.1: each line followed by '\n'.
func BuildTranscript(t TranscriptInput) (string, error) {
	if !nonceRe.MatchString(t.Nonce) {
		return "", refuse("proof_malformed", "nonce is not 16-64 base64url characters")
	}
	if t.Ts < 0 || t.Ts > 1<<53-1 {
		return "", refuse("proof_malformed", "ts is not in 0..2^53-1")
	}
	if !methodRe.MatchString(t.Method) {
		return "", refuse("request_malformed", "method %q is not a token of 1-32 characters", t.Method)
	}
	authority, err := CanonicalAuthority(t.Authority)
	if err != nil {
		return "", err
	}
	rawPath, rawQuery := SplitPathAndQuery(t.PathAndQuery)
	path, err := CanonicalPath(rawPath)
	if err != nil {
		return "", err
	}
	query, err := CanonicalQuery(rawQuery)
	if err != nil {
		return "", err
	}
	names := make([]string, len(t.Headers))
	for i, h := range t.Headers {
		names[i] = h.Name
	}
	if err := CheckBoundNames(names); err != nil {
		return "", err
	}
	lines := []string{VersionLine, "method:" + t.Method, "authority:" + authority, "path:" + path, "query:" + query, "headers:" + strings.Join(names, ";")}
	for _, h := range t.Headers {
		lines = append(lines, "header:"+h.Name+":"+FreeText(trimOWS(h.Value)))
	}
	lines = append(lines,
		"body-sha256:"+t.BodySha256,
		"nonce:"+t.Nonce,
		"aud:"+FreeText(t.Audience),
		"route:"+FreeText(t.Route),
		"jti:"+FreeText(t.Jti),
		"passport-sha256:"+t.PassportSha256,
		"ts:"+strconv.FormatInt(t.Ts, 10),
		"key-binding:"+FreeText(t.KeyBinding),
		"cnf-jkt:"+t.CnfJkt,
	)
	return strings.Join(lines, "\n") + "\n", nil
}

// FieldDigests is section 8: 4 bytes of SHA-256 per line after the version line.
func FieldDigests(transcript string) []byte {
	lines := strings.Split(transcript, "\n")
	lines = lines[1 : len(lines)-1]
	out := make([]byte, 0, 4*len(lines))
	for _, l := range lines {
		sum := sha256.Sum256([]byte(l))
		out = append(out, sum[:4]...)
	}
	return out
}
