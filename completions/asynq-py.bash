_asynq_py_completion() {
    local IFS=$'
'
    COMPREPLY=( $( env COMP_WORDS="${COMP_WORDS[*]}" \
                   COMP_CWORD=$COMP_CWORD \
                   _ASYNQ_PY_COMPLETE=complete_bash $1 ) )
    return 0
}

complete -o default -F _asynq_py_completion asynq-py
