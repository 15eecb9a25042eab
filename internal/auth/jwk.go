package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// RSA modulus bounds: below 2048 bits is too weak; above 8192 only makes every
// verification slow.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// verifyKey is one usable public key of the JWKS.
type verifyKey struct {
	kid string
	alg string // the JWK's alg; "" means every algorithm the key type supports
	pub any    // ed25519.PublicKey, *ecdsa.PublicKey or *rsa.PublicKey
}

// serves reports whether the key may verify a token signed with alg: the alg
// must fit the key's type (and curve), and the JWK's own alg when it has one.
func (k *verifyKey) serves(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch pub := k.pub.(type) {
	case ed25519.PublicKey:
		return alg == "EdDSA"
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			return alg == "ES256"
		case elliptic.P384():
			return alg == "ES384"
		case elliptic.P521():
			return alg == "ES512"
		}
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	}
	return false
}

// keySet is a parsed JWKS.
type keySet struct {
	byKID map[string]*verifyKey
	keys  []*verifyKey
}

// lookup results besides a key.
var (
	errKeyNotFound = errors.New("no key for this kid")
	errAmbiguous   = errors.New("token has no kid and several keys fit its alg")
	errKeyMismatch = errors.New("the kid's key does not serve this alg")
)

// find returns the key for a token's alg and kid. A token without kid gets the
// only key that serves its alg, if there is exactly one.
func (s *keySet) find(alg, kid string) (*verifyKey, error) {
	if s == nil {
		return nil, errKeyNotFound
	}
	if kid != "" {
		k := s.byKID[kid]
		switch {
		case k == nil:
			return nil, errKeyNotFound
		case !k.serves(alg):
			return nil, errKeyMismatch
		}
		return k, nil
	}
	var found *verifyKey
	for _, k := range s.keys {
		if k.serves(alg) {
			if found != nil {
				return nil, errAmbiguous
			}
			found = k
		}
	}
	if found == nil {
		return nil, errKeyNotFound
	}
	return found, nil
}

// hasAll reports whether every key of s is also in next (same kid, same key).
func (s *keySet) hasAll(next *keySet) bool {
	if s == nil {
		return true
	}
	for _, k := range s.keys {
		if !slices.ContainsFunc(next.keys, func(n *verifyKey) bool { return n.kid == k.kid && n.alg == k.alg && samePublicKey(n.pub, k.pub) }) {
			return false
		}
	}
	return true
}

func samePublicKey(a, b any) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// skippedKey is a JWK that parseKeySet could not use.
type skippedKey struct {
	index  int
	kid    string
	reason string
}

// parseKeySet parses a JWKS document. Unusable keys are skipped and reported,
// so one bad key does not disable the others; only a document that is not a
// JWKS at all is an error.
func parseKeySet(doc []byte) (*keySet, []skippedKey, error) {
	var d struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, nil, fmt.Errorf("JWKS is not a JSON object with a keys array: %w", err)
	}
	if d.Keys == nil {
		return nil, nil, errors.New("JWKS has no keys array")
	}
	set := &keySet{byKID: make(map[string]*verifyKey)}
	var skipped []skippedKey
	for i, raw := range d.Keys {
		k, kid, err := parseJWK(raw)
		if err == nil && kid != "" && set.byKID[kid] != nil {
			err = errors.New("duplicate kid; the first key with it is used")
		}
		if err != nil {
			skipped = append(skipped, skippedKey{index: i, kid: kid, reason: err.Error()})
			continue
		}
		set.keys = append(set.keys, k)
		if kid != "" {
			set.byKID[kid] = k
		}
	}
	return set, skipped, nil
}

// jwkJSON holds the JWK members parseJWK looks at.
type jwkJSON struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Alg    string   `json:"alg"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Crv    string   `json:"crv"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	D      string   `json:"d"`
}

// parseJWK turns one JWK into a verification key. It returns the kid even when
// the key is refused, for the log.
func parseJWK(raw json.RawMessage) (*verifyKey, string, error) {
	var j jwkJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, "", fmt.Errorf("not a JWK object: %w", err)
	}
	switch {
	case j.Use != "" && j.Use != "sig":
		return nil, j.Kid, fmt.Errorf("use is %q, not sig", j.Use)
	case j.KeyOps != nil && !slices.Contains(j.KeyOps, "verify"):
		return nil, j.Kid, errors.New("key_ops does not include verify")
	case j.D != "":
		return nil, j.Kid, errors.New("the JWK contains private key material; a JWKS must publish public keys only")
	case j.Alg != "" && !isAsymmetric(j.Alg):
		return nil, j.Kid, fmt.Errorf("alg %q is not a supported signature algorithm", j.Alg)
	}
	var pub any
	var err error
	switch j.Kty {
	case "OKP":
		pub, err = okpKey(j)
	case "EC":
		pub, err = ecKey(j)
	case "RSA":
		pub, err = rsaKey(j)
	case "oct":
		err = errors.New("symmetric keys (kty oct) are not used; HMAC tokens are verified only with the shared secret")
	default:
		err = fmt.Errorf("kty %q is not supported", j.Kty)
	}
	if err != nil {
		return nil, j.Kid, err
	}
	k := &verifyKey{kid: j.Kid, pub: pub}
	if j.Alg != "" && !k.serves(j.Alg) {
		return nil, j.Kid, fmt.Errorf("alg %s does not fit a %s key", j.Alg, j.Kty)
	}
	k.alg = j.Alg
	return k, j.Kid, nil
}

func okpKey(j jwkJSON) (any, error) {
	if j.Crv != "Ed25519" {
		return nil, fmt.Errorf("OKP curve %q is not supported (only Ed25519)", j.Crv)
	}
	x, err := b64(j.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		return nil, errors.New("x is not a 32-byte base64url Ed25519 public key")
	}
	return ed25519.PublicKey(x), nil
}

func ecKey(j jwkJSON) (any, error) {
	var curve elliptic.Curve
	var size int
	switch j.Crv {
	case "P-256":
		curve, size = elliptic.P256(), 32
	case "P-384":
		curve, size = elliptic.P384(), 48
	case "P-521":
		curve, size = elliptic.P521(), 66
	default:
		return nil, fmt.Errorf("EC curve %q is not supported", j.Crv)
	}
	x, errX := b64(j.X)
	y, errY := b64(j.Y)
	// RFC 7518 §6.2.1.2: coordinates are always the full field size.
	if errX != nil || errY != nil || len(x) != size || len(y) != size {
		return nil, fmt.Errorf("x and y must be %d-byte base64url coordinates", size)
	}
	point := make([]byte, 0, 1+2*size)
	point = append(append(append(point, 4), x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, fmt.Errorf("invalid %s point: %w", j.Crv, err)
	}
	return pub, nil
}

func rsaKey(j jwkJSON) (any, error) {
	nb, errN := b64(j.N)
	eb, errE := b64(j.E)
	if errN != nil || errE != nil || len(nb) == 0 || len(eb) == 0 || len(eb) > 4 {
		return nil, errors.New("n and e must be base64url big-endian integers")
	}
	n := new(big.Int).SetBytes(nb)
	if bits := n.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("RSA modulus has %d bits; %d to %d are accepted", bits, minRSABits, maxRSABits)
	}
	var e int64
	for _, b := range eb {
		e = e<<8 | int64(b)
	}
	if e < 3 || e%2 == 0 || e > 1<<31-1 {
		return nil, fmt.Errorf("RSA exponent %d is not an odd number from 3 to 2^31-1", e)
	}
	return &rsa.PublicKey{N: n, E: int(e)}, nil
}

// b64 decodes base64url, with or without padding.
func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
