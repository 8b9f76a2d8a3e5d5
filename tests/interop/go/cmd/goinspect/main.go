// Command goinspect runs one Go asynq Inspector call and prints its result as
// one JSON document on stdout.
//
//	goinspect -redis URL SUBCOMMAND ARGS...
//
// Read-only subcommands:
//
//	queues                     ["default", ...]                 (sorted)
//	queue-info Q               QueueInfo object (Go field names)
//	history Q N                [DailyStats, ...]                (newest first, as Go returns)
//	list Q STATE [GROUP]       [TaskInfo, ...] all pages; STATE is pending|active|scheduled|
//	                           retry|archived|completed|aggregating (aggregating needs GROUP)
//	task Q ID                  TaskInfo
//	servers                    [ServerInfo, ...]                (sorted by ID)
//	cron-entries               [SchedulerEntry, ...]            (sorted by ID)
//	cron-history ENTRY_ID      [SchedulerEnqueueEvent, ...]     all pages, newest first
//	groups Q                   [{"Group": g, "Size": n}, ...]   (sorted by Group)
//
// Mutating subcommands:
//
//	run Q ID | archive Q ID | delete Q ID      {"ok": true}
//	pause Q | unpause Q                        {"ok": true}
//	cancel ID                                  {"ok": true}
//	delete-queue Q [force]                     {"ok": true}
//	runall Q STATE [GROUP]                     {"count": n}  STATE: scheduled|retry|archived|aggregating
//	archiveall Q STATE [GROUP]                 {"count": n}  STATE: pending|scheduled|retry|aggregating
//	deleteall Q STATE [GROUP]                  {"count": n}  STATE: pending|scheduled|retry|archived|
//	                                                                completed|aggregating
//
// Errors print {"error": "...", "kind": "queue_not_found"|"task_not_found"|
// "queue_not_empty"|"other"} and exit 3; bad usage prints kind "usage" and
// exits 2.
package main

import (
	"errors"
	"flag"
	"fmt"
	"sort"
	"strconv"

	"github.com/hibiken/asynq"

	"asynqpy/interop/internal/harness"
)

const pageSize = 100

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usage(format string, args ...any) error {
	return usageError{msg: fmt.Sprintf(format, args...)}
}

func main() {
	redisURL := flag.String("redis", "", "redis://host:port/db or unix:///path.sock")
	flag.Parse()
	opt, err := harness.ParseRedisURL(*redisURL)
	if err != nil {
		harness.Fail(err, "usage", 2)
	}
	args := flag.Args()
	if len(args) == 0 {
		harness.Fail(errors.New("missing subcommand"), "usage", 2)
	}
	insp := asynq.NewInspector(opt)
	out, err := run(insp, args[0], args[1:])
	_ = insp.Close()
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			harness.Fail(err, "usage", 2)
		}
		harness.Fail(err, harness.InspectorErrorKind(err), 3)
	}
	harness.Stdout.Print(out)
}

func need(args []string, lo, hi int, form string) error {
	if len(args) < lo || len(args) > hi {
		return usage("usage: %s", form)
	}
	return nil
}

func optional(args []string, i int) string {
	if i < len(args) {
		return args[i]
	}
	return ""
}

var ok = map[string]any{"ok": true}

