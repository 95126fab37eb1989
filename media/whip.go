package media

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/bidroom/bidroom/media/turnsrv"
	"github.com/bidroom/bidroom/rooms"
)

// Caller is who a WHIP/WHEP request comes from, as the token says.
type Caller struct {
	Subject string
	Name    string // display name from the token, shown on the caller's feed
	Role    rooms.Role
	Publish bool // the token carries the publish grant
	View    bool // the token carries the view grant
}

// Authenticator turns a request's bearer token into a caller valid for the
// room, or an error: ErrUnauthorized, ErrForbidden or ErrNoRoom.
type Authenticator func(r *http.Request, room string) (Caller, error)

// Errors an Authenticator returns.
var (
	ErrUnauthorized = errors.New("a valid bearer token is required")
	ErrForbidden    = errors.New("this token may not do that")
	ErrNoRoom       = errors.New("no such session")
)

// maxFeedName bounds a feed name from a query string.
const maxFeedName = 64

// Handler serves WHIP (RFC 9725) and WHEP on
//
//	POST /whip/{room}           publish (OBS, browsers); ?hall=evaluation&feed=name
//	PATCH, DELETE /whip/{room}/{id}
//	POST /whep/{room}           view; ?hall=evaluation&feed=name
//	PATCH, DELETE /whep/{room}/{id}
//
// authenticating every request with auth.
func (s *Server) Handler(auth Authenticator) http.Handler {
	mux := http.NewServeMux()
	for _, kind := range []string{"whip", "whep"} {
		publish := kind == "whip"
		mux.HandleFunc("POST /"+kind+"/{room}", func(w http.ResponseWriter, r *http.Request) { s.serveOffer(w, r, auth, publish) })
		mux.HandleFunc("OPTIONS /"+kind+"/{room}", func(w http.ResponseWriter, r *http.Request) { s.serveOptions(w, r, auth) })
		mux.HandleFunc("PATCH /"+kind+"/{room}/{id}", func(w http.ResponseWriter, r *http.Request) { s.servePatch(w, r, auth, publish) })
		mux.HandleFunc("DELETE /"+kind+"/{room}/{id}", func(w http.ResponseWriter, r *http.Request) { s.serveDelete(w, r, auth, publish) })
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST on /whip/{room} or /whep/{room}, PATCH or DELETE on the Location it returns")
	})
	return mux
}

// httpError writes the JSON error shape of the REST API.
func httpError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// authenticate runs auth for the request's room and answers its failure:
// 401 for a missing or bad token, 403 for a token of another room, 404 for
// a room that does not exist, 500 (logged, not shown) for anything else.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, auth Authenticator) (Caller, bool) {
	room := r.PathValue("room")
	c, err := auth(r, room)
	switch {
	case err == nil:
		return c, true
	case errors.Is(err, ErrUnauthorized):
		w.Header().Set("WWW-Authenticate", `Bearer realm="bidroom"`)
		httpError(w, http.StatusUnauthorized, "unauthorized", err.Error())
	case errors.Is(err, ErrForbidden):
		httpError(w, http.StatusForbidden, "forbidden", err.Error())
	case errors.Is(err, ErrNoRoom):
		httpError(w, http.StatusNotFound, "not_found", "session "+room+" does not exist")
	default:
		s.log.Error("media: authenticate", "err", err)
		httpError(w, http.StatusInternalServerError, "server_error", "the server could not check the token; retry")
	}
	return c, false
}

// authorize checks the token, the grant and the hall's roles.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, auth Authenticator, hall Hall, publish bool) (Caller, bool) {
	c, ok := s.authenticate(w, r, auth)
	if !ok {
		return c, false
	}
	what, grant := "view", c.View
	if publish {
		what, grant = "publish", c.Publish
	}
	if !grant {
		httpError(w, http.StatusForbidden, "forbidden", "this token has no "+what+" grant")
		return c, false
	}
	if !Allowed(hall, c.Role, publish) {
		httpError(w, http.StatusForbidden, "forbidden", fmt.Sprintf("a %s may not %s in the %s hall", c.Role, what, hall))
		return c, false
	}
	return c, true
}

// feedOf reads the feed from the query string. In the evaluation call an
// expert always publishes as themselves.
func feedOf(r *http.Request, c Caller, hall Hall, publish bool) (string, error) {
	feed := r.URL.Query().Get("feed")
	switch {
	case hall == HallEvaluation && publish:
		feed = c.Subject
	case feed == "" && hall == HallOpening:
		feed = "main"
	case feed == "":
		return "", errors.New("name the expert's feed to view: ?feed=<subject>")
	}
	if len(feed) > maxFeedName || !rooms.ValidID(feed) {
		return "", fmt.Errorf("feed name %q is not valid", feed)
	}
	return feed, nil
}

