#!/usr/bin/env python3
"""PatrolHub soak run: the built hub (`patrolhub serve`, embedded broker, a
fresh data folder, the sample registry, rules and patrol plan) driven by
`patrolhub simulate` at a fixed rate with every input format, faults and
incidents (simulators/soak.yaml, run in real time chunk after chunk), while
scripts/soak/sampler.py samples RSS, anonymous memory, file descriptors,
threads, store size, events processed and pipeline lag to a CSV; then plots
it (SVG) and prints a summary.

Fails (exit 1, saying why) when
  - RSS after the warm-up grows by more than the bound (--bound-mib) between
    the first and the last third of the loaded run (medians: a spike does
    not decide), or file descriptors / threads grow likewise;
  - the hub exits or stops answering /healthz;
  - the pipeline lag does not come back to zero within --drain after the load;
  - the simulator fails.

Usage: scripts/soak/soak.py [--short] [--duration 3h | --events 10000000]
       [--rate 4000] [--chunk 60s] [--interval 5] [--bound-mib 24]
       [--exe PATH] [--out DIR] [--set store.memory_mib=256 ...] [--keep]
`make soak SOAK_ARGS="..."` builds the release hub first and passes SOAK_ARGS;
`make soak SOAK_ARGS=--short` is CI's version (the debug build `make test` made).
See docs/SOAK.md.
"""

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sampler  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCENARIO = os.path.join(REPO, "simulators", "soak.yaml")
MiB = 1024 * 1024

# Defaults of the long run (make soak) and of the short one (CI).
LONG = dict(rate=4000, events=10_000_000, duration=None, chunk=60, interval=5.0, bound_mib=24.0, drain=300,
            exe=os.path.join(REPO, ".build", "release", "patrolhub"))
# The short run's SQLite budget is the smallest (store.memory_mib 64) and it lasts 9 minutes,
# so the caches and windows are full within the warm-up (its first third, 3 minutes; at the
# default 256 MiB they fill for longer than a short run lasts): what grows after that grows
# with events.
SHORT = dict(rate=1000, events=None, duration=540, chunk=60, interval=2.0, bound_mib=20.0, drain=120,
             exe=os.path.join(REPO, ".build", "debug", "patrolhub"))
FD_BOUND = 32       # file descriptors: connections, store files; more after the warm-up is a leak
THREAD_BOUND = 16   # threads: fixed pools; more after the warm-up is a leak


