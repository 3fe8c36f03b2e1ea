#!/usr/bin/env python3
"""30 simulated days in minutes: the built hub on a simulated clock
(`serve --simulated-clock START@SPEED`) and the simulator on the same clock
(`simulate --simulated-clock START@SPEED --start DAY`), one simulator run per
simulated day of simulators/month_day.yaml (background in every format, the
day's patrol rounds following config/patrol.yaml, a camera outage, three
incidents that open cases), sampled by scripts/soak/sampler.py. At the end it
checks what a month of operation must show and exits 1 naming every failure:

- patrol slots exist for every simulated day, and the weekly reports' patrol
  coverage (due, covered, late, missed, outside radius) per day is what the
  check-ins sent make of config/patrol.yaml;
- every day's incidents opened their cases (multi_source_incident.yaml's
  expectations: one severity-1 case in the brawl's grid with the dispute in
  its evidence, an SOS case, a fire case) and nothing else opened one;
- supervision documents were issued exactly once per case deadline (reminder
  letter, overdue order) and one idle order per idle period;
- the weekly and monthly reports give those figures: cases opened, reminder
  letters (patrol misses and late check-ins, case deadlines), supervision orders.

Python 3 standard library only. Usage:

    python3 scripts/soak/month.py [--days 30] [--speed 2400] [--binary .build/release/patrolhub]

Writes month.csv (samples), month.svg, month-report.md and the hub's log in
--work (default: a new folder under /tmp, kept).
"""

import argparse
import csv
import datetime as dt
import io
import json
import math
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from zoneinfo import ZoneInfo

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
try:
    import sampler  # scripts/soak/sampler.py
except ImportError:  # pragma: no cover
    sys.exit("month.py needs scripts/soak/sampler.py (make soak's sampler) next to it")

SCENARIO = os.path.join(REPO, "simulators", "month_day.yaml")
ZONE = ZoneInfo("Asia/Shanghai")
# The incidents of simulators/month_day.yaml: zone → (category it must show, severity).
INCIDENT_ZONES = {
    "540102-002-002-03": ("dispute", 1),
    "540102-003-002-02": ("sos", 1),
    "540102-002-002-01": ("fire_smoke", 1),
}


class Failure(Exception):
    pass


def log(msg):
    print(f"[month {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_time(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso(t):
    return t.isoformat(timespec="seconds")


# --- The patrol plan (config/patrol.yaml, the subset of YAML it uses) --------------

def minutes(hhmm):
    h, m = hhmm.strip().strip('"').split(":")
    return int(h) * 60 + int(m)


def load_patrol(path):
    """Checkpoints {id: (lat, lon, radius)}, routes [{id, device, stops [(cp, offset)], starts [minutes], days}], grace, window."""
    text = open(path, encoding="utf-8").read()
    defaults = {"radius_m": 50, "early_minutes": 10, "grace_minutes": 15, "window_minutes": 60}
    d = re.search(r"(?ms)^defaults:\n((?:  .*\n)+)", text)
    if d:
        for k, v in re.findall(r"^\s+(\w+):\s*(\d+)", d.group(1), re.M):
            defaults[k] = int(v)
    cps, routes = {}, []
    cp_part = text.split("\ncheckpoints:", 1)[1].split("\nroutes:", 1)[0]
    for block in re.split(r"(?m)^  - ", cp_part)[1:]:
        cid = re.match(r"id:\s*(\S+)", block).group(1)
        loc = re.search(r"location:\s*\{lat:\s*([\d.]+),\s*lon:\s*([\d.]+)", block)
        radius = re.search(r"radius_m:\s*(\d+)", block)
        if re.search(r"(early|grace|window)_minutes", block):
            raise Failure(f"{path}: checkpoint {cid} overrides its minutes: month.py reads the defaults only")
        cps[cid] = (float(loc.group(1)), float(loc.group(2)), int(radius.group(1)) if radius else defaults["radius_m"])
    for block in re.split(r"(?m)^  - ", text.split("\nroutes:", 1)[1])[1:]:
        if re.search(r"(early|grace|window)_minutes", block):
            raise Failure(f"{path}: a route overrides its minutes: month.py reads the defaults only")
        r = {"id": re.match(r"id:\s*(\S+)", block).group(1), "device": re.search(r"device:\s*(\S+)", block).group(1)}
        r["stops"] = [(c, int(o)) for c, o in re.findall(r"\{id:\s*([\w-]+),\s*offset_minutes:\s*(\d+)\}", block)]
        every = re.search(r"every_minutes:\s*(\d+)", block)
        if every:
            a, b = minutes(re.search(r"from:\s*(\S+)", block).group(1)), minutes(re.search(r"to:\s*(\S+)", block).group(1))
            r["starts"] = list(range(a, b + 1, int(every.group(1))))
        else:
            r["starts"] = [minutes(t) for t in re.findall(r'"(\d\d:\d\d)"', re.search(r"times:\s*\[(.*)\]", block).group(1))]
        days = re.search(r"days:\s*\[(.*)\]", block)
        r["days"] = {x.strip() for x in days.group(1).split(",")} if days else None
        routes.append(r)
    return cps, routes, defaults


WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def slots_of_day(day, routes):
    """(route, device, checkpoint, due datetime) of every slot due on local `day` (a date)."""
    out = []
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=ZONE)
    for r in routes:
        if r["days"] is not None and WEEKDAYS[day.weekday()] not in r["days"]:
            continue
        for start in r["starts"]:
            for cp, offset in r["stops"]:
                out.append((r["id"], r["device"], cp, midnight + dt.timedelta(minutes=start + offset)))
    return out


