#!/usr/bin/env bash
# Starts (or starts again, after a crash) the pg_autoctl service of one node of a formation made
# by deploy/ha/start.sh:  deploy/ha/run.sh DIR NAME  (NAME: monitor, node1, node2).
# The service runs in the background in a session of its own, logging to DIR/NAME.log; its
# process id (the runuser above it when root) is written to DIR/NAME.runner.  A node started
# again asks the monitor for its role: a lost primary comes back as a standby of the new one.
set -euo pipefail
dir=$(realpath -m "${1:?usage: run.sh DIR NAME}")
name=${2:?usage: run.sh DIR NAME}
bindir=/usr/lib/postgresql/15/bin
# pg_autoctl keeps its configuration and state under the XDG folders: pointed into DIR.
env=(env "PATH=$bindir:$PATH" "XDG_CONFIG_HOME=$dir/config" "XDG_DATA_HOME=$dir/share" "XDG_RUNTIME_DIR=$dir/run")
if [ "$(id -u)" = 0 ]; then
    env=(runuser -u postgres -- "${env[@]}")
fi
"${env[@]}" setsid pg_autoctl run --pgdata "$dir/$name" >>"$dir/$name.log" 2>&1 </dev/null &
echo $! >"$dir/$name.runner"
