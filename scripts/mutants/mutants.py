#!/usr/bin/env python3
"""Mutation testing of the code that carries PatrolHub's promises.

Each mutant below is one small, deliberate bug in the product (a comparison
turned round, a guard dropped, a window doubled). For each, the script writes
it into the source, rebuilds the tests (`swift build --build-tests`,
incremental), runs the test suites that guard that promise and restores the
file. A mutant is *killed* when a test fails (or the run exceeds its
timeout), *survives* when every test passes. A survivor is a promise no test
holds: write the test that kills it, or, if the mutant cannot change any
behaviour (an equivalent mutant), explain why in its `equivalent` field.

    make mutants                                  # every mutant (about 45 minutes on 2 cores)
    python3 scripts/mutants/mutants.py --list     # the mutants and their promises
    python3 scripts/mutants/mutants.py --only dedup-window,outbox-delete

It first runs the suites on the unmutated code (they must pass) and refuses
to start when a mutated file has uncommitted changes. A file is restored
after each mutant, also on Ctrl-C. The report (Markdown) goes to stdout and
to mutants-out/report.md; the exit status is 1 when a mutant survives that
is not explained as equivalent, or when a mutant does not apply or compile.
docs/TESTING.md explains the method and holds the last full report.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The unit suites of the core run for every core mutant: all of them (~1 min),
# so a mutant is checked by every pure test, not only those written for it.
# A `--filter` regex over the test targets of the core, the store, the reports
# and the simulator (Tests/AlertsTests, AlertsStoreTests, ReportsTests, SimulationTests).
UNIT = "AlertsTests|AlertsStoreTests|ReportsTests|SimulationTests"


@dataclass
class Mutant:
    id: str
    file: str
    find: str            # must occur exactly once in the file (or `occurrence` picks one)
    replace: str
    promise: str         # what breaks, in a user's words
    tests: str = UNIT    # `swift test --filter` regex: the suites that must catch it
    occurrence: int = 0  # which occurrence of `find` (0: it must be unique)
    equivalent: str = "" # why a survivor cannot change behaviour (then it is no failure)


MQTT = "Sources/PatrolHubMQTT/MQTTClient.swift"
SERVICES = "Sources/PatrolHub/Services/HubServices.swift"
INGEST_SERVICE = "Sources/PatrolHubRuntime/Ingest/IngestService.swift"
ENGINE = "Sources/Alerts/Pipeline/RiskEngine.swift"
CASES = "Sources/Alerts/Pipeline/CaseStage.swift"
MEMORY = "Sources/Alerts/Pipeline/EngineMemory.swift"
BATCH = "Sources/Alerts/Pipeline/BatchStage.swift"
SILENCE = "Sources/Alerts/Silence/Silence.swift"
LIFECYCLE = "Sources/Alerts/Cases/CaseLifecycle.swift"
ROUTER = "Sources/Alerts/Cases/CaseRouter.swift"
SUPERVISOR = "Sources/Alerts/Cases/CaseSupervisor.swift"
CASE_RULES = "Sources/Alerts/Config/CaseRules.swift"
ZONES = "Sources/Alerts/Grid/ZoneIndex.swift"
TRANSFORM = "Sources/Alerts/Grid/CoordinateTransform.swift"
PLAN = "Sources/Alerts/Patrol/PatrolPlan.swift"
MAPPING = "Sources/Alerts/Decode/Adapters/AdapterMapping.swift"
HUB = "Sources/PatrolHub/Services/Hub.swift"
LOCK = "Sources/PatrolHub/Services/StoreLock.swift"
MIGRATIONS = "Sources/AlertsStore/Store/Migrations.swift"
OLD = "OldStoreMigrationTests|OldStoreHubTests"

# The integration suites that exercise the MQTT client and the services.
INGEST = "IngestIntegrationTests|CrashTests|PoisonMessageTests|DurabilityTests|ReconnectBackoffTests"

MUTANTS = [
    # --- Durability: acknowledged means stored, published means acknowledged -------------------
    Mutant("ack-after-commit", MQTT,
           "guard flushBatch() else {", "guard flushBatch() || true else {",
           "a group whose inbox commit failed is acknowledged anyway (PUBACKs sent, messages lost)",
           tests=INGEST),
    Mutant("outbox-delete", SERVICES,
           "            } else {\n                ids.append(row.id)\n            }",
           "            }\n            ids.append(row.id)",
           "outbox rows are deleted when published, not when the broker acknowledged them",
           tests=INGEST),
    Mutant("reconnect-backoff-cap", MQTT,
           "delay = min(delay * 2, options.reconnectDelayMax)", "delay = delay * 2",
           "the delay between failed connects grows without its cap (a hub waits hours after a long outage)",
           tests=INGEST, occurrence=2),
    Mutant("reconfigure-backoff-cap", MQTT,
           "delay = min(delay * 2, options.reconnectDelayMax)", "delay = delay * 2",
           "the delay between failed reconfigurations of the MQTT handle grows without its cap",
           tests=INGEST, occurrence=1),
    Mutant("commit-failure-acked", INGEST_SERVICE,
           "\"inbox.action\": \"not acknowledged: the broker keeps the messages\"])\n                return false",
           "\"inbox.action\": \"not acknowledged: the broker keeps the messages\"])\n                return true",
           "a failed inbox commit is reported as committed (the group is acknowledged and lost)",
           tests=INGEST),
    Mutant("persistent-session", HUB,
           "var mqtt = MQTTClient.Options()", "var mqtt = MQTTClient.Options(); mqtt.cleanSession = true",
           "the hub subscribes with a clean session: what the broker queued while it was offline is dropped",
           tests=INGEST),
    Mutant("reconnect-backoff-reset", MQTT,
           "} else if isConnected, !commitFailing {\n                delay = options.reconnectDelayMin",
           "} else if isConnected, !commitFailing {\n                _ = delay",
           "the reconnect delay is not reset after a good connection (the next outage starts at the cap)",
           tests=INGEST),
    Mutant("one-hub-per-store", LOCK,
           "guard fcntl(fd, F_SETLK, &lock) == 0 else {", "guard fcntl(fd, F_SETLK, &lock) == 0 || true else {",
           "a second hub on the same store is not refused (two pipelines with their own windows lose events)",
           tests=INGEST),
    Mutant("event-key-dedup", BATCH,
           "guard !known.contains(key), accepted[key] == nil else {", "guard accepted[key] == nil else {",
           "a redelivered or replayed event is processed again (duplicate items, counts twice)",
           tests=UNIT + "|" + INGEST),
    Mutant("too-old-refused", BATCH,
           "let old = events.first(where: { $0.time.timeIntervalSince1970 < tooOldBefore })",
           "let old = events.first(where: { $0.time.timeIntervalSince1970 < tooOldBefore - 1e9 })",
           "an event older than the key retention is processed although its duplicate check is gone",
           tests=UNIT + "|StoreRetentionIntegrationTests"),
    # --- Old stores: the migrations keep every row ----------------------------------------
    Mutant("v5-event-log-copy", MIGRATIONS,
           "SELECT time, risk_item_id, zone, category, counted FROM events ORDER BY time;",
           "SELECT time, risk_item_id, zone, category, counted FROM events WHERE counted = 1 ORDER BY time;",
           "upgrading a store older than v5 drops the muted events from the event log (a restart restores wrong windows)",
           tests=OLD),
    Mutant("v5-event-keys-copy", MIGRATIONS,
           "INSERT INTO event_keys(key) SELECT key FROM events;",
           "INSERT INTO event_keys(key) SELECT key FROM events WHERE counted = 1;",
           "upgrading a store older than v5 forgets the keys of muted events (their redelivery is processed again)",
           tests=OLD),
    # --- The rules: dedup, grouping, correlation, inhibition, silences, lateness ----------------
    Mutant("dedup-window", ENGINE,
           "let w = rules.dedupWindow\n        return event.time", "let w = rules.dedupWindow * 2\n        return event.time",
           "an event after the dedup window still joins the old item instead of opening a new one"),
    Mutant("dedup-window-end", ENGINE,
           "event.time <= item.lastSeen.addingTimeInterval(w)", "event.time <= item.lastSeen",
           "an event inside the dedup window after the item's last sighting opens a second item"),
    Mutant("grouping-threshold", ENGINE,
           "window.count < threshold { return }", "window.count < threshold - 1 { return }",
           "a warning slip is raised one occurrence below the category's threshold"),
    Mutant("grouping-window", ENGINE,
           "let windowStart = max(time.addingTimeInterval(-rules.groupWindow), windows[w].countAfter ?? .distantPast)",
           "let windowStart = max(time.addingTimeInterval(-2 * rules.groupWindow), windows[w].countAfter ?? .distantPast)",
           "occurrences older than the grouping window still count toward the threshold"),
    Mutant("correlation-sources", CASES,
           "sources.count >= rules.minSources", "sources.count > rules.minSources",
           "a case needs one more distinct source than correlation.min_sources"),
    Mutant("correlation-drill", CASES,
           "$0.drill == item.drill && abs($0.time.timeIntervalSince(time)) <= w",
           "abs($0.time.timeIntervalSince(time)) <= w",
           "drill items correlate with live ones (a drill opens a live case)"),
    Mutant("inhibition-status", ENGINE,
           "status != .online {\n            return \"inhibited:", "status == .offline {\n            return \"inhibited:",
           "a tampered or degraded camera's analytics are no longer muted"),
    Mutant("silence-zone-chain", SILENCE,
           "if let z = self.zone, z != zone, !chain.contains(z) { return false }",
           "if let z = self.zone, z != zone { return false }",
           "a silence on a street or community no longer covers the grids under it"),
    Mutant("silence-event-time", SILENCE,
           "guard isActive(at: event.time) else { return false }", "",
           "an expired (or future) silence still mutes events"),
    Mutant("silence-drill", SILENCE,
           "if let drill, drill != event.drill { return false }", "",
           "a silence for drills mutes live events"),
    Mutant("lateness-bound", ENGINE,
           "event.time < $0.addingTimeInterval(-rules.lateness)", "event.time < $0.addingTimeInterval(-2 * rules.lateness)",
           "an event later than event_time.lateness_seconds still opens slips and cases"),
    # --- SOS ---------------------------------------------------------------------------------
    Mutant("sos-opens-case", CASES,
           "if item.category == .sos {\n            rule = .sos", "if item.category == .sos, false {\n            rule = .sos",
           "an SOS no longer opens its case by the sos rule (it needs correlation or severity)"),
    Mutant("sos-kept-open", MEMORY,
           "&& item.category != .sos", "",
           "the memory sweep closes a quiet SOS item although the device has not cleared it"),
    # --- Cases: lifecycle, routing, deadlines, supervision -------------------------------------
    Mutant("lifecycle-resolve-guard", LIFECYCLE,
           "case (.inProgress, .resolve):", "case (.inProgress, .resolve), (.new, .resolve):",
           "a case can be resolved before anyone took it (new → resolved)"),
    Mutant("lifecycle-reopen-guard", LIFECYCLE,
           "case (.resolved, .reopen), (.closed, .reopen), (.falseAlarm, .reopen):",
           "case (.resolved, .reopen), (.closed, .reopen), (.falseAlarm, .reopen), (.inProgress, .reopen):",
           "a case in progress can be 'reopened' (a transition the lifecycle forbids)"),
    Mutant("routing-district-severity", ROUTER,
           "let toDistrict = severity.rawValue <= rules.districtMaxSeverity ||",
           "let toDistrict = severity.rawValue < rules.districtMaxSeverity ||",
           "a severity-1 case stays with the street instead of going to the district"),
    Mutant("routing-district-category", ROUTER,
           "|| rules.districtCategories.contains(category)", "|| false",
           "a district category (banner, crowd gathering) stays with the street"),
    Mutant("deadline-severity", CASE_RULES,
           "(severity == .critical ? severity1DueDays : dueDays) * 86_400",
           "(severity == .critical ? dueDays : severity1DueDays) * 86_400",
           "a severity-1 case gets the ordinary deadline (and the others the short one)"),
    Mutant("reminder-lead", SUPERVISOR,
           "c.dueAt.addingTimeInterval(-rules.reminderLead)", "c.dueAt.addingTimeInterval(rules.reminderLead)",
           "the reminder letter falls due after the deadline instead of before it"),
    Mutant("overdue-once", SUPERVISOR,
           "if now >= c.dueAt, issued[Trigger.overdue.key(caseID: c.id)] == nil {", "if now >= c.dueAt {",
           "a supervision order for an overdue case is issued again at every tick",
           tests=UNIT + "|CaseSupervisionIntegrationTests"),
    # --- Places: zone borders and coordinates --------------------------------------------------
    Mutant("zone-border-tiebreak", ZONES,
           "h.level == bestLevel && h.zone < best", "h.level == bestLevel && h.zone > best",
           "a point on a shared border goes to the zone with the largest code, not the smallest"),
    Mutant("zone-boundary-inside", ZONES,
           "return ringParity(Int(h.vertexStart), Int(h.vertexEnd), x, y) != 0",
           "return ringParity(Int(h.vertexStart), Int(h.vertexEnd), x, y) == 1",
           "an event exactly on a zone's edge is unzoned (placement, not validation)"),
    Mutant("gcj02-offset", TRANSFORM,
           "magic = 1 - krasovskyEE * magic * magic", "magic = 1 + krasovskyEE * magic * magic",
           "GCJ-02 coordinates are converted with a wrong ellipsoid term (metres off)",
           tests=UNIT + "|GridPlacementIntegrationTests"),
    # --- Patrol --------------------------------------------------------------------------------
    Mutant("patrol-grace", PLAN,
           "return time <= graceEnds ? .onTime : .late", "return time < due ? .onTime : .late",
           "a check-in within the grace period counts as late"),
    Mutant("patrol-window-close", PLAN,
           "guard time >= opens, time < closes else { return nil }", "guard time >= opens else { return nil }",
           "a check-in after the slot's window closed still counts for it"),
    # --- Adapters: foreign alarms to categories ------------------------------------------------
    Mutant("gb-intrusion", MAPPING,
           "put(5, 6, .intrusion)", "put(5, 6, .loitering)",
           "a GB/T 28181 intrusion alarm (method 5, type 6) becomes loitering"),
    Mutant("gb-video-loss", MAPPING,
           "put(2, 1, .cameraOffline)  // video loss", "put(2, 1, .cameraDegraded)  // video loss",
           "a GB/T 28181 video loss no longer takes the camera offline (its analytics stay live)"),
    Mutant("onvif-tamper", MAPPING,
           'TopicRule(pattern: "RuleEngine/TamperDetector/Tamper", category: .cameraTampered, status: .tampered)',
           'TopicRule(pattern: "RuleEngine/TamperDetector/Tamper", category: .cameraTampered)',
           "an ONVIF tamper rule names no status",
           equivalent="a camera-health rule without a status reports its category's (ONVIFMapping.status(for:): "
                      "camera_tampered → tampered), so the status written out is the one it would default to"),
    Mutant("onvif-tamper-category", MAPPING,
           'TopicRule(pattern: "RuleEngine/TamperDetector/Tamper", category: .cameraTampered, status: .tampered)',
           'TopicRule(pattern: "RuleEngine/TamperDetector/Tamper", category: .cameraDegraded, status: .imageBlurry)',
           "an ONVIF tamper event is read as a blurry image (camera_degraded), not a tampered camera"),
]


# --- Running ---------------------------------------------------------------------------------

class Failure(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def write(path, text):
    with open(os.path.join(ROOT, path), "w", encoding="utf-8") as f:
        f.write(text)


def mutate(text, m):
    """The file's text with the mutant applied; fails when `find` is not where the mutant expects."""
    n = text.count(m.find)
    if m.occurrence == 0:
        if n != 1:
            raise Failure(f"{m.id}: '{m.find[:60]}' occurs {n} times in {m.file}, expected once")
        return text.replace(m.find, m.replace, 1)
    if n < m.occurrence:
        raise Failure(f"{m.id}: '{m.find[:60]}' occurs {n} times in {m.file}, expected at least {m.occurrence}")
    at = -1
    for _ in range(m.occurrence):
        at = text.index(m.find, at + 1)
    return text[:at] + m.replace + text[at + len(m.find):]


