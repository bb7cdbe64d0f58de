#!/usr/bin/env bash
# A pg_auto_failover formation on this machine: a monitor and two PostgreSQL 15 nodes on
# 127.0.0.1 (trust auth, no TLS: a test and development setup, not a production one), the
# second a synchronous standby of the first.  Everything lives under DIR (data, pg_autoctl's
# configuration and state, logs), so several formations can run side by side.
#
#   deploy/ha/start.sh DIR [MONITOR_PORT NODE1_PORT NODE2_PORT [DBNAME]]
#
# Prints, once the standby is streaming and synchronous, the service's multi-host URL:
#   postgresql+psycopg://postgres@/DBNAME?host=127.0.0.1:P1&host=127.0.0.1:P2&target_session_attrs=read-write
# and writes DIR/formation.env (ports, URL).  Stop it with deploy/ha/stop.sh DIR.
#
# Run as root (the server processes then run as the postgres system user) or as that user.
set -euo pipefail

dir=$(realpath -m "${1:?usage: start.sh DIR [MONITOR_PORT NODE1_PORT NODE2_PORT [DBNAME]]}")
monitor_port=${2:-55430}
node1_port=${3:-55431}
node2_port=${4:-55432}
dbname=${5:-settle}
bindir=$(ls -d /usr/lib/postgresql/15/bin)
here=$(dirname "$(realpath "$0")")

as_pg() {
    # pg_autoctl keeps its configuration and state under the XDG folders: pointed into DIR.
    local env=(env "PATH=$bindir:$PATH" "XDG_CONFIG_HOME=$dir/config" "XDG_DATA_HOME=$dir/share"
        "XDG_RUNTIME_DIR=$dir/run")
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "${env[@]}" "$@"
    else
        "${env[@]}" "$@"
    fi
}

run_bg() { "$here/run.sh" "$dir" "$1"; }

wait_for() { # SECONDS DESCRIPTION COMMAND...: until COMMAND succeeds
    local timeout=$1 what=$2
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS > deadline)); then
            echo "start.sh: timed out waiting for $what" >&2
            tail -n 30 "$dir"/*.log >&2 || true
            exit 1
        fi
        sleep 0.5
    done
}

monitor_sql() { as_pg psql -X -h 127.0.0.1 -p "$monitor_port" -U postgres -d pg_auto_failover -v ON_ERROR_STOP=1 "$@"; }
node_is() { # NAME STATE: reported and assigned by the monitor
    [ "$(monitor_sql -tAc "select reportedstate::text || '/' || goalstate::text from pgautofailover.node where nodename = '$1'")" = "$2/$2" ]
}

mkdir -p "$dir"/{config,share,run}
chmod 700 "$dir/run"
[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$dir"
monitor="postgres://autoctl_node@127.0.0.1:$monitor_port/pg_auto_failover?sslmode=disable"

as_pg pg_autoctl create monitor --pgdata "$dir/monitor" --pgport "$monitor_port" --hostname 127.0.0.1 \
    --auth trust --no-ssl >>"$dir/monitor.log" 2>&1
run_bg monitor
wait_for 60 "the monitor" monitor_sql -c 'select 1'
# The monitor decides that a primary is gone from its own health checks plus the node's silence.
# The defaults (a check every 5 s, 5 s timeout, 2 retries 2 s apart, 20 s without a report, 30 s
# for a lost primary to demote itself) add up to tens of seconds without writes; these bring a
# failover to about ten seconds on one machine, while one slow check (a loaded host: 1 s timeout,
# one retry) does not yet fail over a healthy primary.  See docs/failover.md.
monitor_sql -q -f "$here/monitor-tuning.sql"

for n in 1 2; do
    port_var="node${n}_port"
    as_pg pg_autoctl create postgres --pgdata "$dir/node$n" --pgport "${!port_var}" --hostname 127.0.0.1 \
        --listen 127.0.0.1 --name "node$n" --dbname "$dbname" --monitor "$monitor" --auth trust --no-ssl \
        --pgctl "$bindir/pg_ctl" >>"$dir/node$n.log" 2>&1
    run_bg "node$n"
    if [ "$n" = 1 ]; then
        wait_for 90 "node1 to be primary" node_is node1 single
    fi
done
# Both nodes primary/secondary as the monitor sees them, and the standby synchronous.
formation_ok() {
    node_is node1 primary && node_is node2 secondary &&
    [ "$(as_pg psql -X -h 127.0.0.1 -p "$node1_port" -U postgres -d postgres -tAc \
        "select sync_state from pg_stat_replication")" = "quorum" ]
}
wait_for 120 "the standby to be synchronous" formation_ok

url="postgresql+psycopg://postgres@/$dbname?host=127.0.0.1:$node1_port&host=127.0.0.1:$node2_port&target_session_attrs=read-write"
cat >"$dir/formation.env" <<ENV
HA_MONITOR_PORT=$monitor_port
HA_NODE1_PORT=$node1_port
HA_NODE2_PORT=$node2_port
HA_DATABASE_URL=$url
ENV
echo "$url"
