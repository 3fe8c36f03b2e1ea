#!/usr/bin/env python3
"""PatrolHub scale-out test: a group of hubs (`broker.shared_group`) on one
PostgreSQL store, against a single hub on SQLite, both fed by the same
simulator run on one real mosquitto.

The reference hub subscribes to the plain filters (every message, in the
order published); the group's hubs subscribe through `$share/NAME/...`, so
the broker hands each message to one of them. Mid-run the group's leader
(the hub whose pipeline decides the outcomes) is killed with SIGKILL and
started again. At the end every hub is stopped with SIGTERM (exit status 0
required), and the outcomes in PostgreSQL (risk items, event keys, slips,
cases with their evidence, dead letters, camera status; compared on content,
not on generated ids: scripts/faults/faults.py `outcomes`) must equal the
SQLite hub's, with every published message in some group hub's inbox.

The load (written to the work folder): the multi-source incident (a crowd, a
fight and a grid worker's report in one grid make one case; an SOS and a fire
their own), on dense background traffic from every camera, at 4x (messages
about 130 ms apart; docs/POSTGRES.md, "A group of hubs":
what the order of decisions depends on).

Usage: scripts/scaleout/scaleout.py [--hubs 3] [--seed N] [--exe PATH]
       [--postgres URL] [--keep] [--no-kill] [--down SECONDS|lead]
       scripts/scaleout/scaleout.py --bench N [--runs 3] [--setups ...] [--exe PATH]
The PostgreSQL server: --postgres, else PATROLHUB_TEST_POSTGRES_URL (a role
allowed to create databases; `.ci/run` starts one with
scripts/postgres/test-server.sh), else a throwaway one started here. Needs
`psql` (PostgreSQL 15's client).
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import statistics
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "faults"))
import faults  # noqa: E402  (Broker, outcomes, compare, wait_until, mqtt_publish)
from faults import Failure, log, wait_until  # noqa: E402

REPO = faults.REPO
PSQL = shutil.which("psql") or "/usr/lib/postgresql/15/bin/psql"
PROBE = faults.PROBE_CAMERA
GROUP = "patrolhub-scaleout"

SCENARIO = """name: scale-out load
description: >
  The multi-source incident (crowd, fight and a grid worker's report in one
  grid: one case; an SOS and a fire: their own) on dense background traffic.
duration: 12m
seed: {seed}
speed: 4
day_starts_at: "17:30"
formats:
  default: native
  cam-007: gb28181
  cam-020: frigate
  cam-016: onvif
background:
  cameras: all
  rate: 150/h
  categories: {{garbage: 2, illegal_parking: 2, loitering: 1, street_vending: 1}}
faults:
  duplicates: 0.02
  malformed: 10
incidents:
  - id: brawl
    steps:
      - {{id: crowd, at: 2m, camera: cam-007, type: crowd_gathering, count: 60}}
      - {{id: fight, at: 4m, camera: cam-038, type: fight}}
      - {{id: report, at: 6m, device: dev-019, report: dispute, description: "摊位纠纷引发斗殴", parties: [摊主 扎西, 顾客 李某]}}
  - id: man-down
    steps:
      - {{id: sos, at: 8m, device: dev-025, sos: fall}}
  - id: fire
    steps:
      - {{id: fire, at: 10m, camera: cam-020, type: fire_smoke}}
"""


def psql(url, sql, db=None):
    target = url if db is None else re.sub(r"/[^/?]*(\?|$)", f"/{db}\\1", url, count=1)
    r = subprocess.run([PSQL, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", target, "-c", sql],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise Failure(f"psql failed: {r.stderr.strip()}")
    return r.stdout.strip()


class Hub(faults.Hub):
    """`patrolhub serve` of the test: the SQLite reference, or a member of the group on PostgreSQL."""

    def __init__(self, exe, folder, broker_port, client_id, postgres=None):
        os.makedirs(folder, exist_ok=True)
        data = os.path.join(folder, "data")
        os.makedirs(data, exist_ok=True)
        super().__init__(exe, folder, data, broker_port)
        self.client_id = client_id
        self.log_level = os.environ.get("SCALEOUT_LOG_LEVEL", "info")
        cfg = os.path.join(REPO, "config")
        group = f"  shared_group: {GROUP}\n" if postgres else ""
        store = f"  kind: postgres\n  url: {postgres}\n" if postgres else ""
        with open(self.config, "w") as f:
            f.write(f"""data_dir: {data}
