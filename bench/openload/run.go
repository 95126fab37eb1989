package main

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/bidroom/bidroom/bench/internal/loadtool"
)

// Options are one run's settings.
type Options struct {
	Server      string        // bidroom binary
	Bidders     int           // registered bidders, each with a key and a sealed bid
	Viewers     int           // supervisors watching the room
	BidBytes    int           // plaintext bytes of each bid
	Lead        time.Duration // deadline after the session is created; 0: estimated from the sizes
	Concurrency int           // seal+upload, connects and sign-ins at once
	Timeout     time.Duration // the whole run
	ServerEnv   []string
	DataBase    string
	Progress    io.Writer
}

// Result is what one run measured (loadtool.RunOpening's figures).
type Result = loadtool.OpeningResult

// runOnce starts a server and runs one opening end to end on it
// (loadtool.RunOpening).
func runOnce(ctx context.Context, opt Options) (res Result, err error) {
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Minute
	}
	res = Result{Bidders: opt.Bidders, Viewers: opt.Viewers, Viewer: "supervisor", BidBytes: opt.BidBytes}
	ctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()

	srv, err := loadtool.Start(ctx, loadtool.Config{Binary: opt.Server, Name: "openload", Env: opt.ServerEnv, DataBase: opt.DataBase})
	if err != nil {
		return res, err
	}
	defer srv.Stop()
	rest := loadtool.NewREST(srv)
	defer rest.Close()
	res, err = loadtool.RunOpening(ctx, srv, rest, loadtool.OpeningOptions{
		Bidders: opt.Bidders, Viewers: opt.Viewers, BidBytes: opt.BidBytes, Lead: opt.Lead,
		Concurrency: opt.Concurrency, Tool: "openload", Progress: opt.Progress,
	})
	if alive := srv.Alive(); alive != nil {
		err = errors.Join(err, alive)
	}
	return res, err
}
