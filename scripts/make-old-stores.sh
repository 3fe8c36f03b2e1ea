#!/usr/bin/env bash
# Makes the old-schema store fixtures in Tests/Fixtures/old-stores/ with the
# code of the versions that wrote such stores: for each old commit, a detached
# worktree, its own `patrolhub` CLI, its own hub fed over MQTT (its `demo`,
# `serve` and `simulate` commands), its own CLI for operator actions, a clean
# stop, then the store and inbox files gzipped. See Tests/Fixtures/old-stores/README.md.
#
#   scripts/make-old-stores.sh [--keep-worktrees] [v3-cases|v8-event-batches|v12-visible-outcomes ...]
#
# Environment: OLD_STORES_WORK (default /tmp): where the worktrees (old-a, old-b,
# old-c) and the run folders go; an existing worktree at the right commit is reused.
# Builds run under `nice -n 15`. Needs git, swift, mosquitto, python3, sqlite3, gzip.
set -euo pipefail

ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
OUT=$ROOT/Tests/Fixtures/old-stores
WORK=${OLD_STORES_WORK:-/tmp}
KEEP=0
[ -d /opt/swift/usr/bin ] && export PATH=/opt/swift/usr/bin:$PATH

# The three versions, named by the last store migration they apply.
# v3-cases: the parent of the commit that added v5-event-log
#   (git log -S '"v5-event-log' -- Sources → e366eb1); v1-core … v3-cases.
# v8-event-batches: the parent of the commit that added v9-risk-items-state (defd859).
# v12-visible-outcomes: the parent of the commit that added v13-retention (dfff53f).
declare -A COMMIT=(
  [v3-cases]=8c14a5ca312781d56182171fadc1b423546af672
  [v8-event-batches]=80bbb87efc5347e235626a874b079097c778b49e
  [v12-visible-outcomes]=cfb9acd9f5da007e0ab0c3bdbf9e5cbcae40dd72
)
declare -A TREE=([v3-cases]=old-a [v8-event-batches]=old-b [v12-visible-outcomes]=old-c)

VERSIONS=()
for arg in "$@"; do
  case "$arg" in
    --keep-worktrees) KEEP=1 ;;
    v3-cases|v8-event-batches|v12-visible-outcomes) VERSIONS+=("$arg") ;;
    *) echo "usage: $0 [--keep-worktrees] [v3-cases|v8-event-batches|v12-visible-outcomes ...]" >&2; exit 2 ;;
  esac
