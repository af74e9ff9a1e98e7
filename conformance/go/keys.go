package signer

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/big"
)

// SigningKey is a holder or issuer private key with its JWS algorithm and public JWK (section 7).
type SigningKey struct {
	Alg       string // "EdDSA" or "ES256"
	ed        ed25519.PrivateKey
	ec        *ecdsa.PrivateKey
	PublicJWK map[string]string
}

// Sign makes a section 7 signature: Ed25519 (RFC 8032, deterministic) or ES256 as r || s (RFC 7518 section 3.4).
func (k *SigningKey) Sign(data []byte) ([]byte, error) {
	if k.Alg == "EdDSA" {
		return ed25519.Sign(k.ed, data), nil
	}
	digest := sha256.Sum256(data)
	r, s, err := ecdsa.Sign(rand.Reader, k.ec, digest[:])
	if err != nil {
		return nil, err
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out, nil
}

var allowedMembers = map[string]bool{"kty": true, "crv": true, "x": true, "y": true, "d": true, "kid": true, "alg": true, "use": true}

func decode32(jwk map[string]string, member string) ([]byte, error) {
	b, err := B64urlDecode(jwk[member])
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("JWK member %q is not 32 bytes of canonical base64url", member)
	}
	return b, nil
}

// SigningKeyFromJWK reads a private Ed25519 (OKP) or P-256 (EC) JWK with `d`.
func SigningKeyFromJWK(raw []byte) (*SigningKey, error) {
	var jwk map[string]string
	if err := json.Unmarshal(raw, &jwk); err != nil {
		return nil, fmt.Errorf("key is not a JSON object of strings: %w", err)
	}
	for m := range jwk {
		if !allowedMembers[m] {
			return nil, fmt.Errorf("unexpected JWK member %q", m)
		}
	}
	d, err := decode32(jwk, "d")
	if err != nil {
		return nil, err
	}
	switch {
	case jwk["kty"] == "OKP" && jwk["crv"] == "Ed25519":
		priv := ed25519.NewKeyFromSeed(d)
		x := B64url(priv.Public().(ed25519.PublicKey))
		if v, ok := jwk["x"]; ok && v != x {
			return nil, fmt.Errorf("Ed25519 x does not belong to d")
		}
		return &SigningKey{Alg: "EdDSA", ed: priv, PublicJWK: map[string]string{"kty": "OKP", "crv": "Ed25519", "x": x}}, nil
	case jwk["kty"] == "EC" && jwk["crv"] == "P-256":
		curve := elliptic.P256()
		dn := new(big.Int).SetBytes(d)
		if dn.Sign() == 0 || dn.Cmp(curve.Params().N) >= 0 {
			return nil, fmt.Errorf("P-256 d is out of range")
		}
		priv := &ecdsa.PrivateKey{D: dn}
		priv.PublicKey.Curve = curve
		priv.PublicKey.X, priv.PublicKey.Y = curve.ScalarBaseMult(d)
		x, y := make([]byte, 32), make([]byte, 32)
		priv.PublicKey.X.FillBytes(x)
		priv.PublicKey.Y.FillBytes(y)
		pub := map[string]string{"kty": "EC", "crv": "P-256", "x": B64url(x), "y": B64url(y)}
		if v, ok := jwk["x"]; ok && v != pub["x"] {
			return nil, fmt.Errorf("P-256 x does not belong to d")
		}
		if v, ok := jwk["y"]; ok && v != pub["y"] {
			return nil, fmt.Errorf("P-256 y does not belong to d")
		}
		return &SigningKey{Alg: "ES256", ec: priv, PublicJWK: pub}, nil
	}
	return nil, fmt.Errorf("key is neither an Ed25519 (OKP) nor a P-256 (EC) private JWK")
}

// Verify checks a section 7 signature with a public JWK; the algorithm follows the key type.
func Verify(jwk map[string]string, data, sig []byte) (bool, error) {
	if len(sig) != 64 {
		return false, nil
	}
	switch {
	case jwk["kty"] == "OKP" && jwk["crv"] == "Ed25519":
		x, err := decode32(jwk, "x")
		if err != nil {
			return false, err
		}
		return ed25519.Verify(ed25519.PublicKey(x), data, sig), nil
	case jwk["kty"] == "EC" && jwk["crv"] == "P-256":
		x, err := decode32(jwk, "x")
		if err != nil {
			return false, err
		}
		y, err := decode32(jwk, "y")
		if err != nil {
			return false, err
		}
		curve := elliptic.P256()
		X, Y := new(big.Int).SetBytes(x), new(big.Int).SetBytes(y)
		if !curve.IsOnCurve(X, Y) {
			return false, fmt.Errorf("P-256 point is not on the curve")
		}
		digest := sha256.Sum256(data)
		return ecdsa.Verify(&ecdsa.PublicKey{Curve: curve, X: X, Y: Y}, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])), nil
	}
	return false, fmt.Errorf("key is neither Ed25519 nor P-256")
}
