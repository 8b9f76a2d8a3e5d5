"""asynq-py's engine: a Go-asynq-compatible task queue library."""
