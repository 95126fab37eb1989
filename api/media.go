package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/media"
	"github.com/bidroom/bidroom/media/turnsrv"
	"github.com/bidroom/bidroom/rooms"
)

// MediaInfo is what the REST API reads from the SFU.
type MediaInfo interface {
	Stats(media.Space) media.SpaceStats
	ICEServersFor(user string) []turnsrv.ICEServer
}

// MediaRooms is what the media doors ask of the rooms.
type MediaRooms interface {
	// AdmitMedia is rooms.Service.AdmitMedia.
	AdmitMedia(ctx context.Context, room string, viewer rooms.Actor) error
	// CenterOf is rooms.Service.CenterOf.
	CenterOf(ctx context.Context, room string) string
}

// MediaAuthenticator checks WHIP/WHEP bearer tokens: a Bidroom token valid
// for the room (never another, never another center's), whose room exists
// and admits the token's bearer (rooms.Service.AdmitMedia: a bidder must
// be registered); the oversight may watch, never publish.
func MediaAuthenticator(iss *auth.Issuer, svc MediaRooms) media.Authenticator {
	admit := svc.AdmitMedia
	return func(r *http.Request, room string) (media.Caller, error) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			return media.Caller{}, media.ErrUnauthorized
		}
		claims, err := iss.Verify(tok)
		if err != nil {
			return media.Caller{}, media.ErrUnauthorized
		}
		if !claims.Allows(room, svc.CenterOf(r.Context(), room)) {
			return media.Caller{}, media.ErrForbidden
		}
		if !rooms.ValidID(room) {
			return media.Caller{}, media.ErrNoRoom
		}
		if err := admit(r.Context(), room, claims.Actor()); err != nil {
			switch rooms.RefusalCode(err) {
			case rooms.CodeNotFound:
				return media.Caller{}, media.ErrNoRoom
			case rooms.CodeForbidden:
				return media.Caller{}, media.ErrForbidden
			}
			return media.Caller{}, err
		}
		return media.Caller{
			Subject: claims.Subject, Name: claims.Name, Role: claims.Actor().Role,
			Publish: claims.HasGrant(auth.GrantPublish) && !claims.ReadOnly(), View: claims.HasGrant(auth.GrantView),
		}, nil
	}
}

// mediaInfo answers GET /api/v1/sessions/:id/media?hall=: the feeds a
// caller may view, the ICE servers to use, and for staff the media stats.
func (a *handlers) mediaInfo(c *gin.Context) {
	room := c.Param("id")
	actor, ok := a.actorFor(c, room)
	if !ok {
		return
	}
	hall, ok := media.ParseHall(c.Query("hall"))
	if !ok {
		apiError(c, http.StatusBadRequest, "invalid", "unknown hall; use opening or evaluation")
		return
	}
	if found, err := a.Svc.Exists(c.Request.Context(), room); err != nil || !found {
		if err != nil {
			a.fail(c, err)
			return
		}
		apiError(c, http.StatusNotFound, "not_found", "session "+room+" does not exist")
		return
	}
	if !media.Allowed(hall, actor.Role, false) {
		apiError(c, http.StatusForbidden, "forbidden", "a "+string(actor.Role)+" may not see the "+string(hall)+" hall")
		return
	}
	if a.Media == nil {
		apiError(c, http.StatusServiceUnavailable, "unavailable", "media is off on this server")
		return
	}
	// The roster and stats are the holder's: this instance's SFU knows
	// nothing of a room whose media another instance hosts.
	if a.MediaElsewhere != nil && a.MediaElsewhere(c.Writer, c.Request, room) {
		c.Abort()
		return
	}
	st := a.Media.Stats(media.Space{Room: room, Hall: hall})
	ice := a.Media.ICEServersFor(actor.Sub)
	if ice == nil {
		ice = []turnsrv.ICEServer{} // an empty list, never null, for clients
	}
	out := gin.H{"hall": hall, "feeds": st.Published(), "ice_servers": ice}
	if actor.Role == rooms.RoleHost || actor.Role == rooms.RoleSupervisor || actor.Role == rooms.RoleAdmin {
		out["stats"] = st
	}
	c.JSON(http.StatusOK, out)
}
