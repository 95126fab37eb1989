package main

import (
	"context"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// redisCalls reads Redis's own count of calls by command (INFO
// commandstats: cmdstat_evalsha:calls=N,usec=…), to tell from outside the
// servers how many round trips a bid costs and how many appends lost the
// race to another instance. nil when Redis cannot be asked.
func redisCalls(ctx context.Context, url string) map[string]float64 {
	opt, err := goredis.ParseURL(url)
	if err != nil {
		return nil
	}
	c := goredis.NewClient(opt)
	defer c.Close()
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil
	}
	out := map[string]float64{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok && k == "calls" {
				n, _ := strconv.ParseFloat(v, 64)
				out[strings.TrimPrefix(name, "cmdstat_")] = n
			}
		}
	}
	return out
}

// redisDelta is after − before by command, leaving out commands not
// called in between.
func redisDelta(before, after map[string]float64) map[string]int {
	if before == nil || after == nil {
		return nil
	}
	out := map[string]int{}
	for k, v := range after {
		if d := int(v - before[k]); d > 0 {
			out[k] = d
		}
	}
	return out
}