func run(insp *asynq.Inspector, cmd string, args []string) (any, error) {
	switch cmd {
	case "queues":
		if err := need(args, 0, 0, "queues"); err != nil {
			return nil, err
		}
		qs, err := insp.Queues()
		if err != nil {
			return nil, err
		}
		sort.Strings(qs)
		return append([]string{}, qs...), nil

	case "queue-info":
		if err := need(args, 1, 1, "queue-info Q"); err != nil {
			return nil, err
		}
		info, err := insp.GetQueueInfo(args[0])
		if err != nil {
			return nil, err
		}
		return queueInfoJSON(info), nil

	case "history":
		if err := need(args, 2, 2, "history Q N"); err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return nil, usage("history: N must be an integer")
		}
		stats, err := insp.History(args[0], n)
		if err != nil {
			return nil, err
		}
		out := []map[string]any{}
		for _, s := range stats {
			out = append(out, map[string]any{
				"Queue":     s.Queue,
				"Processed": s.Processed,
				"Failed":    s.Failed,
				"Date":      s.Date.UTC().Format("2006-01-02"),
			})
		}
		return out, nil

	case "list":
		if err := need(args, 2, 3, "list Q STATE [GROUP]"); err != nil {
			return nil, err
		}
		tasks, err := listAll(insp, args[0], args[1], optional(args, 2))
		if err != nil {
			return nil, err
		}
		out := []map[string]any{}
		for _, t := range tasks {
			out = append(out, harness.TaskInfoJSON(t))
		}
		return out, nil

	case "task":
		if err := need(args, 2, 2, "task Q ID"); err != nil {
			return nil, err
		}
		info, err := insp.GetTaskInfo(args[0], args[1])
		if err != nil {
			return nil, err
		}
		return harness.TaskInfoJSON(info), nil

	case "servers":
		if err := need(args, 0, 0, "servers"); err != nil {
			return nil, err
		}
		servers, err := insp.Servers()
		if err != nil {
			return nil, err
		}
		sort.Slice(servers, func(i, j int) bool { return servers[i].ID < servers[j].ID })
		out := []map[string]any{}
		for _, s := range servers {
			out = append(out, serverInfoJSON(s))
		}
		return out, nil

	case "cron-entries":
		if err := need(args, 0, 0, "cron-entries"); err != nil {
			return nil, err
		}
		entries, err := insp.SchedulerEntries()
		if err != nil {
			return nil, err
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].ID < entries[j].ID })
		out := []map[string]any{}
		for _, e := range entries {
			opts := []string{}
			for _, o := range e.Opts {
				opts = append(opts, o.String())
			}
			out = append(out, map[string]any{
				"ID":          e.ID,
				"Spec":        e.Spec,
				"TaskType":    e.Task.Type(),
				"TaskPayload": harness.B64(e.Task.Payload()),
				"Opts":        opts,
				"Next":        harness.UnixFloat(e.Next),
				"Prev":        harness.UnixFloat(e.Prev),
			})
		}
		return out, nil

	case "cron-history":
		if err := need(args, 1, 1, "cron-history ENTRY_ID"); err != nil {
			return nil, err
		}
		out := []map[string]any{}
		for page := 1; ; page++ {
			events, err := insp.ListSchedulerEnqueueEvents(args[0], asynq.PageSize(pageSize), asynq.Page(page))
			if err != nil {
				return nil, err
			}
			for _, e := range events {
				out = append(out, map[string]any{"TaskID": e.TaskID, "EnqueuedAt": harness.UnixFloat(e.EnqueuedAt)})
			}
			if len(events) < pageSize {
				break
			}
		}
		return out, nil

	case "groups":
		if err := need(args, 1, 1, "groups Q"); err != nil {
			return nil, err
		}
		groups, err := insp.Groups(args[0])
		if err != nil {
			return nil, err
		}
		sort.Slice(groups, func(i, j int) bool { return groups[i].Group < groups[j].Group })
		out := []map[string]any{}
		for _, g := range groups {
			out = append(out, map[string]any{"Group": g.Group, "Size": g.Size})
		}
		return out, nil

	case "run", "archive", "delete":
		if err := need(args, 2, 2, cmd+" Q ID"); err != nil {
			return nil, err
		}
		var err error
		switch cmd {
		case "run":
			err = insp.RunTask(args[0], args[1])
		case "archive":
			err = insp.ArchiveTask(args[0], args[1])
		default:
			err = insp.DeleteTask(args[0], args[1])
		}
		if err != nil {
			return nil, err
		}
		return ok, nil

	case "pause", "unpause":
		if err := need(args, 1, 1, cmd+" Q"); err != nil {
			return nil, err
		}
		var err error
		if cmd == "pause" {
			err = insp.PauseQueue(args[0])
		} else {
			err = insp.UnpauseQueue(args[0])
		}
		if err != nil {
			return nil, err
		}
		return ok, nil

	case "cancel":
		if err := need(args, 1, 1, "cancel ID"); err != nil {
			return nil, err
		}
		if err := insp.CancelProcessing(args[0]); err != nil {
			return nil, err
		}
		return ok, nil

	case "delete-queue":
		if err := need(args, 1, 2, "delete-queue Q [force]"); err != nil {
			return nil, err
		}
		force := false
		switch optional(args, 1) {
		case "":
		case "force":
			force = true
		default:
			return nil, usage("usage: delete-queue Q [force]")
		}
		if err := insp.DeleteQueue(args[0], force); err != nil {
			return nil, err
		}
		return ok, nil

	case "runall", "archiveall", "deleteall":
		if err := need(args, 2, 3, cmd+" Q STATE [GROUP]"); err != nil {
			return nil, err
		}
		n, err := bulk(insp, cmd, args[0], args[1], optional(args, 2))
		if err != nil {
			return nil, err
		}
		return map[string]any{"count": n}, nil
	}
	return nil, usage("unknown subcommand %q", cmd)
}

