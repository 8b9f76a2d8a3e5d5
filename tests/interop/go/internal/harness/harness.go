// Package harness holds what the interop programs share: the Redis URL
// parser, the JSON shapes they print, and error classification.
//
// Every program prints machine-readable JSON on stdout; logs from asynq go to
// stderr. The shapes here are the contract the Python interop tests rely on,
// so change them only together with those tests.
package harness

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
)

// ParseRedisURL turns a URL into asynq connection options.
//
// Accepted forms:
//
//	redis://[user:password@]host:port[/db]
//	rediss://[user:password@]host:port[/db]      (TLS)
//	unix:///path/to.sock[?db=N]
//	redis-socket:///path/to.sock[?db=N]
//
// asynq.ParseRedisURI knows no "unix" scheme, hence this parser.
func ParseRedisURL(raw string) (asynq.RedisClientOpt, error) {
	var opt asynq.RedisClientOpt
	if strings.TrimSpace(raw) == "" {
		return opt, errors.New("missing -redis URL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return opt, fmt.Errorf("bad redis URL %q: %w", raw, err)
	}
	if u.User != nil {
		opt.Username = u.User.Username()
		if pw, ok := u.User.Password(); ok {
			opt.Password = pw
		}
	}
	switch u.Scheme {
	case "redis", "rediss":
		if u.Host == "" {
			return opt, fmt.Errorf("bad redis URL %q: no host", raw)
		}
		opt.Addr = u.Host
		if db := strings.Trim(u.Path, "/"); db != "" {
			n, err := strconv.Atoi(db)
			if err != nil {
				return opt, fmt.Errorf("bad redis URL %q: db must be a number", raw)
			}
			opt.DB = n
		}
		if u.Scheme == "rediss" {
			opt.TLSConfig = &tls.Config{ServerName: u.Hostname()}
		}
	case "unix", "redis-socket":
		if u.Path == "" {
			return opt, fmt.Errorf("bad redis URL %q: no socket path", raw)
		}
		opt.Network = "unix"
		opt.Addr = u.Path
		if db := u.Query().Get("db"); db != "" {
			n, err := strconv.Atoi(db)
			if err != nil {
				return opt, fmt.Errorf("bad redis URL %q: db must be a number", raw)
			}
			opt.DB = n
		}
	default:
		return opt, fmt.Errorf("bad redis URL %q: unsupported scheme %q", raw, u.Scheme)
	}
	return opt, nil
}

// Printer writes one compact JSON document per line to stdout, safe for use
// from several goroutines. Each line is written with a single write call so
// that a reader on a pipe never sees a partial line followed by another one.
type Printer struct {
	mu sync.Mutex
}

// Stdout is the shared printer.
var Stdout = &Printer{}

// Print marshals v and writes it followed by a newline.
func (p *Printer) Print(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]any{"error": "cannot encode output: " + err.Error(), "kind": "other"})
	}
	b = append(b, '\n')
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = os.Stdout.Write(b)
}

// UnixFloat is Unix seconds as a float, or nil for Go's zero time.
func UnixFloat(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return float64(t.UnixNano()) / 1e9
}

// UnixInt is whole Unix seconds, or nil for Go's zero time.
func UnixInt(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}

