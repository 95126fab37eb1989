package api

import "time"

// DemoAuction is the demo's online auction (网上挂牌出让): a land parcel
// whose listing ends a few minutes after the server starts, then the
// timed bidding. People are the newcomer's identities (one bidder, a
// supervisor, a host), each with a token for Room; Played names the
// bidders the demo bids for itself.
type DemoAuction struct {
	Room       string      `json:"room"`
	Title      string      `json:"title"`
	Lot        string      `json:"lot"`
	ListingEnd time.Time   `json:"listing_end"`
	People     []DemoToken `json:"people"`
	Played     []string    `json:"played"`
}
