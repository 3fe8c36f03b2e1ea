#!/usr/bin/env python3
"""Samples a running PatrolHub hub for the soak runs (scripts/soak/soak.py,
scripts/soak/month.py): memory, file descriptors, threads, store size, events
processed and pipeline lag, every few seconds, to a CSV; plots the CSV as a
self-contained SVG; checks a column for growth after the warm-up.

Python 3 standard library only. Interface (stable: other scripts import it):

    s = Sampler(pid, data_dir, hub_url, token, csv_path, interval_s)
    s.start(); ...; s.stop(); s.rows            # list of dicts, one per sample
    plot_svg(csv_path, svg_path, x_column, y_columns, title)
    ok, message = growth_check(rows, column, bound)

Columns (COLUMNS): t_s (seconds since start), events_processed and
events_received (messages the pipeline processed / ingest committed to the
inbox, since the hub started), lag_rows (inbox rows not processed yet),
rss_kib, anon_kib (anonymous memory: the heap, from /proc/PID/smaps_rollup),
file_kib (file-backed resident pages: SQLite's mmap and the binary), hwm_kib
(peak RSS), fds, threads, cpu_s (user + system CPU seconds), store_bytes (the
data folder's SQLite files: store and inbox with their -wal and -shm),
wal_bytes (the -wal files alone), healthy (1 when /healthz says ok), source
(where the event counts came from: healthz, or sqlite when the HTTP API does
not answer), children_rss_kib (the RSS of the process's children: the hub's
embedded mosquitto).

Events and lag come from `GET /healthz`, which the hub answers from memory
(`ingest.received`, `pipeline.processed`): it costs nothing even on a large
store, unlike `/metrics`, which counts rows. Without an HTTP API (hub_url
None) or when it does not answer, they are read from the store read-only
(the pipeline cursor and the inbox's newest seq): totals since the store was
created, equal to the hub's counters for a fresh data folder.

`python3 scripts/soak/sampler.py --self-test` runs the unit tests of the pure
parts (growth_check, plot_svg, the CSV round trip, /proc parsing);
`python3 scripts/soak/sampler.py --plot CSV SVG` plots a soak CSV.
"""

import csv
import json
import math
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from xml.sax.saxutils import escape

COLUMNS = ["t_s", "events_processed", "events_received", "lag_rows", "rss_kib", "anon_kib", "file_kib", "hwm_kib",
           "fds", "threads", "cpu_s", "store_bytes", "wal_bytes", "healthy", "source", "children_rss_kib"]


# --- /proc -----------------------------------------------------------------------

def _kib_fields(text):
    """`Key:   123 kB` lines → {Key: 123}."""
    out = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) >= 1 and parts[0].isdigit():
            out[key.strip()] = int(parts[0])
    return out


def read_proc(pid):
    """The process's memory (KiB), threads, fds and CPU seconds; raises OSError when it is gone."""
    with open(f"/proc/{pid}/status") as f:
        status = _kib_fields(f.read())
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            rollup = _kib_fields(f.read())
    except OSError:
        rollup = {}
    anon = rollup.get("Anonymous", status.get("RssAnon", 0))
    rss = status.get("VmRSS", 0)
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    try:
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except PermissionError:
        fds = -1
    return {
        "rss_kib": rss,
        "anon_kib": anon,
        "file_kib": status.get("RssFile", max(0, rss - anon)),
        "hwm_kib": status.get("VmHWM", rss),
        "threads": status.get("Threads", 0),
        "fds": fds,
        "cpu_s": round(cpu, 2),
    }


def children_rss(pid):
    """The summed RSS (KiB) of the process's children: the hub's embedded mosquitto."""
    total = 0
    try:
        kids = set()
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids.update(f.read().split())
    except OSError:
        return ""
    for kid in kids:
        try:
            with open(f"/proc/{kid}/status") as f:
                total += _kib_fields(f.read()).get("VmRSS", 0)
        except OSError:
            pass
    return total


