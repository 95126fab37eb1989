package rooms_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bidroom/bidroom/rooms"
)

// TestAuctionTwoServicesNeverFork: three bidders bid as fast as they can
// through two Services over one log, as through two server instances,
// often at the same amount at once. The log stays one unbroken chain of
// strictly rising bids, never two at one price, and both Services come
// to the same state.
func TestAuctionTwoServicesNeverFork(t *testing.T) {
	w := newAuction(t, nil).open()
	w.at(listingStart.Add(time.Hour))
	other := rooms.NewService(w.log, w.clk.now)
	services := []*rooms.Service{w.svc, other}
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	taken := 0
	errs := make(chan error, 100)
	for i, b := range []auctionBidder{alpha, beta, gamma, alpha, beta, gamma} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := services[i%2]
			for j, mine := 0, 0; j < 1000 && mine < 8; j++ {
				snap, err := svc.Snapshot(ctx, w.room, b.actor())
				if err != nil {
					errs <- err
					return
				}
				amount := snap.View.(rooms.AuctionView).MinNext
				cmd := rooms.Command{ID: fmt.Sprintf("b%d-%d", i, j), Type: rooms.CmdBid, Data: mustJSON(t, rooms.BidRequest{Amount: amount})}
				switch _, err := svc.Execute(ctx, w.room, b.actor(), cmd); {
				case err == nil:
					mine++
					mu.Lock()
					taken++
					mu.Unlock()
				case rooms.RefusalCode(err) == "":
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	evs, err := w.log.Read(ctx, w.room, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	if err := rooms.VerifyChain(0, "", evs); err != nil {
		t.Fatal(err)
	}
	checkBidLog(t, evs)
	seen := map[string]bool{}
	n := 0
	for _, e := range evs {
		if e.Type != rooms.EvBidPlaced {
			continue
		}
		var b rooms.BidPlaced
		_ = json.Unmarshal(e.Data, &b)
		if seen[b.Amount] {
			t.Fatalf("two bids at %s", b.Amount)
		}
		seen[b.Amount] = true
		n++
	}
	if n != taken || n < 12 {
		t.Fatalf("%d bids in the log, %d taken", n, taken)
	}
	a, _ := w.svc.Snapshot(ctx, w.room, supervisor)
	b, _ := other.Snapshot(ctx, w.room, supervisor)
	va, vb := a.View.(rooms.AuctionView), b.View.(rooms.AuctionView)
	if a.Seq != b.Seq || a.Seq != uint64(len(evs)) || va.Highest.Amount != vb.Highest.Amount || va.BidCount != n {
		t.Fatalf("services at %d and %d (log %d), highest %s and %s", a.Seq, b.Seq, len(evs), va.Highest.Amount, vb.Highest.Amount)
	}
	want := strconv.Itoa(10000000 + (n-1)*100000)
	if va.Highest.Amount != want {
		t.Fatalf("highest %s after %d minimal bids, want %s", va.Highest.Amount, n, want)
	}
}
