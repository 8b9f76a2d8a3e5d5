// Command goserver runs a Go asynq Server with a fixed set of test handlers.
//
//	goserver -redis URL [-queues critical=6,default=3] [-concurrency 4] [-strict]
//	         [-ledger PATH] [-shutdown-timeout 3s] [-group-grace 1s]
//	         [-group-max-size 0] [-group-max-delay 0] [-delayed-check 1s]
//	         [-task-check 0] [-retry-delay 0] [-janitor-interval 0]
//	         [-log-level info]
//
// Handlers, chosen by exact task type:
//
//	ok          succeeds
//	fail        returns the error "boom"
//	skip        returns an error wrapping asynq.SkipRetry ("boom: skip retry for the task")
//	revoke      returns asynq.RevokeTask
//	sleep       sleeps payload-as-decimal-milliseconds; returns ctx.Err() if cancelled first
//	result      writes the payload with the ResultWriter, then succeeds
//	panic       panics with "boom"
//	aggregated  succeeds (type of the tasks the group aggregator makes)
//	typed:deliver  decodes the payload strictly into a typed struct (the Go side of
//	            asynq-py's typed tasks: {"user_id": int, "subject": string}, no
//	            unknown fields, user_id required) and writes "user_id=N subject=S"
//	            with the ResultWriter; a payload that does not fit fails with an
//	            error wrapping asynq.SkipRetry, so the task is archived at once
//	anything else succeeds
//
// The group aggregator joins the payloads of a group with "," into one task
// of type "aggregated".
//
// Each handler call appends two JSON lines to the -ledger file (one "start",
// one "end"; a panicking handler writes "end" with error "panic: boom" before
// re-panicking), written with O_APPEND and fsynced per line.
//
// Stdout, one JSON line each:
//
//	{"event":"started","pid":N,"queues":{...},"concurrency":N,"strict":bool}  once Start returned
//	{"event":"stopped_fetching"}   after SIGTSTP (Server.Stop: no new tasks are fetched)
//	{"event":"stopped"}            after SIGTERM/SIGINT and a graceful Shutdown; exit code 0
//
// Start-up failures print {"error": "...", "kind": "other"} and exit 1
// (exit 2 for bad flags). The signal handling mirrors asynq's Server.Run.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hibiken/asynq"

	"asynqpy/interop/internal/harness"
)

// ledger appends one JSON object per line, fsynced, safe across goroutines.
type ledger struct {
	mu sync.Mutex
	f  *os.File
}

