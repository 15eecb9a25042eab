package auth

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// The algorithms of each family. HMAC ones are verified only with the shared
// secret, asymmetric ones only with JWKS keys.
var (
	hmacAlgs       = []string{"HS256", "HS384", "HS512"}
	asymmetricAlgs = []string{"EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)

func isHMAC(alg string) bool       { return slices.Contains(hmacAlgs, alg) }
func isAsymmetric(alg string) bool { return slices.Contains(asymmetricAlgs, alg) }
func isNone(alg string) bool       { return strings.EqualFold(alg, "none") }

// maxUserIDLen is the longest user id accepted, in characters (code points).
const maxUserIDLen = 255

// maxNumericDate is 9999-12-31T23:59:59Z: later dates overflow time conversions
// and no honest issuer writes them.
const maxNumericDate = 253402300799

// header is what Verify needs from the JOSE header before choosing a key.
type header struct {
	alg string
	kid string // "" when absent
}

// parseHeader decodes the first segment of a compact JWS. Only alg and kid are
// used; jku, x5u, jwk and x5c are deliberately ignored, so keys come only from
// the configured JWKS URL.
func parseHeader(token string) (header, error) {
	seg, rest, ok := strings.Cut(token, ".")
	if !ok || strings.Count(rest, ".") != 1 {
		return header{}, invalid(CodeMalformed, "malformed token: a JWT has three dot-separated parts")
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return header{}, invalid(CodeMalformed, "malformed token: header is not base64url")
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return header{}, invalid(CodeMalformed, "malformed token: header is not a JSON object")
	}
	alg, ok := m["alg"].(string)
	if !ok {
		return header{}, invalid(CodeMalformed, "malformed token: header has no alg")
	}
	if _, ok := m["crit"]; ok {
		// RFC 7515 §4.1.11: extensions we do not implement must make the token fail.
		return header{}, invalid(CodeMalformed, "malformed token: critical header extensions are not supported")
	}
	h := header{alg: alg}
	if v, ok := m["kid"]; ok && v != nil {
		if h.kid, ok = v.(string); !ok {
			return header{}, invalid(CodeMalformed, "malformed token: kid is not a string")
		}
	}
	return h, nil
}

// claims is the payload as the jwt parser sees it. It keeps the raw members so
// that names match exactly (encoding/json would match struct fields ignoring
// case) and so that a claim of the wrong type is reported after the signature
// check, as a reason rather than a decoding failure.
type claims struct {
	raw             map[string]json.RawMessage
	exp, nbf, iat   *jwt.NumericDate
	expErr, nbfErr  error
	iatErr          error
	decodedAnObject bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *claims) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &c.raw); err != nil {
		return err
	}
	c.decodedAnObject = c.raw != nil
	c.exp, c.expErr = numericDate(c.raw, "exp")
	c.nbf, c.nbfErr = numericDate(c.raw, "nbf")
	c.iat, c.iatErr = numericDate(c.raw, "iat")
	return nil
}

func (c *claims) notObject() error {
	return invalid(CodeMalformed, "malformed token: payload is not a JSON object")
}

// GetExpirationTime implements jwt.Claims.
func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) {
	if !c.decodedAnObject {
		return nil, c.notObject()
	}
	return c.exp, c.expErr
}

// GetNotBefore implements jwt.Claims.
func (c *claims) GetNotBefore() (*jwt.NumericDate, error) {
	if !c.decodedAnObject {
		return nil, c.notObject()
	}
	return c.nbf, c.nbfErr
}

// GetIssuedAt implements jwt.Claims.
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error) {
	if !c.decodedAnObject {
		return nil, c.notObject()
	}
	return c.iat, c.iatErr
}

// GetIssuer implements jwt.Claims; the issuer is checked by checkIssuer.
func (c *claims) GetIssuer() (string, error) { return "", nil }

// GetSubject implements jwt.Claims; the user id is read by userID.
func (c *claims) GetSubject() (string, error) { return "", nil }

// GetAudience implements jwt.Claims; the audience is checked by checkAudience.
func (c *claims) GetAudience() (jwt.ClaimStrings, error) { return nil, nil }

// numericDate reads a NumericDate claim: absent or null is nil; anything but a
// JSON number (a string such as "1795627602" included) is an error.
func numericDate(raw map[string]json.RawMessage, name string) (*jwt.NumericDate, error) {
	v, ok := raw[name]
	if !ok || string(v) == "null" {
		return nil, nil
	}
	if len(v) == 0 || !(v[0] == '-' || v[0] >= '0' && v[0] <= '9') {
		return nil, invalid(CodeMalformed, "malformed token: "+name+" is not a number")
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || f < 0 || f > maxNumericDate {
		return nil, invalid(CodeMalformed, "malformed token: "+name+" is out of range")
	}
	sec, frac := math.Modf(f)
	// Not jwt.NewNumericDate: it truncates to whole seconds, which would expire
	// a token with a fractional exp early.
	return &jwt.NumericDate{Time: time.Unix(int64(sec), int64(frac*1e9))}, nil
}

// str returns a claim that must be a JSON string.
func (c *claims) str(name string) (s string, present, ok bool) {
	v, present := c.raw[name]
	if !present || string(v) == "null" {
		return "", false, false
	}
	if v[0] != '"' || json.Unmarshal(v, &s) != nil {
		return "", true, false
	}
	return s, true, true
}

// checkIssuer requires iss to equal want, unless want is empty.
func (c *claims) checkIssuer(want string) error {
	if want == "" {
		return nil
	}
	if iss, _, ok := c.str("iss"); !ok || iss != want {
		return invalid(CodeIssuer, "token issuer (iss) is not "+want)
	}
	return nil
}

// checkAudience requires aud (a string or an array of strings) to contain one of
// want, unless want is empty.
func (c *claims) checkAudience(want []string) error {
	if len(want) == 0 {
		return nil
	}
	var aud []string
	if v, ok := c.raw["aud"]; ok && len(v) > 0 {
		if v[0] == '"' {
			var s string
			if json.Unmarshal(v, &s) == nil {
				aud = []string{s}
			}
		} else if v[0] == '[' {
			if json.Unmarshal(v, &aud) != nil {
				aud = nil // a member that is not a string makes the whole claim invalid
			}
		}
	}
	for _, a := range aud {
		if slices.Contains(want, a) {
			return nil
		}
	}
	return invalid(CodeAudience, "token audience (aud) does not include "+strings.Join(want, " or "))
}

// userID returns the first of sub, user_id and id that is present. A present
// but unusable one is an error, not a reason to look at the next.
func (c *claims) userID() (string, error) {
	for _, name := range [...]string{"sub", "user_id", "id"} {
		s, present, ok := c.str(name)
		if !present {
			continue
		}
		if !ok {
			return "", invalid(CodeNoUserID, "token user id ("+name+") is not a string")
		}
		if problem := checkUserID(s); problem != "" {
			return "", invalid(CodeNoUserID, "token user id ("+name+") "+problem)
		}
		return s, nil
	}
	return "", invalid(CodeNoUserID, "token has no user id (sub, user_id or id)")
}

// checkUserID returns what is wrong with a user id, or "".
func checkUserID(s string) string {
	switch {
	case s == "":
		return "is empty"
	case utf8.RuneCountInString(s) > maxUserIDLen:
		return "is longer than 255 characters"
	case strings.ContainsFunc(s, unicode.IsControl):
		return "contains control characters"
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	}
	return ""
}
