"""What an apply says it did: the numbers bought and released (the first 20, then "and N
more"), numbers and actions counted apart, skipped and failed actions grouped instead of one
line each, a JSON report for pipelines; long lists in errors and the journal cut the same way."""

from __future__ import annotations

import json
import signal
import time
from decimal import Decimal

import pytest

from numbers_iac.emulators.faults import Fault
from numbers_iac.emulators.serve import serve
from numbers_iac.errors import GuardError
from numbers_iac.executor import DONE, FAILED, SKIPPED, ActionResult, ApplyReport, check_guards
from numbers_iac.model import (
    Bind,
    Declaration,
    Desired,
    JournalEntry,
    Plan,
    ProviderConfig,
    Purchase,
    Release,
    StateConfig,
    Where,
)
from numbers_iac.render import tables
from numbers_iac.render.report import render_report, report_json
from numbers_iac.simulation import World
from tests.faults.cli import AUTH_ID, AUTH_TOKEN, start, wait
from tests.test_cli import run, sandbox_world, write_config

NUMBERS = [f"+3310000{i:04d}" for i in range(40)]
INTERRUPTED = "not started: the apply was interrupted"


@pytest.fixture
def project(tmp_path):
    write_config(tmp_path)
    return tmp_path


def release(number: str, declaration: str = "bulk") -> Release:
    return Release("lab", declaration, number=number, reason="surplus", monthly=Decimal("0.80"))


def purchase(count: int, declaration: str = "bulk") -> Purchase:
    return Purchase("lab", declaration, count=count, where=Where("FR", "local", "PARIS"))


def interrupted_report() -> ApplyReport:
    report = ApplyReport("a1", interrupted=True)
    report.results += [ActionResult(release(n), DONE) for n in NUMBERS[:10]]
    report.results += [ActionResult(release(n), SKIPPED, INTERRUPTED) for n in NUMBERS[10:]]
    return report


# --------------------------------------------------------------------------- the text summary


def test_an_interrupted_release_batch_is_summarised_not_listed_line_by_line():
    text = render_report(interrupted_report())
    skipped = [line for line in text.splitlines() if line.startswith("skipped:")]
    assert skipped == [
        f"skipped: lab / bulk: release of 30 numbers ({', '.join(NUMBERS[10:30])} and 10 more): "
        + INTERRUPTED
    ]
    assert f"Released 10 numbers: {', '.join(NUMBERS[:10])}" in text.splitlines()
    assert text.splitlines()[-1] == (
        "Apply interrupted. Numbers: 0 purchased, 0 updated, 10 released. "
        "Actions: 10 done, 0 failed, 30 not started; plan again for the rest."
    )


def test_the_summary_names_what_was_bought_the_first_20_then_how_many_more():
    bought = tuple(NUMBERS[:25])
    report = ApplyReport("a1")
    report.results += [
        ActionResult(purchase(25), DONE, "bought 25 of 25", bought),
        ActionResult(Bind("lab", "bulk", number=NUMBERS[30], app="ivr"), DONE),
        ActionResult(release(NUMBERS[31], "old"), DONE),
    ]
    lines = render_report(report).splitlines()
    assert lines[0] == (
        f"Bought 25 numbers: {', '.join(NUMBERS[:20])} and 5 more "
        "(all of them: numbers-iac state journal, or apply --format json)"
    )
    assert lines[1] == f"Released 1 number: {NUMBERS[31]}"
    assert lines[2] == (
        "Apply complete. Numbers: 25 purchased, 1 updated, 1 released. Actions: 3 done, 0 failed."
    )


def test_failures_are_grouped_by_reason_and_long_lists_in_them_are_cut():
    report = ApplyReport("a1")
    detail = f"bought 25 of 30: {', '.join(NUMBERS[:25])}; no more numbers for sale"
    report.results.append(ActionResult(purchase(30), FAILED, detail, tuple(NUMBERS[:25])))
    report.results += [
        ActionResult(release(n, "old"), FAILED, "provider lab: release failed: 503")
        for n in NUMBERS[30:]
    ]
    failed = [line for line in render_report(report).splitlines() if line.startswith("failed:")]
    assert failed == [
        f"failed: lab / bulk: purchase 30 numbers: bought 25 of 30: {', '.join(NUMBERS[:20])} "
        "and 5 more; no more numbers for sale",
        f"failed: lab / old: release of 10 numbers ({', '.join(NUMBERS[30:])}): "
        "provider lab: release failed: 503",
    ]
    assert render_report(report).endswith(
        "Apply finished with errors. Numbers: 25 purchased, 0 updated, 0 released. "
        "Actions: 0 done, 11 failed."
    )


def test_the_json_report_has_every_result_and_its_numbers():
    data = json.loads(report_json(interrupted_report()))
    assert data["status"] == "interrupted"
    assert data["numbers"]["released"] == 10
    assert data["actions"] == {"total": 40, "done": 10, "failed": 0, "skipped": 30}
    assert data["released"] == NUMBERS[:10]
    assert [r["numbers"] for r in data["results"]] == [[n] for n in NUMBERS]
    assert {r["status"] for r in data["results"][10:]} == {"skipped"}
    assert data["results"][0]["action"]["kind"] == "release"


# --------------------------------------------------------------------------- errors, journal


def test_a_refusal_lists_the_first_20_numbers_then_how_many_more():
    numbers = NUMBERS[:25]
    desired = Desired(
        "numbers.yaml",
        "x",
        {"lab": ProviderConfig("lab", "sandbox", {})},
        {"bulk": Declaration("bulk", "lab", 0, country="FR", protect=True)},
        StateConfig(),
    )
    plan = Plan(actions=tuple(release(n) for n in numbers))
    with pytest.raises(GuardError) as protected:
        check_guards(plan, desired, {}, allow_release=True)
    assert f"protected numbers {', '.join(numbers[:20])} and 5 more" in str(protected.value)
    with pytest.raises(GuardError) as unallowed:
        check_guards(plan, None, {}, allow_release=False)
    assert f"releases 25 numbers ({', '.join(numbers[:20])} and 5 more)" in str(unallowed.value)


