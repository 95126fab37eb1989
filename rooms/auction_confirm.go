package rooms

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tjfoc/gmsm/sm3"

	"github.com/bidroom/bidroom/decrypt"
)

// The confirmation letter (成交确认书) of a sold auction: a canonical JSON
// document the room builds from its own state — lot, title, seller, the
// winner's number and name, the price, when the auction ended, and the
// auction_ended event it rests on — which the server signs with the
// platform's key and records once (record_confirmation_letter). The room
// refuses any text but the one it builds, as the evaluation does with its
// notices; VerifyConfirmation checks a log's letter offline.

// AuctionLetterVersion names the letter's format.
const AuctionLetterVersion = "bidroom-auction-confirmation-v1"

// AuctionLetter is the 成交确认书. Its JSON encoding (Go's, fields in this
// order) is the text the platform signs.
type AuctionLetter struct {
	Version    string    `json:"version"` // AuctionLetterVersion
	Auction    string    `json:"auction"` // the room
	Lot        string    `json:"lot"`
	Title      string    `json:"title"`
	Category   string    `json:"category"`
	Seller     string    `json:"seller"`
	Number     string    `json:"number"` // the winner's 竞买号
	Winner     string    `json:"winner"` // the winner's bidder id
	WinnerName string    `json:"winner_name"`
	Price      string    `json:"price"` // 成交价, yuan
	EndedAt    time.Time `json:"ended_at"`
	LogSeq     uint64    `json:"log_seq"`  // the auction_ended event
	LogHead    string    `json:"log_head"` // its hash
}

// ConfirmationIssued is the data of record_confirmation_letter and
// confirmation_issued: the letter's exact JSON, its SM3 digest, and the
// platform's SM2 signature over AuctionLetterMessage of it.
type ConfirmationIssued struct {
	JSON      string `json:"json"`
	Digest    string `json:"digest"`    // SM3 of JSON, hex
	Signature string `json:"signature"` // SM2, base64 DER
	KeyID     string `json:"key_id"`    // the platform key's id, hex
}

// AuctionLetterMessage is what the platform signs for the letter of
// auction room.
func AuctionLetterMessage(room, letterJSON string) []byte {
	return []byte("bidroom-auction-confirmation-platform-v1\n" + room + "\n" + letterJSON)
}

// ConfirmationLetter returns the canonical JSON of the auction's
// confirmation letter, or a *Refusal when it has none to give (not ended,
// or unsold).
func (a *Auction) ConfirmationLetter() (string, error) {
	if a.Phase != AuctionEnded || a.Result == nil || a.Result.Result != AuctionSold {
		return "", refuse(CodeWrongState, "auction %s has no sale to confirm (it is %s)", a.Room, a.Phase)
	}
	id := a.byNumber[a.Result.Number]
	b := a.bidders[id]
	if b == nil {
		return "", refuse(CodeWrongState, "no bidder has the winning number %s", a.Result.Number)
	}
	c := AuctionLetter{Version: AuctionLetterVersion, Auction: a.Room, Lot: a.Spec.Lot, Title: a.Spec.Title, Category: a.Spec.Category,
		Seller: a.Spec.Seller, Number: b.Number, Winner: id, WinnerName: b.Name, Price: a.Result.Price,
		EndedAt: a.Result.EndedAt, LogSeq: a.ended.seq, LogHead: a.ended.hash}
	text, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode the confirmation letter: %w", err)
	}
	return string(text), nil
}

func (a *Auction) recordConfirmation(actor Actor, cmd Command) ([]Draft, error) {
	if err := requireRole(actor, "record the confirmation letter", RoleSystem); err != nil {
		return nil, err
	}
	if a.Confirmation != nil {
		return nil, refuse(CodeWrongState, "the confirmation letter of %s was issued already", a.Room)
	}
	want, err := a.ConfirmationLetter()
	if err != nil {
		return nil, err
	}
	var in ConfirmationIssued
	if err := decodeData(cmd.Data, &in); err != nil {
		return nil, err
	}
	if in.JSON != want {
		return nil, refuse(CodeInvalid, "the letter is not the one the auction gives")
	}
	if in.Digest != hex.EncodeToString(sm3.Sm3Sum([]byte(in.JSON))) {
		return nil, refuse(CodeInvalid, "digest must be the SM3 of the letter, hex")
	}
	if sig, err := base64.StdEncoding.DecodeString(in.Signature); err != nil || len(sig) == 0 || len(sig) > 256 {
		return nil, refuse(CodeInvalid, "signature must be a base64 DER SM2 signature")
	}
	if kid, err := hex.DecodeString(in.KeyID); err != nil || len(kid) != 32 {
		return nil, refuse(CodeInvalid, "key_id must be the platform key's id (64 hex digits)")
	}
	winner := a.byNumber[a.Result.Number]
	return []Draft{{Type: EvConfirmationIssued, Vis: Staff(winner), Data: in}}, nil
}

