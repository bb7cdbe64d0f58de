#!/usr/bin/env bash
# Stops what deploy/ha/start.sh DIR started: each `pg_autoctl run` and every process below it
# (keeper, PostgreSQL, its backends; SIGSTOPped ones too), then removes DIR unless --keep.
set -uo pipefail
dir=$(realpath -m "${1:?usage: stop.sh DIR [--keep]}")

descendants() { # PID...: these and every process below them (PostgreSQL's children call setsid)
    local table
    table=$(ps -eo pid=,ppid=)
    local todo=("$@") out=()
    while ((${#todo[@]})); do
        local p=${todo[0]}
        todo=("${todo[@]:1}")
        out+=("$p")
        while read -r child parent; do
            [ "$parent" = "$p" ] && todo+=("$child")
        done <<<"$table"
    done
    echo "${out[@]}"
}

roots=()
for runner in "$dir"/*.runner; do
    [ -f "$runner" ] && roots+=("$(cat "$runner")")
done
if ((${#roots[@]})); then
    pids=$(descendants "${roots[@]}")
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null
    # shellcheck disable=SC2086
    kill -CONT $pids 2>/dev/null
fi
sleep 0.5
[ "${2:-}" = --keep ] || rm -rf "$dir"
