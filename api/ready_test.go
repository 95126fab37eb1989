package api_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/bidroom/bidroom/api"
)

// TestReadyWhileDraining: once the instance drains, readiness fails with
// code draining (a load balancer stops sending here) while liveness holds;
// a store that does not answer is another failure.
func TestReadyWhileDraining(t *testing.T) {
	var draining, storeDown atomic.Bool
	e := newEnvFor(t, func(d *api.Deps) {
		d.Ready = func(context.Context) error {
			if draining.Load() {
				return fmt.Errorf("serve: %w", api.ErrDraining)
			}
			if storeDown.Load() {
				return fmt.Errorf("redis: connection refused")
			}
			return nil
		}
	})
	code := func(path string) (int, string) {
		status, body := e.do("GET", path, "", nil)
		if m, ok := body["error"].(map[string]any); ok {
			return status, fmt.Sprint(m["code"])
		}
		return status, ""
	}
	if s, _ := code("/readyz"); s != 200 {
		t.Fatalf("readyz before the drain: %d", s)
	}
	draining.Store(true)
	if s, c := code("/readyz"); s != 503 || c != "draining" {
		t.Errorf("readyz while draining: %d %q; want 503 draining", s, c)
	}
	if s, _ := code("/healthz"); s != 200 {
		t.Errorf("healthz while draining: %d; want 200 (the process is alive)", s)
	}
	draining.Store(false)
	storeDown.Store(true)
	if s, c := code("/readyz"); s != 503 || c != "unavailable" {
		t.Errorf("readyz with the store down: %d %q; want 503 unavailable", s, c)
	}
}