// VerifyConfirmation checks an auction's confirmation letter offline from
// the room's whole log and the platform's public key: the chain; that the
// log, folded again, gives the same letter; its digest; the platform's
// signature. It returns the checks passed, in words, or the first that
// failed.
func VerifyConfirmation(events []Event, platform *decrypt.PublicKey) ([]string, error) {
	chain, err := wholeChain(events)
	if err != nil {
		return nil, err
	}
	done := []string{chain}
	st, err := NewState(events[0].Room, events)
	if err != nil {
		return done, fmt.Errorf("fold the log: %w", err)
	}
	a, ok := st.(*Auction)
	if !ok || a.Confirmation == nil {
		return done, fmt.Errorf("the log holds no issued confirmation letter of an auction")
	}
	more, err := a.verifyIssued(platform)
	return append(done, more...), err
}

// verifyIssued checks the letter issued in a folded auction: the log gives
// the same letter, then its digest and the platform's signature
// (VerifyLetter).
func (a *Auction) verifyIssued(platform *decrypt.PublicKey) ([]string, error) {
	c := a.Confirmation
	want, err := a.ConfirmationLetter()
	if err != nil {
		return nil, err
	}
	if c.JSON != want {
		return nil, fmt.Errorf("the letter recorded is not the one the log gives")
	}
	letter, checks, err := VerifyLetter(*c, platform)
	if len(checks) == 0 {
		return nil, err
	}
	done := []string{fmt.Sprintf("the log gives the same letter: lot %s sold to %s %s (竞买号 %s) at %s yuan (确认书与日志一致)",
		letter.Lot, letter.Winner, letter.WinnerName, letter.Number, letter.Price)}
	return append(done, checks[1:]...), err // checks[0] is the letter's format, which the same text settles
}

// auction returns the room as an auction, with r.mu held.
func (s *Service) auction(ctx context.Context, roomID string) (*room, *Auction, error) {
	r, err := s.current(ctx, roomID)
	if err != nil {
		return nil, nil, err
	}
	a, ok := r.state.(*Auction)
	if !ok {
		r.mu.Unlock()
		return nil, nil, refuse(CodeNotFound, "auction %s does not exist", roomID)
	}
	return r, a, nil
}

// ConfirmationToSign returns the auction's issued confirmation letter, if
// there is one, or else the letter's JSON for the server to sign (over
// AuctionLetterMessage) and record with record_confirmation_letter; a
// *Refusal before a sale.
func (s *Service) ConfirmationToSign(ctx context.Context, auctionRoom string) (*ConfirmationIssued, string, error) {
	r, a, err := s.auction(ctx, auctionRoom)
	if err != nil {
		return nil, "", err
	}
	defer r.mu.Unlock()
	if c := a.Confirmation; c != nil {
		cp := *c
		return &cp, "", nil
	}
	letter, err := a.ConfirmationLetter()
	return nil, letter, err
}

// ConfirmationFill is the scheduler's data for record_confirmation_letter:
// the letter the room gives, signed with the platform's key. The room
// takes it only if it is the letter it rebuilds, so a second instance's
// firing is a harmless refusal.
func (s *Service) ConfirmationFill(platform *decrypt.PrivateKey) func(ctx context.Context, room string) (json.RawMessage, error) {
	return func(ctx context.Context, room string) (json.RawMessage, error) {
		issued, letter, err := s.ConfirmationToSign(ctx, room)
		if err != nil {
			return nil, err
		}
		if issued != nil {
			return nil, fmt.Errorf("the confirmation letter of %s was issued already", room)
		}
		sig, err := platform.Sign(AuctionLetterMessage(room, letter))
		if err != nil {
			return nil, fmt.Errorf("sign the confirmation letter of %s: %w", room, err)
		}
		kid := platform.Public().ID()
		return json.Marshal(ConfirmationIssued{JSON: letter, Digest: hex.EncodeToString(sm3.Sm3Sum([]byte(letter))),
			Signature: base64.StdEncoding.EncodeToString(sig), KeyID: hex.EncodeToString(kid[:])})
	}
}

// PublicAuction is the auction as anyone may see it without a token (the
// public ticker, 公开竞价信息): the spec without the reserve until the end,
// the phase, the countdown, the bids by 竞买号 and the result — no names,
// no bidder ids, no proxies, no letter.
func (s *Service) PublicAuction(ctx context.Context, auctionRoom string) (AuctionView, error) {
	r, a, err := s.auction(ctx, auctionRoom)
	if err != nil {
		return AuctionView{}, err
	}
	defer r.mu.Unlock()
	if !a.Created() {
		return AuctionView{}, refuse(CodeNotFound, "auction %s does not exist", auctionRoom)
	}
	// A bidder with no id sees only what every bidder sees of the others.
	return a.View(Actor{Role: RoleBidder}).(AuctionView), nil
}