FAILURE = re.compile(r"✘ Test .* (failed|recorded an issue)|error: |Fatal error|fatal error")


def run(cmd, timeout, out_path, stop_on=None):
    """Runs `cmd` in the repository in its own process group, output to `out_path`;
    returns (exit status, or None on a timeout, output). A timeout kills the group;
    so does the first output line matching `stop_on` (a mutant is killed by its
    first failing test: the rest of the suite need not run)."""
    deadline = time.monotonic() + timeout
    with open(out_path, "w") as out:
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        timer = threading.Timer(timeout, lambda: os.killpg(p.pid, signal.SIGKILL))
        timer.start()
        stopped = False
        try:
            for raw in p.stdout:
                line = raw.decode(errors="replace")
                out.write(line)
                if stop_on and stop_on.search(line):
                    stopped = True
                    out.flush()
                    os.killpg(p.pid, signal.SIGKILL)
                    break
            p.wait()
        finally:
            timer.cancel()
    with open(out_path, errors="replace") as f:
        text = f.read()
    if stopped:
        return 1, text
    if p.returncode < 0 and time.monotonic() >= deadline:
        return None, text
    return p.returncode, text


def build(swift, out_path):
    status, text = run([swift, "build", "--build-tests"], 3600, out_path)
    return status == 0, text