def distance_m(a, b):
    (la1, lo1), (la2, lo2) = a, b
    p = math.pi / 180
    x = (lo2 - lo1) * p * math.cos((la1 + la2) / 2 * p)
    y = (la2 - la1) * p
    return 6_371_000 * math.hypot(x, y)


def expected_patrol(days, routes, cps, defaults, checkins):
    """Per day: due, covered, late, missed, outside, letters (missed + late: each first missed), from what was sent."""
    grace, window, early = defaults["grace_minutes"] * 60, defaults["window_minutes"] * 60, defaults["early_minutes"] * 60
    by_key = {}
    for c in checkins:
        by_key.setdefault((c["device"], c["checkpoint"]), []).append(c)
    out = {}
    for day in days:
        e = {"due": 0, "covered": 0, "late": 0, "missed": 0, "outside": 0, "letters": []}
        for _, device, cp, due in slots_of_day(day, routes):
            e["due"] += 1
            hit = None
            for c in by_key.get((device, cp), []):
                delta = (c["time"] - due).total_seconds()
                if -early <= delta <= window:
                    hit = (c, delta)
                    break
            grace_end = due + dt.timedelta(seconds=grace)
            if hit is None:
                e["missed"] += 1
                e["letters"].append(grace_end)
                continue
            c, delta = hit
            lat, lon, radius = cps[cp]
            far = c["location"] is not None and distance_m(c["location"], (lat, lon)) > radius
            if delta > grace:
                e["late"] += 1
                e["covered"] += 1
                e["letters"].append(grace_end)
            elif far:
                e["outside"] += 1
            else:
                e["covered"] += 1
        out[day] = e
    return out


def read_checkins(dump_path, tz):
    """The patrol check-ins of one day's --dump (device, checkpoint, event time, location)."""
    out = []
    with open(dump_path, encoding="utf-8") as f:
        for line in f:
            m = json.loads(line)
            topic = m.get("topic", "")
            if not re.fullmatch(r"[^/]+/v1/device/[^/]+/checkin", topic):
                continue
            p = m["payload"] if isinstance(m["payload"], dict) else json.loads(m["payload"])
            loc = p.get("location")
            out.append({"device": topic.split("/")[-2], "checkpoint": p["checkpoint"], "time": parse_time(p["time"]).astimezone(tz),
                        "location": (loc["lat"], loc["lon"]) if loc else None})
    return out


