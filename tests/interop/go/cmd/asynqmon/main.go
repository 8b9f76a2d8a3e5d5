// Command asynqmon serves Go asynq's web UI and its JSON API (module
// github.com/hibiken/asynqmon, pinned in go.mod and built here against asynq
// v0.26.0) for one Redis:
//
//	asynqmon -redis URL -listen 127.0.0.1:PORT
//
// It prints "listening" once the port is open and serves until killed; the
// API lives under /api (queues, tasks per state, groups, servers).
package main

import (
	"flag"
	"net"
	"net/http"

	"github.com/hibiken/asynqmon"

	"asynqpy/interop/internal/harness"
)

func main() {
	redisURL := flag.String("redis", "", "redis://host:port/db")
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on")
	flag.Parse()

	opt, err := harness.ParseRedisURL(*redisURL)
	if err != nil {
		harness.Fail(err, "other", 1)
	}
	handler := asynqmon.New(asynqmon.Options{RootPath: "/", RedisConnOpt: opt, ReadOnly: true})
	defer func() { _ = handler.Close() }()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		harness.Fail(err, "other", 1)
	}
	harness.Stdout.Print(map[string]any{"listening": ln.Addr().String()})
	if err := http.Serve(ln, handler); err != nil {
		harness.Fail(err, "other", 1)
	}
}
