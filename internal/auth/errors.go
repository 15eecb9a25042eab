package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Codes of InvalidTokenError: short, stable, safe as metric labels.
const (
	CodeMissing      = "missing"       // no Authorization header (RFC 6750: answer without an error code)
	CodeMalformed    = "malformed"     // not a well-formed bearer JWT
	CodeTooLarge     = "too_large"     // longer than MaxTokenBytes
	CodeAlgorithm    = "algorithm"     // alg none, unsupported, of a family not configured, or not the key's
	CodeUnknownKey   = "unknown_key"   // no JWKS key for the token's kid
	CodeBadSignature = "bad_signature" // signature does not verify
	CodeExpired      = "expired"       // exp (plus leeway) has passed
	CodeNotYetValid  = "not_yet_valid" // nbf or iat (minus leeway) in the future
	CodeMissingExp   = "missing_exp"   // no exp claim
	CodeIssuer       = "issuer"        // iss missing or not the configured one
	CodeAudience     = "audience"      // aud missing or matching none configured
	CodeNoUserID     = "no_user_id"    // no usable sub / user_id / id
)

// CodeUnavailable is what FailureCode returns for ErrUnavailable.
const CodeUnavailable = "unavailable"

// InvalidTokenError says why a token was refused (answer 401).
type InvalidTokenError struct {
	// Code is one of the Code constants.
	Code string
	// Reason is a sentence safe to show the client: it never contains the token.
	Reason string
}

func (e *InvalidTokenError) Error() string { return "invalid token: " + e.Reason }

func invalid(code, reason string) *InvalidTokenError {
	return &InvalidTokenError{Code: code, Reason: reason}
}

// ErrUnavailable means the token may be valid but its key could not be obtained
// (the JWKS endpoint is unreachable and the key is not cached). Callers answer
// 503 with Retry-After. Verify returns it as an *UnavailableError.
var ErrUnavailable = errors.New("token keys unavailable")

// UnavailableError is the ErrUnavailable that Verify returns: errors.Is(err,
// ErrUnavailable) holds, and RetryAfter says when a new fetch will be tried.
type UnavailableError struct {
	RetryAfter time.Duration // at least one second
	Err        error         // the cause, for the log (never contains a token)
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%v: %v", ErrUnavailable, e.Err)
}

// Is reports that e is ErrUnavailable.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Unwrap returns the cause.
func (e *UnavailableError) Unwrap() error { return e.Err }

// FailureCode returns the metric label for an error from Verify or BearerToken:
// the Code of an *InvalidTokenError, CodeUnavailable for ErrUnavailable, "" for
// nil and "error" for anything else.
func FailureCode(err error) string {
	var ite *InvalidTokenError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ite):
		return ite.Code
	case errors.Is(err, ErrUnavailable):
		return CodeUnavailable
	default:
		return "error"
	}
}

// classify turns an error from the jwt parser into an *InvalidTokenError. Our
// own errors (from the claims) pass through; the library's sentinels are mapped
// in the order the parser checks them.
func classify(err error) error {
	var ite *InvalidTokenError
	switch {
	case errors.As(err, &ite):
		return ite
	case errors.Is(err, jwt.ErrTokenMalformed):
		return invalid(CodeMalformed, "malformed token: its parts are not valid base64url JSON")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return invalid(CodeBadSignature, "bad signature")
	case errors.Is(err, jwt.ErrTokenExpired):
		return invalid(CodeExpired, "token expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return invalid(CodeNotYetValid, "token not valid yet (nbf is in the future)")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return invalid(CodeNotYetValid, "token issued in the future (iat)")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		// exp is the only claim the parser is told to require.
		return invalid(CodeMissingExp, "token has no expiry (exp)")
	default:
		return invalid(CodeMalformed, "malformed token")
	}
}