def store_sizes(data_dir):
    """(bytes of every SQLite file in the data folder, bytes of the -wal files): store and inbox."""
    total = wal = 0
    try:
        names = os.listdir(data_dir)
    except OSError:
        return 0, 0
    for name in names:
        if ".sqlite" not in name:
            continue
        try:
            size = os.stat(os.path.join(data_dir, name)).st_size
        except OSError:
            continue  # removed between listdir and stat (a checkpoint's -wal)
        total += size
        if name.endswith("-wal"):
            wal += size
    return total, wal


# --- The hub's counters ---------------------------------------------------------

def healthz(hub_url, token=None, timeout=5):
    """(received, processed, healthy) from /healthz (answered from memory), or None."""
    req = urllib.request.Request(hub_url.rstrip("/") + "/healthz")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body, code = r.read(), r.status
    except urllib.error.HTTPError as e:  # 503: unhealthy, same body
        body, code = e.read(), e.code
    except (OSError, ValueError):
        return None
    try:
        j = json.loads(body)
        return int(j["ingest"]["received"]), int(j["pipeline"]["processed"]), code == 200 and j.get("status") == "ok"
    except (ValueError, KeyError, TypeError):
        return None


class HubProcess:
    """`patrolhub serve --config CONFIG` in its own session (so a kill reaches its
    embedded broker too), logging to WORK/hub.log. `error` is the exception class
    the calling script reports failures with."""

    def __init__(self, exe, work, config, url, extra_args=(), error=RuntimeError):
        self.exe, self.work, self.config, self.url = exe, work, config, url
        self.extra_args, self.error = list(extra_args), error
        self.log_path = os.path.join(work, "hub.log")
        self.proc = None

    def start(self, ready_timeout=90):
        """Starts the hub and waits until /healthz answers; fails when it exits first."""
        logf = open(self.log_path, "w")
        self.proc = subprocess.Popen([self.exe, "serve", "--config", self.config, "--log-level", "notice"] + self.extra_args,
                                     stdout=logf, stderr=subprocess.STDOUT, cwd=self.work, start_new_session=True)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            self.check()
            if healthz(self.url, timeout=1):
                return
            time.sleep(0.2)
        raise self.error(f"the hub did not answer {self.url}/healthz within {ready_timeout} s; log: {self.log_path}\n{self.tail()}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check(self):
        if not self.alive():
            raise self.error(f"the hub exited (status {self.proc.returncode}); log: {self.log_path}\n{self.tail()}")

    def tail(self, n=15):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout=60):
        """SIGTERM, then the exit status; SIGKILL of its process group and a failure after `timeout`."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise self.error(f"the hub did not stop within {timeout} s of SIGTERM")


def store_counters(data_dir):
    """(inbox max seq, pipeline cursor) read-only from the store files in data_dir, or None."""
    store = inbox = None
    try:
        for name in os.listdir(data_dir):
            if name.endswith(".inbox.sqlite"):
                inbox = os.path.join(data_dir, name)
        if inbox:
            store = inbox[: -len(".inbox.sqlite")] + ".sqlite"
    except OSError:
        return None
    if not (store and os.path.exists(store)):
        return None
    try:
        s = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=2)
        try:
            cursor = s.execute("SELECT inbox_seq FROM pipeline_cursor WHERE id = 1").fetchone()[0]
        finally:
            s.close()
        i = sqlite3.connect(f"file:{inbox}?mode=ro", uri=True, timeout=2)
        try:
            top = i.execute("SELECT MAX(seq) FROM inbox").fetchone()[0] or 0
        finally:
            i.close()
        return max(top, cursor), cursor
    except (sqlite3.Error, TypeError):
        return None


# --- The sampler -------------------------------------------------------------------

class Sampler:
    """Samples process `pid` and its hub every `interval_s` seconds on a thread,
    appending each sample to `rows` and to `csv_path` (flushed per line, so a
    crash keeps what was measured). `alive` turns False when the process is
    gone (sampling stops). `on_sample(row)`, when set, is called after each one."""

    def __init__(self, pid, data_dir, hub_url, token, csv_path, interval_s=5.0):
        self.pid = pid
        self.data_dir = data_dir
        self.hub_url = hub_url
        self.token = token
        self.csv_path = csv_path
        self.interval_s = float(interval_s)
        self.rows = []
        self.alive = True
        self.on_sample = None
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()
        self._file = None
        self._writer = None
        self._t0 = None

    def sample(self):
        """Takes one sample now; returns the row (None when the process is gone)."""
        t = time.monotonic()
        if self._t0 is None:
            self._t0 = t
        try:
            proc = read_proc(self.pid)
        except OSError:
            self.alive = False
            return None
        row = {"t_s": round(t - self._t0, 2)}
        counts = healthz(self.hub_url, self.token) if self.hub_url else None
        if counts:
            received, processed, healthy = counts
            row.update(events_processed=processed, events_received=received,
                       lag_rows=max(0, received - processed), healthy=int(healthy), source="healthz")
        else:
            c = store_counters(self.data_dir)
            if c:
                row.update(events_processed=c[1], events_received=c[0], lag_rows=c[0] - c[1], healthy="", source="sqlite")
            else:
                row.update(events_processed="", events_received="", lag_rows="", healthy="", source="")
        row.update(proc)
        row["children_rss_kib"] = children_rss(self.pid)
        row["store_bytes"], row["wal_bytes"] = store_sizes(self.data_dir)
        with self._lock:
            self.rows.append(row)
            if self._writer:
                self._writer.writerow(row)
                self._file.flush()
        if self.on_sample:
            self.on_sample(row)
        return row

    def start(self):
        d = os.path.dirname(os.path.abspath(self.csv_path))
        os.makedirs(d, exist_ok=True)
        self._file = open(self.csv_path, "w", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=COLUMNS, extrasaction="ignore")
        self._writer.writeheader()
        self._file.flush()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="soak-sampler", daemon=True)
        self._thread.start()
        return self

    def _run(self):
        next_at = time.monotonic()
        while not self._stop.is_set():
            if self.sample() is None:
                break
            next_at += self.interval_s
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def stop(self):
        """Stops sampling after one last sample (when the process still runs); closes the CSV."""
        self._stop.set()
        if self._thread:
            self._thread.join()
            self._thread = None
        if self.alive and self._writer:
            self.sample()
        with self._lock:
            if self._file:
                self._file.close()
                self._file = self._writer = None
        return self.rows


def read_csv(csv_path):
    """The CSV as a list of dicts, numbers as floats (empty cells as None)."""
    rows = []
    with open(csv_path, newline="") as f:
        for r in csv.DictReader(f):
            rows.append({k: _num(v) for k, v in r.items()})
    return rows


def _num(v):
    if v is None or v == "":
        return None
    try:
        return float(v)
    except ValueError:
        return v


# --- Growth check ----------------------------------------------------------------------

def growth_check(rows, column, bound, warmup=1 / 3):
    """Whether `column` stays flat after the warm-up.

    The first `warmup` share of the samples (default a third) is the warm-up
    and is left out; the rest is split in thirds, and the median of its last
    third is compared with the median of its first third. Fails when it grew
    by more than `bound` (in the column's own units, e.g. KiB for rss_kib),
    or when there are fewer than 6 samples after the warm-up to judge by.
    Medians, so that a single spike (a burst, a checkpoint) does not decide.
    Returns (ok, message)."""
    pts = [(_f(r.get("t_s")), _f(r.get(column))) for r in rows]
    pts = [(t, v) for t, v in pts if v is not None]
    skip = int(len(pts) * warmup)
    rest = pts[skip:]
    if len(rest) < 6:
        return False, f"{column}: {len(rest)} samples after the warm-up, too few to judge growth (need 6)"
    n = len(rest) // 3
    first, last = rest[:n], rest[-n:]
    a = statistics.median(v for _, v in first)
    b = statistics.median(v for _, v in last)
    growth = b - a
    unit, scale = _unit(column)
    u = " " + unit if unit else ""
    span = ""
    if first[0][0] is not None and last[-1][0] is not None:
        dt = statistics.median(t for t, _ in last) - statistics.median(t for t, _ in first)
        if dt > 0:
            span = f" over {_fmt(dt / 60)} min ({_fmt(growth / scale / (dt / 60))}{u}/min)"
    text = (f"{column}: median {_fmt(a / scale)}{u} in the first third after the warm-up, "
            f"{_fmt(b / scale)}{u} in the last: {'+' if growth >= 0 else ''}{_fmt(growth / scale)}{u}{span}; "
            f"bound +{_fmt(bound / scale)}{u}")
    ok = growth <= bound
    return ok, ("ok: " if ok else "FAILED: ") + text


def _f(v):
    if v is None or v == "":
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _fmt(v):
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def _unit(column):
    """(display unit, divisor from the column's unit) by the column's suffix."""
    if column.endswith("_kib"):
        return "MiB", 1024.0
    if column.endswith("_bytes"):
        return "MiB", 1024.0 * 1024.0
    if column.endswith("_s"):
        return "s", 1.0
    return "", 1.0


# --- SVG plot ---------------------------------------------------------------------------

LABELS = {
    "t_s": "time", "rss_kib": "RSS", "anon_kib": "anonymous (heap)", "file_kib": "file-backed", "hwm_kib": "peak RSS",
    "fds": "open file descriptors", "threads": "threads", "store_bytes": "store + inbox files", "wal_bytes": "WAL files",
    "lag_rows": "pipeline lag (inbox rows)", "events_processed": "events processed", "events_received": "events received",
    "cpu_s": "CPU seconds", "children_rss_kib": "broker RSS",
}
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]


def nice_ticks(lo, hi, count=5):
    """Round tick values (1, 2, 5 × 10^k steps) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    if hi <= lo:
        hi = lo + (abs(lo) if lo else 1.0)
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    v = start
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 10))
        v += step
    if ticks[-1] < hi:
        ticks.append(round(v, 10))
    return ticks


