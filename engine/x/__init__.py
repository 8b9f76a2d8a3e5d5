"""Optional integrations, each behind an extra (like Go asynq's ``x/`` packages).

- ``asynq_py.engine.x.queue_metrics``: Prometheus collector of queue metrics, named as Go's
  ``x/metrics`` (``pip install 'asynq-py[metrics]'``);
- ``asynq_py.engine.x.worker_metrics``: Prometheus metrics of a running ``Server`` (``[metrics]``);
- ``asynq_py.engine.x.tracing``: OpenTelemetry trace context through task headers (``[otel]``).

``asynq_py.engine`` never imports these modules, so the base install needs none of the extras.
"""
