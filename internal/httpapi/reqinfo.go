package httpapi

import "context"

// requestInfo is what the layers of one request learn about it and the access
// log and metrics report: the middleware creates it, routing fills in the
// route, authentication the user.
type requestInfo struct {
	ID     string // X-Request-ID
	Route  string // route template, e.g. "/api/tasks/{id}"; "" when no route matched
	UserID string // authenticated user; "" when none
}

type requestInfoKey struct{}

// withRequestInfo returns ctx carrying info.
func withRequestInfo(ctx context.Context, info *requestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, info)
}

// infoFrom returns the request's info. Outside the middleware (in unit tests of a
// single handler) it returns a fresh, unattached value, so callers never check nil.
func infoFrom(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}