func openLedger(path string) (*ledger, error) {
	if path == "" {
		return &ledger{}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return &ledger{f: f}, nil
}

func (l *ledger) write(entry map[string]any) {
	if l.f == nil {
		return
	}
	b, err := json.Marshal(entry)
	if err != nil {
		return
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.Write(b); err != nil {
		fmt.Fprintf(os.Stderr, "goserver: ledger write failed: %v\n", err)
		return
	}
	if err := l.f.Sync(); err != nil {
		fmt.Fprintf(os.Stderr, "goserver: ledger fsync failed: %v\n", err)
	}
}

func (l *ledger) close() {
	if l.f != nil {
		_ = l.f.Close()
	}
}

func now() float64 { return float64(time.Now().UnixNano()) / 1e9 }

func (l *ledger) record(ctx context.Context, t *asynq.Task, event string, err error) {
	id, _ := asynq.GetTaskID(ctx)
	queue, _ := asynq.GetQueueName(ctx)
	retryCount, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	var errText any
	if err != nil {
		errText = err.Error()
	}
	l.write(map[string]any{
		"event":       event,
		"id":          id,
		"type":        t.Type(),
		"queue":       queue,
		"payload_b64": harness.B64(t.Payload()),
		"headers":     harness.Headers(t.Headers()),
		"retry_count": retryCount,
		"max_retry":   maxRetry,
		"error":       errText,
		"t":           now(),
		"pid":         os.Getpid(),
	})
}

func handleSleep(ctx context.Context, t *asynq.Task) error {
	ms := 0
	if s := strings.TrimSpace(string(t.Payload())); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("sleep: payload must be milliseconds: %w", err)
		}
		ms = n
	}
	timer := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func handleResult(_ context.Context, t *asynq.Task) error {
	w := t.ResultWriter()
	if w == nil {
		return errors.New("result: no ResultWriter")
	}
	_, err := w.Write(t.Payload())
	return err
}

// deliverArgs is what a Go service would declare for asynq-py's
// @mux.task("typed:deliver") def deliver(ctx, user_id: int, subject: str = "").
type deliverArgs struct {
	UserID  *int   `json:"user_id"`
	Subject string `json:"subject"`
}

func handleTypedDeliver(_ context.Context, t *asynq.Task) error {
	dec := json.NewDecoder(bytes.NewReader(t.Payload()))
	dec.DisallowUnknownFields()
	var args deliverArgs
	if err := dec.Decode(&args); err != nil {
		return fmt.Errorf("invalid payload: %v: %w", err, asynq.SkipRetry)
	}
	if args.UserID == nil {
		return fmt.Errorf("invalid payload: user_id is required: %w", asynq.SkipRetry)
	}
	w := t.ResultWriter()
	if w == nil {
		return errors.New("typed:deliver: no ResultWriter")
	}
	_, err := fmt.Fprintf(w, "user_id=%d subject=%s", *args.UserID, args.Subject)
	return err
}

func newMux() *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.HandleFunc("ok", func(context.Context, *asynq.Task) error { return nil })
	mux.HandleFunc("fail", func(context.Context, *asynq.Task) error { return errors.New("boom") })
	mux.HandleFunc("skip", func(context.Context, *asynq.Task) error {
		return fmt.Errorf("boom: %w", asynq.SkipRetry)
	})
	mux.HandleFunc("revoke", func(context.Context, *asynq.Task) error { return asynq.RevokeTask })
	mux.HandleFunc("sleep", handleSleep)
	mux.HandleFunc("result", handleResult)
	mux.HandleFunc("panic", func(context.Context, *asynq.Task) error { panic("boom") })
	mux.HandleFunc("aggregated", func(context.Context, *asynq.Task) error { return nil })
	mux.HandleFunc("typed:deliver", handleTypedDeliver)
	return mux
}

// root dispatches by exact type (ServeMux alone would match by prefix, so
// "okay" would reach "ok"), falls back to success, and writes the ledger.
func root(mux *asynq.ServeMux, l *ledger) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) (err error) {
		l.record(ctx, t, "start", nil)
		defer func() {
			if p := recover(); p != nil {
				l.record(ctx, t, "end", fmt.Errorf("panic: %v", p))
				panic(p)
			}
			l.record(ctx, t, "end", err)
		}()
		if _, pattern := mux.Handler(t); pattern == t.Type() {
			return mux.ProcessTask(ctx, t)
		}
		return nil
	})
}

func aggregate(_ string, tasks []*asynq.Task) *asynq.Task {
	parts := make([]string, 0, len(tasks))
	for _, t := range tasks {
		parts = append(parts, string(t.Payload()))
	}
	return asynq.NewTask("aggregated", []byte(strings.Join(parts, ",")))
}

func parseQueues(s string) (map[string]int, error) {
	out := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, prio, found := strings.Cut(part, "=")
		p := 1
		if found {
			n, err := strconv.Atoi(strings.TrimSpace(prio))
			if err != nil {
				return nil, fmt.Errorf("bad -queues entry %q: priority must be an integer", part)
			}
			p = n
		}
		out[strings.TrimSpace(name)] = p
	}
	if len(out) == 0 {
		return nil, errors.New("-queues names no queue")
	}
	return out, nil
}

