#!/usr/bin/env bash
# A throwaway PostgreSQL 15 for the test suite (.ci/run): `start DIR` creates a
# cluster in DIR (trust authentication, loopback only, fsync off: test data
# only), starts it on a free port and prints its URL for
# PATROLHUB_TEST_POSTGRES_URL; `stop DIR` stops it and removes DIR. As root,
# the server runs as the `postgres` user (initdb refuses root).
set -euo pipefail
BIN=/usr/lib/postgresql/15/bin
cmd=${1:?usage: test-server.sh start|stop DIR}; dir=${2:?usage: test-server.sh start|stop DIR}
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$cmd" in
start)
    [ -x "$BIN/initdb" ] || { echo "PostgreSQL 15 is not installed ($BIN): apt-get install postgresql" >&2; exit 1; }
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    as_owner "$BIN/initdb" -D "$dir/data" -U patrolhub --auth=trust >/dev/null
    as_owner "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
    echo "postgres://patrolhub@127.0.0.1:$port/postgres"
    ;;
stop)
    [ -d "$dir/data" ] && as_owner "$BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    rm -rf "$dir"
    ;;
*) echo "usage: test-server.sh start|stop DIR" >&2; exit 2 ;;
esac
