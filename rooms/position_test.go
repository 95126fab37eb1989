package rooms

import (
	"math/rand/v2"
	"testing"
)

// TestPositionsMatchNaiveCount checks the cached, incremental position
// arithmetic against a plain count from the start, in random orders.
func TestPositionsMatchNaiveCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	viewers := []Actor{{Sub: "a", Role: RoleBidder}, {Sub: "b", Role: RoleBidder}, {Sub: "h", Role: RoleHost}, {Sub: "e", Role: RoleExpert}}
	r := &room{state: NewOpening("r")}
	for i := range 500 {
		var vis Visibility
		switch rng.IntN(4) {
		case 1:
			vis = Staff("a")
		case 2:
			vis = Staff("b")
		case 3:
			vis = Staff()
		}
		r.events = append(r.events, Event{Seq: uint64(i + 1), Vis: vis})
	}
	naive := func(v Actor, seq uint64) (n uint64) {
		for _, e := range r.events[:seq] {
			if e.Vis.VisibleTo(v) {
				n++
			}
		}
		return n
	}
	for range 2000 {
		v := viewers[rng.IntN(len(viewers))]
		seq := uint64(rng.IntN(len(r.events) + 1))
		want := naive(v, seq)
		if got := r.positionAt(v, seq); got != want {
			t.Fatalf("positionAt(%v, %d) = %d, want %d", v, seq, got, want)
		}
		pos := uint64(rng.IntN(int(naive(v, uint64(len(r.events)))) + 2))
		got, ok := r.seqAtPos(v, pos)
		total := naive(v, uint64(len(r.events)))
		if pos > total {
			if ok {
				t.Fatalf("seqAtPos(%v, %d) found %d beyond the stream of %d", v, pos, got, total)
			}
			continue
		}
		// The answer must cover exactly pos visible events.
		if !ok || naive(v, got) != pos {
			t.Fatalf("seqAtPos(%v, %d) = %d (ok %v) covering %d events", v, pos, got, ok, naive(v, got))
		}
	}
}