// B64 is standard base64 with padding, or nil when b is nil.
func B64(b []byte) any {
	if b == nil {
		return nil
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Headers never returns nil, so that JSON always shows an object.
func Headers(h map[string]string) map[string]string {
	if h == nil {
		return map[string]string{}
	}
	return h
}

// TaskInfoJSON is the shape every program uses for an asynq.TaskInfo.
func TaskInfoJSON(info *asynq.TaskInfo) map[string]any {
	return map[string]any{
		"id":                   info.ID,
		"queue":                info.Queue,
		"type":                 info.Type,
		"payload_b64":          B64(info.Payload),
		"headers":              Headers(info.Headers),
		"state":                info.State.String(),
		"max_retry":            info.MaxRetry,
		"retried":              info.Retried,
		"last_err":             info.LastErr,
		"last_failed_at_unix":  UnixInt(info.LastFailedAt),
		"timeout_s":            info.Timeout.Seconds(),
		"deadline_unix":        UnixInt(info.Deadline),
		"group":                info.Group,
		"retention_s":          info.Retention.Seconds(),
		"next_process_at_unix": UnixFloat(info.NextProcessAt),
		"completed_at_unix":    UnixInt(info.CompletedAt),
		"is_orphaned":          info.IsOrphaned,
		"result_b64":           B64(info.Result),
	}
}

// ErrorJSON is the shape of a failure: {"error": message, "kind": kind}.
func ErrorJSON(err error, kind string) map[string]any {
	return map[string]any{"error": err.Error(), "kind": kind}
}

// ClientErrorKind classifies an error from Client.Enqueue.
func ClientErrorKind(err error) string {
	switch {
	case errors.Is(err, asynq.ErrDuplicateTask):
		return "duplicate"
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return "conflict"
	default:
		return "other"
	}
}

// InspectorErrorKind classifies an error from the Inspector. Some Inspector
// methods wrap the public sentinel errors, others pass asynq's internal error
// through, so the message is checked as well.
func InspectorErrorKind(err error) string {
	msg := err.Error()
	switch {
	case errors.Is(err, asynq.ErrQueueNotFound),
		strings.Contains(msg, "does not exist") && strings.Contains(msg, "queue"):
		return "queue_not_found"
	case errors.Is(err, asynq.ErrTaskNotFound),
		strings.Contains(msg, "cannot find task"):
		return "task_not_found"
	case errors.Is(err, asynq.ErrQueueNotEmpty),
		strings.Contains(msg, "is not empty"):
		return "queue_not_empty"
	default:
		return "other"
	}
}

// Opts is the JSON form of enqueue options, shared by goclient (one object
// per stdin line) and goscheduler (the optional fourth field of -entry).
// Every field is optional.
type Opts struct {
	MaxRetry      *int     `json:"max_retry"`
	Queue         *string  `json:"queue"`
	TaskID        *string  `json:"task_id"`
	TimeoutS      *float64 `json:"timeout_s"`
	DeadlineUnix  *float64 `json:"deadline_unix"`
	UniqueS       *float64 `json:"unique_s"`
	ProcessAtUnix *float64 `json:"process_at_unix"`
	ProcessInS    *float64 `json:"process_in_s"`
	RetentionS    *float64 `json:"retention_s"`
	Group         *string  `json:"group"`
}

func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second))
}

func unixTime(s float64) time.Time {
	sec := int64(s)
	nsec := int64((s - float64(sec)) * 1e9)
	return time.Unix(sec, nsec)
}

// Options converts o into asynq options, in a fixed order.
func (o *Opts) Options() []asynq.Option {
	if o == nil {
		return nil
	}
	var out []asynq.Option
	if o.MaxRetry != nil {
		out = append(out, asynq.MaxRetry(*o.MaxRetry))
	}
	if o.Queue != nil {
		out = append(out, asynq.Queue(*o.Queue))
	}
	if o.TaskID != nil {
		out = append(out, asynq.TaskID(*o.TaskID))
	}
	if o.TimeoutS != nil {
		out = append(out, asynq.Timeout(seconds(*o.TimeoutS)))
	}
	if o.DeadlineUnix != nil {
		out = append(out, asynq.Deadline(unixTime(*o.DeadlineUnix)))
	}
	if o.UniqueS != nil {
		out = append(out, asynq.Unique(seconds(*o.UniqueS)))
	}
	if o.ProcessAtUnix != nil {
		out = append(out, asynq.ProcessAt(unixTime(*o.ProcessAtUnix)))
	}
	if o.ProcessInS != nil {
		out = append(out, asynq.ProcessIn(seconds(*o.ProcessInS)))
	}
	if o.RetentionS != nil {
		out = append(out, asynq.Retention(seconds(*o.RetentionS)))
	}
	if o.Group != nil {
		out = append(out, asynq.Group(*o.Group))
	}
	return out
}

// Fail prints an error object and exits with the given code.
func Fail(err error, kind string, code int) {
	Stdout.Print(ErrorJSON(err, kind))
	os.Exit(code)
}
