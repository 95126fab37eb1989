package watch_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bidroom/bidroom/store"
	"github.com/bidroom/bidroom/store/internal/watch"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestPublishCoalescesAndNeverBlocks(t *testing.T) {
	h := watch.New(nil)
	defer h.Close()
	sub, err := h.Watch(t.Context(), "r")
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 1000; seq++ { // nobody reads: must not block
		h.Publish("r", seq)
	}
	h.Publish("r", 7) // older than what is waiting: dropped
	h.Publish("other", 5000)
	if got := <-sub.C; got != 1000 {
		t.Errorf("after 1000 publishes the channel holds %d, want only the newest, 1000", got)
	}
	select {
	case got := <-sub.C:
		t.Errorf("channel delivered %d more, want nothing", got)
	default:
	}
	sub.Offer(1000) // not newer than what was delivered
	h.Publish("r", 999)
	h.Publish("r", 1001)
	if got := <-sub.C; got != 1001 {
		t.Errorf("channel delivered %d, want 1001", got)
	}
}

func TestConcurrentPublishersNeverGoBack(t *testing.T) {
	h := watch.New(nil)
	defer h.Close()
	sub, err := h.Watch(t.Context(), "r")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				h.Publish("r", uint64(i*4+w+1))
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var prev uint64
	for prev < 2000 {
		select {
		case got := <-sub.C:
			if got <= prev {
				t.Fatalf("channel went from %d to %d", prev, got)
			}
			prev = got
		case <-done:
			select {
			case got := <-sub.C:
				prev = max(prev, got)
			default:
			}
			if prev != 2000 {
				t.Fatalf("publishers done, channel ended at %d, want 2000", prev)
			}
		}
	}
}

func TestEndsWithContextStopAndClose(t *testing.T) {
	var idleMu sync.Mutex
	var idle []string
	h := watch.New(func(room string) { idleMu.Lock(); idle = append(idle, room); idleMu.Unlock() })

	ctx, cancel := context.WithCancel(t.Context())
	a, _ := h.Watch(ctx, "a")
	b, _ := h.Watch(t.Context(), "b")
	c, _ := h.Watch(t.Context(), "c")
	c2, _ := h.Watch(t.Context(), "c")
	cancel()
	waitClosed(t, a.C)
	b.Stop()
	b.Stop() // twice is fine
	waitClosed(t, b.C)
	if !h.Watched("c") || h.Watched("a") || h.Watched("b") {
		t.Errorf("Watched a, b, c = %v, %v, %v; want false, false, true", h.Watched("a"), h.Watched("b"), h.Watched("c"))
	}

	h.Close()
	waitClosed(t, c.C)
	waitClosed(t, c2.C)
	h.Close()
	if _, err := h.Watch(t.Context(), "d"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Watch after Close = %v, want store.ErrClosed", err)
	}
	h.Publish("c", 1) // no panic on closed channels
	idleMu.Lock()
	defer idleMu.Unlock()
	// a's watcher ends on its context's goroutine, b's on Stop: either may
	// report first.
	slices.Sort(idle)
	if len(idle) != 2 || idle[0] != "a" || idle[1] != "b" {
		t.Errorf("onIdle called for %q, want [a b] (not for c, closed by Close)", idle)
	}
}

func waitClosed(t *testing.T, ch <-chan uint64) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("channel delivered a value, want it closed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed after 5s")
	}
}
