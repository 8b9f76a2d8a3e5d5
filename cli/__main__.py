"""``python -m asynq_py.cli``: the same as the ``asynq-py`` command."""

from .main import main

main()
