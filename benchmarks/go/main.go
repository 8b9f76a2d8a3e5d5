// Command asynqbench drives Go asynq v0.26.0 for the asynq-py benchmark suite
// (benchmarks/run.py). It speaks the same small protocol as the Python peer
// drivers in benchmarks/peers/:
//
//	asynqbench enqueue -url URL -n N -mode single|latency [-interval S] [-key K]
//	    Enqueues N tasks and prints {"seconds": ..., "count": ...} as JSON.
//	    "single" enqueues bench:noop tasks back to back; "latency" enqueues
//	    bench:lat tasks whose payload carries the enqueue time, one every
//	    -interval seconds. Go asynq v0.26.0 has no bulk enqueue.
//	asynqbench worker -url URL -concurrency C [-empty TYPE]
//	    Runs an asynq.Server on queue "default" until SIGTERM or SIGINT.
//	    BENCH_EXPECT (environment) is the number of bench:noop tasks of the
//	    drain run. With -empty, tasks of type TYPE are also handled, by a
//	    handler that does nothing (benchmarks/engine.py reads their progress
//	    from the queue's processed counter, as it does for asynq-py's).
//	asynqbench version
//	    Prints the Go and asynq versions as JSON.
//
// Every bench:noop task does INCR bench:done; the one that reads 1 stores its
// start time in bench:t_first and the one that reads BENCH_EXPECT stores its
// time in bench:t_last. Every bench:lat task RPUSHes (start time - enqueue
// time) onto the list named in its payload.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

const (
	noopType  = "bench:noop"
	latType   = "bench:lat"
	doneKey   = "bench:done"
	firstKey  = "bench:t_first"
	lastKey   = "bench:t_last"
	queueName = "default"
)

type latPayload struct {
	T float64 `json:"t"`
	K string  `json:"k"`
}

func now() float64 {
	return float64(time.Now().UnixNano()) / 1e9
}

func fmtTime(t float64) string {
	return strconv.FormatFloat(t, 'f', 6, 64)
}

// redisAddr turns redis://host:port/db into its address and database number.
func redisAddr(raw string) (string, int) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		fail("bad -url %q", raw)
	}
	db := 0
	if p := strings.Trim(u.Path, "/"); p != "" {
		db, err = strconv.Atoi(p)
		if err != nil {
			fail("bad database in -url %q", raw)
		}
	}
	return u.Host, db
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "asynqbench: "+format+"\n", args...)
	os.Exit(2)
}

func runEnqueue(args []string) {
	fs := flag.NewFlagSet("enqueue", flag.ExitOnError)
	rawURL := fs.String("url", "redis://127.0.0.1:6379/0", "Redis URL")
	n := fs.Int("n", 1000, "number of tasks")
	mode := fs.String("mode", "single", "single or latency")
	interval := fs.Float64("interval", 0.02, "seconds between latency tasks")
	key := fs.String("key", "bench:lat", "list the latency tasks push onto")
	_ = fs.Parse(args)

	addr, db := redisAddr(*rawURL)
	client := asynq.NewClient(asynq.RedisClientOpt{Addr: addr, DB: db})
	defer client.Close()

	var elapsed time.Duration
	switch *mode {
	case "single":
		task := asynq.NewTask(noopType, nil)
		start := time.Now()
		for i := 0; i < *n; i++ {
			if _, err := client.Enqueue(task, asynq.Queue(queueName)); err != nil {
				fail("enqueue: %v", err)
			}
		}
		elapsed = time.Since(start)
	case "latency":
		// The i-th task goes at start + i*interval, as in the Python drivers.
		pause := time.Duration(*interval * float64(time.Second))
		start := time.Now()
		for i := 0; i < *n; i++ {
			time.Sleep(time.Until(start.Add(time.Duration(i) * pause)))
			body, err := json.Marshal(latPayload{T: now(), K: *key})
			if err != nil {
				fail("payload: %v", err)
			}
			if _, err := client.Enqueue(asynq.NewTask(latType, body), asynq.Queue(queueName)); err != nil {
				fail("enqueue: %v", err)
			}
		}
		elapsed = time.Since(start)
	default:
		fail("unknown -mode %q (Go asynq has no bulk enqueue)", *mode)
	}
	out, _ := json.Marshal(map[string]any{"seconds": elapsed.Seconds(), "count": *n})
	fmt.Println(string(out))
}

func runWorker(args []string) {
	fs := flag.NewFlagSet("worker", flag.ExitOnError)
	rawURL := fs.String("url", "redis://127.0.0.1:6379/0", "Redis URL")
	concurrency := fs.Int("concurrency", 10, "tasks run at once")
	empty := fs.String("empty", "", "a task type to handle with a handler that does nothing")
	_ = fs.Parse(args)

	expect, err := strconv.ParseInt(os.Getenv("BENCH_EXPECT"), 10, 64)
	if err != nil {
		expect = -1
	}
	addr, db := redisAddr(*rawURL)
	probe := redis.NewClient(&redis.Options{Addr: addr, DB: db})
	defer probe.Close()

	mux := asynq.NewServeMux()
	mux.HandleFunc(noopType, func(ctx context.Context, _ *asynq.Task) error {
		t := now()
		n, err := probe.Incr(ctx, doneKey).Result()
		if err != nil {
			return err
		}
		if n == 1 {
			probe.Set(ctx, firstKey, fmtTime(t), 0)
		}
		if n == expect {
			probe.Set(ctx, lastKey, fmtTime(now()), 0)
		}
		return nil
	})
	mux.HandleFunc(latType, func(ctx context.Context, task *asynq.Task) error {
		t := now()
		var p latPayload
		if err := json.Unmarshal(task.Payload(), &p); err != nil {
			return err
		}
		return probe.RPush(ctx, p.K, fmtTime(t-p.T)).Err()
	})
	if *empty != "" {
		mux.HandleFunc(*empty, func(context.Context, *asynq.Task) error { return nil })
	}

	srv := asynq.NewServer(
		asynq.RedisClientOpt{Addr: addr, DB: db},
		asynq.Config{
			Concurrency: *concurrency,
			Queues:      map[string]int{queueName: 1},
			// TaskCheckInterval is left at its default (1 s): an idle Go
			// worker looks for new tasks once a second.
			LogLevel: asynq.WarnLevel,
		},
	)
	if err := srv.Run(mux); err != nil {
		fail("server: %v", err)
	}
}

func runVersion() {
	info := map[string]string{"go": runtime.Version(), "asynq": "unknown"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			switch dep.Path {
			case "github.com/hibiken/asynq":
				info["asynq"] = dep.Version
			case "github.com/redis/go-redis/v9":
				info["go-redis"] = dep.Version
			}
		}
	}
	out, _ := json.Marshal(info)
	fmt.Println(string(out))
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: asynqbench enqueue|worker|version [flags]")
	}
	switch os.Args[1] {
	case "enqueue":
		runEnqueue(os.Args[2:])
	case "worker":
		runWorker(os.Args[2:])
	case "version":
		runVersion()
	default:
		fail("unknown command %q", os.Args[1])
	}
}
