// Command goscheduler runs a Go asynq Scheduler.
//
//	goscheduler -redis URL -entry 'SPEC|TYPE|PAYLOAD[|OPTS_JSON]' [-entry ...]
//	            [-heartbeat 1s] [-location UTC] [-log-level info]
//
// SPEC is any cron spec asynq accepts ("@every 1s", "*/1 * * * *"). PAYLOAD
// is the raw payload text (it cannot contain "|"); an empty PAYLOAD means no
// payload (nil). OPTS_JSON has the same keys as goclient's "opts".
//
// -heartbeat defaults to 1s, not asynq's 10s, so that entries appear in
// Redis quickly (the entries key then lives 2s between beats).
//
// Stdout, one JSON line each:
//
//	{"event":"started","pid":N,"entries":[{"id":ENTRY_ID,"spec":...,"type":...}, ...]}
//	{"event":"enqueued","task":TaskInfo}                       after each enqueue
//	{"event":"enqueue_error","error":"...","kind":"duplicate"|"conflict"|"other"}
//	{"event":"stopped"}                                        after SIGTERM/SIGINT
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"

	"asynqpy/interop/internal/harness"
)

type entryFlags []string

func (e *entryFlags) String() string     { return strings.Join(*e, " ") }
func (e *entryFlags) Set(v string) error { *e = append(*e, v); return nil }

type entry struct {
	spec    string
	typ     string
	payload []byte
	opts    []asynq.Option
}

func parseEntry(s string) (entry, error) {
	parts := strings.SplitN(s, "|", 4)
	if len(parts) < 3 {
		return entry{}, fmt.Errorf("bad -entry %q: want SPEC|TYPE|PAYLOAD[|OPTS_JSON]", s)
	}
	e := entry{spec: strings.TrimSpace(parts[0]), typ: parts[1]}
	if parts[2] != "" {
		e.payload = []byte(parts[2])
	}
	if len(parts) == 4 && strings.TrimSpace(parts[3]) != "" {
		var o harness.Opts
		dec := json.NewDecoder(strings.NewReader(parts[3]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o); err != nil {
			return entry{}, fmt.Errorf("bad -entry %q options: %w", s, err)
		}
		e.opts = o.Options()
	}
	return e, nil
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
	var entries entryFlags
	flag.Var(&entries, "entry", "SPEC|TYPE|PAYLOAD[|OPTS_JSON], repeatable")
	heartbeat := flag.Duration("heartbeat", time.Second, "SchedulerOpts.HeartbeatInterval")
	location := flag.String("location", "UTC", "time zone for cron specs")
	logLevel := flag.String("log-level", "info", "debug|info|warn|error (logs go to stderr)")
	flag.Parse()

	opt, err := harness.ParseRedisURL(*redisURL)
	if err != nil {
		harness.Fail(err, "other", 2)
	}
	if len(entries) == 0 {
		harness.Fail(errors.New("at least one -entry is required"), "other", 2)
	}
	loc, err := time.LoadLocation(*location)
	if err != nil {
		harness.Fail(fmt.Errorf("bad -location: %w", err), "other", 2)
	}
	level, err := parseLogLevel(*logLevel)
	if err != nil {
		harness.Fail(err, "other", 2)
	}
	parsed := make([]entry, 0, len(entries))
	for _, s := range entries {
		e, err := parseEntry(s)
		if err != nil {
			harness.Fail(err, "other", 2)
		}
		parsed = append(parsed, e)
	}

	sched := asynq.NewScheduler(opt, &asynq.SchedulerOpts{
		HeartbeatInterval: *heartbeat,
		Location:          loc,
		LogLevel:          level,
		PostEnqueueFunc: func(info *asynq.TaskInfo, err error) {
			if err != nil {
				harness.Stdout.Print(map[string]any{
					"event": "enqueue_error",
					"error": err.Error(),
					"kind":  harness.ClientErrorKind(err),
				})
				return
			}
			harness.Stdout.Print(map[string]any{"event": "enqueued", "task": harness.TaskInfoJSON(info)})
		},
	})

	registered := []map[string]any{}
	for _, e := range parsed {
		id, err := sched.Register(e.spec, asynq.NewTask(e.typ, e.payload), e.opts...)
		if err != nil {
			harness.Fail(fmt.Errorf("cannot register %q: %w", e.spec, err), "other", 2)
		}
		registered = append(registered, map[string]any{"id": id, "spec": e.spec, "type": e.typ})
	}

	if err := sched.Start(); err != nil {
		harness.Fail(fmt.Errorf("scheduler start failed: %w", err), "other", 1)
	}
	harness.Stdout.Print(map[string]any{"event": "started", "pid": os.Getpid(), "entries": registered})

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
	sched.Shutdown()
	harness.Stdout.Print(map[string]any{"event": "stopped"})
}
