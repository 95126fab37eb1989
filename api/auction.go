package api

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/bidroom/bidroom/bond"
	"github.com/bidroom/bidroom/rooms"
)

// The auction's REST steps that are more than one room command: creating
// the auction, registering a bidder with a 竞买号 drawn at random, the
// deposits from the bond system (or entered by hand), and the public
// ticker. Qualification, bids and automatic bids go through
// POST /sessions/{id}/commands or the websocket, like every room command;
// the 成交确认书 is signed by the scheduler (rooms.Service.ConfirmationFill).

// auctionRequest is the body of POST /api/v1/auctions.
type auctionRequest struct {
	ID string `json:"id"`
	rooms.AuctionSpec
}

func (a *handlers) createAuction(c *gin.Context) {
	var req auctionRequest
	if !bind(c, &req) {
		return
	}
	if !rooms.ValidID(req.ID) {
		apiError(c, http.StatusBadRequest, "invalid", "id must be 1-64 letters, digits, '.', '_' or '-'")
		return
	}
	if req.HasReserve {
		apiError(c, http.StatusBadRequest, "invalid", "has_reserve is set by the room; give reserve_price or leave it out")
		return
	}
	center, err := a.checkCreate(adminScope(c), req.Center)
	if err != nil {
		a.fail(c, err)
		return
	}
	req.Center = center
	spec, _ := json.Marshal(req.AuctionSpec)
	actor := c.MustGet("actor").(rooms.Actor)
	if _, err := a.Svc.Execute(c.Request.Context(), req.ID, actor, rooms.Command{ID: "create:" + idempotencyKey(c), Type: rooms.CmdCreateAuction, Data: spec}); err != nil {
		a.fail(c, err)
		return
	}
	a.respondSession(c, req.ID, actor, http.StatusCreated)
}

// auctionBidderRequest is the body of POST /api/v1/auctions/{id}/bidders.
type auctionBidderRequest struct {
	Bidder string `json:"bidder"`
	Name   string `json:"name"`
}

// drawAttempts bounds the retries when a drawn number is taken: with at
// most 2,000 bidders among at least 9,000 numbers a retry is rare.
const drawAttempts = 20

// registerAuctionBidder registers a bidder under a 竞买号 drawn at random,
// so a number never tells when its bidder registered. A number someone
// already holds is refused by the room (conflict) and drawn again.
func (a *handlers) registerAuctionBidder(c *gin.Context) {
	room := c.Param("id")
	var req auctionBidderRequest
	if !bind(c, &req) {
		return
	}
	ctx := c.Request.Context()
	if err := a.auctionExists(ctx, room); err != nil {
		a.fail(c, err)
		return
	}
	actor := c.MustGet("actor").(rooms.Actor)
	for range drawAttempts {
		number, err := drawAuctionNumber(room)
		if err != nil {
			a.fail(c, err)
			return
		}
		data, _ := json.Marshal(rooms.AuctionBidderSpec{Bidder: req.Bidder, Name: req.Name, Number: number})
		_, err = a.Svc.Execute(ctx, room, actor, rooms.Command{ID: "register:" + req.Bidder + ":" + number, Type: rooms.CmdRegisterAuctionBidder, Data: data})
		if rooms.RefusalCode(err) == rooms.CodeConflict {
			continue
		}
		if err != nil {
			a.fail(c, err)
			return
		}
		c.JSON(http.StatusCreated, gin.H{"bidder": req.Bidder, "name": req.Name, "number": number})
		return
	}
	apiError(c, http.StatusServiceUnavailable, "unavailable", "no free bidder number (竞买号) was drawn; try again")
}

// drawAuctionNumber draws a 竞买号: 4 to 8 digits, the length at random
// too, without a leading zero.
func drawAuctionNumber(room string) (string, error) {
	digits, err := rand.Int(rand.Reader, big.NewInt(5))
	if err != nil {
		return "", fmt.Errorf("draw a bidder number for %s: %w", room, err)
	}
	n := int(digits.Int64()) + 4
	lo := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n-1)), nil)
	span := new(big.Int).Sub(new(big.Int).Mul(lo, big.NewInt(10)), lo)
	v, err := rand.Int(rand.Reader, span)
	if err != nil {
		return "", fmt.Errorf("draw a bidder number for %s: %w", room, err)
	}
	return v.Add(v, lo).String(), nil
}