# --- Processes -------------------------------------------------------------------

def write_config(work, data_dir, broker_port, http_port):
    cfg = os.path.join(REPO, "config")
    path = os.path.join(work, "patrolhub.yaml")
    with open(path, "w") as f:
        f.write(f"""# written by scripts/soak/month.py
data_dir: {json.dumps(data_dir)}
broker:
  mode: embedded
  host: 127.0.0.1
  port: {broker_port}
store:
  path: {json.dumps(os.path.join(data_dir, "patrolhub.sqlite"))}
http:
  listen: 127.0.0.1:{http_port}
registry:
  zones: {json.dumps(cfg + "/zones.geojson")}
  cameras: {json.dumps(cfg + "/cameras.csv")}
  devices: {json.dumps(cfg + "/devices.csv")}
  patrol: {json.dumps(cfg + "/patrol.yaml")}
rules: {json.dumps(cfg + "/rules.yaml")}
""")
    return path


def healthz(url):
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=5) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read())
    except (OSError, ValueError):
        return None


def simulate_day(exe, config, clock, day_start, seed, dump, out_path, hub):
    cmd = [exe, "simulate", "--scenario", SCENARIO, "--config", config, "--simulated-clock", clock,
           "--start", iso(day_start), "--seed", str(seed), "--dump", dump, "--no-progress", "--log-level", "warning"]
    with open(out_path, "w") as out:
        sim = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            while sim.poll() is None:
                hub.check()
                time.sleep(0.2)
        finally:
            if sim.poll() is None:
                os.killpg(sim.pid, signal.SIGKILL)
                sim.wait()
    text = open(out_path, errors="replace").read()
    plan = re.search(r"plan: (\d+) messages", text)
    done = re.search(r"published (\d+) messages \((\d+) acknowledged", text)
    if sim.returncode != 0 or not (plan and done) or "no hub on this simulated clock" in text:
        raise Failure(f"the simulator failed for {day_start.date()} (status {sim.returncode}):\n{text[-1500:]}")
    return int(plan.group(1)), int(done.group(1)), int(done.group(2))


# --- Reports ------------------------------------------------------------------------

