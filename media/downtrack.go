package media

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Forwarding limits.
const (
	catchUpBurst   = 48              // packets per pump while a late joiner catches up
	catchUpSquash  = 32              // late-joiner frames play this many times faster
	maxCatchUpAge  = 4 * time.Second // older GOP: wait for the next keyframe instead
	maxNackAge     = time.Second     // older losses are not worth repairing
	nackBurst      = 64              // retransmission tokens a viewer may bank
	nackShare      = 0.25            // and earns per packet sent
	maxQueuedNacks = 512             // bound on NACKed sequence numbers waiting
	videoFrameGap  = 3000            // 1/30 s at 90 kHz: the step across a source switch
	audioFrameGap  = 960             // 20 ms at 48 kHz
	restartEvery   = time.Second     // PLI-driven fresh starts per viewer, at most
	errNoCodecText = "no negotiated codec fits the source"
)

// binding is what pion hands a track once the viewer's transport is up.
type binding struct {
	ws     webrtc.TrackLocalWriter
	ssrc   uint32
	codecs []webrtc.RTPCodecParameters
}

// downTrack is one viewer's audio or video track. pump runs only on its
// worker's goroutine and owns the forwarding state; RTCP arrives on the
// sender's reader goroutine and is handed over through nackMu.
type downTrack struct {
	id, stream string
	slot       *slot
	w          *worker
	maxLag     int64 // nanoseconds a packet may wait before the viewer skips ahead
	pliEvery   time.Duration
	bound      atomic.Pointer[binding]
	writeRTCP  func([]rtcp.Packet) error
	nextSR     int64

	nackMu sync.Mutex // guards nacks
	nacks  []uint16

	regMu      sync.Mutex // guards registered (with the worker)
	registered bool

	restart     atomic.Bool // a PLI asked for a fresh start from the cached keyframe
	lastRestart int64

	// pump-only state
	src       *source
	pt        uint8
	fits      bool
	cursor    uint64 // next extended seq of src to send
	seqDelta  int64  // viewer ext seq = src ext seq + seqDelta
	mapStart  uint64 // src ext seq from which seqDelta holds (NACKs before it are ignored)
	tsDelta   uint32
	rebase    bool // recompute tsDelta at the next packet (after a switch)
	sentAny   bool
	lastVExt  uint64
	lastVTs   uint32
	catchEnd  uint64 // src ext seq where a late joiner's catch-up ends
	catchTs   uint32
	waitKey   bool
	params    *packet // H.264 SPS+PPS due before the keyframe at the cursor (see source.keyParams)
	tokens    float64
	hdr       rtp.Header
	nackBatch []uint16

	stats downStats
}

// downStats are a viewer track's counters.
type downStats struct {
	packets, bytes, nacks, retransmits, skips, plis atomic.Uint64
	fractionLost                                    atomic.Uint32 // last receiver report, /256
}

var _ webrtc.TrackLocal = (*downTrack)(nil)

// Bind is called by pion when the viewer's transport is ready.
func (d *downTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codecs := ctx.CodecParameters()
	var chosen *webrtc.RTPCodecParameters
	src := d.slot.src.Load()
	for i := range codecs {
		c := &codecs[i]
		if src != nil && codecFits(c.RTPCodecCapability, src.codec) {
			chosen = c
			break
		}
		if chosen == nil && kindOf(c.MimeType) == d.slot.kind {
			chosen = c
		}
	}
	if chosen == nil {
		return webrtc.RTPCodecParameters{}, errors.New("media: " + errNoCodecText)
	}
	d.bound.Store(&binding{ws: ctx.WriteStream(), ssrc: uint32(ctx.SSRC()), codecs: codecs})
	// pion binds an answerer's tracks before ICE and DTLS are done; until
	// its SRTP is up a write is dropped and reports 0 bytes (see send), so
	// the worker keeps the viewer at its keyframe and retries as packets come.
	d.register()
	return *chosen, nil
}

// Unbind is called by pion when the track stops.
func (d *downTrack) Unbind(webrtc.TrackLocalContext) error {
	d.unregister()
	return nil
}

// register puts the track on its worker, once, unless it already ended.
func (d *downTrack) register() {
	d.regMu.Lock()
	defer d.regMu.Unlock()
	if d.registered || d.bound.Load() == nil {
		return
	}
	d.registered = true
	d.w.add(d)
}

// unregister takes the track off its worker for good.
func (d *downTrack) unregister() {
	d.regMu.Lock()
	defer d.regMu.Unlock()
	d.bound.Store(nil)
	if d.registered {
		d.registered = false
		d.w.remove(d)
	}
}

// ID, RID, StreamID and Kind describe the track to pion.
func (d *downTrack) ID() string                { return d.id }
func (d *downTrack) RID() string               { return "" }
func (d *downTrack) StreamID() string          { return d.stream }
func (d *downTrack) Kind() webrtc.RTPCodecType { return d.slot.kind }

