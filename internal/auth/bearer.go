package auth

import (
	"net/http"
	"strings"
)

// BearerToken returns the token of the request's Authorization header, which
// must be sent exactly once as "Bearer <token>" (scheme case-insensitive, RFC
// 6750 §2.1). It never looks at the query string or cookies. Errors are
// *InvalidTokenError: CodeMissing without the header, CodeMalformed for two
// headers, another scheme or a value that is not a token, CodeTooLarge beyond
// MaxTokenBytes.
func BearerToken(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", invalid(CodeMissing, "missing bearer token (Authorization: Bearer <token>)")
	case 1:
	default:
		return "", invalid(CodeMalformed, "more than one Authorization header")
	}
	scheme, token, _ := strings.Cut(values[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", invalid(CodeMalformed, "authorization scheme is not Bearer")
	}
	token = strings.Trim(token, " \t")
	switch {
	case token == "":
		return "", invalid(CodeMalformed, "empty bearer token")
	case len(token) > MaxTokenBytes:
		return "", invalid(CodeTooLarge, "token too large (8 KiB or more)")
	case strings.IndexFunc(token, notB64Token) >= 0:
		return "", invalid(CodeMalformed, "bearer token contains characters a token cannot have")
	}
	return token, nil
}

// notB64Token reports characters outside RFC 6750's b64token.
func notB64Token(r rune) bool {
	switch {
	case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		return false
	}
	return !strings.ContainsRune("-._~+/=", r)
}
