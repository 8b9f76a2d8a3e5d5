"""The asynq-py command line."""
