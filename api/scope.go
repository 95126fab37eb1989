package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/bidroom/bidroom/auth"
)

// Scope is which centers' rooms a caller of a cross-room endpoint (the
// session list, statistics, the archive) may see, and whether it may
// change anything.
type Scope struct {
	All      bool     // every center: the admin API key, the city's oversight
	Centers  []string // otherwise these (a center admin: one)
	ReadOnly bool     // the oversight: reads only
}

// Sees reports whether the scope covers a room of center ("" is the main
// center; MainCenter resolves it).
func (s Scope) Sees(center string) bool {
	if s.All {
		return true
	}
	for _, c := range s.Centers {
		if c == center {
			return true
		}
	}
	return false
}

// scope authenticates a cross-room request and returns its scope, or
// answers 401 itself.
func (a *handlers) scope(c *gin.Context) (Scope, bool) {
	if auth.KeyMatches(bearer(c), a.AdminKey) {
		return Scope{All: true}, true
	}
	apiError(c, http.StatusUnauthorized, "unauthorized", "this endpoint needs the admin API key or a center admin's token")
	return Scope{}, false
}