func listAll(insp *asynq.Inspector, q, state, group string) ([]*asynq.TaskInfo, error) {
	var list func(opts ...asynq.ListOption) ([]*asynq.TaskInfo, error)
	switch state {
	case "pending":
		list = func(o ...asynq.ListOption) ([]*asynq.TaskInfo, error) { return insp.ListPendingTasks(q, o...) }
	case "active":
		list = func(o ...asynq.ListOption) ([]*asynq.TaskInfo, error) { return insp.ListActiveTasks(q, o...) }
	case "scheduled":
		list = func(o ...asynq.ListOption) ([]*asynq.TaskInfo, error) { return insp.ListScheduledTasks(q, o...) }
	case "retry":
		list = func(o ...asynq.ListOption) ([]*asynq.TaskInfo, error) { return insp.ListRetryTasks(q, o...) }
	case "archived":
		list = func(o ...asynq.ListOption) ([]*asynq.TaskInfo, error) { return insp.ListArchivedTasks(q, o...) }
	case "completed":
		list = func(o ...asynq.ListOption) ([]*asynq.TaskInfo, error) { return insp.ListCompletedTasks(q, o...) }
	case "aggregating":
		if group == "" {
			return nil, usage("usage: list Q aggregating GROUP")
		}
		list = func(o ...asynq.ListOption) ([]*asynq.TaskInfo, error) {
			return insp.ListAggregatingTasks(q, group, o...)
		}
	default:
		return nil, usage("list: unknown state %q", state)
	}
	if group != "" && state != "aggregating" {
		return nil, usage("list: GROUP applies only to the aggregating state")
	}
	var all []*asynq.TaskInfo
	for page := 1; ; page++ {
		tasks, err := list(asynq.PageSize(pageSize), asynq.Page(page))
		if err != nil {
			return nil, err
		}
		all = append(all, tasks...)
		if len(tasks) < pageSize {
			return all, nil
		}
	}
}

func bulk(insp *asynq.Inspector, cmd, q, state, group string) (int, error) {
	if (state == "aggregating") != (group != "") {
		return 0, usage("usage: %s Q STATE [GROUP]; GROUP is required for, and only for, aggregating", cmd)
	}
	switch cmd + " " + state {
	case "runall scheduled":
		return insp.RunAllScheduledTasks(q)
	case "runall retry":
		return insp.RunAllRetryTasks(q)
	case "runall archived":
		return insp.RunAllArchivedTasks(q)
	case "runall aggregating":
		return insp.RunAllAggregatingTasks(q, group)
	case "archiveall pending":
		return insp.ArchiveAllPendingTasks(q)
	case "archiveall scheduled":
		return insp.ArchiveAllScheduledTasks(q)
	case "archiveall retry":
		return insp.ArchiveAllRetryTasks(q)
	case "archiveall aggregating":
		return insp.ArchiveAllAggregatingTasks(q, group)
	case "deleteall pending":
		return insp.DeleteAllPendingTasks(q)
	case "deleteall scheduled":
		return insp.DeleteAllScheduledTasks(q)
	case "deleteall retry":
		return insp.DeleteAllRetryTasks(q)
	case "deleteall archived":
		return insp.DeleteAllArchivedTasks(q)
	case "deleteall completed":
		return insp.DeleteAllCompletedTasks(q)
	case "deleteall aggregating":
		return insp.DeleteAllAggregatingTasks(q, group)
	}
	return 0, usage("%s: state %q not supported", cmd, state)
}

func queueInfoJSON(q *asynq.QueueInfo) map[string]any {
	return map[string]any{
		"Queue":          q.Queue,
		"MemoryUsage":    q.MemoryUsage,
		"Latency":        q.Latency.Seconds(),
		"Size":           q.Size,
		"Groups":         q.Groups,
		"Pending":        q.Pending,
		"Active":         q.Active,
		"Scheduled":      q.Scheduled,
		"Retry":          q.Retry,
		"Archived":       q.Archived,
		"Completed":      q.Completed,
		"Aggregating":    q.Aggregating,
		"Processed":      q.Processed,
		"Failed":         q.Failed,
		"ProcessedTotal": q.ProcessedTotal,
		"FailedTotal":    q.FailedTotal,
		"Paused":         q.Paused,
		"Timestamp":      harness.UnixFloat(q.Timestamp),
	}
}

func serverInfoJSON(s *asynq.ServerInfo) map[string]any {
	workers := []map[string]any{}
	for _, w := range s.ActiveWorkers {
		workers = append(workers, map[string]any{
			"TaskID":      w.TaskID,
			"TaskType":    w.TaskType,
			"TaskPayload": harness.B64(w.TaskPayload),
			"Queue":       w.Queue,
			"Started":     harness.UnixFloat(w.Started),
			"Deadline":    harness.UnixFloat(w.Deadline),
		})
	}
	sort.Slice(workers, func(i, j int) bool {
		return workers[i]["TaskID"].(string) < workers[j]["TaskID"].(string)
	})
	queues := s.Queues
	if queues == nil {
		queues = map[string]int{}
	}
	return map[string]any{
		"ID":             s.ID,
		"Host":           s.Host,
		"PID":            s.PID,
		"Concurrency":    s.Concurrency,
		"Queues":         queues,
		"StrictPriority": s.StrictPriority,
		"Started":        harness.UnixFloat(s.Started),
		"Status":         s.Status,
		"ActiveWorkers":  workers,
	}
}
