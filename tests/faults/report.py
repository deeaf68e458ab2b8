"""Print the fault matrix per provider: `python -m tests.faults.report [provider ...]`.

Runs every case of tests/faults/matrix.py (a kill after each mutating request of the mixed
plan, lost and late answers on the first buy, bind and release, storms on reads) against
each provider's emulator, and prints per provider: cases, kill points, faults injected,
duplicate purchases (must be 0), unplanned releases (must be 0), reruns needed, and the
cases that failed with why. Exits 1 if any case failed. Takes a few minutes: the cases run
the CLI in subprocesses and wait out settle times.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from tests.faults.matrix import PROFILES, Verdict, cases_of, run_cases

COLUMNS = (
    "provider",
    "cases",
    "kill points",
    "faults injected",
    "duplicates",
    "unplanned releases",
    "reruns",
    "failed",
)


def summary(kind: str, verdicts: list[Verdict]) -> tuple[str, ...]:
    return (
        kind,
        str(len(verdicts)),
        str(sum(1 for v in verdicts if v.kill_point is not None)),
        str(sum(v.faults_injected for v in verdicts)),
        str(sum(v.duplicates for v in verdicts)),
        str(sum(v.unplanned_releases for v in verdicts)),
        str(sum(v.reruns for v in verdicts)),
        str(sum(1 for v in verdicts if not v.ok)),
    )


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [COLUMNS, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    kinds = argv or sorted(PROFILES)
    unknown = [k for k in kinds if k not in PROFILES]
    if unknown:
        print(f"error: no fault profile for {', '.join(unknown)}", file=sys.stderr)
        return 1
    rows = []
    failures: list[Verdict] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="numbers-iac-faults-") as tmp:
        for kind in kinds:
            cases = [case for family in cases_of(PROFILES[kind]).values() for case in family]
            verdicts = run_cases(cases, Path(tmp) / kind)
            rows.append(summary(kind, verdicts))
            failures += [v for v in verdicts if not v.ok]
            print(f"{kind}: {len(verdicts)} cases done", file=sys.stderr, flush=True)
    print(table(rows))
    print(f"\n{sum(int(r[1]) for r in rows)} cases in {time.monotonic() - started:.0f} s")
    for verdict in failures:
        point = f" at mutation {verdict.kill_point}" if verdict.kill_point else ""
        print(f"FAILED {verdict.provider} {verdict.case}{point}: {'; '.join(verdict.problems)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
