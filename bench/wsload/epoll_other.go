//go:build !linux

package main

import (
	"context"
	"errors"
	"sync"
	"time"
)

// The epoll reader is Linux's; elsewhere Options.check refuses it.
const epollSupported = false

type pollers struct{}

var errNoEpoll = errors.New("-reader epoll needs Linux")

func startPollers(context.Context, time.Duration, *sync.WaitGroup) (*pollers, error) {
	return nil, errNoEpoll
}

func (*pollers) dial(context.Context, *viewer, *uint64, bool) (viewerConn, error) {
	return nil, errNoEpoll
}