def report_csv(exe, config, kind, day):
    r = subprocess.run([exe, "report", kind, "--date", day.isoformat(), "--format", "csv", "--config", config],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise Failure(f"patrolhub report {kind} --date {day} failed: {r.stderr.strip()[-500:]}")
    return r.stdout


def csv_blocks(text):
    """The report's CSV as {block name: rows (list of lists)}: blocks are separated by blank lines, the first line names it."""
    blocks, name, rows = {}, None, []
    for line in text.splitlines() + [""]:
        if not line.strip():
            if name is not None:
                blocks[name] = rows
            name, rows = None, []
            continue
        row = next(csv.reader(io.StringIO(line)))
        if name is None:
            name = row[0].lstrip("#").strip()
        rows.append(row)
    return blocks


def find_block(blocks, key):
    for name, rows in blocks.items():
        if key in name:
            return rows
    raise Failure(f"no '{key}' block in the report's CSV (blocks: {', '.join(blocks)})")


def table(rows, first_column):
    """Rows after the header line whose first cell is `first_column`, as dicts."""
    for i, r in enumerate(rows):
        if r and r[0] == first_column:
            return [dict(zip(r, x)) for x in rows[i + 1:]]
    raise Failure(f"no header '{first_column}' in {rows[:2]}")


def figures(blocks):
    """key → value of the report's summary block (key,label,value)."""
    out = {}
    for name, rows in blocks.items():
        if name.split(":")[0].strip() == "summary":
            for r in rows:
                if len(r) >= 3 and r[0] != "key":
                    out[r[0]] = r[2]
    return out


def number(text):
    m = re.search(r"-?\d+", (text or "").replace(" ", "").replace(",", ""))
    return int(m.group()) if m else 0


# --- The run ------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description="30 simulated days on a simulated clock, then the month's checks.")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--speed", type=float, default=2400, help="simulated seconds per wall second (2400: a day in 36 s)")
    ap.add_argument("--start", default="2026-01-01T00:00:00+08:00", help="the first simulated day's midnight, RFC 3339 with offset")
    ap.add_argument("--binary", default=None, help="the patrolhub executable (default: .build/release/patrolhub, else .build/debug/patrolhub)")
    ap.add_argument("--work", default=None, help="folder for the data, logs and results (default: a new one under /tmp)")
    ap.add_argument("--interval", type=float, default=5.0, help="sampling interval, wall seconds")
    a = ap.parse_args(argv)

    exe = a.binary or next((p for p in (os.path.join(REPO, ".build/release/patrolhub"), os.path.join(REPO, ".build/debug/patrolhub"))
                            if os.access(p, os.X_OK)), None)
    exe = os.path.abspath(exe) if exe else exe
    if not exe or not os.access(exe, os.X_OK):
        raise Failure("no patrolhub executable: build it (swift build -c release --product patrolhub) or pass --binary")
    start = parse_time(a.start)
    if start.tzinfo is None:
        raise Failure("--start needs its UTC offset, e.g. 2026-01-01T00:00:00+08:00")
    clock = f"{a.start}@{a.speed:g}"
    work = a.work or tempfile.mkdtemp(prefix="patrolhub-month-")
    os.makedirs(work, exist_ok=True)
    data_dir = os.path.join(work, "data")
    broker_port, http_port = free_port(), free_port()
    config = write_config(work, data_dir, broker_port, http_port)
    url = f"http://127.0.0.1:{http_port}"
    log(f"{a.days} simulated days at {a.speed:g}× from {a.start}: about {a.days * 86400 / a.speed / 60:.0f} min; work folder {work}")

    hub = sampler.HubProcess(exe, work, config, url, ["--simulated-clock", clock], error=Failure)
    wall0 = time.monotonic()
    hub.start()
    s = sampler.Sampler(hub.proc.pid, data_dir, url, None, os.path.join(work, "month.csv"), a.interval)
    s.start()
    totals = {"planned": 0, "published": 0, "acked": 0}
    checkins, failures = [], []
    days = [(start + dt.timedelta(days=i)).astimezone(ZONE).date() for i in range(a.days)]
    try:
        for i, day in enumerate(days):
            day_start = start + dt.timedelta(days=i)
            dump = os.path.join(work, f"day-{i + 1:02d}.jsonl")
            planned, published, acked = simulate_day(exe, config, clock, day_start, 1000 + i, dump,
                                                     os.path.join(work, f"day-{i + 1:02d}.log"), hub)
            checkins += read_checkins(dump, ZONE)
            os.remove(dump)  # a day's messages are only needed for its check-ins
            totals["planned"] += planned
            totals["published"] += published
            totals["acked"] += acked
            h = healthz(url) or {}
            row = s.rows[-1] if s.rows else {}
            log(f"day {i + 1:2d} {day}: {published} messages ({acked} acknowledged); hub time {h.get('clock', {}).get('now', '?')}, "
                f"processed {h.get('pipeline', {}).get('processed', '?')}, RSS {int(float(row.get('rss_kib') or 0)) // 1024} MiB, "
                f"store {int(float(row.get('store_bytes') or 0)) // 1048576} MiB")
        # Drained: everything received was processed.
        deadline = time.monotonic() + 300
        while True:
            h = healthz(url) or {}
            if h.get("pipeline", {}).get("pending") is False:
                break
            if time.monotonic() > deadline:
                raise Failure("the pipeline did not drain within 300 s after the last day")
            time.sleep(0.5)
        end_lo = parse_time(h["clock"]["now"])
    finally:
        s.stop()
        status = hub.stop(timeout=120)
    wall = time.monotonic() - wall0
    anchor = json.load(open(os.path.join(data_dir, "simulated-clock.json")))
    end_hi = dt.datetime.fromtimestamp(anchor["start_unix"] + (time.time() - anchor["anchor_unix"]) * anchor["speed"], dt.timezone.utc)
    if status != 0:
        failures.append(f"the hub exited with status {status} on SIGTERM")
    if totals["acked"] < totals["published"]:
        failures.append(f"the broker acknowledged {totals['acked']} of {totals['published']} messages")

    store = os.path.join(data_dir, "patrolhub.sqlite")
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    results = check(exe, config, db, days, start, end_lo, end_hi, checkins, failures)
    db.close()

    rows = s.rows
    last = rows[-1] if rows else {}
    svg = os.path.join(work, "month.svg")
    try:
        sampler.plot_svg(os.path.join(work, "month.csv"), svg, "t_s", ["events_processed", "rss_kib", "anon_kib", "store_bytes", "lag_rows"],
                         f"{a.days} simulated days at {a.speed:g}×")
    except Exception as e:  # the plot is a convenience
        log(f"could not plot: {e}")
    summary = {
        "days": a.days, "speed": a.speed, "wall_s": round(wall), "messages": totals["published"],
        "events_processed": last.get("events_processed"), "rss_mib": round(float(last.get("rss_kib") or 0) / 1024),
        "peak_rss_mib": round(max((float(r.get("rss_kib") or 0) for r in rows), default=0) / 1024),
        "store_mib": round(float(last.get("store_bytes") or 0) / 1048576, 1), **results,
    }
    with open(os.path.join(work, "month-report.md"), "w") as f:
        f.write("# 30 simulated days\n\n" + "\n".join(f"- {k}: {v}" for k, v in summary.items()) + "\n\n"
                + ("## Failures\n\n" + "\n".join(f"- {x}" for x in failures) if failures else "All checks passed.") + "\n")
    log("summary: " + json.dumps(summary, ensure_ascii=False))
    log(f"samples {os.path.join(work, 'month.csv')}, plot {svg}, report {os.path.join(work, 'month-report.md')}")
    if failures:
        for x in failures:
            print("FAILED " + x, flush=True)
        return 1
    log("all checks passed")
    return 0


def ts(t):
    return t.timestamp()


def check(exe, config, db, days, start, end_lo, end_hi, checkins, failures):
    q = lambda sql, *args: db.execute(sql, args).fetchall()
    results = {}
    cps, routes, defaults = load_patrol(os.path.join(REPO, "config", "patrol.yaml"))
    expected = expected_patrol(days, routes, cps, defaults, checkins)

    # Patrol slots for every simulated day.
    slot_days = dict(q("SELECT day, COUNT(*) FROM patrol_slots GROUP BY day"))
    missing = [d.isoformat() for d in days if not slot_days.get(d.isoformat())]
    if missing:
        failures.append(f"no patrol slots for {len(missing)} simulated day(s): {', '.join(missing[:5])}")
    results["patrol_slots"] = sum(slot_days.values())

    # Weekly reports: coverage per day as sent, and the week's cases and documents.
    cases = q("SELECT id, zone, severity, opened_at, due_at, category, state FROM cases ORDER BY opened_at")
    rules = {"lead": 7 * 86400, "fraction": 0.8, "idle": 7 * 86400, "tick": 60}
    expected_docs = []  # (time, kind) of every document the month should hold
    margin = 600  # seconds of simulated time: a tick, and the processing between a deadline and its document
    open_states = {"open", "acknowledged", "in_progress", "assigned", "escalated"}
    supervision_ok = 0
    for cid, zone, sev, opened, due, cat, state in cases:
        deadline = due - opened
        remind = due - rules["lead"] if deadline > rules["lead"] else opened + deadline * rules["fraction"]
        got = dict(q("SELECT trigger, COUNT(*) FROM slips WHERE trigger LIKE ? GROUP BY trigger", f"case:{cid}:%"))
        def want(trigger, at, kind):
            n = got.get(trigger, 0)
            if at + margin < ts(end_lo):
                expected_docs.append((dt.datetime.fromtimestamp(at, dt.timezone.utc), kind))
                if n != 1:
                    failures.append(f"case {cid}: {n} documents {trigger} (due at {dt.datetime.fromtimestamp(at, ZONE)}), expected exactly 1")
                    return False
            elif at > ts(end_hi) and n != 0:
                failures.append(f"case {cid}: {trigger} issued before it was due ({dt.datetime.fromtimestamp(at, ZONE)})")
                return False
            elif n > 1:
                failures.append(f"case {cid}: {n} documents {trigger}")
                return False
            return True
        ok = want(f"case:{cid}:due-reminder", remind, "reminder") and want(f"case:{cid}:overdue", due, "supervision")
        # Idle orders: one per idle period, numbered from 1 (nobody acts on the month's cases).
        idle = sorted(int(t.rsplit(":", 1)[1]) for t in got if ":idle:" in t)
        periods_lo = int((ts(end_lo) - margin - opened) // rules["idle"])
        periods_hi = int((ts(end_hi) + margin - opened) // rules["idle"])
        if idle != list(range(1, len(idle) + 1)) or not (periods_lo <= len(idle) <= periods_hi) or any(n != 1 for t, n in got.items() if ":idle:" in t):
            failures.append(f"case {cid}: idle orders {idle}, expected {periods_lo}…{periods_hi} numbered from 1, once each")
            ok = False
        for n in range(1, periods_lo + 1):
            expected_docs.append((dt.datetime.fromtimestamp(opened + n * rules["idle"], dt.timezone.utc), "supervision"))
        supervision_ok += ok
    # A check-in within the grace by its event time that the pipeline recorded only after the
    # hub's scheduler had declared its slot missed (the pipeline behind the compressed clock,
    # e.g. a starved CPU): on time it makes the slot up, outside the radius it does not (the
    # slot stays missed, with its letter). The hub's verdict stands for those slots; they are counted.
    lagged = q("""SELECT s.day, s.status, c.status, s.grace_ends_at, c.recorded_at - s.grace_ends_at FROM patrol_slots s
                  JOIN patrol_records c ON c.slot_id = s.id AND c.kind = 'checkin'
                  WHERE c.time <= s.grace_ends_at AND EXISTS (SELECT 1 FROM patrol_records m WHERE m.slot_id = s.id
                        AND m.kind = 'missed' AND m.recorded_at < c.recorded_at)""")
    for day, final, checkin_status, grace_end, _ in lagged:
        e = expected.get(dt.date.fromisoformat(day))
        if e is not None and final == "missed" and checkin_status == "outside_radius":
            e["outside"] -= 1
            e["missed"] += 1
            e["letters"].append(dt.datetime.fromtimestamp(grace_end, dt.timezone.utc))
    results["patrol_slots_decided_before_their_checkin"] = len(lagged)
    results["patrol_checkin_lag_max_s"] = round(max((r[4] for r in lagged), default=0))
    # A check-in on time by its event time but processed after the hub's scheduler passed the
    # slot's grace end (the pipeline behind the compressed clock) is made up: its letter was
    # issued and closed. Those letters are expected too.
    made_up = q("""SELECT s.issued_at FROM slips s JOIN patrol_slots p ON s.trigger = 'patrol:' || p.id || ':missed'
                   WHERE p.status IN ('on_time', 'outside_radius')""")
    expected_docs += [(dt.datetime.fromtimestamp(t, dt.timezone.utc), "reminder") for (t,) in made_up]
    results["patrol_letters_made_up_by_lag"] = len(made_up)
    for d in days:
        expected_docs += [(t, "reminder") for t in expected[d]["letters"]]
    results["cases"] = len(cases)
    results["cases_supervised_correctly"] = supervision_ok

    # Each day's incidents: their cases, and no other (multi_source_incident.yaml's expectations, day by day).
    for d in days:
        lo = dt.datetime(d.year, d.month, d.day, tzinfo=ZONE).timestamp()
        todays = [c for c in cases if lo <= c[3] < lo + 86400]
        for zone, (category, severity) in INCIDENT_ZONES.items():
            here = [c for c in todays if c[1] == zone]
            if len(here) != 1:
                failures.append(f"{d}: {len(here)} cases in {zone}, expected 1 ({category})")
                continue
            cats = {r[0] for r in q("SELECT DISTINCT r.category FROM case_items ci JOIN risk_items r ON r.id = ci.risk_item_id WHERE ci.case_id = ?", here[0][0])}
            if here[0][2] != severity or (category not in cats and here[0][5] != category):
                failures.append(f"{d}: case {here[0][0]} in {zone}: severity {here[0][2]}, categories {sorted(cats)}; expected severity {severity} with {category}")
        others = [c[0] for c in todays if c[1] not in INCIDENT_ZONES]
        if others:
            failures.append(f"{d}: cases outside the incidents' grids: {', '.join(others)}")

    # The weekly reports over the month.
    mondays = sorted({d - dt.timedelta(days=d.weekday()) for d in days})
    week_totals = {"cases": 0, "reminder_letters": 0, "supervision_orders": 0}
    for monday in mondays:
        blocks = csv_blocks(report_csv(exe, config, "weekly", monday))
        rows = {r["day"]: r for r in table(find_block(blocks, "patrol_by_day"), "day")}
        for d in days:
            if monday <= d < monday + dt.timedelta(days=7):
                r, e = rows.get(d.isoformat()), expected[d]
                got = r and (number(r["due"]), number(r["covered"]), number(r["late"]), number(r["missed"]), number(r["outside radius"]))
                want = (e["due"], e["covered"], e["late"], e["missed"], e["outside"])
                if got != want:
                    failures.append(f"weekly report {monday}: patrol on {d} (due, covered, late, missed, outside) = {got}, expected from what was sent {want}")
        f = figures(blocks)
        week_lo = dt.datetime(monday.year, monday.month, monday.day, tzinfo=ZONE)
        week_hi = week_lo + dt.timedelta(days=7)
        in_week = lambda t: week_lo <= t < week_hi
        want_cases = sum(3 for d in days if monday <= d < monday + dt.timedelta(days=7))
        want_letters = sum(1 for t, k in expected_docs if k == "reminder" and in_week(t))
        want_orders = sum(1 for t, k in expected_docs if k == "supervision" and in_week(t))
        last_week = week_hi > end_lo.astimezone(ZONE) - dt.timedelta(seconds=margin)
        for key, want in (("cases", want_cases), ("reminder_letters", want_letters), ("supervision_orders", want_orders)):
            got = number(f.get(key))
            week_totals[key] += got
            # The last week may hold documents falling due while the run stopped.
            if got != want and not (last_week and key != "cases" and want <= got):
                failures.append(f"weekly report {monday}: {key} = {got}, expected {want}")

    # The monthly report: cases opened, supervision orders.
    months = sorted({(d.year, d.month) for d in days})
    opened_total = orders_total = 0
    for y, m in months:
        blocks = csv_blocks(report_csv(exe, config, "monthly", dt.date(y, m, 1)))
        for r in table(find_block(blocks, "streets"), "code"):
            opened_total += number(r.get("opened"))
            orders_total += number(r.get("supervision orders"))
    if opened_total != 3 * len(days):
        failures.append(f"monthly report: {opened_total} cases opened, expected {3 * len(days)} (3 a day)")
    want_orders = sum(1 for t, k in expected_docs if k == "supervision")
    if orders_total < want_orders:
        failures.append(f"monthly report: {orders_total} supervision orders, expected at least {want_orders}")
    results.update(weekly=week_totals, monthly_cases=opened_total, monthly_supervision_orders=orders_total,
                   checkins_sent=len(checkins), patrol_due=sum(e["due"] for e in expected.values()),
                   patrol_missed=sum(e["missed"] for e in expected.values()))
    return results


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as e:
        print(f"FAILED {e}", flush=True)
        sys.exit(1)
