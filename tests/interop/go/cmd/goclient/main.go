// Command goclient enqueues tasks with Go asynq's Client.
//
//	goclient -redis URL < requests.jsonl
//
// Each stdin line is one request:
//
//	{"type": "ok", "payload_b64": "aGk=" | null, "headers": {"k": "v"} | null,
//	 "opts": {"max_retry": 3, "queue": "q", ...}}
//
// Instead of "payload_b64", a request may give "payload_json": any JSON value.
// It is decoded into a Go `any` (objects become map[string]any, numbers
// float64) and the payload is what json.Marshal makes of that value, the bytes
// a Go program marshalling the same map would enqueue.
//
// and gets exactly one stdout line back, in order: the TaskInfo (see
// harness.TaskInfoJSON) or {"error": "...", "kind": "duplicate"|"conflict"|"other"}.
// Blank lines are ignored. The program exits 0 at end of input; it exits 1
// only when it cannot start (bad flags or URL).
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/hibiken/asynq"

	"asynqpy/interop/internal/harness"
)

type request struct {
	Type        string            `json:"type"`
	PayloadB64  *string           `json:"payload_b64"`
	PayloadJSON json.RawMessage   `json:"payload_json"`
	Headers     map[string]string `json:"headers"`
	Opts        *harness.Opts     `json:"opts"`
}

func main() {
	redisURL := flag.String("redis", "", "redis://host:port/db or unix:///path.sock")
	flag.Parse()

	opt, err := harness.ParseRedisURL(*redisURL)
	if err != nil {
		harness.Fail(err, "other", 1)
	}
	client := asynq.NewClient(opt)
	defer func() { _ = client.Close() }()

	in := bufio.NewReader(os.Stdin)
	for {
		line, readErr := in.ReadString('\n')
		if strings.TrimSpace(line) != "" {
			harness.Stdout.Print(handle(client, line))
		}
		if readErr != nil {
			break
		}
	}
}

func handle(client *asynq.Client, line string) map[string]any {
	var req request
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return harness.ErrorJSON(fmt.Errorf("bad request line: %w", err), "other")
	}
	var payload []byte
	if req.PayloadB64 != nil {
		b, err := base64.StdEncoding.DecodeString(*req.PayloadB64)
		if err != nil {
			return harness.ErrorJSON(fmt.Errorf("bad payload_b64: %w", err), "other")
		}
		if b == nil {
			b = []byte{}
		}
		payload = b
	}
	if req.PayloadJSON != nil {
		if req.PayloadB64 != nil {
			return harness.ErrorJSON(errors.New("give payload_b64 or payload_json, not both"), "other")
		}
		var value any
		if err := json.Unmarshal(req.PayloadJSON, &value); err != nil {
			return harness.ErrorJSON(fmt.Errorf("bad payload_json: %w", err), "other")
		}
		b, err := json.Marshal(value)
		if err != nil {
			return harness.ErrorJSON(fmt.Errorf("cannot marshal payload_json: %w", err), "other")
		}
		payload = b
	}
	var task *asynq.Task
	if req.Headers != nil {
		task = asynq.NewTaskWithHeaders(req.Type, payload, req.Headers)
	} else {
		task = asynq.NewTask(req.Type, payload)
	}
	info, err := client.Enqueue(task, req.Opts.Options()...)
	if err != nil {
		return harness.ErrorJSON(err, harness.ClientErrorKind(err))
	}
	if info == nil {
		return harness.ErrorJSON(errors.New("enqueue returned no task info"), "other")
	}
	return harness.TaskInfoJSON(info)
}
