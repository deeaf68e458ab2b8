"""The fault matrix (tests/faults/matrix.py) for every provider: a kill after every mutating
request of the mixed plan, lost and late answers on the first buy, bind and release, and
storms on reads. Every case must end with 0 duplicate purchases, 0 unplanned releases,
protected and unmanaged numbers untouched, and a plan with no changes.

Cases of one provider and family run side by side (see `run_cases`); a failure lists every
case's verdict."""

from __future__ import annotations

import pytest

from tests.faults.cli import cli
from tests.faults.matrix import PROFILES, Case, Verdict, cases_of, run_cases

FAMILIES = [
    (kind, family)
    for kind, profile in sorted(PROFILES.items())
    for family, cases in cases_of(profile).items()
    if cases
]


@pytest.mark.parametrize("kind", sorted(PROFILES))
def test_the_mixed_plan_makes_the_mutations_the_matrix_kills_at(kind, tmp_path):
    """The undisturbed plan makes exactly the profile's mutations, so "a kill after each"
    covers them all, and it converges in one apply."""
    profile = PROFILES[kind]
    case = Case(profile, tmp_path)
    try:
        case.prepare()
        extra = {} if profile.http else {"NUMBERS_IAC_SANDBOX_KILL_AFTER": "1000"}
        applied = cli(tmp_path, "apply", "--auto-approve", "--allow-release", **extra)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        if profile.http:
            assert case.mutations() == profile.mutations
        verdict = case.judge(Verdict(kind, "undisturbed"))
        assert verdict.ok, verdict
    finally:
        case.close()


@pytest.mark.parametrize(("kind", "family"), FAMILIES, ids=[f"{k}-{f}" for k, f in FAMILIES])
def test_every_fault_converges_without_duplicates_or_unplanned_releases(kind, family, tmp_path):
    verdicts = run_cases(cases_of(PROFILES[kind])[family], tmp_path)
    bad = [v for v in verdicts if not v.ok]
    assert not bad, "\n".join(map(str, bad))
    assert all(v.faults_injected > 0 for v in verdicts), verdicts
    if family == "kills":
        assert [v.kill_point for v in verdicts] == list(range(1, PROFILES[kind].mutations + 1))
    if family == "storms":
        assert all(v.reruns == 1 for v in verdicts), "a storm must be weathered in one apply"