done
[ ${#VERSIONS[@]} -gt 0 ] || VERSIONS=(v3-cases v8-event-batches v12-visible-outcomes)

HUB_PID=
cleanup() {
  if [ -n "$HUB_PID" ] && kill -0 "$HUB_PID" 2>/dev/null; then kill -INT "$HUB_PID"; wait "$HUB_PID" || true; fi
}
trap cleanup EXIT

log() { echo "[make-old-stores $(date -u +%T)] $*" >&2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() { # port: until something listens on 127.0.0.1:port (60 s)
  for _ in $(seq 600); do
    python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1',$1)))" 2>/dev/null && return 0
    kill -0 "$HUB_PID" 2>/dev/null || { log "the hub exited"; return 1; }
    sleep 0.1
  done
  log "nothing listens on port $1"; return 1
}

# Until the old hub's store shows every received message processed and nothing left
# in the outbox: read with sqlite3, so the old binary's own `status` cannot race it.
wait_processed() { # store-file min-received
  local store=$1 min=$2 inbox=${1%.sqlite}.inbox.sqlite
  for _ in $(seq 1200); do
    local received cursor outbox
    received=$(sqlite3 "$inbox" 'SELECT COALESCE(MAX(seq), 0) FROM inbox' 2>/dev/null || echo 0)
    cursor=$(sqlite3 "$store" 'SELECT inbox_seq FROM pipeline_cursor' 2>/dev/null || echo -1)
    outbox=$(sqlite3 "$store" 'SELECT COUNT(*) FROM outbox' 2>/dev/null || echo 1)
    if [ "$received" -ge "$min" ] && [ "$received" = "$cursor" ] && [ "$outbox" = 0 ]; then return 0; fi
    sleep 0.1
  done
  log "the hub did not process $min messages (received $received, cursor $cursor, outbox $outbox)"; return 1
}

stop_hub() { # SIGINT: the hub's graceful shutdown (it finishes its batch, closes the store)
  kill -INT "$HUB_PID"
  wait "$HUB_PID"
  HUB_PID=
}

# QoS 1 publisher (MQTT 3.1.1) for the version without a simulator: JSON lines
# {"topic":…, "payload":…} on standard input, each PUBACK awaited.
mqtt_publish() { # port
  python3 -c "$(cat <<'PY'
import json, socket, struct, sys
def rl(n):
    out = b""
    while True:
        b, n = n % 128, n // 128
        out += bytes([b | (0x80 if n else 0)])
        if not n: return out
def s(x): b = x.encode(); return struct.pack(">H", len(b)) + b
def read(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk: raise SystemExit("broker closed the connection")
        data += chunk
    return data
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
body = s("MQTT") + bytes([4, 2]) + struct.pack(">H", 60) + s("make-old-stores")
sock.sendall(b"\x10" + rl(len(body)) + body)
if read(sock, 4) != b"\x20\x02\x00\x00": raise SystemExit("CONNECT refused")
n = 0
for line in sys.stdin:
    m = json.loads(line)
    n += 1
    body = s(m["topic"]) + struct.pack(">H", n % 65535 + 1) + m["payload"].encode()
    sock.sendall(b"\x32" + rl(len(body)) + body)
    if read(sock, 4)[0] != 0x40: raise SystemExit("no PUBACK")
sock.sendall(b"\xe0\x00")
sock.close()
print(n)
PY
)" "$1"
}

# Camera events over the last two hours for the v3-cases hub: ordinary detections in
# every camera, repeats that group, duplicates of the same bytes, a dispute-free mix.
a_feed() { # cameras.csv
  python3 - "$1" <<'PY'
import csv, datetime, json, sys
cams = [r["id"] for r in csv.DictReader(l for l in open(sys.argv[1], encoding="utf-8") if not l.startswith("#"))]
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
kinds = ["intrusion", "loitering", "illegal_parking", "garbage", "street_vending", "left_object", "crowd_gathering", "fight", "fire_smoke", "banner"]
lines = []
for i in range(160):
    cam = cams[(i * 7) % len(cams)]
    kind = kinds[i % len(kinds)] if i % 5 else "intrusion"
    t = now - datetime.timedelta(seconds=7200 - i * 44)
    p = {"id": f"fx-{i:04d}", "type": kind, "time": t.isoformat().replace("+00:00", "Z"), "confidence": 0.8}
    lines.append({"topic": f"patrolhub/v1/camera/{cam}/event", "payload": json.dumps(p, separators=(",", ":"))})
    if i % 23 == 0: lines.append(lines[-1])  # the same bytes again: a redelivery
lines.append({"topic": f"patrolhub/v1/camera/{cams[0]}/event", "payload": "{\"id\":\"fx-bad\",\"type\":"})
lines.append({"topic": "patrolhub/v1/camera/cam-999/event", "payload": json.dumps({"id": "fx-unknown", "type": "fight", "time": now.isoformat()})})
for l in lines: print(json.dumps(l, ensure_ascii=False))
PY
}

# Copies the version's config/ into the run folder: store and broker files there,
# the embedded broker on a fixed free port, HTTP (where the version has it) on a free port.
setup_config() { # worktree run-dir broker-port
  local wt=$1 run=$2 port=$3
  rm -rf "$run"; mkdir -p "$run"
  cp -r "$wt/config" "$run/config"
  python3 - "$run/config/patrolhub.yaml" "$port" <<'PY'
import re, sys
path, port = sys.argv[1], sys.argv[2]
text = open(path, encoding="utf-8").read()
text, n = re.subn(r"(?m)^(broker:\n(?:[ #].*\n)*?  port: )\d+", r"\g<1>" + port, text)
if n != 1: raise SystemExit("broker.port not found in " + path)
text = re.sub(r"(?m)^(  listen: )\S+", r"\g<1>127.0.0.1:0", text)
open(path, "w", encoding="utf-8").write(text)
PY
}

start_hub() { # binary config
  "$1" serve --config "$2" --log-level warning > "$(dirname "$2")/../serve.log" 2>&1 &
  HUB_PID=$!
}

make_v3_cases() { # worktree run-dir binary
  local wt=$1 run=$2 bin=$3 port store
  port=$(free_port)
  setup_config "$wt" "$run" "$port"
  store=$run/data/patrolhub.sqlite
  log "v3-cases: the version's demo (its hub, embedded broker, built-in feed)"
  (cd "$wt" && "$bin" demo --config "$run/config/patrolhub.yaml" --data-dir "$run/data" --log-level error) > "$run/demo.log"
  log "v3-cases: its hub again on the same store, fed 160 camera events over MQTT"
  start_hub "$bin" "$run/config/patrolhub.yaml"
  wait_port "$port"
  local before sent
  before=$(sqlite3 "${store%.sqlite}.inbox.sqlite" 'SELECT MAX(seq) FROM inbox')
  sent=$(a_feed "$wt/config/cameras.csv" | mqtt_publish "$port")
  [ "$sent" -gt 100 ] || { log "published only '$sent' messages"; return 1; }
  wait_processed "$store" $((before + sent))
  stop_hub
  log "v3-cases: silences through its CLI (one active, one expired)"
  "$bin" silences add --store "$store" --category garbage --duration 30d --by fixture --comment "made by make-old-stores.sh" > /dev/null
  local id
  id=$("$bin" silences add --store "$store" --source cam-003 --category banner --duration 2h --by fixture --comment "expired at once" | cut -d' ' -f1)
  "$bin" silences expire --store "$store" "$id" --by fixture > /dev/null
}

# v8 and v12: the version's own hub (`serve`) and simulator (`simulate`): a day of
# patrol rounds (pinned an hour back, so the next scenario's events are not late),
# the demo scenario (every format, a multi-source case, SOS, fire, an outage, bad
# input), then case actions and silences through its CLI while the hub runs.
make_with_simulator() { # worktree run-dir binary
  local wt=$1 run=$2 bin=$3 port store cfg
  port=$(free_port)
  setup_config "$wt" "$run" "$port"
  cfg=$run/config/patrolhub.yaml
  store=$run/data/patrolhub.sqlite
  start_hub "$bin" "$cfg"
  wait_port "$port"
  local start inbox before published=0 out
  inbox=${store%.sqlite}.inbox.sqlite
  start=$(python3 -c 'import datetime; print((datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)).replace(microsecond=0).isoformat())')
  before=$(sqlite3 "$inbox" 'SELECT COALESCE(MAX(seq), 0) FROM inbox')
  for scenario in "patrol_with_gaps.yaml --start $start" "demo.yaml"; do
    log "$(basename "$run"): simulate $scenario"
    # shellcheck disable=SC2086 # the scenario's options are words
    out=$(cd "$wt" && "$bin" simulate --config "$cfg" --scenario simulators/$scenario --broker "127.0.0.1:$port" --no-progress --log-level error)
    echo "$out" >> "$run/simulate.log"
    published=$((published + $(echo "$out" | sed -n 's/^published \([0-9]*\) messages.*/\1/p')))
  done
  wait_processed "$store" $((before + published))
  log "$(basename "$run"): case actions and silences through its CLI"
  local cases
  mapfile -t cases < <(sqlite3 "$store" "SELECT id FROM cases ORDER BY seq")
  [ ${#cases[@]} -ge 2 ] || { log "expected at least 2 cases, found ${#cases[@]}"; return 1; }
  "$bin" cases act --config "$cfg" "${cases[0]}" acknowledge --by fixture-dispatcher --note "seen" > /dev/null
  "$bin" cases act --config "$cfg" "${cases[0]}" assign --by fixture-dispatcher --assignee gw-007 --note "nearest worker" > /dev/null
  "$bin" cases act --config "$cfg" "${cases[0]}" start --by gw-007 > /dev/null
  "$bin" cases act --config "$cfg" "${cases[0]}" resolve --by gw-007 --outcome mediated_agreement --amount 1200 --satisfaction satisfied --note "settled" > /dev/null
  "$bin" cases act --config "$cfg" "${cases[0]}" close --by fixture-dispatcher --note "filed" > /dev/null
  "$bin" cases act --config "$cfg" "${cases[1]}" acknowledge --by fixture-dispatcher > /dev/null
  if [ ${#cases[@]} -ge 3 ]; then "$bin" cases act --config "$cfg" "${cases[2]}" false-alarm --by fixture-dispatcher --note "a drill seen twice" > /dev/null; fi
  # v12 refuses a silence over 7 days (silences.max_duration); v8 had no cap.
  local days=30d
  [ "$(basename "$run")" = v12-visible-outcomes ] && days=6d
  "$bin" silences add --config "$cfg" --category garbage --duration "$days" --by fixture --comment "made by make-old-stores.sh" > /dev/null
  local id
  id=$("$bin" silences add --config "$cfg" --category banner --duration 2h --by fixture --comment "expired at once" | cut -d' ' -f1)
  "$bin" silences expire --config "$cfg" "$id" --by fixture > /dev/null
  wait_processed "$store" 1
  stop_hub
}

for v in "${VERSIONS[@]}"; do
  commit=${COMMIT[$v]}
  wt=$WORK/${TREE[$v]}
  run=$WORK/old-stores-run/$v
  if [ -d "$wt" ] && [ "$(git -C "$wt" rev-parse HEAD)" = "$commit" ]; then
    log "$v: reusing $wt"
  else
    git -C "$ROOT" worktree add --detach "$wt" "$commit"
  fi
  [ -f "$wt/Package.resolved" ] || { [ -f "$ROOT/Package.resolved" ] && cp "$ROOT/Package.resolved" "$wt/"; } || true
  log "$v: building its patrolhub ($commit)"
  (cd "$wt" && nice -n 15 swift build --product patrolhub > "$WORK/${TREE[$v]}-build.log" 2>&1)
  bin=$wt/.build/debug/patrolhub
  case "$v" in
    v3-cases) make_v3_cases "$wt" "$run" "$bin" ;;
    *) make_with_simulator "$wt" "$run" "$bin" ;;
  esac
  store=$run/data/patrolhub.sqlite
  for f in "$store" "${store%.sqlite}.inbox.sqlite"; do
    # The hub exited 0 (stop_hub waits for it), but a version may leave its last commits in
    # the WAL. A checkpoint copies those pages, as written, into the file; the WAL goes.
    sqlite3 "$f" 'PRAGMA wal_checkpoint(TRUNCATE);' > /dev/null
    [ ! -s "$f-wal" ] || { log "$f-wal is not empty after a checkpoint"; exit 1; }
  done
  mkdir -p "$OUT/$v"
  gzip -9 -n -c "$store" > "$OUT/$v/patrolhub.sqlite.gz"
  gzip -9 -n -c "${store%.sqlite}.inbox.sqlite" > "$OUT/$v/patrolhub.inbox.sqlite.gz"
  { echo "commit $commit"
    echo "made $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "migrations $(sqlite3 "$store" "SELECT group_concat(identifier, ' ') FROM grdb_migrations")"
    echo "inbox_migrations $(sqlite3 "${store%.sqlite}.inbox.sqlite" "SELECT group_concat(identifier, ' ') FROM grdb_migrations")"
    for t in $(sqlite3 "$store" "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'grdb_migrations' ORDER BY name"); do
      echo "rows $t $(sqlite3 "$store" "SELECT COUNT(*) FROM \"$t\"")"
    done
    echo "rows inbox $(sqlite3 "${store%.sqlite}.inbox.sqlite" 'SELECT COUNT(*) FROM inbox')"
  } > "$OUT/$v/MANIFEST"
  log "$v: $(du -k "$OUT/$v"/*.gz | awk '{s += $1} END {print s}') KiB in $OUT/$v"
  if [ "$KEEP" = 0 ]; then git -C "$ROOT" worktree remove --force "$wt"; fi
done
