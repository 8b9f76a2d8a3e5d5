// Command gotrace carries an OpenTelemetry trace through asynq task headers, the
// way a Go service instrumented with otel does (W3C trace context propagator).
//
//	gotrace -redis URL -mode enqueue -queue Q -type T
//
// starts a producer span, injects its context into the headers of a new task,
// enqueues it and prints {"task_id", "trace_id", "span_id", "headers"}.
//
//	gotrace -redis URL -mode serve -queue Q -count N
//
// runs an asynq Server on Q whose handler extracts the context from the task
// headers and starts a consumer span under it; it prints one line per task,
// {"task_id", "trace_id", "parent_span_id", "span_id", "remote"}, and exits
// after N tasks.
package main

import (
	"context"
	"errors"
	"flag"
	"sync"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"asynqpy/interop/internal/harness"
)

var propagator = propagation.TraceContext{}

func main() {
	redisURL := flag.String("redis", "", "redis://host:port/db")
	mode := flag.String("mode", "", "enqueue or serve")
	queue := flag.String("queue", "default", "queue name")
	taskType := flag.String("type", "trace:go", "task type to enqueue")
	count := flag.Int("count", 1, "tasks to process before exiting (serve)")
	flag.Parse()

	opt, err := harness.ParseRedisURL(*redisURL)
	if err != nil {
		harness.Fail(err, "other", 1)
	}
	tracer := sdktrace.NewTracerProvider().Tracer("gotrace")
	switch *mode {
	case "enqueue":
		enqueue(opt, tracer, *queue, *taskType)
	case "serve":
		serve(opt, tracer, *queue, *count)
	default:
		harness.Fail(errors.New("-mode must be enqueue or serve"), "other", 1)
	}
}

func enqueue(opt asynq.RedisClientOpt, tracer trace.Tracer, queue, taskType string) {
	ctx, span := tracer.Start(context.Background(), "create "+queue, trace.WithSpanKind(trace.SpanKindProducer))
	headers := propagation.MapCarrier{}
	propagator.Inject(ctx, headers)
	span.End()
	client := asynq.NewClient(opt)
	defer func() { _ = client.Close() }()
	info, err := client.Enqueue(asynq.NewTaskWithHeaders(taskType, nil, headers), asynq.Queue(queue))
	if err != nil {
		harness.Fail(err, "other", 1)
	}
	sc := span.SpanContext()
	harness.Stdout.Print(map[string]any{
		"task_id": info.ID, "trace_id": sc.TraceID().String(), "span_id": sc.SpanID().String(),
		"headers": map[string]string(headers),
	})
}

func serve(opt asynq.RedisClientOpt, tracer trace.Tracer, queue string, count int) {
	srv := asynq.NewServer(opt, asynq.Config{Queues: map[string]int{queue: 1}, Concurrency: 1,
		LogLevel: asynq.ErrorLevel})
	done := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	seen := 0
	handler := func(ctx context.Context, t *asynq.Task) error {
		parent := propagator.Extract(ctx, propagation.MapCarrier(t.Headers()))
		remote := trace.SpanContextFromContext(parent)
		_, span := tracer.Start(parent, "process "+queue, trace.WithSpanKind(trace.SpanKindConsumer))
		span.End()
		id, _ := asynq.GetTaskID(ctx)
		harness.Stdout.Print(map[string]any{
			"task_id": id, "trace_id": span.SpanContext().TraceID().String(),
			"parent_span_id": remote.SpanID().String(), "span_id": span.SpanContext().SpanID().String(),
			"remote": remote.IsRemote(),
		})
		mu.Lock()
		seen++
		if seen >= count {
			once.Do(func() { close(done) })
		}
		mu.Unlock()
		return nil
	}
	if err := srv.Start(asynq.HandlerFunc(handler)); err != nil {
		harness.Fail(err, "other", 1)
	}
	<-done
	srv.Shutdown()
}
