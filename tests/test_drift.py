"""Drift as a view of the planner's plan plus the state: what differs from the declarations,
what changed outside numbers-iac since the last apply, and how it is rendered."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

import pytest

from numbers_iac import planner
from numbers_iac.drift import FieldChange, NumberDrift, drift_report
from numbers_iac.model import Account, OwnedNumber, Recorded
from numbers_iac.providers.base import Capabilities
from numbers_iac.render.drift import render_drift
from tests.test_planner import APPS, N1, N2, N3, STATE_CAPS, decl, desired, owned, record

NATIVE_CAPS = Capabilities(native_labels=True, ownership_tag=True)


def report(d, numbers=(), records=(), caps=STATE_CAPS):
    account = Account("lab", tuple(numbers), APPS)
    recorded = Recorded({(r.provider, r.number): r for r in records})
    the_plan = planner.plan(d, {"lab": account}, recorded, {"lab": caps})
    return drift_report(the_plan, recorded, {"lab": account}, {"lab": caps})


def ivr_record(number, **kw):
    return replace(record(number, labels={"team": "support"}, **kw), app="support-ivr")


SUPPORT = decl(app="support-ivr", labels={"team": "support"})


def test_a_converged_account_is_clean_even_with_unmanaged_numbers():
    r = report(
        desired(SUPPORT),
        [owned(N1, "a1"), owned(N2, "a1"), owned(N3, monthly="1.25")],
        [ivr_record(N1), ivr_record(N2)],
    )
    assert not r.drifted
    [lab] = r.providers
    assert [u.number for u in lab.unmanaged] == [N3]
    assert lab.unmanaged_monthly() == {"USD": Decimal("1.25")}
    text = render_drift(r, "text")
    assert "No drift" in text and "Unmanaged (1) costing $1.25/month" in text


@pytest.mark.parametrize(
    ("numbers", "records", "expect"),
    [
        # one number short of the quantity: missing
        ([owned(N1, "a1")], [ivr_record(N1)], {"missing": 1}),
        # rebound by hand: differs from the declaration and changed outside since the apply
        (
            [owned(N1, "a2"), owned(N2, "a1")],
            [ivr_record(N1), ivr_record(N2)],
            {
                "differing": [("app", "sales-bot", "support-ivr")],
                "changed_outside": [("app", "support-ivr", "sales-bot")],
            },
        ),
        # the configuration changed (labels) but nothing outside: differs only
        (
            [owned(N1, "a1"), owned(N2, "a1")],
            [replace(ivr_record(N1), labels={"team": "x", "old": "1"}), ivr_record(N2)],
            {
                "differing": [
                    ("labels.old", "1", None),
                    ("labels.team", "x", "support"),
                ]
            },
        ),
        # released in the console: vanished, never a purchase
        ([owned(N1, "a1")], [ivr_record(N1), ivr_record(N2)], {"vanished": [N2]}),
    ],
)
def test_what_each_kind_of_drift_reports(numbers, records, expect):
    r = report(desired(SUPPORT), numbers, records)
    assert r.drifted
    [lab] = r.providers
    assert len(lab.missing) == expect.get("missing", 0)
    for section in ("differing", "changed_outside"):
        changes = [(c.field, c.before, c.after) for n in getattr(lab, section) for c in n.changes]
        assert changes == expect.get(section, []), section
    assert [m.number for m in lab.vanished] == expect.get("vanished", [])


def test_native_labels_changed_in_the_console_show_key_by_key():
    labelled = [
        OwnedNumber(n, n[1:], "FR", app_id="a1", tag="support", labels=labels)
        for n, labels in ((N1, {"team": "support", "extra": "y"}), (N2, {"team": "support"}))
    ]
    r = report(desired(SUPPORT), labelled, [ivr_record(N1), ivr_record(N2)], caps=NATIVE_CAPS)
    [lab] = r.providers
    assert lab.changed_outside == (
        NumberDrift("lab", "support", N1, (FieldChange("labels.extra", None, "y"),)),
    )
    assert lab.differing == (
        NumberDrift("lab", "support", N1, (FieldChange("labels.extra", "y", None),)),
    )


def test_other_changes_the_plan_would_make_count_as_drift():
    r = report(
        desired(replace(SUPPORT, quantity=1)),
        [owned(N1, "a1"), owned(N2, "a1")],
        [ivr_record(N1), ivr_record(N2, created="2026-02-01")],
    )
    assert r.drifted and r.providers[0].other_changes == {"release": 1}
    assert "Apply would also make: 1 release" in render_drift(r, "text")


def test_renderings_name_the_number_and_escape_what_the_provider_wrote():
    r = report(
        desired(SUPPORT),
        [owned(N1, "a1"), owned(N2, "\x1b[2Jevil")],
        [ivr_record(N1), ivr_record(N2)],
    )
    text = render_drift(r, "text")
    assert N2 in text and "\x1b" not in text
    markdown = render_drift(r, "markdown")
    assert f"`{N2}`" in markdown and markdown.startswith("## numbers-iac drift")
    data = json.loads(render_drift(r, "json"))
    assert data["drift"] is True
    assert data["providers"][0]["differing"][0]["changes"][0]["declared"] == "support-ivr"


def test_an_app_listed_under_two_names_is_no_drift():
    """Voximplant lists each application under its short and its full name: a number bound
    to it is where the state says, whichever name the declaration used."""
    apps = (
        *APPS,
        *(replace(a, name=f"{a.name}.acct.voximplant.com") for a in APPS),
    )
    account = Account("lab", (owned(N1, "a1"), owned(N2, "a1")), apps)
    recorded = Recorded({(r.provider, r.number): r for r in (ivr_record(N1), ivr_record(N2))})
    the_plan = planner.plan(desired(SUPPORT), {"lab": account}, recorded, {"lab": STATE_CAPS})
    clean = drift_report(the_plan, recorded, {"lab": account}, {"lab": STATE_CAPS})
    assert not clean.drifted
    # a number rebound by hand to another app still shows, under that app's first name
    account = Account("lab", (owned(N1, "a2"), owned(N2, "a1")), apps)
    the_plan = planner.plan(desired(SUPPORT), {"lab": account}, recorded, {"lab": STATE_CAPS})
    [lab] = drift_report(the_plan, recorded, {"lab": account}, {"lab": STATE_CAPS}).providers
    assert [c.changes for c in lab.changed_outside] == [
        (FieldChange("app", "support-ivr", "sales-bot"),)
    ]
