package httpapi

// JWKSRefreshed counts one fetch of the JWKS by its outcome
// (todod_jwks_refreshes_total). The token verifier calls it through
// auth.Config.OnJWKSRefresh.
func (s *Server) JWKSRefreshed(ok bool) { s.ops.jwksRefresh(ok) }