func kindOf(mime string) webrtc.RTPCodecType {
	if len(mime) > 6 && mime[:6] == "audio/" {
		return webrtc.RTPCodecTypeAudio
	}
	return webrtc.RTPCodecTypeVideo
}

// pump sends what this viewer is due: retransmissions, then new packets
// from its cursor. It reports whether work is left for another round.
func (d *downTrack) pump(now int64) bool {
	b := d.bound.Load()
	if b == nil {
		return false
	}
	if src := d.slot.src.Load(); src != d.src {
		d.switchTo(src, b, now)
	} else if d.restart.Swap(false) && src != nil && now-d.lastRestart >= int64(restartEvery) {
		// The viewer lost the picture (a PLI) and the publisher may never
		// send a keyframe (OBS): serve it again from the cached GOP.
		d.lastRestart = now
		d.switchTo(src, b, now)
	}
	src := d.src
	if src == nil || !d.fits {
		return false
	}
	d.serveNacks(b, now)
	if now >= d.nextSR && d.sentAny {
		d.senderReport(b, now)
	}
	if d.waitKey {
		k := src.lastKey.Load()
		if k == 0 || k-1 < d.cursor {
			return false
		}
		d.startAtKey(src, k-1)
		d.waitKey = false
	}
	if d.params != nil {
		if !d.send(b, d.params, false) {
			return false // not connected yet
		}
		// One packet more in the viewer's numbering: the keyframe follows it.
		d.seqDelta++
		d.params = nil
	}
	head := src.head.Load()
	limit := uint64(1 << 30)
	if d.cursor < d.catchEnd {
		limit = catchUpBurst
	}
	var sent uint64
	for d.cursor < head && sent < limit {
		if d.cursor+src.size() <= head {
			d.skip() // overwritten under us: far behind
			return false
		}
		p := src.get(d.cursor)
		if p == nil { // lost upstream: the viewer NACKs it, and gets it once repaired
			d.cursor++
			continue
		}
		if d.cursor >= d.catchEnd && now-p.due > d.maxLag && src.kind == webrtc.RTPCodecTypeVideo {
			d.skip()
			return false
		}
		if !d.send(b, p, false) {
			return false // not connected yet: the next packet to arrive retries
		}
		d.cursor++
		sent++
	}
	return d.cursor < head
}

// switchTo moves the viewer onto a new source (a publisher arrived or
// returned): sequence numbers continue, timestamps step one frame, and a
// video viewer starts from the newest keyframe so the picture comes at once.
func (d *downTrack) switchTo(src *source, b *binding, now int64) {
	d.src = src
	if src == nil {
		return
	}
	d.fits = false
	for _, c := range b.codecs {
		if codecFits(c.RTPCodecCapability, src.codec) {
			d.pt, d.fits = uint8(c.PayloadType), true
			break
		}
	}
	if !d.fits {
		return
	}
	d.rebase = d.sentAny
	d.waitKey = false
	d.catchEnd = 0
	head := src.head.Load()
	if src.kind != webrtc.RTPCodecTypeVideo {
		d.jump(head)
		return
	}
	k := src.lastKey.Load()
	if k == 0 || k-1+src.size() <= head {
		d.jump(head)
		d.waitKey = true
		src.keyframeRequest(0)
		return
	}
	kp := src.get(k - 1)
	if kp == nil || time.Duration(now-kp.arrival) > maxCatchUpAge {
		d.jump(head)
		d.waitKey = true
		src.keyframeRequest(d.pliEvery)
		return
	}
	d.startAtKey(src, k-1)
	d.catchEnd = head
	d.catchTs = src.lastTs.Load()
}

// startAtKey moves the cursor to the first packet of a keyframe, with the
// parameter sets that frame lacks, if the source kept any for it.
func (d *downTrack) startAtKey(src *source, key uint64) {
	d.jump(key)
	if kp := src.keyParams.Load(); kp != nil && kp.ext == key {
		d.params = kp
	}
}

// jump moves the cursor so the viewer's sequence numbers stay contiguous.
func (d *downTrack) jump(to uint64) {
	d.params = nil
	next := d.lastVExt + 1
	if !d.sentAny {
		next = to // the first packet keeps the source's number
	}
	d.seqDelta = int64(next) - int64(to)
	d.mapStart = to
	d.cursor = to
}

// skip gives up on the backlog: the viewer waits for the next keyframe and
// continues from there, never seconds behind.
func (d *downTrack) skip() {
	d.stats.skips.Add(1)
	d.params = nil
	d.waitKey = true
	d.catchEnd = 0
	d.cursor = d.src.head.Load()
	d.mapStart = ^uint64(0) // nothing before the next keyframe is worth repairing
}

