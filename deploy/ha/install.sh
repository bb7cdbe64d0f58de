#!/usr/bin/env bash
# Installs what the replicated setup and its tests need on Debian 12 (bookworm), as root:
# pg_auto_failover for PostgreSQL 15 (monitor and keepers: `pg_autoctl`) and PgBouncer.
# Idempotent; CI runs it on a fresh machine before the tests (tests/failover).
set -euo pipefail

packages=(postgresql-15 postgresql-15-auto-failover pgbouncer util-linux procps)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The Debian package starts a PgBouncer of its own on 6432; the tests and the scripts here run
# their own instances on free ports, so the system one is not needed.
if command -v systemctl >/dev/null && systemctl is-active --quiet pgbouncer 2>/dev/null; then
    systemctl stop pgbouncer || true
fi
if [ -x /etc/init.d/pgbouncer ] && pgrep -u postgres -x pgbouncer >/dev/null 2>&1; then
    /etc/init.d/pgbouncer stop || true
fi
pg_autoctl --version | head -1
/usr/sbin/pgbouncer --version | head -1
