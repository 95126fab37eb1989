// Package turnsrv owns Bidroom's embedded TURN relay (UDP, RFC 8656) and its time-limited TURN REST API credentials.
// It does not decide who may have credentials, serve HTTP or handle media; callers mint ICEServer values and hand them out.
package turnsrv
