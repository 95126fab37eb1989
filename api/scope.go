package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/rooms"
)

// Tenancy (市县一体化): every room belongs to a trading center — the main
// (city) center or one of its county sub-centers (configs centers). A
// center's admins and supervisors hold wildcard tokens for their center
// and see and change only its rooms; the city's oversight reads every
// center and changes nothing; the admin API key is the platform's
// operator and sees all. Rooms store the main center as "" (every room
// made before centers existed is the city's); the API speaks center ids.
//
// The doors: admin (the admin endpoints, below), actorFor (every room
// endpoint with a token), the websocket and media authenticators (both
// through auth.Claims.Allows with the room's center), and scope (the
// endpoints across rooms).

// Center is one trading center as the API knows it.
type Center struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Main bool   `json:"main,omitempty"`
}

// Scope is which centers' rooms a caller may see, by their stored key
// ("" the main center), and whether it may change anything.
type Scope struct {
	All      bool     // every center: the admin API key, the city's oversight
	Centers  []string // otherwise these (a center admin or supervisor: one)
	ReadOnly bool     // the oversight and supervisors: reads only
	Root     bool     // the admin API key
}

// Sees reports whether the scope covers a room of center (its stored key;
// the shared pool is everyone's).
func (s Scope) Sees(center string) bool {
	if s.All || center == rooms.SharedCenter {
		return true
	}
	for _, c := range s.Centers {
		if c == center {
			return true
		}
	}
	return false
}

// mainCenter is the main center's id.
func (a *handlers) mainCenter() Center {
	for _, c := range a.Centers {
		if c.Main {
			return c
		}
	}
	return Center{ID: "city", Name: "市公共资源交易中心", Main: true}
}

// centerKey turns a center id from a request into the key rooms store:
// "" for the main center (or none given); an unknown id is refused.
func (a *handlers) centerKey(id string) (string, error) {
	if id == "" || id == a.mainCenter().ID {
		return "", nil
	}
	for _, c := range a.Centers {
		if c.ID == id {
			return id, nil
		}
	}
	return "", &rooms.Refusal{Code: rooms.CodeInvalid, Msg: fmt.Sprintf("center %q is not one of this server's centers (configs: centers)", id)}
}

// centerID is the id of a stored center key.
func (a *handlers) centerID(key string) string {
	if key == "" {
		return a.mainCenter().ID
	}
	return key
}

// roomParam is the room an admin route acts on, from its :id ("" when the
// route names none, or names an expert).
func roomParam(c *gin.Context) string {
	if strings.HasPrefix(c.FullPath(), "/api/v1/pool/") {
		return ""
	}
	return c.Param("id")
}

// admin requires the admin API key or a center admin's token (an admin
// token for every room of its center). A route naming a room is answered
// 404 for another center's room, as for one that does not exist; the
// pool's writes need the main center; moving the clock needs the key.
func (a *handlers) admin(c *gin.Context) {
	tok := bearer(c)
	if auth.KeyMatches(tok, a.AdminKey) {
		c.Set("actor", adminActor)
		c.Set("scope", Scope{All: true, Root: true})
		return
	}
	claims, err := a.Issuer.Verify(tok)
	if err != nil {
		apiError(c, http.StatusUnauthorized, "unauthorized", "this endpoint needs the admin API key or a center admin's token")
		return
	}
	if claims.Role != rooms.RoleAdmin || claims.Room != auth.AnyRoom {
		apiError(c, http.StatusForbidden, rooms.CodeForbidden, "this endpoint is for the admin API key or a center admin's token, not a "+string(claims.Role)+"'s")
		return
	}
	sc := Scope{Centers: []string{claims.Center}}
	switch path := c.FullPath(); {
	case path == "/api/v1/testing/clock":
		apiError(c, http.StatusForbidden, rooms.CodeForbidden, "only the platform's admin key moves the clock")
		return
	case strings.HasPrefix(path, "/api/v1/pool/") && c.Request.Method != http.MethodGet && !sc.Sees(""):
		apiError(c, http.StatusForbidden, rooms.CodeForbidden, "the shared expert pool is kept by the main center ("+a.mainCenter().Name+"); a sub-center's admins read it")
		return
	}
	if room := roomParam(c); room != "" && !sc.Sees(a.Svc.CenterOf(c.Request.Context(), room)) {
		apiError(c, http.StatusNotFound, rooms.CodeNotFound, "session "+room+" does not exist in your center")
		return
	}
	c.Set("actor", claims.Actor())
	c.Set("scope", sc)
}

// adminScope is the scope the admin middleware set.
func adminScope(c *gin.Context) Scope { return c.MustGet("scope").(Scope) }

// scope authenticates a request across rooms and returns its scope, or
// answers 401 itself: the admin API key, a center admin's or a center
// supervisor's wildcard token (their center), the oversight (all, reads).
func (a *handlers) scope(c *gin.Context) (Scope, bool) {
	tok := bearer(c)
	if auth.KeyMatches(tok, a.AdminKey) {
		return Scope{All: true, Root: true}, true
	}
	claims, err := a.Issuer.Verify(tok)
	if err == nil && claims.Room == auth.AnyRoom {
		switch claims.Role {
		case auth.RoleOversight:
			return Scope{All: true, ReadOnly: true}, true
		case rooms.RoleAdmin:
			return Scope{Centers: []string{claims.Center}}, true
		case rooms.RoleSupervisor:
			return Scope{Centers: []string{claims.Center}, ReadOnly: true}, true
		}
	}
	apiError(c, http.StatusUnauthorized, "unauthorized", "this endpoint needs the admin API key, a center's admin or supervisor token, or the oversight's")
	return Scope{}, false
}

// checkCreate settles the center of a room an admin creates: the one
// asked (an id, "" the main center) when the scope covers it. It returns
// the key to store.
func (a *handlers) checkCreate(sc Scope, asked string) (string, error) {
	key, err := a.centerKey(asked)
	if err != nil {
		return "", err
	}
	if asked == "" && !sc.All && len(sc.Centers) == 1 {
		key = sc.Centers[0] // a center admin creates in their center
	}
	if !sc.Sees(key) {
		return "", &rooms.Refusal{Code: rooms.CodeForbidden, Msg: fmt.Sprintf("you create rooms for your own center, not %s", a.centerID(key))}
	}
	return key, nil
}

// roomIn reports whether room exists in the scope's centers.
func (a *handlers) roomIn(ctx context.Context, sc Scope, room string) bool {
	return sc.Sees(a.Svc.CenterOf(ctx, room))
}

// listCenters answers GET /api/v1/centers: the centers, for the consoles.
func (a *handlers) listCenters(c *gin.Context) {
	sc, ok := a.scope(c)
	if !ok {
		return
	}
	out := []Center{}
	for _, ctr := range a.Centers {
		key, _ := a.centerKey(ctr.ID)
		if sc.Sees(key) {
			out = append(out, ctr)
		}
	}
	c.JSON(http.StatusOK, gin.H{"centers": out, "all": sc.All, "read_only": sc.ReadOnly})
}
