package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// testRelay is a minimal in-process WHIP/WHEP server for the tool's own
// tests, standing in for the SFU: it forwards the publisher's RTP
// unchanged to every viewer. One room, no auth.
type testRelay struct {
	api   *peerAPI
	track *webrtc.TrackLocalStaticRTP

	mu   sync.Mutex // guards pcs and next
	pcs  map[string]*webrtc.PeerConnection
	next int

	wg sync.WaitGroup // forwarding and RTCP-draining goroutines
}

// startTestRelay serves the relay on a loopback httptest server and
// returns its base URL; both are closed at the test's end.
func startTestRelay(t *testing.T) string {
	t.Helper()
	api, err := newPeerAPI(false)
	if err != nil {
		t.Fatal(err)
	}
	track, err := webrtc.NewTrackLocalStaticRTP(h264Codec, "video", "relay")
	if err != nil {
		t.Fatal(err)
	}
	r := &testRelay{api: api, track: track, pcs: map[string]*webrtc.PeerConnection{}}
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		srv.Close()
		r.mu.Lock()
		for _, pc := range r.pcs {
			_ = pc.Close()
		}
		r.mu.Unlock()
		r.wg.Wait()
		_ = api.close()
	})
	return srv.URL
}

func (r *testRelay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	switch {
	case req.Method == http.MethodPost && len(parts) == 2 && (parts[0] == "whip" || parts[0] == "whep"):
		r.post(w, req, parts[0], parts[1])
	case req.Method == http.MethodDelete && len(parts) == 3:
		r.mu.Lock()
		pc := r.pcs[parts[2]]
		delete(r.pcs, parts[2])
		r.mu.Unlock()
		if pc == nil {
			http.NotFound(w, req)
			return
		}
		_ = pc.Close()
		w.WriteHeader(http.StatusOK)
	default:
		http.Error(w, "not here", http.StatusNotFound)
	}
}

func (r *testRelay) post(w http.ResponseWriter, req *http.Request, kind, room string) {
	offer, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	answer, id, err := r.answer(kind, string(offer))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", fmt.Sprintf("/%s/%s/%s", kind, room, id))
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

func (r *testRelay) answer(kind, offer string) (string, string, error) {
	pc, err := r.api.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", "", err
	}
	if kind == "whip" {
		pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			r.wg.Add(1)
			defer r.wg.Done()
			for {
				p, _, err := t.ReadRTP()
				if err != nil {
					return
				}
				if err := r.track.WriteRTP(p); err != nil && !errors.Is(err, io.ErrClosedPipe) {
					return
				}
			}
		})
	} else {
		sender, err := pc.AddTrack(r.track)
		if err != nil {
			_ = pc.Close()
			return "", "", err
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			buf := make([]byte, 1500)
			for {
				if _, _, err := sender.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		_ = pc.Close()
		return "", "", err
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		_ = pc.Close()
		return "", "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		_ = pc.Close()
		return "", "", err
	}
	select {
	case <-gathered:
	case <-time.After(5 * time.Second):
		_ = pc.Close()
		return "", "", context.DeadlineExceeded
	}
	r.mu.Lock()
	r.next++
	id := fmt.Sprint(r.next)
	r.pcs[id] = pc
	r.mu.Unlock()
	return pc.LocalDescription().SDP, id, nil
}
