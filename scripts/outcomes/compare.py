#!/usr/bin/env python3
"""Behaviour unchanged? Runs each scenario as a drill (`patrolhub demo`) with two builds of the hub,
then compares the drill's verdicts and the outcome tables of the two stores.

    python3 scripts/outcomes/compare.py --base /tmp/base/.build/debug/patrolhub --new .build/debug/patrolhub

What is compared, per scenario: every expectation's verdict (matched / missed, not its latency), and
time-free projections of the outcome tables — risk items, warning slips and documents, cases,
case transitions and dead letters (kinds, categories, zones, severities, states, rules, units, counts,
sorted; the ids and wall-clock times are left out, they depend on when the run started). Patrol slots
and records are left out: the sample plan's rounds depend on the time of day the run starts.
Exits 1 on any difference, printing it.
"""
import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCENARIOS = ["demo", "camera_outage", "multi_source_incident", "quiet_day", "busy_market_day", "fault_storm", "patrol_with_gaps"]

PROJECTIONS = {
    "risk_items": "SELECT source, source_kind, category, severity, zone, unit, occurrences, state, suppressed_by IS NOT NULL, drill, late FROM risk_items",
    "slips": "SELECT kind, zone, category, severity, unit, state, case_id IS NOT NULL, occurrences, close_reason FROM slips",
    "cases": "SELECT zone, category, severity, state, unit, rule, lead_unit, co_units, sources, categories, drill FROM cases",
    "case_transitions": "SELECT actor, action, from_state, to_state FROM case_transitions",
    "dead_letters": "SELECT reason, topic, size FROM dead_letters",
}


# Columns holding a list of strings: '|'-joined text before `v14-lists-as-json`, a JSON array after.
# Compared as the list they hold, whichever way the binary stores it.
LIST_COLUMNS = {"cases": {"co_units", "sources", "categories"}}


def stored_list(value):
    if isinstance(value, str) and value.startswith("["):
        return "|".join(json.loads(value))
    return value


def project(db, name, sql):
    cursor = db.execute(sql)
    lists = {i for i, d in enumerate(cursor.description) if d[0] in LIST_COLUMNS.get(name, ())}
    return sorted(tuple("" if v is None else stored_list(v) if i in lists else v for i, v in enumerate(row)) for row in cursor)


def run(binary, scenario, data_dir):
    """One drill; returns (exit status, expectation verdicts, projected tables)."""
    out = subprocess.run([binary, "demo", "--config", os.path.join(ROOT, "config/patrolhub.yaml"), "--log-level", "error",
                          "--data-dir", data_dir, "--scenario", os.path.join(ROOT, f"simulators/{scenario}.yaml"), "--format", "md"],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    verdicts = []
    for line in out.stdout.splitlines():
        # | result | line | expectation | outcome | latency |: keep the result and the expectation.
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and cells[0] in ("matched", "missed", "not run", "unexpected"):
            verdicts.append((cells[2], cells[0]))
    score = [l.strip("*- ") for l in out.stdout.splitlines() if "score" in l and "/100" in l]
    db = sqlite3.connect(os.path.join(data_dir, "patrolhub.sqlite"))
    tables = {name: project(db, name, sql) for name, sql in PROJECTIONS.items()}
    db.close()
    return out.returncode, verdicts, score, tables, out.stdout + out.stderr


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", required=True, help="the hub binary before the change")
    ap.add_argument("--new", required=True, help="the hub binary after the change")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = ap.parse_args()
    failed = False
    for scenario in args.scenarios.split(","):
        results = {}
        for label, binary in (("base", args.base), ("new", args.new)):
            with tempfile.TemporaryDirectory(prefix=f"outcomes-{scenario}-{label}-") as d:
                results[label] = run(os.path.abspath(binary), scenario, os.path.join(d, "data"))
        (bs, bv, bscore, bt, blog), (ns, nv, nscore, nt, nlog) = results["base"], results["new"]
        diffs = []
        if bs != ns:
            diffs.append(f"exit status {bs} → {ns}")
        if bv != nv:
            diffs.append(f"verdicts differ:\n  base {bv}\n  new  {nv}")
        if bscore != nscore:
            diffs.append(f"score {bscore} → {nscore}")
        for name in PROJECTIONS:
            if bt[name] != nt[name]:
                only_b = [r for r in bt[name] if r not in nt[name]]
                only_n = [r for r in nt[name] if r not in bt[name]]
                diffs.append(f"{name}: {len(bt[name])} → {len(nt[name])} rows; only before {only_b[:5]}; only after {only_n[:5]}")
        counts = ", ".join(f"{name} {len(nt[name])}" for name in PROJECTIONS)
        verdict = "same" if not diffs else "DIFFERENT"
        print(f"{scenario:24} {verdict:9} {' '.join(nscore) or f'exit {ns}'}; {counts}")
        for d in diffs:
            print("    " + d)
        if diffs:
            failed = True
            if os.environ.get("OUTCOMES_VERBOSE"):
                print(blog[-3000:], nlog[-3000:], sep="\n---\n")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