// viewerTs maps a source timestamp to what this viewer is sent: late-joiner
// frames are squeezed just before the live edge so the decoder runs through
// them at once instead of the player waiting out their real spacing.
func (d *downTrack) viewerTs(p *packet) uint32 {
	ts := p.ts
	if p.ext < d.catchEnd {
		ts = d.catchTs - (d.catchTs-ts)/catchUpSquash
	}
	return ts + d.tsDelta
}

// send writes one packet to the viewer. It reports false when the packet
// did not go out: pion takes it without error and writes 0 bytes while the
// viewer's SRTP is not up yet, and the burst that gives a new viewer its
// picture must not be spent on that.
func (d *downTrack) send(b *binding, p *packet, retransmit bool) bool {
	if d.rebase && !retransmit {
		gap := uint32(audioFrameGap)
		if d.src.kind == webrtc.RTPCodecTypeVideo {
			gap = videoFrameGap
		}
		d.tsDelta = 0
		d.tsDelta = d.lastVTs + gap - d.viewerTs(p)
		d.rebase = false
	}
	vext := uint64(int64(p.ext) + d.seqDelta)
	vts := d.viewerTs(p)
	d.hdr = rtp.Header{
		Version: 2, Marker: p.marker, PayloadType: d.pt,
		SequenceNumber: uint16(vext), Timestamp: vts, SSRC: b.ssrc,
	}
	if n, err := b.ws.WriteRTP(&d.hdr, p.payload); err != nil || n == 0 {
		return false
	}
	d.stats.packets.Add(1)
	d.stats.bytes.Add(uint64(len(p.payload)))
	if retransmit {
		d.stats.retransmits.Add(1)
		return true
	}
	d.tokens = min(d.tokens+nackShare, nackBurst)
	if !d.sentAny || vext > d.lastVExt {
		d.lastVExt, d.lastVTs, d.sentAny = vext, vts, true
	}
	return true
}

// serveNacks retransmits what the viewer asked for, from the shared
// history, within its budget: repair must never feed on itself.
func (d *downTrack) serveNacks(b *binding, now int64) {
	d.nackMu.Lock()
	d.nackBatch, d.nacks = d.nacks, d.nackBatch[:0]
	d.nackMu.Unlock()
	if len(d.nackBatch) == 0 || !d.sentAny {
		return
	}
	for _, seq := range d.nackBatch {
		if d.tokens < 1 {
			break
		}
		vext := unwrap(d.lastVExt, seq)
		if vext > d.lastVExt {
			continue
		}
		ext := uint64(int64(vext) - d.seqDelta)
		if ext < d.mapStart {
			continue
		}
		p := d.src.get(ext)
		if p == nil || time.Duration(now-p.arrival) > maxNackAge {
			continue
		}
		d.tokens--
		d.send(b, p, true)
	}
}

// onRTCP handles feedback from the viewer (on the sender's reader goroutine).
func (d *downTrack) onRTCP(pkts []rtcp.Packet) {
	for _, pkt := range pkts {
		switch p := pkt.(type) {
		case *rtcp.TransportLayerNack:
			d.nackMu.Lock()
			for _, pair := range p.Nacks {
				for _, seq := range pair.PacketList() {
					if len(d.nacks) < maxQueuedNacks {
						d.nacks = append(d.nacks, seq)
					}
				}
			}
			d.nackMu.Unlock()
			d.stats.nacks.Add(1)
			d.w.markDirty(d.slot)
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			d.stats.plis.Add(1)
			if src := d.slot.src.Load(); src != nil {
				src.keyframeRequest(d.pliEvery)
			}
			d.restart.Store(true)
			d.w.markDirty(d.slot)
		case *rtcp.ReceiverReport:
			for _, r := range p.Reports {
				d.stats.fractionLost.Store(uint32(r.FractionLost))
			}
		}
	}
}

// senderReport tells the viewer how its RTP clock maps to wall time, for
// lip sync; the mapping comes from the source's newest packet.
func (d *downTrack) senderReport(b *binding, now int64) {
	d.nextSR = now + int64(time.Second)
	if d.writeRTCP == nil {
		return
	}
	src := d.src
	elapsed := now - src.lastAt.Load()
	rtpNow := src.lastTs.Load() + d.tsDelta + uint32(elapsed*int64(src.clock)/int64(time.Second))
	wall := time.Now()
	secs := uint64(wall.Unix()) + 2208988800
	frac := uint64(wall.Nanosecond()) << 32 / uint64(time.Second)
	sr := &rtcp.SenderReport{
		SSRC: b.ssrc, NTPTime: secs<<32 | frac, RTPTime: rtpNow,
		PacketCount: uint32(d.stats.packets.Load()), OctetCount: uint32(d.stats.bytes.Load()),
	}
	_ = d.writeRTCP([]rtcp.Packet{sr})
}