class Failure(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def parse_duration(text):
    """90s, 20m, 3h, 1h30m, 1d or plain seconds → seconds."""
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise argparse.ArgumentTypeError(f"expected a duration such as 90s, 20m, 3h or 1h30m, found '{text}'")
    return sum(float(n) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[u] for n, u in parts)


def parse_count(text):
    """10000000, 10_000_000, 10M, 500k → an integer."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", text.replace("_", ""))
    if not m:
        raise argparse.ArgumentTypeError(f"expected a count such as 10000000, 10M or 500k, found '{text}'")
    return int(float(m.group(1)) * {"": 1, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6}[m.group(2)])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fmt_int(n):
    return f"{int(n):,}".replace(",", " ")


# --- The hub's config -----------------------------------------------------------

def yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    if re.fullmatch(r"-?\d+(\.\d+)?", s) or s in ("true", "false", "null", "yes", "no", "on", "off"):
        return s  # a value given with --set keeps its YAML type
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a YAML string


def yaml_dump(d, indent=0):
    out = []
    for k, v in d.items():
        if isinstance(v, dict):
            out.append(" " * indent + f"{k}:")
            out.append(yaml_dump(v, indent + 2))
        else:
            out.append(" " * indent + f"{k}: {yaml_scalar(v)}")
    return "\n".join(out)


def hub_config(work, data_dir, broker_port, http_port, settings):
    """The soak hub's config: the sample registry, rules and patrol plan, an
    embedded broker and the HTTP API on free loopback ports, a fresh data
    folder; `settings` (--set a.b=v) override or add keys."""
    cfg = os.path.join(REPO, "config")
    c = {
        "data_dir": data_dir,
        "broker": {"mode": "embedded", "host": "127.0.0.1", "port": broker_port, "client_id": "patrolhub"},
        "store": {"path": os.path.join(data_dir, "patrolhub.sqlite")},
        "http": {"listen": f"127.0.0.1:{http_port}"},
        "registry": {"zones": f"{cfg}/zones.geojson", "cameras": f"{cfg}/cameras.csv", "devices": f"{cfg}/devices.csv",
                     "patrol": f"{cfg}/patrol.yaml"},
        "rules": f"{cfg}/rules.yaml",
    }
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise Failure(f"--set: expected KEY=VALUE such as store.memory_mib=256, found '{item}'")
        node = c
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise Failure(f"--set {item}: '{p}' is not a section")
        node[parts[-1]] = value
    path = os.path.join(work, "patrolhub.yaml")
    with open(path, "w") as f:
        f.write("# written by scripts/soak/soak.py\n" + yaml_dump(c) + "\n")
    return path


def chunk_scenario(work, per_camera_hour, chunk_s):
    """simulators/soak.yaml with its background rate and duration set."""
    text = open(SCENARIO).read()
    text, n1 = re.subn(r"(?m)^(\s*rate:\s*)\S+", lambda m: f"{m.group(1)}{per_camera_hour:.0f}/h", text, count=1)
    text, n2 = re.subn(r"(?m)^duration:\s*\S+", f"duration: {int(chunk_s)}s", text, count=1)
    if n1 != 1 or n2 != 1:
        raise Failure(f"{SCENARIO}: cannot find its background 'rate:' and 'duration:' lines to set")
    path = os.path.join(work, "soak-chunk.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def scenario_cameras():
    """The number of cameras in the sample registry (the background runs on all)."""
    with open(os.path.join(REPO, "config", "cameras.csv")) as f:
        return sum(1 for line in f if line.startswith("cam-"))


# --- Processes -------------------------------------------------------------------

def run_chunk(exe, scenario, config, seed, duration_s, hub, out_path):
    """One simulator run; returns (planned, published, acknowledged, seconds). Fails when the hub dies meanwhile."""
    cmd = [exe, "simulate", "--scenario", scenario, "--config", config, "--seed", str(seed),
           "--no-progress", "--log-level", "warning"]
    if duration_s is not None:
        cmd += ["--duration", f"{max(1, math.ceil(duration_s))}s"]
    with open(out_path, "a") as out:
        out.write(f"--- seed {seed}\n")
        out.flush()
        start = out.tell()
        sim = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            while sim.poll() is None:
                if not hub.alive():
                    raise Failure(f"the hub exited during the run (status {hub.proc.returncode}); log: {hub.log_path}\n{hub.tail()}")
                time.sleep(0.25)
        finally:
            if sim.poll() is None:
                os.killpg(sim.pid, signal.SIGKILL)
                sim.wait()
    with open(out_path, errors="replace") as f:
        f.seek(start)
        text = f.read()
    plan = re.search(r"plan: (\d+) messages", text)
    done = re.search(r"published (\d+) messages \((\d+) acknowledged, \d+ republished after a reconnect\) in ([\d.]+) s", text)
    if sim.returncode != 0 or not (plan and done):
        raise Failure(f"the simulator failed (status {sim.returncode}):\n{text[-1500:]}")
    return int(plan.group(1)), int(done.group(1)), int(done.group(2)), float(done.group(3))


def stop_leftovers(work):
    """Ends processes still running from the work folder: the embedded mosquitto
    of a hub that died (it outlives a killed parent)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if work + "/" in cmd:
            try:
                os.kill(int(pid), signal.SIGTERM)
            except OSError:
                pass


# --- Analysis ----------------------------------------------------------------------------

def thirds_marks(rows, warmup=1 / 3):
    """t_s where the warm-up ends and where the compared first third ends / last third begins."""
    ts = [r["t_s"] for r in rows if r.get("rss_kib") not in (None, "")]
    if len(ts) < 9:
        return []
    skip = int(len(ts) * warmup)
    rest = ts[skip:]
    n = len(rest) // 3
    return [rest[0], rest[n - 1], rest[-n]]


def steady_bytes_per_event(rows, warmup=1 / 3):
    """Store growth per event processed after the warm-up (a least-squares slope), or None."""
    pts = [(float(r["events_processed"]), float(r["store_bytes"])) for r in rows
           if r.get("events_processed") not in (None, "") and r.get("store_bytes") not in (None, "")]
    pts = pts[int(len(pts) * warmup):]
    if len(pts) < 3:
        return None
    mx = statistics.fmean(x for x, _ in pts)
    my = statistics.fmean(y for _, y in pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in pts) / sxx


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true",
                    help="CI's version: 9 min at 1 000 msg/s with the debug build and store.memory_mib 64, sampled every 2 s, bound 20 MiB")
    ap.add_argument("--duration", type=parse_duration, help="load for this long (90s, 20m, 3h); default: until --events")
    ap.add_argument("--events", type=parse_count, help="load until this many messages were published (default 10M; --short: none)")
    ap.add_argument("--rate", type=float, help="messages a second in all formats (default 4 000; --short: 1 000)")
    ap.add_argument("--chunk", type=parse_duration, help="scenario length of one simulator run, at least the scenario's own 60s (default 60s)")
    ap.add_argument("--interval", type=float, help="seconds between samples (default 5; --short: 2)")
    ap.add_argument("--bound-mib", type=float, help="allowed RSS growth after the warm-up, first to last third (default 24; --short: 20)")
    ap.add_argument("--drain", type=parse_duration, help="longest wait for the lag to come back to 0 after the load (default 300s; --short: 120s)")
    ap.add_argument("--exe", help="the patrolhub executable (default .build/release/patrolhub; --short: .build/debug/patrolhub)")
    ap.add_argument("--out", default=os.path.join(REPO, "soak-out"), help="where the CSV, plots and summary go (default soak-out/)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a hub config key for the run, e.g. --set store.memory_mib=256 (repeatable)")
    ap.add_argument("--seed", type=int, default=15, help="first chunk's seed; chunk i uses seed + i")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (data folder, hub log, simulator output)")
    a = ap.parse_args(argv)

    d = SHORT if a.short else LONG
    rate = a.rate or d["rate"]
    chunk = a.chunk or d["chunk"]
    interval = a.interval or d["interval"]
    bound_mib = a.bound_mib if a.bound_mib is not None else d["bound_mib"]
    drain = a.drain or d["drain"]
    exe = os.path.abspath(a.exe or d["exe"])
    duration = a.duration if (a.duration or a.events) else d["duration"]
    events = a.events if (a.duration or a.events) else d["events"]
    if chunk < 60:
        raise SystemExit("soak: --chunk must be at least 60s, the length of simulators/soak.yaml's incidents")
    if not os.access(exe, os.X_OK):
        raise SystemExit(f"soak: no executable {exe}: build it first (make soak does)")
    os.makedirs(a.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="patrolhub-soak-")
    data_dir = os.path.join(work, "data")
    os.makedirs(data_dir)
    csv_path = os.path.join(a.out, "soak.csv")
    hub = None
    s = None
    try:
        http_port = free_port()
        settings = list(a.set or [])
        if a.short and not any(x.startswith("store.memory_mib=") for x in settings):
            settings.append("store.memory_mib=64")
        config = hub_config(work, data_dir, free_port(), http_port, settings)
        hub = sampler.HubProcess(exe, work, config, f"http://127.0.0.1:{http_port}", error=Failure)
        hub.start()
        limit = (f"{fmt_int(events)} messages" if events else "") + (" or " if events and duration else "") + \
                (f"{duration / 60:.0f} min" if duration and duration >= 120 else f"{duration:.0f} s" if duration else "")
        log(f"soak: {exe}, pid {hub.proc.pid}, {hub.url}; {rate:g} msg/s in {chunk:g} s chunks until {limit}; "
            f"sampling every {interval:g} s to {csv_path}; RSS bound +{bound_mib:g} MiB after the warm-up")
        s = sampler.Sampler(hub.proc.pid, data_dir, hub.url, None, csv_path, interval)
        s.start()

        cameras = scenario_cameras()
        per_camera = rate * 3600 / cameras   # refined after the first chunk: Frigate and ONVIF detections are two messages
        published = planned = acked = 0
        t0 = time.monotonic()
        i = 0
        while True:
            elapsed = time.monotonic() - t0
            if duration and elapsed >= duration - 1:
                break
            if events and events - published < rate / 2:  # less than half a second of traffic left
                break
            this = chunk
            if duration:
                this = min(this, duration - elapsed)
            if events:
                this = min(this, math.ceil((events - published) / rate))
            this = max(this, 1)
            scn = chunk_scenario(work, per_camera, chunk)
            p, n, k, secs = run_chunk(exe, scn, config, a.seed + i, this if this < chunk else None, hub,
                                      os.path.join(work, "simulate.out"))
            planned += p
            published += n
            acked += k
            i += 1
            got = p / min(this, chunk)
            if got > 0 and i <= 3:  # the plan's messages a second: scale the background to the target
                per_camera *= rate / got
            last = s.rows[-1] if s.rows else {}
            log(f"  chunk {i}: {fmt_int(n)} messages in {secs:.1f} s ({n / max(secs, 1e-9):.0f} msg/s); "
                f"processed {fmt_int(last.get('events_processed') or 0)}, lag {fmt_int(last.get('lag_rows') or 0)} rows, "
                f"RSS {(last.get('rss_kib') or 0) / 1024:.0f} MiB, store {(last.get('store_bytes') or 0) / MiB:.0f} MiB")
            if not s.alive:
                hub.check()
        load_s = time.monotonic() - t0
        load_rows = list(s.rows)

        # The lag must come back: everything received gets processed.
        deadline = time.monotonic() + drain
        while True:
            hub.check()
            h = sampler.healthz(hub.url)
            if h and h[1] >= h[0]:
                break
            if time.monotonic() > deadline:
                raise Failure(f"the pipeline lag did not come back to 0 within {drain:g} s after the load: "
                              f"{'no answer from /healthz' if not h else fmt_int(h[0] - h[1]) + ' rows pending'}")
            time.sleep(1)
        drained_s = time.monotonic() - t0 - load_s
        s.stop()
        hub.check()
        final = s.rows[-1]
        code = hub.stop()
        if code != 0:
            raise Failure(f"the hub exited with status {code} on SIGTERM; log: {hub.log_path}\n{hub.tail()}")

        # Checks, plots, summary.
        checks = [sampler.growth_check(load_rows, "rss_kib", bound_mib * 1024),
                  sampler.growth_check(load_rows, "fds", FD_BOUND),
                  sampler.growth_check(load_rows, "threads", THREAD_BOUND)]
        anon = sampler.growth_check(load_rows, "anon_kib", bound_mib * 1024)
        unhealthy = [r for r in load_rows if r.get("healthy") == 0]
        marks = thirds_marks(load_rows)
        svg = os.path.join(a.out, "soak.svg")
        title = (f"PatrolHub soak: {fmt_int(final['events_processed'])} events at {rate:g} msg/s "
                 f"({'debug' if '/debug/' in exe else 'release'} build)")
        sampler.plot_svg(csv_path, svg, "t_s", [["rss_kib", "anon_kib", "children_rss_kib"], ["store_bytes", "wal_bytes"], ["fds", "threads"],
                                                  "lag_rows"], title, marks=marks)
        svg_events = os.path.join(a.out, "soak-by-events.svg")
        sampler.plot_svg(csv_path, svg_events, "events_processed", [["rss_kib", "anon_kib"], ["store_bytes", "wal_bytes"]],
                         "PatrolHub soak: memory and store size by events processed")
        processed = final["events_processed"]
        after = load_rows[int(len(load_rows) / 3):]
        plateau = statistics.median(r["rss_kib"] for r in after[-max(1, len(after) // 3):]) / 1024 if after else float("nan")
        bpe = steady_bytes_per_event(load_rows)
        summary = {
            "exe": exe, "rate_target": rate, "load_seconds": round(load_s, 1), "drain_seconds": round(drained_s, 1),
            "chunks": i, "planned": planned, "published": published, "acknowledged": acked,
            "events_processed": processed, "rate_achieved": round(processed / load_s, 1),
            "rss_plateau_mib": round(plateau, 1), "rss_peak_mib": round(max(r["rss_kib"] for r in s.rows) / 1024, 1),
            "rss_final_mib": round(final["rss_kib"] / 1024, 1), "anon_final_mib": round(final["anon_kib"] / 1024, 1),
            "store_final_mib": round(final["store_bytes"] / MiB, 1),
            "bytes_per_event_total": round(final["store_bytes"] / max(processed, 1), 1),
            "bytes_per_event_steady": round(bpe, 1) if bpe is not None else None,
            "fds_final": final["fds"], "threads_final": final["threads"],
            "bound_mib": bound_mib, "checks": [m for _, m in checks] + [anon[1].replace("FAILED: ", "(not a failure) ")],
            "unhealthy_samples": len(unhealthy), "settings": settings,
        }
        with open(os.path.join(a.out, "summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
        log("")
        log(f"soak: {fmt_int(published)} messages published in {load_s / 60:.1f} min ({i} chunks), "
            f"{fmt_int(processed)} processed: {processed / load_s:.0f} events/s achieved (target {rate:g}); "
            f"lag back to 0 {drained_s:.0f} s after the load")
        log(f"  RSS plateau {plateau:.0f} MiB (median of the last third; peak {summary['rss_peak_mib']:.0f} MiB), "
            f"anonymous {summary['anon_final_mib']:.0f} MiB at the end; {final['fds']:.0f} fds, {final['threads']:.0f} threads")
        log(f"  on disk: {summary['store_final_mib']:.0f} MiB, {summary['bytes_per_event_total']:.0f} bytes/event overall, "
            f"{'%.0f' % bpe if bpe is not None else '?'} bytes/event after the warm-up")
        for _, m in checks:
            log("  " + m)
        log("  " + anon[1].replace("FAILED: ", "(anonymous, for information) "))
        if unhealthy:
            log(f"  note: /healthz said unhealthy in {len(unhealthy)} samples")
        log(f"  {csv_path}\n  {svg}\n  {svg_events}")
        failed = [m for good, m in checks if not good]
        if failed:
            raise Failure("; ".join(m.replace("FAILED: ", "") for m in failed))
        log("soak: PASSED")
        return 0
    except Failure as e:
        log(f"soak: FAILED: {e}")
        return 1
    except KeyboardInterrupt:
        log("soak: interrupted")
        return 130
    finally:
        if s is not None and s._thread is not None:
            s.stop()
        if hub is not None and hub.alive():
            try:
                hub.stop()
            except Failure:
                pass
        stop_leftovers(work)
        for name in ("hub.log", "simulate.out", "patrolhub.yaml"):  # small; the data folder can be GiBs
            try:
                shutil.copy(os.path.join(work, name), os.path.join(a.out, name))
            except OSError:
                pass
        log(f"  logs: {os.path.join(a.out, 'hub.log')}, {os.path.join(a.out, 'simulate.out')}")
        if a.keep:
            log(f"  work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
