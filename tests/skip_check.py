#!/usr/bin/env python3
"""Lists the tests a ctest run skipped, with their reasons, and fails when a
skip is not allowed.

usage: skip_check.py JUNIT_XML ALLOWED_LIST

JUNIT_XML is what `ctest --output-junit FILE --test-output-size-passed N`
wrote (N large enough that a passed test's output is whole); ALLOWED_LIST is
tests/skip-allowed.txt (one reason-id a line, `#` starts a comment).

A test skips by printing one line "BANGER-SKIP: <reason-id>: <text>"
(tests/skiplib.sh, tests/unit/skip.h) and exiting 77. Prints every skipped
test with its reasons, then a FAIL line for each problem:
  - a test that ctest reports skipped with no BANGER-SKIP line;
  - a BANGER-SKIP line whose reason-id is not in ALLOWED_LIST;
  - a BANGER-SKIP line that does not read "BANGER-SKIP: <id>: <text>";
  - a test that printed BANGER-SKIP or cmocka's "[  SKIPPED ]" and still
    passed: its skip would not show in ctest's counts.
Exits 0 when there is no problem, 1 when there is one, 2 when the files
cannot be read.
"""
import re
import sys
import xml.etree.ElementTree as ET

SKIP_LINE = re.compile(r"^BANGER-SKIP: ([a-z0-9][a-z0-9-]*): (\S.*)$")
ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def load_allowed(path):
    allowed = set()
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            word = line.split("#", 1)[0].strip()
            if not word:
                continue
            if not ID.match(word):
                raise ValueError(f"{path}:{n}: '{word}' is not a reason-id ([a-z0-9-]+)")
            allowed.add(word)
    return allowed


def skip_lines(out):
    """(reasons, malformed): the BANGER-SKIP lines of a test's output."""
    reasons, malformed = [], []
    for line in out.splitlines():
        if not line.startswith("BANGER-SKIP"):
            continue
        m = SKIP_LINE.match(line.rstrip())
        if m:
            reasons.append((m.group(1), m.group(2)))
        else:
            malformed.append(line.rstrip())
    return reasons, malformed


def check(junit, allowed):
    """Returns (skipped, problems): skipped is [(test, [(id, text)])]."""
    root = ET.parse(junit).getroot()
    skipped, problems = [], []
    for tc in root.iter("testcase"):
        name = tc.get("name", "?")
        status = tc.get("status", "")
        out = tc.findtext("system-out") or ""
        reasons, malformed = skip_lines(out)
        for line in malformed:
            problems.append(f"{name}: malformed skip line (want 'BANGER-SKIP: <id>: <text>'): {line}")
        ctest_skipped = tc.find("skipped") is not None or status == "notrun"
        if ctest_skipped:
            skipped.append((name, reasons))
            if not reasons and not malformed:
                el = tc.find("skipped")
                why = el.get("message", "") if el is not None else status
                problems.append(f"{name}: skipped without a BANGER-SKIP line ({why})")
        elif status == "run" and (reasons or re.search(r"^\[  SKIPPED \]", out, re.M)):
            skipped.append((name, reasons))
            problems.append(f"{name}: skipped part of its work but passed "
                            "(a skip must exit 77: tests/unit/skip.h test_status)")
        for rid, _ in reasons:
            if rid not in allowed:
                problems.append(f"{name}: skip reason '{rid}' is not in the allowed list")
    return skipped, problems


def main(argv):
    if len(argv) != 3:
        print("usage: skip_check.py JUNIT_XML ALLOWED_LIST", file=sys.stderr)
        return 2
    junit, allowed_path = argv[1], argv[2]
    try:
        allowed = load_allowed(allowed_path)
        skipped, problems = check(junit, allowed)
    except (OSError, ET.ParseError, ValueError) as e:
        print(f"FAIL: skip check: {e}")
        return 2
    if skipped:
        print(f"skipped tests: {len(skipped)}")
        for name, reasons in skipped:
            if not reasons:
                print(f"  {name}: (no reason given)")
            for rid, text in reasons:
                print(f"  {name}: {rid}: {text}")
    else:
        print("skipped tests: none")
    for p in problems:
        print(f"FAIL: {p}")
    if problems:
        print(f"FAIL: {len(problems)} problem(s) with skips; a skip is only for what this machine "
              f"lacks ({allowed_path})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