def _tick_label(v):
    if v == int(v):
        v = int(v)
        return f"{v:,}".replace(",", " ") if abs(v) >= 10000 else str(v)
    return f"{v:g}"


def _series_scale(column):
    """(divisor, unit) to show a column in: KiB and bytes as MiB."""
    unit, scale = _unit(column)
    if unit == "s":
        return 1.0, "s"
    return scale, unit


def _x_scale(column, xmax):
    if column == "t_s" or column.endswith("_s"):
        if xmax > 3 * 3600:
            return 3600.0, "h"
        if xmax > 180:
            return 60.0, "min"
        return 1.0, "s"
    if xmax >= 3e6:
        return 1e6, "million"
    if xmax >= 3e3:
        return 1e3, "thousand"
    return 1.0, ""


def plot_svg(csv_path, svg_path, x_column, y_columns, title, marks=None, width=860, panel_height=190):
    """Writes a self-contained SVG line chart of `csv_path`: one panel per item
    of `y_columns`, stacked over a shared x axis (`x_column`). An item is a
    column name or a list of names drawn in one panel with a legend (same
    unit). Sizes in KiB or bytes are shown in MiB. `marks`: x values drawn as
    dashed vertical lines (e.g. the warm-up's end and the thirds the growth
    check compares). Returns the SVG text."""
    rows = read_csv(csv_path)
    panels = [[c] if isinstance(c, str) else list(c) for c in y_columns]
    xs_all = [r.get(x_column) for r in rows if isinstance(r.get(x_column), float)]
    xmax = max(xs_all) if xs_all else 1.0
    xmin = min(xs_all) if xs_all else 0.0
    xdiv, xunit = _x_scale(x_column, xmax)
    left, right, top, gap = 78, 24, 46, 46
    plot_w = width - left - right
    height = top + len(panels) * (panel_height + gap) + 10
    xt = nice_ticks(xmin / xdiv, xmax / xdiv, 8)
    x0, x1 = xt[0], xt[-1]

    def sx(v):
        return left + (v / xdiv - x0) / ((x1 - x0) or 1) * plot_w

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'font-family="DejaVu Sans, Arial, sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
           f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{escape(title)}</text>']
    for i, cols in enumerate(panels):
        ptop = top + i * (panel_height + gap)
        pbot = ptop + panel_height
        div, unit = _series_scale(cols[0])
        series = []
        for c in cols:
            pts = [(r[x_column], r[c] / div) for r in rows
                   if isinstance(r.get(x_column), float) and isinstance(r.get(c), float)]
            series.append((c, pts))
        ys = [y for _, pts in series for _, y in pts]
        lo, hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
        lo = min(lo, 0.0) if lo >= 0 and lo < 0.25 * hi else lo  # start at 0 unless the data sits far above it
        yt = nice_ticks(lo, hi, 4)
        y0, y1 = yt[0], yt[-1]

        def sy(v, y0=y0, y1=y1, ptop=ptop):
            return ptop + panel_height - (v - y0) / ((y1 - y0) or 1) * panel_height

        name = " / ".join(LABELS.get(c, c) for c in cols)
        out.append(f'<text x="{left}" y="{ptop - 8}" font-size="12" font-weight="bold">'
                   f'{escape(name)}{" (" + unit + ")" if unit else ""}</text>')
        out.append(f'<rect x="{left}" y="{ptop}" width="{plot_w}" height="{panel_height}" fill="none" stroke="#444"/>')
        for v in yt:
            y = sy(v)
            out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e4e4e4"/>')
            out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_tick_label(v)}</text>')
        for v in xt:
            x = left + (v - x0) / ((x1 - x0) or 1) * plot_w
            out.append(f'<line x1="{x:.1f}" y1="{ptop}" x2="{x:.1f}" y2="{pbot}" stroke="#f0f0f0"/>')
            out.append(f'<line x1="{x:.1f}" y1="{pbot}" x2="{x:.1f}" y2="{pbot + 4}" stroke="#444"/>')
            out.append(f'<text x="{x:.1f}" y="{pbot + 16}" text-anchor="middle">{_tick_label(v)}</text>')
        for m in marks or []:
            x = sx(m)
            out.append(f'<line x1="{x:.1f}" y1="{ptop}" x2="{x:.1f}" y2="{pbot}" stroke="#888" stroke-dasharray="4,3"/>')
        for k, (c, pts) in enumerate(series):
            color = COLORS[k % len(COLORS)]
            if pts:
                d = " ".join(f"{'M' if j == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for j, (x, y) in enumerate(pts))
                out.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="1.6"/>')
            if len(series) > 1:  # the legend on the panel's title line, right-aligned, clear of the data
                lx = left + plot_w - 150 * (len(series) - k)
                ly = ptop - 8
                out.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 18}" y2="{ly - 4}" stroke="{color}" stroke-width="2"/>')
                out.append(f'<text x="{lx + 23}" y="{ly}">{escape(LABELS.get(c, c))}</text>')
    xname = LABELS.get(x_column, x_column)
    out.append(f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle">'
               f'{escape(xname)}{" (" + xunit + ")" if xunit else ""}</text>')
    out.append("</svg>")
    text = "\n".join(out) + "\n"
    with open(svg_path, "w") as f:
        f.write(text)
    return text