broker:
  mode: external
  host: 127.0.0.1
  port: {broker_port}
  client_id: {client_id}
{group}store:
  path: {self.store}
{store}http:
  enabled: false
registry:
  zones: {cfg}/zones.geojson
  cameras: {cfg}/cameras.csv
  devices: {cfg}/devices.csv
rules: {cfg}/rules.yaml
""")

    def inbox_count(self):
        """Rows of the inbox besides the probes (0 while it is being made)."""
        if not os.path.exists(self.inbox):
            return 0
        db = faults.connect_ro(self.inbox)
        try:
            return db.execute("SELECT COUNT(*) FROM inbox WHERE topic NOT LIKE ?", (f"%/{PROBE}/%",)).fetchone()[0]
        except sqlite3.Error:
            return 0
        finally:
            db.close()

    def inbox_rows(self):
        if not os.path.exists(self.inbox):
            return []
        db = faults.connect_ro(self.inbox)
        try:
            return db.execute("SELECT seq, topic, payload FROM inbox").fetchall()
        except sqlite3.Error:  # being made
            return []
        finally:
            db.close()


def sqlite_done(hub):
    """The SQLite hub's pipeline has processed every row of its inbox."""
    if not (os.path.exists(hub.store) and os.path.exists(hub.inbox)):
        return False
    try:
        return _sqlite_done(hub)
    except sqlite3.Error:
        return False


def _sqlite_done(hub):
    s = faults.connect_ro(hub.store)
    cursor = s.execute("SELECT inbox_seq FROM pipeline_cursor WHERE id = 1").fetchone()[0]
    s.close()
    i = faults.connect_ro(hub.inbox)
    newest = i.execute("SELECT COALESCE(MAX(seq), 0) FROM inbox").fetchone()[0]
    i.close()
    return cursor == newest


def dump_postgres(url, db, reference_store, target):
    """Copies the tables `faults.outcomes` reads from PostgreSQL into a SQLite file with the
    reference store's schema, each value converted to the column's SQLite type."""
    src = sqlite3.connect(f"file:{reference_store}?mode=ro", uri=True)
    out = sqlite3.connect(target)
    for table in ("risk_items", "events", "cases", "case_items", "slips", "slip_items", "dead_letters", "cameras"):
        ddl = src.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()[0]
        out.execute(ddl)
        columns = [(r[1], (r[2] or "").upper()) for r in src.execute(f"PRAGMA table_info({table})")]
        names = ", ".join(c for c, _ in columns)
        text = psql(url, f"SELECT COALESCE(json_agg(t), '[]') FROM (SELECT {names} FROM {table}) t", db)
        rows = json.loads(text)

        def convert(value, kind):
            if value is None:
                return None
            if "BLOB" in kind:
                return bytes.fromhex(value[2:]) if isinstance(value, str) and value.startswith("\\x") else value
            if "INT" in kind:
                return int(value) if not isinstance(value, bool) else (1 if value else 0)
            if "REAL" in kind:
                return float(value)
            if isinstance(value, bool):
                return 1 if value else 0
            return value
        out.executemany(f"INSERT INTO {table}({names}) VALUES ({', '.join('?' for _ in columns)})",
                        [tuple(convert(r[c], k) for c, k in columns) for r in rows])
    out.commit()
    out.close()
    src.close()


def new_database(args, name):
    psql(args.postgres, f"CREATE DATABASE {name}")
    return re.sub(r"/[^/?]*(\?|$)", f"/{name}\\1", args.postgres, count=1)


def wait_probes(broker, hubs, timeout=90):
    """Until a probe (an unknown camera's message: a dead letter, left out of every comparison) is in
    every hub's inbox: each hub is subscribed (a group's members get probes in turn)."""
    probes = [0]

    def ready():
        for h in hubs:
            if not h.alive():
                raise Failure(f"{h.client_id} exited (status {h.proc.returncode}); log: {h.log_path}")
        probes[0] += 1
        faults.mqtt_publish(broker.port, f"patrolhub/v1/camera/{PROBE}/event",
                            json.dumps({"id": f"probe-{probes[0]}", "type": "motion", "time": datetime.now(timezone.utc).isoformat()}).encode())
        return all(any(f"/{PROBE}/" in r[1] for r in h.inbox_rows()) for h in hubs)
    wait_until("every hub subscribed (a probe in each inbox)", timeout, ready, 0.3)