// auctionExists answers not_found for anything but an auction.
func (a *handlers) auctionExists(ctx context.Context, room string) error {
	sum, err := a.Svc.Summary(ctx, room)
	if err != nil {
		return err
	}
	if sum.Kind != rooms.KindAuction {
		return &rooms.Refusal{Code: rooms.CodeNotFound, Msg: "auction " + room + " does not exist"}
	}
	return nil
}

// depositRequest is the body of POST /api/v1/auctions/{id}/deposits: a
// bidder alone asks the bond system; status, amount and reference enter
// the finance department's confirmation by hand, which is allowed only
// when no bond system is configured.
type depositRequest struct {
	Bidder    string `json:"bidder"`
	Status    string `json:"status,omitempty"`
	Amount    string `json:"amount,omitempty"`
	Reference string `json:"reference,omitempty"`
}

func (a *handlers) recordDeposit(c *gin.Context) {
	room := c.Param("id")
	var req depositRequest
	if !bind(c, &req) {
		return
	}
	ctx := c.Request.Context()
	if err := a.auctionExists(ctx, room); err != nil {
		a.fail(c, err)
		return
	}
	d := rooms.Deposit{Bidder: req.Bidder, Status: req.Status, Amount: req.Amount, Reference: req.Reference, Source: rooms.DepositByHand}
	switch {
	case req.Status == "" && a.Bonds == nil:
		apiError(c, http.StatusBadRequest, "invalid", "no bond system is configured (bond.url): enter the deposit by hand with status, amount and reference")
		return
	case req.Status == "":
		recs, err := a.Bonds.Check(ctx, room, []string{req.Bidder})
		if err != nil || len(recs) != 1 {
			a.fail(c, fmt.Errorf("ask the bond system about %s: %w", req.Bidder, err))
			return
		}
		d = depositFromBond(recs[0])
	case a.Bonds != nil:
		apiError(c, http.StatusConflict, rooms.CodeWrongState, "a bond system is configured: deposits come from it (send the bidder alone)")
		return
	case req.Status == rooms.DepositPaid && req.Reference == "":
		apiError(c, http.StatusBadRequest, "invalid", "reference is required: the payment's serial number from the finance department")
		return
	}
	data, _ := json.Marshal(d)
	if _, err := a.Svc.Execute(ctx, room, rooms.SystemActor, rooms.Command{ID: "deposit:" + idempotencyKey(c), Type: rooms.CmdRecordDeposit, Data: data}); err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"deposit": d})
}

// depositFromBond turns the bond system's record into the auction's: a
// cash payment or an electronic guarantee counts as paid; what the
// system could not tell stays unknown, with no amount guessed.
func depositFromBond(r bond.Record) rooms.Deposit {
	d := rooms.Deposit{Bidder: r.Bidder, Reference: r.Reference, Source: rooms.DepositFromBondSystem}
	switch r.Status {
	case bond.Paid, bond.Guaranteed:
		d.Status, d.Amount = rooms.DepositPaid, r.Amount
	case bond.Missing:
		d.Status = rooms.DepositMissing
	default:
		d.Status, d.Reference = rooms.DepositUnknown, ""
	}
	return d
}

// auctionTicker is the public ticker (公开竞价信息): no token, the bids
// by number, never a name; a room that is not an auction is not found,
// in the same words as one that does not exist.
func (a *handlers) auctionTicker(c *gin.Context) {
	room := c.Param("id")
	if !rooms.ValidID(room) {
		apiError(c, http.StatusNotFound, rooms.CodeNotFound, "no such auction")
		return
	}
	v, err := a.Svc.PublicAuction(c.Request.Context(), room)
	if rooms.RefusalCode(err) == rooms.CodeNotFound {
		apiError(c, http.StatusNotFound, rooms.CodeNotFound, "no such auction")
		return
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"server_time": a.Svc.Now(), "auction": v})
}
