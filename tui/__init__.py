"""The asynq-py terminal dashboard."""