def group_drained(url, hubs):
    """Every member forwarded its whole inbox, and the group's pipeline processed the shared inbox."""
    forwarded = dict(line.split("|") for line in psql(url, "SELECT origin, forwarded_through FROM shared_inbox_forward").splitlines())
    for h in hubs:
        db = faults.connect_ro(h.inbox)
        newest = db.execute("SELECT COALESCE(MAX(seq), 0) FROM inbox").fetchone()[0]
        ident = db.execute("SELECT inbox_id FROM inbox_identity").fetchone()[0]
        db.close()
        if int(forwarded.get(ident, -1)) != newest:
            return False
    left = psql(url, """SELECT (SELECT last FROM shared_inbox_seq) - COALESCE((SELECT inbox_seq FROM pipeline_cursor
                        WHERE inbox_id = 'shared-inbox'), 0) + (SELECT COUNT(*) FROM shared_arrivals) + (SELECT COUNT(*) FROM outbox)""")
    return int(left) == 0


def bench(args):
    """Backlog drain: the hubs' persistent sessions queue a load at the broker while they are
    stopped; then they start, and the time from their start to the last message processed is
    measured. Setups interleaved run by run (a shared, noisy machine: medians and ratios)."""
    setups = [("sqlite", 1), ("postgres", 1), ("postgres", 2), ("postgres", 3)]
    if args.setups:
        setups = [s for s in setups if f"{s[0]}{s[1]}" in args.setups.split(",")]
    results = {s: [] for s in setups}
    work = tempfile.mkdtemp(prefix="patrolhub-scaleout-bench-")
    scenario = os.path.join(work, "load.yaml")
    with open(os.path.join(REPO, "scripts", "faults", "load.yaml")) as f:
        load = f.read()
    # N messages: the fault load's density (~4 800 messages a simulated hour per 40 cameras at 560/h each).
    minutes = max(50, round(args.bench / 24000 * 60))  # the load's incidents run to 45 min
    with open(scenario, "w") as f:
        f.write(re.sub(r"^duration: .*$", f"duration: {minutes}m", load, flags=re.M))
    log(f"bench: {minutes} simulated minutes of the fault load per run, {args.runs} runs of {setups}, work folder {work}")
    n = 0
    try:
        for run in range(args.runs):
            for kind, count in setups:
                n += 1
                folder = os.path.join(work, f"{n}-{kind}-{count}")
                broker = faults.Broker(os.path.join(folder, "broker"))
                broker.start()
                url = new_database(args, f"bench_{os.getpid()}_{n}") if kind == "postgres" else None
                hubs = [Hub(args.exe, os.path.join(folder, f"hub-{i}"), broker.port, f"bench-{n}-{i}", postgres=url) for i in range(count)]
                try:
                    for h in hubs:
                        h.start()
                    wait_probes(broker, hubs)
                    for h in hubs:
                        if h.stop() != 0:
                            raise Failure(f"{h.client_id} did not stop cleanly")
                    out = os.path.join(folder, "simulate.out")
                    rc = subprocess.run([args.exe, "simulate", "--scenario", scenario, "--config", hubs[0].config,
                                         "--broker", f"127.0.0.1:{broker.port}", "--start", "2026-11-20T10:00:00+08:00",
                                         "--no-progress", "--log-level", "warning"], stdout=open(out, "w"), stderr=subprocess.STDOUT).returncode
                    m = re.search(r"published (\d+) messages", open(out).read())
                    if rc != 0 or not m:
                        raise Failure(f"the simulator failed: {open(out).read()[-500:]}")
                    published = int(m.group(1))
                    t0 = time.monotonic()
                    for h in hubs:
                        h.start()

                    # Polled lightly (counts, every 0.25 s): the poll's own processes (sqlite3, psql and the
                    # server process each psql starts) compete with the hubs for the same two cores.
                    def done():
                        if sum(h.inbox_count() for h in hubs) < published:
                            return False
                        return sqlite_done(hubs[0]) if kind == "sqlite" else group_drained(url, hubs)
                    wait_until(f"{published} messages processed", 600, done, 0.25)
                    seconds = time.monotonic() - t0
                    results[(kind, count)].append(published / seconds)
                    log(f"run {run + 1}: {count} hub(s) on {kind}: {published} messages in {seconds:.2f} s, {published / seconds:,.0f}/s")
                finally:
                    for h in hubs:
                        if h.alive():
                            h.stop()
                    broker.stop(signal.SIGKILL)
                    if url:
                        psql(args.postgres, f"DROP DATABASE IF EXISTS bench_{os.getpid()}_{n} WITH (FORCE)")
    except Failure as e:
        log(f"FAILED: {e}")
        return False
    base = statistics.median(results.get(("sqlite", 1)) or [float("nan")])
    print("| setup | messages/s, each run | median | ÷ 1 hub on SQLite |")
    print("|---|---|---:|---:|")
    for kind, count in setups:
        r = results[(kind, count)]
        print(f"| {count} hub{'s' if count > 1 else ''} on {'SQLite' if kind == 'sqlite' else 'PostgreSQL'} | "
              f"{', '.join(f'{x:,.0f}' for x in r)} | {statistics.median(r):,.0f} | {statistics.median(r) / base:.2f} |")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hubs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--exe", default=os.path.join(REPO, ".build", "debug", "patrolhub"))
    ap.add_argument("--postgres", default=os.environ.get("PATROLHUB_TEST_POSTGRES_URL"))
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--no-kill", action="store_true", help="no kill -9 of the leader")
    ap.add_argument("--down", default="0.2", help="seconds the killed leader stays down before it starts "
                    "again (default 0.2, a service manager's immediate restart); 'lead' waits until another hub took the lead")
    ap.add_argument("--bench", type=int, metavar="N", help="instead: backlog drain throughput of N-message loads, 1 hub on SQLite "
                    "against 1, 2 and 3 hubs on PostgreSQL (BENCHMARKS.md)")
    ap.add_argument("--runs", type=int, default=3, help="--bench: runs of each setup, interleaved")
    ap.add_argument("--setups", help="--bench: some of sqlite1,postgres1,postgres2,postgres3 (default: all)")
    args = ap.parse_args()
    args.exe = os.path.abspath(args.exe)  # the hubs run in folders of their own
    server = None
    if not args.postgres:
        # A throwaway PostgreSQL 15 for this run (scripts/postgres/test-server.sh), stopped at the end.
        server = tempfile.mkdtemp(prefix="patrolhub-scaleout-pg-")
        args.postgres = subprocess.run([os.path.join(REPO, "scripts", "postgres", "test-server.sh"), "start", server],
                                       check=True, capture_output=True, text=True).stdout.strip()
    try:
        ok = bench(args) if args.bench else acceptance(args)
    finally:
        if server:
            subprocess.run([os.path.join(REPO, "scripts", "postgres", "test-server.sh"), "stop", server], check=False)
    sys.exit(0 if ok else 1)