def test(swift, filter_, timeout, out_path, fail_fast=True):
    """(passed, tests run, first failure line); passed is False on a failure or a timeout."""
    status, text = run([swift, "test", "--skip-build", "--no-parallel", "--filter", filter_], timeout, out_path,
                       stop_on=FAILURE if fail_fast else None)
    ran = sum(int(n) for n in re.findall(r"Test run with (\d+) tests?", text))
    ran += sum(int(n) for n in re.findall(r"Executed (\d+) tests?", text)[-1:])
    ran = ran or len(re.findall(r"✔ Test |✘ Test ", text))
    failed = next((line.strip() for line in text.splitlines() if FAILURE.search(line)), "")
    if status is None:
        return False, ran, f"timed out after {timeout} s (a hang counts as a kill)"
    if status != 0 and not failed:
        failed = f"exit status {status}"
    return status == 0, ran, failed


def git_clean(paths):
    r = subprocess.run(["git", "status", "--porcelain", "--"] + paths, cwd=ROOT, capture_output=True, text=True)
    return r.stdout.strip()


def write_report(results, planned, started, out_dir):
    """Writes OUT/report.md for the mutants run so far; returns (text, unexplained results)."""
    killed = sum(1 for r in results if r[1] == "killed")
    explained = sum(1 for r in results if r[1] == "survived (equivalent)")
    bad = [r for r in results if r[1] not in ("killed", "survived (equivalent)")]
    partial = f" (partial: {len(results)} of {planned})" if len(results) < planned else ""
    lines = [
        f"Mutants: {len(results)} applied{partial}, {killed} killed, {explained} survived as explained equivalents, "
        f"{len(bad)} unexplained (survived, not compiled or not tested); {(time.monotonic() - started) / 60:.0f} min.",
        "",
        "| mutant | file | the bug it plants | verdict | tests run | s | the failing test, or why it survives |",
        "|---|---|---|---|---|---|---|",
    ]
    for m, verdict, ran, why, secs in results:
        cell = why.replace("|", "\\|")[:160]
        lines.append(f"| `{m.id}` | {os.path.basename(m.file)} | {m.promise} | {verdict} | {ran} | {secs:.0f} | {cell} |")
    report = "\n".join(lines) + "\n"
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(report)
    return report, bad


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="print the mutants and exit")
    ap.add_argument("--check", action="store_true", help="check that every mutant applies (its file and anchor exist), build nothing, and exit")
    ap.add_argument("--only", help="comma-separated mutant ids")
    ap.add_argument("--out", default=os.path.join(ROOT, "mutants-out"), help="logs and report.md (default mutants-out/)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds for one mutant's tests (default 900)")
    ap.add_argument("--swift", default=os.environ.get("SWIFT", "swift"))
    ap.add_argument("--skip-baseline", action="store_true", help="do not run the suites on the unmutated code first")
    a = ap.parse_args(argv)

    ids = [m.id for m in MUTANTS]
    if len(set(ids)) != len(ids):
        raise Failure("duplicate mutant ids")
    chosen = MUTANTS
    if a.only:
        wanted = [x.strip() for x in a.only.split(",") if x.strip()]
        unknown = [x for x in wanted if x not in ids]
        if unknown:
            raise Failure(f"unknown mutant(s): {', '.join(unknown)} (see --list)")
        chosen = [m for m in MUTANTS if m.id in wanted]
    if a.list:
        for m in chosen:
            print(f"{m.id:28} {m.file}\n{'':28} {m.promise}\n{'':28} tests: {m.tests}"
                  + (f"\n{'':28} equivalent: {m.equivalent}" if m.equivalent else ""))
        print(f"{len(chosen)} mutants")
        return 0

    files = sorted({m.file for m in chosen})
    if a.check:
        for m in chosen:
            mutate(read(m.file), m)
        print(f"{len(chosen)} mutants apply to {len(files)} files")
        return 0
    dirty = git_clean(files)
    if dirty:
        raise Failure(f"uncommitted changes in files the mutants edit (commit or stash them first):\n{dirty}")
    originals = {f: read(f) for f in files}
    for m in chosen:  # every mutant applies before anything is built
        mutate(originals[m.file], m)
    os.makedirs(a.out, exist_ok=True)

    def restore_all(*_):
        for f, text in originals.items():
            if read(f) != text:
                write(f, text)
        if _:
            log("interrupted: sources restored")
            sys.exit(130)
    signal.signal(signal.SIGINT, restore_all)
    signal.signal(signal.SIGTERM, restore_all)

    started = time.monotonic()
    filters = sorted({m.tests for m in chosen})
    if not a.skip_baseline:
        log("baseline: building and running the suites on the unmutated code")
        ok, text = build(a.swift, os.path.join(a.out, "baseline-build.log"))
        if not ok:
            raise Failure(f"the unmutated code does not build: {a.out}/baseline-build.log")
        for i, f in enumerate(filters):
            passed, ran, why = test(a.swift, f, a.timeout, os.path.join(a.out, f"baseline-test-{i}.log"), fail_fast=False)
            if not passed or ran == 0:
                raise Failure(f"the unmutated code fails '{f}' ({why or 'no test ran'}): {a.out}/baseline-test-{i}.log")
            log(f"  {f}: {ran} tests pass")

    results = []
    try:
        for n, m in enumerate(chosen, 1):
            t0 = time.monotonic()
            log(f"[{n}/{len(chosen)}] {m.id}: {m.promise}")
            write(m.file, mutate(originals[m.file], m))
            try:
                ok, _ = build(a.swift, os.path.join(a.out, f"{m.id}-build.log"))
                if not ok:
                    verdict, ran, why = "does not compile", 0, f"{a.out}/{m.id}-build.log"
                else:
                    passed, ran, why = test(a.swift, m.tests, a.timeout, os.path.join(a.out, f"{m.id}-test.log"))
                    if ran == 0 and passed:
                        verdict, why = "no test ran", f"filter '{m.tests}' matched nothing"
                    elif passed:
                        verdict = "survived (equivalent)" if m.equivalent else "SURVIVED"
                        why = m.equivalent
                    else:
                        verdict = "killed"
            finally:
                write(m.file, originals[m.file])
            secs = time.monotonic() - t0
            results.append((m, verdict, ran, why, secs))
            log(f"    {verdict} ({ran} tests, {secs:.0f} s){': ' + why if why else ''}")
            write_report(results, len(chosen), started, a.out)  # an interrupted run keeps what it found
    finally:
        restore_all()

    report, bad = write_report(results, len(chosen), started, a.out)
    print(report)
    return 1 if bad else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as e:
        log(f"mutants: {e}")
        sys.exit(2)