func parseLogLevel(s string) (asynq.LogLevel, error) {
	switch strings.ToLower(s) {
	case "debug":
		return asynq.DebugLevel, nil
	case "info":
		return asynq.InfoLevel, nil
	case "warn", "warning":
		return asynq.WarnLevel, nil
	case "error":
		return asynq.ErrorLevel, nil
	case "fatal":
		return asynq.FatalLevel, nil
	}
	return 0, fmt.Errorf("bad -log-level %q", s)
}

func main() {
	redisURL := flag.String("redis", "", "redis://host:port/db or unix:///path.sock")
	queues := flag.String("queues", "default=1", "queue=priority,...")
	concurrency := flag.Int("concurrency", 4, "number of workers")
	strict := flag.Bool("strict", false, "strict queue priority")
	ledgerPath := flag.String("ledger", "", "file to append handler start/end JSON lines to")
	shutdownTimeout := flag.Duration("shutdown-timeout", 3*time.Second, "Config.ShutdownTimeout")
	groupGrace := flag.Duration("group-grace", time.Second, "Config.GroupGracePeriod (at least 1s)")
	groupMaxSize := flag.Int("group-max-size", 0, "Config.GroupMaxSize (0: no limit)")
	groupMaxDelay := flag.Duration("group-max-delay", 0, "Config.GroupMaxDelay (0: no limit)")
	delayedCheck := flag.Duration("delayed-check", time.Second, "Config.DelayedTaskCheckInterval")
	taskCheck := flag.Duration("task-check", 0, "Config.TaskCheckInterval (0: asynq default, 1s)")
	retryDelay := flag.Duration("retry-delay", 0, "fixed retry delay (0: asynq's exponential default)")
	janitorInterval := flag.Duration("janitor-interval", 0, "Config.JanitorInterval (0: asynq default, 8s)")
	logLevel := flag.String("log-level", "info", "debug|info|warn|error (logs go to stderr)")
	flag.Parse()

	opt, err := harness.ParseRedisURL(*redisURL)
	if err != nil {
		harness.Fail(err, "other", 2)
	}
	qs, err := parseQueues(*queues)
	if err != nil {
		harness.Fail(err, "other", 2)
	}
	level, err := parseLogLevel(*logLevel)
	if err != nil {
		harness.Fail(err, "other", 2)
	}
	if *groupGrace < time.Second {
		harness.Fail(errors.New("-group-grace must be at least 1s"), "other", 2)
	}
	l, err := openLedger(*ledgerPath)
	if err != nil {
		harness.Fail(fmt.Errorf("cannot open ledger: %w", err), "other", 1)
	}
	defer l.close()

	cfg := asynq.Config{
		Concurrency:              *concurrency,
		Queues:                   qs,
		StrictPriority:           *strict,
		ShutdownTimeout:          *shutdownTimeout,
		GroupGracePeriod:         *groupGrace,
		GroupMaxSize:             *groupMaxSize,
		GroupMaxDelay:            *groupMaxDelay,
		GroupAggregator:          asynq.GroupAggregatorFunc(aggregate),
		DelayedTaskCheckInterval: *delayedCheck,
		TaskCheckInterval:        *taskCheck,
		JanitorInterval:          *janitorInterval,
		LogLevel:                 level,
	}
	if *retryDelay > 0 {
		d := *retryDelay
		cfg.RetryDelayFunc = func(int, error, *asynq.Task) time.Duration { return d }
	}

	srv := asynq.NewServer(opt, cfg)
	if err := srv.Start(root(newMux(), l)); err != nil {
		harness.Fail(fmt.Errorf("server start failed: %w", err), "other", 1)
	}
	harness.Stdout.Print(map[string]any{
		"event":       "started",
		"pid":         os.Getpid(),
		"queues":      qs,
		"concurrency": *concurrency,
		"strict":      *strict,
	})

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGTSTP)
	for sig := range sigs {
		srv.Stop()
		if sig != syscall.SIGTSTP {
			break
		}
		harness.Stdout.Print(map[string]any{"event": "stopped_fetching"})
	}
	srv.Shutdown()
	harness.Stdout.Print(map[string]any{"event": "stopped"})
}