func (s *Server) serveOffer(w http.ResponseWriter, r *http.Request, auth Authenticator, publish bool) {
	hall, ok := ParseHall(r.URL.Query().Get("hall"))
	if !ok {
		httpError(w, http.StatusBadRequest, "invalid", "unknown hall; use opening or evaluation")
		return
	}
	c, ok := s.authorize(w, r, auth, hall, publish)
	if !ok {
		return
	}
	feed, err := feedOf(r, c, hall, publish)
	if err != nil {
		httpError(w, http.StatusBadRequest, "invalid", err.Error())
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/sdp" {
		httpError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send the SDP offer as Content-Type: application/sdp")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(s.cfg.MaxSDPBytes)+1))
	if err != nil {
		httpError(w, http.StatusBadRequest, "invalid", "could not read the offer")
		return
	}
	if len(body) > s.cfg.MaxSDPBytes {
		httpError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the offer exceeds %d bytes", s.cfg.MaxSDPBytes))
		return
	}
	req := Request{Space: Space{Room: r.PathValue("room"), Hall: hall}, Feed: feed, Subject: c.Subject, Name: c.Name, Offer: string(body)}
	var ans Answer
	if publish {
		ans, err = s.Publish(r.Context(), req)
	} else {
		ans, err = s.View(r.Context(), req)
	}
	if err != nil {
		s.offerError(w, err)
		return
	}
	kind := "whep"
	if publish {
		kind = "whip"
	}
	loc := "/" + kind + "/" + url.PathEscape(req.Space.Room) + "/" + ans.ID
	h := w.Header()
	s.linkICEServers(h, c.Subject)
	h.Set("Location", loc)
	h.Set("ETag", `"`+ans.ID+`"`)
	h.Set("Accept-Patch", "application/trickle-ice-sdpfrag")
	h.Set("Content-Type", "application/sdp")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, ans.SDP)
}

// offerError maps a Publish/View error to a response.
func (s *Server) offerError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrBadOffer):
		httpError(w, http.StatusBadRequest, "bad_offer", err.Error())
	case errors.Is(err, ErrTooMany):
		httpError(w, http.StatusBadRequest, "too_many_tracks", err.Error())
	case errors.Is(err, ErrUnsupported):
		httpError(w, http.StatusUnprocessableEntity, "unsupported_codec", err.Error())
	case errors.Is(err, ErrRoomFull):
		httpError(w, http.StatusServiceUnavailable, "room_full", err.Error())
	case errors.Is(err, ErrClosed):
		httpError(w, http.StatusServiceUnavailable, "unavailable", "the media server is shutting down")
	default:
		s.log.Error("media: offer failed", "err", err)
		httpError(w, http.StatusInternalServerError, "server_error", "the server could not set up the media session; retry")
	}
}

// linkICEServers adds the WHIP Link headers for the caller's STUN/TURN.
func (s *Server) linkICEServers(h http.Header, user string) {
	if s.cfg.ICEServers == nil {
		return
	}
	for _, is := range s.cfg.ICEServers(user) {
		h.Add("Link", is.LinkHeader())
	}
}

// ICEServersFor returns the STUN/TURN servers for a user (nil: none).
func (s *Server) ICEServersFor(user string) []turnsrv.ICEServer {
	if s.cfg.ICEServers == nil {
		return nil
	}
	return s.cfg.ICEServers(user)
}

func (s *Server) serveOptions(w http.ResponseWriter, r *http.Request, auth Authenticator) {
	h := w.Header()
	h.Set("Accept-Post", "application/sdp")
	if c, err := auth(r, r.PathValue("room")); err == nil {
		s.linkICEServers(h, c.Subject)
	}
	w.WriteHeader(http.StatusNoContent)
}

// resource authenticates a request on a session URL: only the subject that
// created it (or an admin) may change or end it.
func (s *Server) resource(w http.ResponseWriter, r *http.Request, auth Authenticator, publish bool) (room, id string, ok bool) {
	room, id = r.PathValue("room"), r.PathValue("id")
	c, ok := s.authenticate(w, r, auth)
	if !ok {
		return "", "", false
	}
	owner, err := s.Owner(room, id, publish)
	if err != nil {
		httpError(w, http.StatusNotFound, "not_found", "no such media session (it ended or never existed)")
		return "", "", false
	}
	if owner != c.Subject && c.Role != rooms.RoleAdmin {
		httpError(w, http.StatusForbidden, "forbidden", "this media session belongs to someone else")
		return "", "", false
	}
	return room, id, true
}

func (s *Server) serveDelete(w http.ResponseWriter, r *http.Request, auth Authenticator, publish bool) {
	room, id, ok := s.resource(w, r, auth, publish)
	if !ok {
		return
	}
	if err := s.Delete(room, id, publish); err != nil {
		httpError(w, http.StatusNotFound, "not_found", "no such media session (it ended or never existed)")
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) servePatch(w http.ResponseWriter, r *http.Request, auth Authenticator, publish bool) {
	room, id, ok := s.resource(w, r, auth, publish)
	if !ok {
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/trickle-ice-sdpfrag" {
		httpError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send candidates as Content-Type: application/trickle-ice-sdpfrag")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(s.cfg.MaxSDPBytes)+1))
	if err != nil || len(body) > s.cfg.MaxSDPBytes {
		httpError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the fragment exceeds %d bytes", s.cfg.MaxSDPBytes))
		return
	}
	switch err := s.Trickle(room, id, publish, strings.ReplaceAll(string(body), "\r", "")); {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, ErrRestart):
		httpError(w, http.StatusUnprocessableEntity, "ice_restart_unsupported", err.Error())
	case errors.Is(err, ErrNotFound):
		httpError(w, http.StatusNotFound, "not_found", "no such media session (it ended or never existed)")
	default:
		httpError(w, http.StatusBadRequest, "bad_candidate", err.Error())
	}
}
