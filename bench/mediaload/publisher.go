package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

// rtpMTU is the largest RTP packet the publisher writes (header included),
// what browsers use.
const rtpMTU = 1200

// publisher sends the clip in a loop over WHIP, paced at the clip's frame
// rate. It reads and drops all RTCP: PLI and FIR get no keyframe, so a
// viewer waits for the next IDR of the 2 s GOP, like from an encoder
// that ignores them.
type publisher struct {
	pc      *webrtc.PeerConnection
	track   *webrtc.TrackLocalStaticRTP
	session *sdpSession
	log     *frameLog
	frames  []frame
	fps     int
	hc      *http.Client

	wg     sync.WaitGroup
	cancel context.CancelFunc
	errMu  sync.Mutex // guards err
	err    error      // first write error
}

// startPublisher connects to endpoint (the room's WHIP URL) and starts
// sending. Stop it with stop.
func startPublisher(ctx context.Context, api *peerAPI, hc *http.Client, endpoint, token string, frames []frame, fps int, log *frameLog) (*publisher, error) {
	pc, err := api.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("publisher: new peer connection: %w", err)
	}
	p := &publisher{pc: pc, log: log, frames: frames, fps: fps, hc: hc}
	p.track, err = webrtc.NewTrackLocalStaticRTP(h264Codec, "video", "mediaload")
	if err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("publisher: new track: %w", err)
	}
	tr, err := pc.AddTransceiverFromTrack(p.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("publisher: add track: %w", err)
	}
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	p.session, err = exchange(ctx, hc, pc, endpoint, token)
	if err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("publisher: %w", err)
	}
	select {
	case <-connected:
	case <-ctx.Done():
		p.close()
		return nil, ctx.Err()
	case <-time.After(15 * time.Second):
		p.close()
		return nil, fmt.Errorf("publisher: not connected after 15s (state %s)", pc.ConnectionState())
	}

	runCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(2)
	go func() { // drain RTCP; ends when the peer connection closes
		defer p.wg.Done()
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Sender().Read(buf); err != nil {
				return
			}
		}
	}()
	go func() {
		defer p.wg.Done()
		p.send(runCtx)
	}()
	return p, nil
}

// send writes a frame every 1/fps on a ticker, looping over the clip.
// RTP timestamps advance 90000/fps per frame from a random start, and each
// is logged with its send time before its packets are written.
func (p *publisher) send(ctx context.Context) {
	step := uint32(90000 / p.fps)
	pz := rtp.NewPacketizer(rtpMTU, h264PayloadType, rand.Uint32(), &codecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000)
	ts := rand.Uint32()
	tick := time.NewTicker(time.Second / time.Duration(p.fps))
	defer tick.Stop()
	for i := 0; ; i++ {
		f := p.frames[i%len(p.frames)]
		pkts := pz.Packetize(f.data, step)
		for _, pkt := range pkts {
			pkt.Timestamp = ts
		}
		p.log.add(ts, len(pkts), f.key, time.Now())
		for _, pkt := range pkts {
			if err := p.track.WriteRTP(pkt); err != nil {
				p.setErr(fmt.Errorf("publisher: write RTP: %w", err))
				return
			}
		}
		ts += step
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (p *publisher) setErr(err error) {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

// failure returns the first error the sender met, if any.
func (p *publisher) failure() error {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return p.err
}

// stop stops sending, DELETEs the WHIP resource and closes the peer.
func (p *publisher) stop() error {
	var err error
	if p.session != nil {
		err = p.session.end(p.hc)
	}
	p.close()
	return err
}

func (p *publisher) close() {
	if p.cancel != nil {
		p.cancel()
	}
	_ = p.pc.Close()
	p.wg.Wait()
}