def test_the_text_journal_shows_a_release_entrys_numbers_and_cuts_long_lists():
    entries = [
        JournalEntry(
            2, "a1", "2024-05-01T10:00:02Z", "release", "lab", "bulk", {"numbers": NUMBERS}, "ok"
        ),
        JournalEntry(
            1,
            "a1",
            "2024-05-01T10:00:01Z",
            "purchase",
            "lab",
            "bulk",
            {"count": 40},
            "ok",
            f"bought 40 of 40: {', '.join(NUMBERS)}",
        ),
    ]
    lines = tables.journal_text(entries).splitlines()
    assert lines[1] == f"    numbers: {', '.join(NUMBERS[:20])} and 20 more"
    assert lines[3] == f"    bought 40 of 40: {', '.join(NUMBERS[:20])} and 20 more"
    assert json.loads(tables.journal_json(entries))[0]["payload"]["numbers"] == NUMBERS


# --------------------------------------------------------------------------- as a user sees it


def test_apply_names_what_it_bought_and_counts_numbers_and_actions_apart(project):
    applied = run(project, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    bought = sorted(sandbox_world(project).numbers)
    line = next(x for x in applied.stdout.splitlines() if x.startswith("Bought "))
    assert line.startswith("Bought 3 numbers: ") and sorted(line[18:].split(", ")) == bought
    assert "Apply complete. Numbers: 3 purchased, 0 updated, 0 released. Actions: 2 done" in (
        applied.stdout
    )


def test_apply_format_json_prints_only_the_report_on_stdout(project):
    applied = run(project, "apply", "--auto-approve", "--format", "json")
    assert applied.returncode == 0, applied.stderr
    data = json.loads(applied.stdout)
    assert data["status"] == "complete" and data["numbers"]["purchased"] == 3
    assert sorted(data["bought"]) == sorted(sandbox_world(project).numbers)
    assert {r["declaration"]: len(r["numbers"]) for r in data["results"]} == {
        "hotline": 1,
        "support-fr": 2,
    }
    assert "Plan: 3 to purchase" in applied.stderr  # the plan is in the log, not in the JSON
    again = run(project, "apply", "--auto-approve", "--format", "json")
    assert json.loads(again.stdout)["status"] == "no changes", again.stderr

    write_config(project, support_quantity=1)  # a release, without --allow-release
    refused = run(project, "apply", "--auto-approve", "--format", "json")
    assert refused.returncode == 3
    data = json.loads(refused.stdout)
    assert data["status"] == "refused" and data["results"] == [] and data["bought"] == []
    assert any("--allow-release" in line for line in data["refused"])
    assert refused.stderr.rstrip().endswith("Nothing was changed.")


PLIVO = """\
version: 1
providers:
  plivo-eu:
    type: plivo
    base_url: {base_url}
    auth_id: ${{PLIVO_AUTH_ID}}
    auth_token: ${{PLIVO_AUTH_TOKEN}}
    rate_limit: [100000, 1]
numbers:
  bulk:
    provider: plivo-eu
    country: FR
    region: PARIS, FRANCE
    quantity: {quantity}
"""


def test_an_interrupted_40_release_apply_prints_one_skipped_line(tmp_path):
    """Over loopback: SIGTERM while releases are in flight; what was not started is one
    line naming how many and the first numbers, not 30 lines."""
    from tests.faults.cli import cli

    world = World.from_seed({})
    server = serve("plivo", world, auth_id=AUTH_ID, auth_token=AUTH_TOKEN)
    try:
        config = tmp_path / "numbers.yaml"
        config.write_text(PLIVO.format(base_url=server.url, quantity=40))
        assert cli(tmp_path, "apply", "--auto-approve").returncode == 0
        config.write_text(PLIVO.format(base_url=server.url, quantity=0))
        slow = server.app.add(Fault(status=None, delay=0.5, times=10**6, match="DELETE "))
        process = start(tmp_path, "apply", "--auto-approve", "--allow-release")
        deadline = time.monotonic() + 60
        while not slow.seen:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        out, err = wait(process)
        assert process.returncode == 1, out + err
        skipped = [line for line in out.splitlines() if line.startswith("skipped:")]
        assert len(skipped) == 1, out
        assert "release of" in skipped[0] and "more)" in skipped[0]
        assert "not started: the apply was interrupted" in skipped[0]
        assert "Apply interrupted." in out and " not started; plan again for the rest." in out
    finally:
        server.shutdown()


def test_numbers_bought_on_several_providers_are_listed_per_provider():
    """Two sandbox accounts may hand out the same digits: one line per provider, so the
    same number twice never reads as a double purchase."""
    report = ApplyReport("a1")
    for provider in ("lab", "lab2"):
        action = Purchase(provider, "bulk", count=2, where=Where("FR", "local", "PARIS"))
        report.results.append(ActionResult(action, DONE, numbers=tuple(NUMBERS[:2])))
    text = render_report(report, color=False)
    assert f"Bought 2 numbers on lab: {NUMBERS[0]}, {NUMBERS[1]}" in text
    assert f"Bought 2 numbers on lab2: {NUMBERS[0]}, {NUMBERS[1]}" in text
    assert "Bought 4" not in text
    single = ApplyReport("a2", results=report.results[:1])
    assert f"Bought 2 numbers: {NUMBERS[0]}, {NUMBERS[1]}" in render_report(single, color=False)