def acceptance(args):
    seed = args.seed if args.seed is not None else random.randrange(1, 100000)
    work = tempfile.mkdtemp(prefix="patrolhub-scaleout-")
    log(f"scale-out: {args.hubs} hubs on PostgreSQL against 1 on SQLite, seed {seed}, work folder {work}")
    database = f"scaleout_{os.getpid()}"
    url = new_database(args, database)
    broker = faults.Broker(os.path.join(work, "broker"))
    reference = None
    group = []
    sim = None
    ok = False
    try:
        broker.start()
        reference = Hub(args.exe, os.path.join(work, "sqlite"), broker.port, "scaleout-sqlite")
        group = [Hub(args.exe, os.path.join(work, f"hub-{chr(97 + i)}"), broker.port, f"scaleout-{chr(97 + i)}", postgres=url)
                 for i in range(args.hubs)]
        for h in [reference] + group:
            h.start()

        wait_probes(broker, [reference] + group)
        leader = psql(url, "SELECT holder FROM pipeline_leader")
        log(f"ready: the group's leader is {leader}")

        scenario = os.path.join(work, "scaleout.yaml")
        with open(scenario, "w") as f:
            f.write(SCENARIO.format(seed=seed))
        start = (datetime.now(timezone.utc) - timedelta(minutes=12)).replace(microsecond=0).isoformat()
        sim_out = os.path.join(work, "simulate.out")
        sim = subprocess.Popen([args.exe, "simulate", "--scenario", scenario, "--config", reference.config,
                                "--broker", f"127.0.0.1:{broker.port}", "--start", start, "--no-progress", "--log-level", "warning"],
                               stdout=open(sim_out, "w"), stderr=subprocess.STDOUT)
        killed = None
        if not args.no_kill:
            time.sleep(random.Random(seed).uniform(40, 70))
            holder = psql(url, "SELECT holder FROM pipeline_leader")
            killed = next(h for h in group if h.client_id == holder)
            epoch = int(psql(url, "SELECT epoch FROM pipeline_leader"))
            log(f"kill -9 of the leader {holder} (epoch {epoch}), then a restart")
            killed.kill9()
            died = time.monotonic()

            def taken():
                holder_now, epoch_now = psql(url, "SELECT holder || '|' || epoch FROM pipeline_leader").split("|")
                return int(epoch_now) > epoch and holder_now
            if args.down == "lead":
                new = wait_until("another hub took the lead", 30, taken, 0.05)
                log(f"{new} took the lead {time.monotonic() - died:.1f} s after the kill; {killed.client_id} starts again")
            else:
                time.sleep(float(args.down))
            killed.start()
        rc = sim.wait(600)
        text = open(sim_out).read()
        m = re.search(r"published (\d+) messages \((\d+) acknowledged", text)
        if rc != 0 or not m:
            raise Failure(f"the simulator failed (status {rc}): {text[-800:]}")
        published = int(m.group(1))
        log(f"simulator: {published} messages published and acknowledged")
        if killed:
            now = psql(url, "SELECT holder || ' ' || epoch FROM pipeline_leader")
            log(f"the group's leader after the kill: {now}")

        # Done: the reference processed its inbox; every member forwarded its inbox; the group's
        # pipeline processed the shared inbox; the outbox is empty.
        def drained():
            for h in [reference] + group:
                if not h.alive():
                    raise Failure(f"{h.client_id} exited (status {h.proc.returncode}); log: {h.log_path}")
            return sqlite_done(reference) and group_drained(url, group)
        wait_until("every message processed by both", 180, drained, 0.5)

        # Every published message is in some member's inbox (the reference's inbox holds them all).
        def keys(rows):
            return {(t, bytes(p)) for _, t, p in rows if f"/{PROBE}/" not in t}
        expected = keys(reference.inbox_rows())
        got = set()
        for h in group:
            got |= keys(h.inbox_rows())
        lost = expected - got
        for h in [reference] + group:
            rc = h.stop()
            if rc != 0:
                raise Failure(f"{h.client_id} exited with status {rc} on SIGTERM; log: {h.log_path}")

        ref = faults.outcomes(reference.store)
        dump = os.path.join(work, "postgres-outcomes.sqlite")
        dump_postgres(url, None, reference.store, dump)
        pg = faults.outcomes(dump)
        missing, extra = faults.compare(ref, pg)
        sizes = faults.size(ref)
        log(f"reference outcomes: {sizes}")
        log(f"messages: {len(expected)} distinct in the reference inbox, {len(lost)} of them in no group inbox")
        for t in sorted(set(missing) | set(extra)):
            log(f"  {t}: {sum(missing.get(t, {}).values())} missing, {sum(extra.get(t, {}).values())} extra")
            for row in list(missing.get(t, {}))[:3]:
                log(f"    missing {str(row)[:300]}")
            for row in list(extra.get(t, {}))[:3]:
                log(f"    extra   {str(row)[:300]}")
        if lost or missing or extra:
            raise Failure(f"the group's outcomes differ from the single hub's (seed {seed})")
        if sizes.get("cases", 0) < 3:
            raise Failure(f"the load made {sizes.get('cases', 0)} cases, expected the incident's 3 at least")
        log(f"PASSED: {args.hubs} hubs on PostgreSQL (leader killed: {killed.client_id if killed else 'no'}) "
            f"decided exactly what one hub on SQLite did: {sizes}")
        ok = True
    except Failure as e:
        log(f"FAILED: {e}")
    finally:
        if sim and sim.poll() is None:
            sim.kill()
            sim.wait()
        for h in ([reference] if reference else []) + group:
            if h.alive():
                h.proc.kill()
                h.proc.wait()
        broker.stop(signal.SIGKILL)
        try:
            psql(args.postgres, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        except Failure as e:
            log(f"(could not drop {database}: {e})")
        if ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"work folder kept: {work}")
    return ok


if __name__ == "__main__":
    main()
