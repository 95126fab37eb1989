package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// This box's speed drifts by a third from one quarter hour to the next
// (docs/BENCHMARKS.md, "Fourth round"), so a p99 alone cannot tell a slower
// server from a slower box. The probe times, before each run, the kernel
// work a broadcast is made of, without the server: a frame written on one
// end of a loopback TCP connection and read on the other, over thousands
// of connections, so the sockets are as cold in cache as a broadcast's.

// probeFrame is about a supervisor's announcement frame; probeFrames is
// how many frames the probe times in all.
const (
	probeFrame  = 256
	probeFrames = 100_000
)

// ProbeResult is the loopback probe's figure.
type ProbeResult struct {
	Pairs      int     `json:"pairs"`
	Frames     int     `json:"frames"`
	UsPerFrame float64 `json:"us_per_frame"` // write, delivery, ACK and read of one frame, on one core
}

// loopbackProbe connects pairs loopback TCP connections and, rounds times,
// writes one probeFrame on every server end, then reads it on every client
// end, from one goroutine: a frame is in its socket before its read, so no
// read waits. It returns the mean time per frame.
func loopbackProbe(ctx context.Context, pairs, rounds int) (ProbeResult, error) {
	res := ProbeResult{Pairs: pairs, Frames: pairs * rounds}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, fmt.Errorf("loopback probe: %w", err)
	}
	defer ln.Close()
	var servers, clients []net.Conn
	defer func() {
		for _, c := range append(servers, clients...) {
			_ = c.Close()
		}
	}()
	var d net.Dialer
	for range pairs {
		c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			return res, fmt.Errorf("loopback probe: dial: %w", err)
		}
		clients = append(clients, c)
		s, err := ln.Accept()
		if err != nil {
			return res, fmt.Errorf("loopback probe: accept: %w", err)
		}
		servers = append(servers, s)
	}
	frame := bytes.Repeat([]byte{'x'}, probeFrame)
	buf := make([]byte, probeFrame)
	start := time.Now()
	for range rounds {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		for _, s := range servers {
			if _, err := s.Write(frame); err != nil {
				return res, fmt.Errorf("loopback probe: write: %w", err)
			}
		}
		for _, c := range clients {
			if _, err := io.ReadFull(c, buf); err != nil {
				return res, fmt.Errorf("loopback probe: read: %w", err)
			}
		}
	}
	if res.Frames == 0 {
		return res, errors.New("loopback probe: no frames")
	}
	res.UsPerFrame = float64(time.Since(start).Nanoseconds()) / 1000 / float64(res.Frames)
	return res, nil
}