# --- Self-test -------------------------------------------------------------------------

def _self_test():
    import tempfile
    import unittest
    import xml.etree.ElementTree as ET

    def rows_of(values, dt=5.0):
        return [{"t_s": i * dt, "rss_kib": v} for i, v in enumerate(values)]

    class GrowthCheckTests(unittest.TestCase):
        def test_flat_after_warmup_passes_despite_warmup_climb(self):
            values = [50_000 + 10_000 * i for i in range(10)] + [150_000 + (i % 3) * 500 for i in range(20)]
            ok, msg = growth_check(rows_of(values), "rss_kib", 8 * 1024)
            self.assertTrue(ok, msg)
            self.assertIn("ok:", msg)

        def test_steady_leak_fails_with_rate(self):
            values = [100_000 + 300 * i for i in range(60)]  # 300 KiB per 5 s sample = 3.5 MiB/min
            ok, msg = growth_check(rows_of(values), "rss_kib", 4 * 1024)
            self.assertFalse(ok, msg)
            self.assertIn("FAILED", msg)
            self.assertIn("MiB/min", msg)

        def test_leak_within_bound_passes(self):
            values = [100_000 + 10 * i for i in range(60)]
            ok, msg = growth_check(rows_of(values), "rss_kib", 4 * 1024)
            self.assertTrue(ok, msg)

        def test_single_spike_does_not_decide(self):
            values = [100_000] * 60
            values[-1] = 900_000
            ok, msg = growth_check(rows_of(values), "rss_kib", 1024)
            self.assertTrue(ok, msg)

        def test_shrinking_passes(self):
            ok, msg = growth_check(rows_of([200_000 - 100 * i for i in range(30)]), "rss_kib", 0)
            self.assertTrue(ok, msg)

        def test_too_few_samples_fail(self):
            ok, msg = growth_check(rows_of([1, 2, 3, 4, 5, 6]), "rss_kib", 10)
            self.assertFalse(ok)
            self.assertIn("too few", msg)

        def test_missing_values_and_strings_from_csv(self):
            rows = [{"t_s": str(i * 5), "rss_kib": "" if i % 4 == 0 else str(1000 + i)} for i in range(40)]
            ok, msg = growth_check(rows, "rss_kib", 100)
            self.assertTrue(ok, msg)
            ok, msg = growth_check(rows, "rss_kib", 5)
            self.assertFalse(ok, msg)

        def test_bound_in_bytes_reported_in_mib(self):
            rows = [{"t_s": i, "store_bytes": 1 << 20} for i in range(30)]
            ok, msg = growth_check(rows, "store_bytes", 1 << 20)
            self.assertTrue(ok)
            self.assertIn("bound +1.00 MiB", msg)

    class PlotTests(unittest.TestCase):
        def setUp(self):
            self.dir = tempfile.TemporaryDirectory()
            self.csv = os.path.join(self.dir.name, "s.csv")
            with open(self.csv, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=COLUMNS)
                w.writeheader()
                for i in range(50):
                    w.writerow({"t_s": i * 10, "rss_kib": 60_000 + i * 100, "anon_kib": 30_000 + i * 90,
                                "store_bytes": i * 1_000_000, "lag_rows": "" if i == 7 else i % 5, "fds": 40, "threads": 20,
                                "events_processed": i * 4000, "source": "healthz"})
            self.svg = os.path.join(self.dir.name, "s.svg")

        def tearDown(self):
            self.dir.cleanup()

        def test_valid_svg_with_a_panel_per_item_legend_and_units(self):
            text = plot_svg(self.csv, self.svg, "t_s", [["rss_kib", "anon_kib"], "store_bytes", ["fds", "threads"], "lag_rows"],
                            "soak <test> & co", marks=[160, 330])
            root = ET.parse(self.svg).getroot()  # well-formed XML (the title is escaped)
            ns = "{http://www.w3.org/2000/svg}"
            self.assertEqual(root.tag, ns + "svg")
            self.assertEqual(len(root.findall(ns + "path")), 6)  # one line per series
            texts = [t.text for t in root.iter(ns + "text")]
            self.assertIn("soak <test> & co", texts)
            self.assertIn("RSS / anonymous (heap) (MiB)", texts)
            self.assertIn("store + inbox files (MiB)", texts)
            self.assertIn("anonymous (heap)", texts)  # the legend
            self.assertIn("time (min)", texts)
            self.assertEqual(len([e for e in root.iter(ns + "line") if e.get("stroke-dasharray")]), 8)
            self.assertNotIn("http://", text.replace("http://www.w3.org/2000/svg", ""))  # self-contained

        def test_points_stay_inside_their_panel(self):
            plot_svg(self.csv, self.svg, "t_s", ["rss_kib", "lag_rows"], "t")
            root = ET.parse(self.svg).getroot()
            ns = "{http://www.w3.org/2000/svg}"
            frames = [r for r in root.findall(ns + "rect") if r.get("fill") == "none"]
            for path, frame in zip(root.findall(ns + "path"), frames):
                x, y = float(frame.get("x")), float(frame.get("y"))
                w, h = float(frame.get("width")), float(frame.get("height"))
                for p in path.get("d").replace("M", " ").replace("L", " ").split():
                    px, py = map(float, p.split(","))
                    self.assertTrue(x - 0.5 <= px <= x + w + 0.5 and y - 0.5 <= py <= y + h + 0.5, (p, x, y, w, h))

        def test_empty_column_still_plots(self):
            plot_svg(self.csv, self.svg, "t_s", ["cpu_s"], "t")
            ET.parse(self.svg)

        def test_nice_ticks(self):
            self.assertEqual(nice_ticks(0, 100, 5), [0, 20, 40, 60, 80, 100])
            t = nice_ticks(3.2, 47.9, 4)
            self.assertLessEqual(t[0], 3.2)
            self.assertGreaterEqual(t[-1], 47.9)
            t = nice_ticks(5, 5, 4)
            self.assertTrue(t[0] <= 5 <= t[-1] and len(t) >= 2, t)

    class SamplerTests(unittest.TestCase):
        def test_samples_this_process_to_csv(self):
            with tempfile.TemporaryDirectory() as d:
                with open(os.path.join(d, "x.sqlite"), "wb") as f:
                    f.write(b"\0" * 4096)
                with open(os.path.join(d, "x.sqlite-wal"), "wb") as f:
                    f.write(b"\0" * 1000)
                path = os.path.join(d, "out", "s.csv")
                s = Sampler(os.getpid(), d, None, None, path, 0.05).start()
                time.sleep(0.3)
                rows = s.stop()
                self.assertGreaterEqual(len(rows), 3)
                self.assertGreater(rows[-1]["rss_kib"], 1000)
                self.assertGreater(rows[-1]["threads"], 0)
                self.assertGreater(rows[-1]["fds"], 2)
                self.assertEqual((rows[-1]["store_bytes"], rows[-1]["wal_bytes"]), (5096, 1000))
                self.assertEqual(rows[-1]["children_rss_kib"], 0)
                back = read_csv(path)
                self.assertEqual(len(back), len(rows))
                self.assertEqual(back[-1]["rss_kib"], float(rows[-1]["rss_kib"]))

        def test_a_gone_process_stops_sampling(self):
            import subprocess
            p = subprocess.Popen([sys.executable, "-c", "pass"])
            p.wait()
            with tempfile.TemporaryDirectory() as d:
                s = Sampler(p.pid, d, None, None, os.path.join(d, "s.csv"), 0.05).start()
                time.sleep(0.2)
                s.stop()
                self.assertFalse(s.alive)
                self.assertEqual(s.rows, [])

        def test_store_counters_read_only(self):
            with tempfile.TemporaryDirectory() as d:
                s = sqlite3.connect(os.path.join(d, "patrolhub.sqlite"))
                s.execute("CREATE TABLE pipeline_cursor (id INTEGER PRIMARY KEY, inbox_seq INTEGER)")
                s.execute("INSERT INTO pipeline_cursor VALUES (1, 70)")
                s.commit()
                s.close()
                i = sqlite3.connect(os.path.join(d, "patrolhub.inbox.sqlite"))
                i.execute("CREATE TABLE inbox (seq INTEGER PRIMARY KEY)")
                i.executemany("INSERT INTO inbox VALUES (?)", [(n,) for n in range(1, 101)])
                i.commit()
                i.close()
                self.assertEqual(store_counters(d), (100, 70))

    suite = unittest.TestSuite()
    for case in (GrowthCheckTests, PlotTests, SamplerTests):
        suite.addTests(unittest.defaultTestLoader.loadTestsFromTestCase(case))
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    return 0 if result.wasSuccessful() else 1


def main(argv):
    if argv[:1] == ["--self-test"]:
        return _self_test()
    if argv[:1] == ["--plot"] and len(argv) == 3:
        plot_svg(argv[1], argv[2], "t_s", [["rss_kib", "anon_kib"], "store_bytes", ["fds", "threads"], "lag_rows"], "PatrolHub soak")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
