// Package placement keeps a room's media on one server instance when
// several share one Redis: a lease per room (Registry, in Redis) names the
// instance that hosts the room's peer connections, and a WHIP/WHEP request
// that reaches another instance is forwarded to it over the private network
// (Placement.Handler). The media itself (ICE, UDP) then flows straight
// between the client and the holder, whose candidates are in the answer.
//
// The holder renews its lease while it hosts any peer of the room and
// releases it when the last one leaves. An instance that dies stops
// renewing: its leases expire, and the next offer for the room, at any
// instance, takes it there. An instance shutting down on purpose (a
// rolling restart) calls Drain first: it takes no more leases, releases
// its own and closes its rooms' sessions, so their clients' retries place
// the rooms on another instance at once.
//
// Nothing here decides who may publish or view; the media package's
// Authenticator does, at the holder (and, to refuse early, at the
// forwarding instance).
package placement
