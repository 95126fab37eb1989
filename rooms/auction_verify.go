package rooms

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/tjfoc/gmsm/sm3"

	"github.com/bidroom/bidroom/decrypt"
)

// VerifyAuction checks a whole auction offline from its log (as GET
// /api/v1/sessions/{id}/log exports it) and the platform's public key:
// the hash chain; every bid against the rules as they stood when it was
// taken — a qualified bidder, inside the listing or before the countdown's
// end on the server's clock, above the price and on the increment grid,
// never raising the bidder's own lead, each timed bid restarting the
// countdown; the result against the highest bid and the reserve; and,
// when sold and issued, the 成交确认书. It returns the checks passed, in
// words (Chinese and English), or the first that failed.
func VerifyAuction(events []Event, platform *decrypt.PublicKey) ([]string, error) {
	chain, err := wholeChain(events)
	if err != nil {
		return nil, err
	}
	done := []string{chain}
	if events[0].Type != EvAuctionCreated {
		return done, fmt.Errorf("the log is not an auction's: it begins with %s", events[0].Type)
	}
	a := NewAuction(events[0].Room)
	bids, timed := 0, 0
	for _, e := range events {
		if e.Type == EvBidPlaced {
			if err := a.checkLoggedBid(e); err != nil {
				return done, fmt.Errorf("bid #%d: %w", e.Seq, err)
			}
			bids++
			if a.Phase == AuctionTimed {
				timed++
			}
		}
		if e.Type == EvAuctionEnded {
			if err := a.checkLoggedResult(e); err != nil {
				return done, fmt.Errorf("the result #%d: %w", e.Seq, err)
			}
		}
		if err := a.Apply(e); err != nil {
			return done, fmt.Errorf("fold the log: %w", err)
		}
	}
	done = append(done, fmt.Sprintf("%d bids by %d bidders, each from a qualified bidder, in time on the server's clock, above the price and on the increment grid; %d in the timed bidding, each restarting the countdown (每笔报价符合竞价规则)",
		bids, len(a.quoted), timed))
	if a.Phase != AuctionEnded || a.Result == nil {
		done = append(done, fmt.Sprintf("the auction has not ended: it is %s (竞价尚未结束)", a.Phase))
		return done, nil
	}
	r := a.Result
	if r.Result == AuctionUnsold {
		done = append(done, fmt.Sprintf("unsold (流拍): highest bid %s, reserve %s, ended %s", orNone(r.Price), orNone(r.ReservePrice), r.EndedAt.Format("2006-01-02 15:04:05Z07:00")))
		return done, nil
	}
	done = append(done, fmt.Sprintf("sold (成交) to 竞买号 %s at %s yuan, the highest bid, reserve %s met, ended %s", r.Number, r.Price, orNone(r.ReservePrice), r.EndedAt.Format("2006-01-02 15:04:05Z07:00")))
	if a.Confirmation == nil {
		done = append(done, "no confirmation letter in the log yet (成交确认书尚未签发)")
		return done, nil
	}
	more, err := a.verifyIssued(platform)
	return append(done, more...), err
}

// checkLoggedBid checks a bid_placed event against the state before it.
func (a *Auction) checkLoggedBid(e Event) error {
	var d BidPlaced
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return err
	}
	id, ok := a.byNumber[d.Number]
	if !ok {
		return fmt.Errorf("no bidder has number %s", d.Number)
	}
	if !a.bidders[id].Qualified {
		return fmt.Errorf("number %s was not qualified to bid", d.Number)
	}
	if err := a.biddingOpen(d.At); err != nil {
		return fmt.Errorf("taken at %s: %v", d.At.Format("2006-01-02T15:04:05.000Z07:00"), err)
	}
	p := a.price()
	if p.leader == id {
		return fmt.Errorf("number %s raised their own lead", d.Number)
	}
	if _, err := a.checkAmount("amount", d.Amount, p); err != nil {
		return err
	}
	if a.Phase == AuctionTimed && !d.EndsAt.Equal(d.At.Add(a.Spec.Countdown())) {
		return fmt.Errorf("the countdown was not restarted: ends_at %s, want %s", d.EndsAt, d.At.Add(a.Spec.Countdown()))
	}
	return nil
}

// checkLoggedResult checks auction_ended against the state before it.
func (a *Auction) checkLoggedResult(e Event) error {
	var r AuctionResult
	if err := json.Unmarshal(e.Data, &r); err != nil {
		return err
	}
	if a.Phase == AuctionTimed && r.EndedAt.Before(a.EndsAt) {
		return fmt.Errorf("ended at %s, before the countdown's end %s", r.EndedAt, a.EndsAt)
	}
	want := a.end(r.Stage, r.EndedAt).Data.(AuctionResult)
	if r != want {
		return fmt.Errorf("the log says %s at %s (number %s), the bids give %s at %s (number %s)", r.Result, orNone(r.Price), orNone(r.Number), want.Result, orNone(want.Price), orNone(want.Number))
	}
	return nil
}

// VerifyLetter checks a 成交确认书 on its own, as the winner saved it: the
// letter's JSON, its SM3 digest and the platform's signature over it. It
// returns the letter and the checks passed. Without the log it cannot
// tell that the letter matches the auction; VerifyAuction does.
func VerifyLetter(c ConfirmationIssued, platform *decrypt.PublicKey) (AuctionLetter, []string, error) {
	var letter AuctionLetter
	dec := json.NewDecoder(bytes.NewReader([]byte(c.JSON)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&letter); err != nil || letter.Version != AuctionLetterVersion {
		return letter, nil, fmt.Errorf("not a confirmation letter (%s): %v", AuctionLetterVersion, err)
	}
	done := []string{fmt.Sprintf("a confirmation letter of auction %s (成交确认书格式正确)", letter.Auction)}
	if got := hex.EncodeToString(sm3.Sm3Sum([]byte(c.JSON))); got != c.Digest {
		return letter, done, fmt.Errorf("the letter's SM3 is %s, not the digest given (%s)", got, c.Digest)
	}
	done = append(done, "SM3 digest "+c.Digest+" matches (摘要一致)")
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil || platform.Verify(AuctionLetterMessage(letter.Auction, c.JSON), sig) != nil {
		return letter, done, fmt.Errorf("the platform's signature does not verify with the given key")
	}
	id := platform.ID()
	done = append(done, "platform signature verified, key "+hex.EncodeToString(id[:])+" (平台签名有效)")
	return letter, done, nil
}

func orNone(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
