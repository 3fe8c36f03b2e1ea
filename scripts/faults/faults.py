#!/usr/bin/env python3
"""PatrolHub fault tests: the built `patrolhub` hub against a real mosquitto,
loaded by `patrolhub simulate` (~5 000 QoS 1 messages/s, scripts/faults/load.yaml),
while a fault is injected:

  kill      kill -9 of the hub at a random moment, then a restart (20 rounds; --short: 3)
  broker    the broker stopped (SIGTERM) and restarted mid-stream; full suite: also
            killed (SIGKILL), checked for duplicates only (its unsaved queue is its loss)
  absent    the broker unreachable when the hub starts
  diskfull  the data folder's file system full (a small tmpfs), then space returned
  readonly  the data folder and its files made immutable (chattr +i on ext4 in a
            loop file: writes fail as on a read-only mount), then writable again
  lock      the store, then the inbox, locked by another process (BEGIN EXCLUSIVE)
            for 30 s (--short: 18 s: beyond SQLite's 10 s busy timeout even for a commit that comes 8 s into the lock, a batch still running on a loaded machine)

Every run's outcomes (risk items, event keys, slips, cases with their
evidence, dead letters, camera status) are read from the real SQLite store and
compared, on content rather than on generated ids, with those of an
uninterrupted run of the same seed and start; every message the simulator
published (the broker acknowledged it) must be in the inbox. A run fails on
any message lost, any outcome missing or added, or a hub that exited.

Usage: scripts/faults/faults.py [--short] [--only kill,lock,...] [--rounds N]
       [--seed N] [--exe PATH] [--keep] [--markdown FILE]
Needs root for the tmpfs and loop mounts (those tests are skipped, saying so,
when mounting is impossible).
"""

import argparse
import collections
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LOAD = os.path.join(REPO, "scripts", "faults", "load.yaml")
PROBE_CAMERA = "fault-probe"
HUB_ID = "fault-hub"


