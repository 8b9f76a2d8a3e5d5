"""``python -m asynq_py.cli``: the same as the ``asynq-py`` command."""

from .entry import main

main()
