#!/usr/bin/env python3
"""Lists every `public`, `open` or `package` declaration in Sources/**/*.swift
that has no `///` (or `/** */`) doc comment directly above it.

Attribute lines (`@inlinable`, `@discardableResult`, `@available(...)`) may stand
between the comment and the declaration; a blank line or a plain `//` comment
may not (Swift does not attach those to the declaration either way a reader
expects). Imports (`public import X`) are not declarations and are skipped.
Members that are public only through their enclosing `public extension` or
enum cases of a public enum carry no modifier of their own and are not listed.

    python3 scripts/check-docs.py            # file:line: declaration, one per line; exit 1 when any
    python3 scripts/check-docs.py --count    # the count per target only
    python3 scripts/check-docs.py FILE...    # only these files

The suite runs it (Tests/PatrolHubTests/ArchitectureTests.swift) and fails
naming each file:line it prints.
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Optional attributes, then modifiers, at least one of which is public, open or package.
ATTRIBUTE = r"@\w+(?:\.\w+)*(?:\([^()]*(?:\([^()]*\)[^()]*)*\))?"
MODIFIER = r"(?:public|open|package|private\(set\)|internal\(set\)|fileprivate\(set\)|package\(set\)|static|class|final|" \
           r"override|mutating|nonmutating|nonisolated|convenience|required|dynamic|lazy|weak|unowned|indirect|" \
           r"consuming|borrowing|isolated|distributed|prefix|postfix|infix)"
DECLARATION = re.compile(
    rf"^\s*(?:{ATTRIBUTE}\s+)*(?:{MODIFIER}\s+)*?(public|open|package)\s+(?:{MODIFIER}\s+)*"
    r"(func|var|let|struct|class|enum|protocol|actor|init[?!]?|subscript|typealias|associatedtype|case|macro|"
    r"extension|import|operator|precedencegroup)\b")
ATTRIBUTE_LINE = re.compile(rf"^\s*(?:{ATTRIBUTE}\s*)+$")


def undocumented(path):
    """(line number, declaration text) of each declaration in `path` without a doc comment."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    out = []
    in_block = False  # inside a /* ... */ comment (not a doc block: those are checked from below)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if in_block:
            if "*/" in stripped:
                in_block = False
            continue
        if stripped.startswith("/*") and not stripped.startswith("/**") and "*/" not in stripped:
            in_block = True
            continue
        m = DECLARATION.match(line)
        if not m or m.group(2) in ("import", "extension"):
            continue
        j = i - 1
        while j >= 0 and ATTRIBUTE_LINE.match(lines[j]):
            j -= 1
        above = lines[j].strip() if j >= 0 else ""
        if above.startswith("///") or above.endswith("*/") and _opens_doc_block(lines, j):
            continue
        out.append((i + 1, stripped))
    return out


def _opens_doc_block(lines, end):
    """Whether the block comment ending on line `end` starts with `/**`."""
    for k in range(end, -1, -1):
        s = lines[k].strip()
        if "/*" in s:
            return "/**" in s
    return False


def sources(paths):
    if paths:
        return sorted(os.path.relpath(os.path.abspath(p), ROOT) for p in paths)
    found = []
    for base, dirs, files in os.walk(os.path.join(ROOT, "Sources")):
        dirs.sort()
        found += [os.path.relpath(os.path.join(base, f), ROOT) for f in files if f.endswith(".swift")]
    return sorted(found)


def main(argv):
    count_only = "--count" in argv
    files = sources([a for a in argv if not a.startswith("--")])
    missing = [(f, n, text) for f in files for n, text in undocumented(os.path.join(ROOT, f))]
    if count_only:
        per_target = {}
        for f, _, _ in missing:
            target = f.split("/")[1]
            per_target[target] = per_target.get(target, 0) + 1
        for target, n in sorted(per_target.items()):
            print(f"{target}: {n}")
    else:
        for f, n, text in missing:
            print(f"{f}:{n}: {text}")
    print(f"{len(missing)} public, open or package declarations without a doc comment in {len(files)} files",
          file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
