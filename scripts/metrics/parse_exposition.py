#!/usr/bin/env python3
"""Parses a Prometheus text exposition with prometheus_client's parser and
prints its families as JSON: {"NAME": {"type": T, "samples": [{"name", "labels", "value"}]}}.

Used by the metrics tests (Tests/PatrolHubTests/MetricsExpositionTests.swift): a
reference parser, not ours, decides whether /metrics is valid. The parser drops
a counter family's `_total` suffix from the family name (not from its samples).
Exits 2 with the parser's message when the text does not parse.

Usage: parse_exposition.py FILE
"""
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: parse_exposition.py FILE", file=sys.stderr)
        return 64
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    families = {}
    try:
        for family in text_string_to_metric_families(text):
            if family.name in families:
                raise ValueError(f"family {family.name} appears twice")
            families[family.name] = {
                "type": family.type,
                "samples": [
                    {"name": s.name, "labels": s.labels, "value": s.value if math.isfinite(s.value) else str(s.value)}
                    for s in family.samples
                ],
            }
    except Exception as error:  # the parser raises ValueError and friends on invalid text
        print(f"not a valid exposition: {error}", file=sys.stderr)
        return 2
    json.dump(families, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