class Failure(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def wait_until(what, timeout, cond, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(interval)
    raise Failure(f"timed out after {timeout:.0f} s waiting for: {what}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- MQTT: a minimal QoS 1 publisher (MQTT 3.1.1) for probes ----------------

def _rl(n):
    out = bytearray()
    while True:
        b, n = n % 128, n // 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _s(b):
    return len(b).to_bytes(2, "big") + b


def mqtt_publish(port, topic, payload, timeout=3):
    """Publishes one QoS 1 message and waits for its PUBACK (True when acknowledged)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            cid = f"fault-probe-{os.getpid()}-{random.randrange(1 << 30)}".encode()
            body = _s(b"MQTT") + bytes([4, 0x02]) + (30).to_bytes(2, "big") + _s(cid)
            s.sendall(bytes([0x10]) + _rl(len(body)) + body)
            if s.recv(4)[:1] != b"\x20":
                return False
            body = _s(topic.encode()) + (1).to_bytes(2, "big") + payload
            s.sendall(bytes([0x32]) + _rl(len(body)) + body)
            ack = s.recv(4)
            s.sendall(b"\xe0\x00")
            return ack[:1] == b"\x40"
    except OSError:
        return False


# --- Processes ---------------------------------------------------------------

class Broker:
    """mosquitto on a loopback port with persistence in its own folder (like the embedded broker's config)."""

    def __init__(self, folder, port=None):
        self.folder = folder
        self.port = port or free_port()
        self.proc = None
        os.makedirs(folder, exist_ok=True)

    def start(self):
        conf = os.path.join(self.folder, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"""listener {self.port} 127.0.0.1
allow_anonymous true
set_tcp_nodelay true
max_queued_messages 1000000
max_inflight_messages 100
persistence true
persistence_location {self.folder}/
autosave_interval 30
log_dest file {self.folder}/mosquitto.log
log_type error
log_type warning
{"user root" if os.getuid() == 0 else ""}
""")
        self.proc = subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up():
            if self.proc.poll() is not None:
                raise Failure(f"mosquitto exited at start (see {self.folder}/mosquitto.log)")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False
        wait_until("mosquitto accepting connections", 10, up, 0.02)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Hub:
    """`patrolhub serve` against the test broker, its store in `data_dir`."""

    log_level = "info"

    def __init__(self, exe, folder, data_dir, broker_port):
        self.exe = exe
        self.folder = folder
        self.data_dir = data_dir
        self.store = os.path.join(data_dir, "patrolhub.sqlite")
        self.inbox = os.path.join(data_dir, "patrolhub.inbox.sqlite")
        self.config = os.path.join(folder, "patrolhub.yaml")
        self.log_path = os.path.join(folder, "hub.log")
        self.proc = None
        self.starts = 0
        cfg = os.path.join(REPO, "config")
        with open(self.config, "w") as f:
            f.write(f"""data_dir: {data_dir}
broker:
  mode: external
  host: 127.0.0.1
  port: {broker_port}
  client_id: {HUB_ID}
store:
  path: {self.store}
http:
  listen: 127.0.0.1:0
registry:
  zones: {cfg}/zones.geojson
  cameras: {cfg}/cameras.csv
  devices: {cfg}/devices.csv
rules: {cfg}/rules.yaml
""")

    def start(self):
        self.starts += 1
        with open(self.log_path, "a") as logf:
            logf.write(f"--- start {self.starts} at {datetime.now().isoformat()}\n")
            logf.flush()
            self.proc = subprocess.Popen([self.exe, "serve", "--config", self.config, "--log-level", self.log_level],
                                         stdout=logf, stderr=subprocess.STDOUT, cwd=self.folder)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout=60):
        """SIGTERM and wait; returns the exit status (SIGKILL after `timeout`)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise Failure(f"the hub did not stop within {timeout} s of SIGTERM")
        return self.proc.returncode

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- Reading the store ---------------------------------------------------------

def connect_ro(path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    return db


def inbox_state(hub):
    """(rows, pending, distinct message keys as (topic, payload text)); None before the store exists."""
    if not (os.path.exists(hub.store) and os.path.exists(hub.inbox)):
        return None
    try:
        s = connect_ro(hub.store)
        cursor = s.execute("SELECT inbox_seq FROM pipeline_cursor WHERE id = 1").fetchone()[0]
        probes = s.execute("SELECT COUNT(*) FROM dead_letters WHERE topic LIKE ?", (f"%/{PROBE_CAMERA}/%",)).fetchone()[0]
        s.close()
        i = connect_ro(hub.inbox)
        rows, pending = i.execute("SELECT COUNT(*), COUNT(*) FILTER (WHERE seq > ?) FROM inbox", (cursor,)).fetchone()
        i.close()
        return rows, pending, probes
    except sqlite3.Error:
        return None


def inbox_messages(hub):
    i = connect_ro(hub.inbox)
    out = collections.Counter()
    for topic, payload in i.execute("SELECT topic, payload FROM inbox"):
        if f"/{PROBE_CAMERA}/" in topic:
            continue
        out[(topic, bytes(payload).decode("utf-8", "replace"))] += 1
    i.close()
    return out


def outcomes(store):
    """The store's outcomes on content: generated ids (RI-…, slip and case ids) are
    replaced by content signatures, wall-clock times (issued/opened/due/updated) left out."""
    db = connect_ro(store)
    db.row_factory = sqlite3.Row
    out = {}
    # A risk item's content signature: its source, category, zone and first event time.
    item_sig = {}
    items = db.execute("SELECT * FROM risk_items").fetchall()
    for r in items:
        item_sig[r["id"]] = f"item<{r['source']}|{r['category']}|{r['zone']}|{r['first_seen']}>"

    def ids(text):
        return re.sub(r"RI-\d+", lambda m: item_sig.get(m.group(0), m.group(0)), text or "")

    out["events"] = collections.Counter(r[0] for r in db.execute("SELECT key FROM events"))
    out["risk_items"] = collections.Counter(tuple((k, r[k]) for k in r.keys() if k not in ("seq", "id")) for r in items)
    members = collections.defaultdict(list)
    for sid, iid in db.execute("SELECT case_id, risk_item_id FROM case_items"):
        members[sid].append(item_sig.get(iid, iid))
    case_sig = {}
    cases = db.execute("SELECT * FROM cases").fetchall()
    for r in cases:
        case_sig[r["id"]] = f"case<{r['rule']}|{r['zone']}|{min(members[r['id']], default='')}>"
    wall = {"seq", "id", "opened_at", "due_at", "updated_at", "last_action_at"}
    out["cases"] = collections.Counter(
        (case_sig[r["id"]], tuple(sorted(members[r["id"]])))
        + tuple((k, ids(r[k]) if k == "explanation" else r[k]) for k in r.keys() if k not in wall) for r in cases)
    slip_members = collections.defaultdict(list)
    for sid, iid in db.execute("SELECT slip_id, risk_item_id FROM slip_items"):
        slip_members[sid].append(item_sig.get(iid, iid))

    def slip_text(t):
        return re.sub(r"AJ-\d+", lambda m: next((v for k, v in case_sig.items() if k == m.group(0)), m.group(0)), ids(t))
    out["slips"] = collections.Counter(
        (tuple(sorted(slip_members[r["id"]])),)
        + tuple((k, case_sig.get(r[k]) if k == "case_id" else slip_text(r[k]) if k == "text" else r[k])
                # count_after: the engine's count start, from the occurrences it holds in memory; a
                # restarted engine holds only those a window can still see (ReloadEquivalenceTests).
                for k in r.keys() if k not in ("seq", "id", "issued_at", "updated_at", "closed_at", "count_after"))
        for r in db.execute("SELECT * FROM slips").fetchall())
    out["dead_letters"] = collections.Counter(
        (r["inbox_key"], r["reason"], r["detail"], r["topic"], hashlib.sha256(bytes(r["payload"])).hexdigest())
        for r in db.execute("SELECT * FROM dead_letters").fetchall() if f"/{PROBE_CAMERA}/" not in r["topic"])
    out["cameras"] = collections.Counter((r["id"], r["status"], r["status_at"]) for r in db.execute("SELECT id, status, status_at FROM cameras"))
    db.close()
    return out


def compare(ref, got):
    """(missing, extra) outcome rows per table."""
    missing, extra = {}, {}
    for t in ref:
        m, e = ref[t] - got[t], got[t] - ref[t]
        if m:
            missing[t] = m
        if e:
            extra[t] = e
    return missing, extra


def size(o):
    return {t: sum(c.values()) for t, c in o.items()}


# --- One run -----------------------------------------------------------------

class Run:
    """A broker, a hub and a simulator run of the load scenario in a folder of their own."""

    def __init__(self, suite, name, data_dir=None):
        self.suite = suite
        self.name = name
        self.folder = os.path.join(suite.work, name)
        os.makedirs(self.folder, exist_ok=True)
        self.data_dir = data_dir or os.path.join(self.folder, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.broker = Broker(os.path.join(self.folder, "broker"))
        self.hub = Hub(suite.exe, self.folder, self.data_dir, self.broker.port)
        self.sim = None
        self.sim_out = None
        self.probes = 0

    def start(self, broker=True, hub=True, ready=True):
        if broker:
            self.broker.start()
        if hub:
            self.hub.start()
        if hub and broker and ready:
            self.wait_ready()

    def wait_ready(self, timeout=60):
        """Waits until a probe published now reaches the hub's store: the hub's
        session is subscribed and its pipeline runs (probes are dead letters of
        an unknown camera, left out of every comparison)."""
        seen = (inbox_state(self.hub) or (0, 0, 0))[2]

        def probe():
            if not self.hub.alive():
                raise Failure(f"the hub exited (status {self.hub.proc.returncode}); log: {self.hub.log_path}")
            self.probes += 1
            mqtt_publish(self.broker.port, f"patrolhub/v1/camera/{PROBE_CAMERA}/event",
                         json.dumps({"id": f"probe-{self.name}-{self.probes}", "type": "motion",
                                     "time": datetime.now(timezone.utc).isoformat()}).encode())
            s = inbox_state(self.hub)
            return s and s[2] > seen
        wait_until("the hub subscribed and processing (a probe reaches its store)", timeout, probe, 0.3)

    def simulate(self):
        self.sim_out = os.path.join(self.folder, "simulate.out")
        self.sim = subprocess.Popen(
            [self.suite.exe, "simulate", "--scenario", LOAD, "--config", self.hub.config,
             "--broker", f"127.0.0.1:{self.broker.port}", "--start", self.suite.start, "--no-progress", "--log-level", "warning"],
            stdout=open(self.sim_out, "w"), stderr=subprocess.STDOUT)
        self.sim_started = time.monotonic()

    def sim_wait(self, timeout=300):
        try:
            rc = self.sim.wait(timeout)
        except subprocess.TimeoutExpired:
            self.sim.kill()
            raise Failure("the simulator did not finish")
        text = open(self.sim_out).read()
        m = re.search(r"published (\d+) messages \((\d+) acknowledged, (\d+) republished after a reconnect\) in ([\d.]+) s: (\d+) msg/s", text)
        if rc != 0 or not m:
            raise Failure(f"the simulator failed (status {rc}): {text[-800:]}")
        self.published, self.acked, self.republished = int(m.group(1)), int(m.group(2)), int(m.group(3))
        self.sim_seconds, self.sim_rate = float(m.group(4)), int(m.group(5))
        return self

    def wait_drained(self, timeout=180, allow_loss=False):
        """Waits until every planned message is in the inbox and processed; the hub must stay up.
        With `allow_loss`, a timeout only means the loss is counted (the inbox processed to its end)."""
        plan = self.suite.plan_keys

        def done():
            if not self.hub.alive():
                raise Failure(f"the hub exited (status {self.hub.proc.returncode}); log: {self.hub.log_path}")
            s = inbox_state(self.hub)
            if not s or s[1] > 0 or s[0] < len(plan):
                return False
            inbox = inbox_messages(self.hub)
            return all(inbox[k] >= n for k, n in plan.items())
        try:
            wait_until("every published message in the inbox and processed", timeout, done, 0.5)
        except Failure:
            if allow_loss and self.hub.alive() and (inbox_state(self.hub) or (0, 1))[1] == 0:
                return
            inbox = inbox_messages(self.hub) if os.path.exists(self.hub.inbox) else collections.Counter()
            missing = sum(max(0, n - inbox[k]) for k, n in plan.items())
            raise Failure(f"{missing} acknowledged messages never reached the store (lost) or were not processed; "
                          f"inbox {inbox_state(self.hub)}")

    def finish(self):
        """Stops the hub (SIGTERM: it must exit 0), reads the outcomes and the inbox, stops the broker."""
        rc = self.hub.stop()
        if rc != 0:
            raise Failure(f"the hub exited with status {rc} on SIGTERM; log: {self.hub.log_path}")
        self.outcomes = outcomes(self.hub.store)
        inbox = inbox_messages(self.hub)
        plan = self.suite.plan_keys
        self.inbox_rows = sum(inbox.values())
        self.stored = sum(min(inbox[k], n) for k, n in plan.items())
        self.lost_messages = sum(plan.values()) - self.stored
        self.redelivered = self.inbox_rows - self.stored
        self.broker.stop()
        return self

    def cleanup(self):
        for p in (self.sim,):
            if p and p.poll() is None:
                p.kill()
                p.wait()
        if self.hub.alive():
            self.hub.proc.kill()
            self.hub.proc.wait()
        self.broker.stop(signal.SIGKILL)


# --- The suite -----------------------------------------------------------------

class Suite:
    def __init__(self, args):
        self.args = args
        self.exe = args.exe
        self.work = tempfile.mkdtemp(prefix="patrolhub-faults-")
        self.rng = random.Random(args.seed)
        # Event times pinned two hours back: every run publishes the same bytes,
        # and no event is in the future (the hub dead-letters those).
        t = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2)
        self.start = t.isoformat().replace("+00:00", "Z")
        self.results = []
        self.mounts = []

    def plan(self):
        dump = os.path.join(self.work, "plan.jsonl")
        cfg_dir = os.path.join(self.work, "plan")
        os.makedirs(cfg_dir, exist_ok=True)
        hub = Hub(self.exe, cfg_dir, cfg_dir, 1883)
        r = subprocess.run([self.exe, "simulate", "--scenario", LOAD, "--config", hub.config, "--start", self.start,
                            "--dry-run", "--dump", dump], capture_output=True, text=True)
        if r.returncode != 0:
            raise Failure(f"simulate --dry-run failed: {r.stdout}{r.stderr}")
        keys = collections.Counter()
        for line in open(dump):
            m = json.loads(line)
            if "payload" in m and "will" not in m:
                keys[(m["topic"], m["payload"])] += 1
        self.plan_keys = keys
        self.plan_messages = sum(keys.values())
        log(f"load: {LOAD} --start {self.start}: {self.plan_messages} messages ({len(keys)} distinct), work folder {self.work}")

    def record(self, test, run, note="", check=True):
        missing, extra = compare(self.reference, run.outcomes)
        lost = run.lost_messages + sum(sum(c.values()) for c in missing.values())
        dup = sum(sum(c.values()) for c in extra.values())
        row = dict(test=test, sent=run.published, stored=run.stored, inbox=run.inbox_rows, redelivered=run.redelivered,
                   lost=lost, duplicated=dup, rate=run.sim_rate, note=note)
        self.results.append(row)
        log(f"  {test}: sent {run.published}, stored {run.stored} (inbox rows {run.inbox_rows}, {run.redelivered} redelivered and absorbed), "
            f"lost {lost}, duplicated {dup}; {run.sim_rate} msg/s{'; ' + note if note else ''}")
        if check == "duplicates" and dup:
            raise Failure(f"{test}: {dup} outcomes duplicated")
        if check is True and (lost or dup):
            detail = []
            for name, d in (("missing", missing), ("extra", extra)):
                for t, c in d.items():
                    detail.append(f"{name} {t}: {sum(c.values())}, e.g. {list(c)[:2]}")
            raise Failure(f"{test}: outcomes differ from the uninterrupted run: " + "; ".join(detail))

    # The uninterrupted run every other run is compared with (twice in the full suite: it must be deterministic).
    def test_reference(self):
        ref = None
        for i in range(1 if self.args.short else 2):
            run = Run(self, f"reference-{i + 1}")
            try:
                run.start()
                run.simulate()
                run.sim_wait()
                run.wait_drained()
                run.finish()
            finally:
                run.cleanup()
            if ref is None:
                ref = run.outcomes
                self.reference = ref
                if run.lost_messages:
                    raise Failure(f"the uninterrupted run lost {run.lost_messages} messages")
                log(f"  reference: {size(ref)}; {run.acked} messages at {run.sim_rate} msg/s")
                if not ref["cases"] or not ref["slips"]:
                    raise Failure("the load opens no case or no slip: nothing to compare")
            else:
                self.record("reference again", run)

    def test_kill(self):
        rounds = self.args.rounds or (3 if self.args.short else 20)
        for r in range(1, rounds + 1):
            run = Run(self, f"kill-{r}")
            try:
                run.start()
                run.simulate()
                at = self.rng.uniform(0.3, 5.5)
                down = self.rng.uniform(0.0, 1.5)
                time.sleep(at)
                pending = inbox_state(run.hub)
                run.hub.kill9()
                time.sleep(down)
                run.hub.start()
                run.sim_wait()
                # The restarted hub must be up before it is stopped: when the kill came after the
                # stream was processed, nothing is left to wait for, and a SIGTERM during its start
                # (before the service group handles signals) ends it by the default action.
                run.wait_ready()
                run.wait_drained()
                run.finish()
                self.record(f"kill -9 round {r}", run, f"killed {at:.2f} s into the stream with {pending[0] if pending else 0} in the inbox, down {down:.2f} s")
            finally:
                run.cleanup()

    def test_broker(self):
        # SIGTERM: mosquitto saves its queues and comes back with them. SIGKILL
        # (full suite): what it had acknowledged to the simulator but not yet
        # saved (its persistence is a snapshot every autosave_interval, 30 s) is
        # gone with it: that loss is the broker's and is reported, not failed;
        # nothing may be duplicated.
        for sig in [signal.SIGTERM] if self.args.short else [signal.SIGTERM, signal.SIGKILL]:
            name = "stopped (SIGTERM)" if sig == signal.SIGTERM else "killed (SIGKILL)"
            run = Run(self, f"broker-{sig.name}")
            try:
                run.start()
                run.simulate()
                time.sleep(self.rng.uniform(1.0, 3.0))
                before = inbox_state(run.hub)
                run.broker.stop(sig)
                time.sleep(2)
                if not run.hub.alive():
                    raise Failure("the hub exited when the broker went away")
                run.broker.start()
                run.sim_wait()
                run.wait_drained(allow_loss=sig == signal.SIGKILL, timeout=180 if sig == signal.SIGTERM else 30)
                run.finish()
                self.record(f"broker {name} and restarted mid-stream", run,
                            f"broker went away with {before[0] if before else 0} in the inbox, back 2 s later; simulator republished {run.republished}"
                            + ("" if sig == signal.SIGTERM else "; lost = what mosquitto had acknowledged and not yet saved"),
                            check=True if sig == signal.SIGTERM else "duplicates")
            finally:
                run.cleanup()

    def test_absent(self):
        run = Run(self, "broker-absent")
        try:
            # The hub's persistent session exists (it ran before); then everything stops.
            run.start()
            run.hub.stop()
            run.broker.stop()
            run.hub.start()
            wait_until("the hub started", 30, lambda: os.path.exists(run.hub.store) and "registry.loaded" in run.hub.log_text())
            cpu0, t0 = run.hub.cpu_seconds(), time.monotonic()
            time.sleep(8)
            cpu = (run.hub.cpu_seconds() - cpu0) / (time.monotonic() - t0)
            if not run.hub.alive():
                raise Failure(f"the hub exited while the broker was unreachable (status {run.hub.proc.returncode})")
            fails = len(re.findall(r"mqtt\.connect_failed", run.hub.log_text().split(f"--- start 2")[-1]))
            # Two clients (ingest, outbox publisher), backoff 0.2 s doubling to 10 s: 0.2+0.4+…+6.4 ≈ 12.6 s, so ≤ 7 tries each in 8 s.
            if fails > 2 * 8 + 2:
                raise Failure(f"{fails} connection attempts in 8 s: no backoff")
            if cpu > 0.5:
                raise Failure(f"the hub spins while the broker is unreachable: {cpu:.0%} of a CPU")
            run.broker.start()
            run.simulate()
            run.sim_wait()
            run.wait_drained()
            run.finish()
            self.record("broker unreachable at hub start", run, f"{fails} connection attempts in 8 s with backoff, {cpu:.0%} CPU meanwhile; caught up once the broker appeared")
        finally:
            run.cleanup()

    def mount(self, *cmd):
        """Runs a setup command (mount, mkfs); (succeeded, its message)."""
        try:
            r = subprocess.run(list(cmd), capture_output=True, text=True)
        except OSError as e:
            return False, str(e)
        return r.returncode == 0, (r.stderr or r.stdout).strip()

    def test_diskfull(self):
        mnt = os.path.join(self.work, "diskfull-mnt")
        os.makedirs(mnt, exist_ok=True)
        ok, err = self.mount("mount", "-t", "tmpfs", "-o", "size=128m", "tmpfs", mnt)
        if not ok:
            log(f"  SKIPPED disk full: cannot mount a tmpfs ({err}); run as root on Linux")
            self.results.append(dict(test="disk full", skipped=err))
            return
        self.mounts.append(mnt)
        run = Run(self, "diskfull", data_dir=os.path.join(mnt, "data"))
        filler = os.path.join(mnt, "filler")
        try:
            run.start()
            run.simulate()
            time.sleep(self.rng.uniform(0.5, 1.5))
            # Fill the file system to the last page.
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
            for chunk in (1 << 20, 4096):
                block = b"\0" * chunk
                while True:
                    try:
                        if os.write(fd, block) < chunk:
                            break
                    except OSError:
                        break
            os.close(fd)
            full_at = inbox_state(run.hub)
            wait_until("the hub logging that it cannot commit", 60, lambda: "inbox.commit_failed" in run.hub.log_text()
                       or "pipeline.store_failed" in run.hub.log_text())
            # The hub stays up while the disk is full. (A commit can still succeed
            # into WAL pages the file system already holds: what is committed is
            # stored; nothing is acknowledged otherwise.)
            time.sleep(5)
            if not run.hub.alive():
                raise Failure(f"the hub exited when the disk filled (status {run.hub.proc.returncode}); log: {run.hub.log_path}")
            still_full = inbox_state(run.hub)
            os.remove(filler)
            run.sim_wait()
            run.wait_drained()
            run.finish()
            log_text = run.hub.log_text()
            took = (still_full[0] - full_at[0]) if full_at and still_full else 0
            self.record("disk full", run, f"filled with {full_at[0] if full_at else 0} in the inbox (+{took} into WAL space already held, 5 s later); "
                        f"{log_text.count('inbox.commit_failed')} failed inbox commits, "
                        f"pipeline.store_failed logged {log_text.count('pipeline.store_failed')}×; recovered when space returned")
        except Failure:
            run.cleanup()
            shutil.copytree(run.data_dir, os.path.join(run.folder, "data-copy"), dirs_exist_ok=True)
            raise
        finally:
            run.cleanup()
            subprocess.run(["umount", "-l", mnt])
            self.mounts.remove(mnt)

    def test_readonly(self):
        # The data folder and its database files made immutable (chattr +i:
        # refused even to root, unlike a mode change) on an ext4 file system in
        # a loop file: every write fails with EPERM, as on a read-only mount;
        # then writable again.
        img = os.path.join(self.work, "readonly.img")
        mnt = os.path.join(self.work, "readonly-mnt")
        os.makedirs(mnt, exist_ok=True)
        with open(img, "wb") as f:
            f.truncate(256 << 20)
        ok, err = self.mount("mkfs.ext4", "-q", "-F", img)
        if ok:
            ok, err = self.mount("mount", "-o", "loop", img, mnt)
        if ok and not shutil.which("chattr"):
            subprocess.run(["umount", mnt])
            ok, err = False, "chattr (e2fsprogs) is not installed"
        if not ok:
            log(f"  SKIPPED read-only data folder: cannot make and loop-mount an ext4 file system ({err}); run as root with loop devices")
            self.results.append(dict(test="read-only data folder", skipped=err))
            return
        self.mounts.append(mnt)
        run = Run(self, "readonly", data_dir=os.path.join(mnt, "data"))

        def chattr(flag):
            # Not the -shm files: SQLite's WAL index is shared memory mapped from
            # them, and a write fault on an immutable file's mapping is SIGBUS.
            paths = [run.data_dir] + [os.path.join(run.data_dir, f) for f in os.listdir(run.data_dir) if not f.endswith("-shm")]
            subprocess.run(["chattr", flag] + paths, check=True)
        try:
            run.start()
            run.simulate()
            time.sleep(self.rng.uniform(0.5, 2.0))
            chattr("+i")
            ro_at = inbox_state(run.hub)
            wait_until("the hub logging that it cannot commit", 30, lambda: "inbox.commit_failed" in run.hub.log_text()
                       or "pipeline.store_failed" in run.hub.log_text())
            time.sleep(2)
            a = inbox_state(run.hub)
            time.sleep(3)
            b = inbox_state(run.hub)
            if not run.hub.alive():
                raise Failure(f"the hub exited when its folder turned read-only (status {run.hub.proc.returncode}); log: {run.hub.log_path}")
            if a and b and b[0] != a[0]:
                raise Failure(f"the inbox grew from {a[0]} to {b[0]} rows in a read-only folder")
            chattr("-i")
            run.sim_wait()
            run.wait_drained()
            run.finish()
            log_text = run.hub.log_text()
            self.record("read-only data folder", run,
                        f"made read-only with {ro_at[0] if ro_at else 0} in the inbox, for 5 s after the first failure; "
                        f"{log_text.count('inbox.commit_failed')} failed inbox commits, "
                        f"pipeline.store_failed logged {log_text.count('pipeline.store_failed')}×; recovered without a restart")
        except Failure:
            run.cleanup()
            subprocess.run(["chattr", "-R", "-i", run.data_dir])
            shutil.copytree(run.data_dir, os.path.join(run.folder, "data-copy"), dirs_exist_ok=True)
            raise
        finally:
            run.cleanup()
            subprocess.run(["chattr", "-R", "-i", run.data_dir], capture_output=True)
            subprocess.run(["umount", "-l", mnt])
            self.mounts.remove(mnt)

    def test_lock(self):
        # Longer than SQLite's 10 s busy timeout, so the writers fail and retry.
        seconds = self.args.lock_seconds or (18 if self.args.short else 30)
        for target in ["store", "inbox"]:
            run = Run(self, f"lock-{target}")
            try:
                run.start()
                path = run.hub.store if target == "store" else run.hub.inbox
                run.simulate()
                time.sleep(self.rng.uniform(0.5, 1.5))
                holder = sqlite3.connect(path, timeout=60, isolation_level=None)
                holder.execute("BEGIN EXCLUSIVE")
                locked_at = time.monotonic()
                a = inbox_state(run.hub)
                time.sleep(seconds)
                # The pipeline runs at a lower priority: on a loaded machine its batch can reach the
                # commit late in the lock, and its 10 s busy timeout then runs out after `seconds`.
                # The lock is held until the failure shows (at most 30 s more): it must come.
                expected = "inbox.commit_failed" if target == "inbox" else "pipeline.store_failed"
                extra = time.monotonic() + 30
                while expected not in run.hub.log_text() and time.monotonic() < extra and run.hub.alive():
                    time.sleep(0.5)
                if not run.hub.alive():
                    raise Failure(f"the hub exited while the {target} was locked (status {run.hub.proc.returncode}); log: {run.hub.log_path}")
                b = inbox_state(run.hub)
                holder.execute("ROLLBACK")
                holder.close()
                if expected not in run.hub.log_text():
                    raise Failure(f"the {target} was locked {seconds + 30} s and the hub logged no {expected}: the lock did not bite")
                run.sim_wait()
                run.wait_drained()
                run.finish()
                grew = (b[0] - a[0]) if a and b else 0
                moved = (b[0] - b[1]) - (a[0] - a[1]) if a and b else 0
                self.record(f"{target} locked {seconds} s", run,
                            f"while locked the inbox took {grew} rows and the pipeline processed {moved}; "
                            f"{run.hub.log_text().count('commit_failed') + run.hub.log_text().count('store_failed')} failure lines logged, no exit")
            finally:
                run.cleanup()

    def cleanup(self):
        for m in list(self.mounts):
            subprocess.run(["umount", "-l", m])
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)


def markdown(results):
    lines = ["| test | sent | stored | inbox rows | redelivered, absorbed | lost | duplicated | msg/s | note |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        if "skipped" in r:
            lines.append(f"| {r['test']} | | | | | | | | skipped: {r['skipped']} |")
        else:
            lines.append(f"| {r['test']} | {r['sent']} | {r['stored']} | {r['inbox']} | {r['redelivered']} | {r['lost']} | {r['duplicated']} | {r['rate']} | {r['note']} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true", help="the CI version: 3 kill rounds, no SIGKILL of the broker, locks of 18 s, one reference run")
    ap.add_argument("--only", help="comma-separated: kill,broker,absent,diskfull,readonly,lock")
    ap.add_argument("--rounds", type=int, help="kill -9 rounds (default 20; --short 3)")
    ap.add_argument("--lock-seconds", type=int, help="how long the lock is held (default 30; --short 13)")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("FAULTS_SEED", time.time_ns() % 100000)),
                    help="the fault schedule's seed (kill moments, pauses); printed for a rerun")
    ap.add_argument("--exe", default=os.environ.get("PATROLHUB", os.path.join(REPO, ".build", "debug", "patrolhub")))
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs, stores)")
    ap.add_argument("--markdown", help="write the results table to this file")
    args = ap.parse_args()
    if not os.access(args.exe, os.X_OK):
        sys.exit(f"no patrolhub executable at {args.exe}: build it first (swift build), or pass --exe / $PATROLHUB")
    if not shutil.which("mosquitto"):
        sys.exit("mosquitto is not installed (make deps)")
    tests = ["kill", "broker", "absent", "diskfull", "readonly", "lock"]
    if args.only:
        tests = [t for t in args.only.split(",") if t]
        unknown = set(tests) - {"kill", "broker", "absent", "diskfull", "readonly", "lock"}
        if unknown:
            sys.exit(f"--only: unknown tests {sorted(unknown)}")
    suite = Suite(args)
    log(f"fault tests ({'short' if args.short else 'full'}), seed {args.seed}, {args.exe}")
    t0 = time.monotonic()
    ok = True
    try:
        suite.plan()
        suite.test_reference()
        for t in tests:
            log(f"{t}:")
            getattr(suite, f"test_{t}")()
    except Failure as e:
        ok = False
        log(f"FAILED: {e}")
        args.keep = True
        log(f"logs and stores kept in {suite.work}")
    finally:
        suite.cleanup()
    table = markdown(suite.results)
    log("\n" + table)
    log(f"\nfault tests {'passed' if ok else 'FAILED'} in {time.monotonic() - t0:.0f} s (seed {args.seed})")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
