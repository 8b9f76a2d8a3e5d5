#compdef asynq-py

_asynq_py_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _ASYNQ_PY_COMPLETE=complete_zsh asynq-py)
}

compdef _asynq_py_completion asynq-py
