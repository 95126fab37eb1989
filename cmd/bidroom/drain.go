package main

import (
	"context"
	"log/slog"
	"time"
)

// shutdownStep is one step of the graceful shutdown (serve). run returns
// attributes for the step's log line.
type shutdownStep struct {
	name string
	run  func(ctx context.Context) (attrs []any, err error)
}

// runShutdown runs the steps in order under ctx (server.shutdown_timeout),
// each logged with how long it took. A step that fails or runs out of time
// is logged and the next one runs anyway: the last ones (recordings
// logged, the store closed) matter most.
func runShutdown(ctx context.Context, logger *slog.Logger, steps []shutdownStep) {
	start := time.Now()
	for _, s := range steps {
		t := time.Now()
		attrs, err := s.run(ctx)
		attrs = append(attrs, "took", time.Since(t).Round(time.Millisecond))
		if err != nil {
			logger.Warn("shutdown: "+s.name, append(attrs, "err", err)...)
			continue
		}
		logger.Info("shutdown: "+s.name, attrs...)
	}
	logger.Info("stopped", "took", time.Since(start).Round(time.Millisecond))
}
