// Package api is Bidroom's HTTP surface: the REST API under /api/v1, health
// and metrics endpoints, and the router that mounts the websocket and the UI.
//
// Room rules stay in package rooms; this package only translates HTTP.
package api
