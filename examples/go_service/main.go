// Command welcome is a Go service that enqueues asynq-py typed tasks for a Python worker.
//
//	go run . -redis redis://localhost:6379/0 -user 42 [-subject Hi] [-queue emails]
//
// The Python side (examples/typed_tasks.py) defines
//
//	@mux.task("email:welcome", queue="emails", max_retry=5)
//	async def send_welcome(ctx, user_id: int, subject: str = "Welcome") -> bytes
//
// and checks every payload against that signature: a payload that does not fit
// is archived after one attempt with the reason as its last error. The struct
// below mirrors the signature; its fields are declared in name order so that
// json.Marshal writes the same bytes as asynq-py's canonical encoding (which
// matters only for unique tasks, whose lock is derived from the payload).
//
// It prints the task id on stdout.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/hibiken/asynq"
)

// WelcomeArgs are the arguments of the Python task "email:welcome".
type WelcomeArgs struct {
	Subject string `json:"subject"`
	UserID  int    `json:"user_id"`
}

func main() {
	redisURL := flag.String("redis", "redis://localhost:6379/0", "Redis URL")
	user := flag.Int("user", 0, "user id")
	subject := flag.String("subject", "Welcome", "subject line")
	queue := flag.String("queue", "emails", "queue")
	flag.Parse()

	opt, err := asynq.ParseRedisURI(*redisURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad -redis:", err)
		os.Exit(2)
	}
	payload, err := json.Marshal(WelcomeArgs{Subject: *subject, UserID: *user})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	client := asynq.NewClient(opt)
	defer func() { _ = client.Close() }()
	info, err := client.Enqueue(
		asynq.NewTask("email:welcome", payload),
		asynq.Queue(*queue), asynq.MaxRetry(5), asynq.Retention(time.Hour),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "enqueue:", err)
		os.Exit(1)
	}
	fmt.Println(info.ID)
}
