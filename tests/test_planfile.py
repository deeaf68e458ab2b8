"""Saved plans: what `plan -out` writes is exactly what `apply` reads back, or a clear error."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numbers_iac import planfile
from numbers_iac.errors import PlanFileError
from numbers_iac.model import (
    Adopt,
    Bind,
    Forget,
    Misplaced,
    Move,
    PendingNote,
    Plan,
    Price,
    Purchase,
    Release,
    SetLabels,
    Settle,
    Unmanaged,
    Where,
)

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "plan.schema.json"


def full_plan() -> Plan:
    """One of every action kind, with every optional part filled in."""
    return Plan(
        actions=(
            Purchase(
                "lab",
                "support-fr",
                count=2,
                where=Where("FR", "local", "AMIENS", None, ("voice", "sms")),
                app="support-ivr",
                app_id="app-1",
                labels={"team": "support"},
                protect=True,
                price=Price(Decimal("1.00"), Decimal("0.80"), "EUR"),
            ),
            Purchase("lab", "pinned", count=1, pinned=("+33322000020",)),
            Adopt("lab", "support-fr", number="+33322000013", provider_id="n13", reason="pinned"),
            Bind("lab", "support-fr", number="+33322000011", provider_id="n11", app="support-ivr"),
            SetLabels(
                "lab",
                "support-fr",
                number="+33322000012",
                before={"team": "ops"},
                after={"team": "support"},
                tag_before=None,
                tag="support-fr",
            ),
            Release("lab", "old", number="+33322000014", reason="removed", monthly=Decimal("0.50")),
            Release("lab", "old", number="+33322000015", reason="removed"),
            Forget("lab", "old", number="+33322000016"),
            Settle("lab", "support-fr", entry_id=7, adopted=("+33322000018",), age_seconds=30),
            Move("lab", "support-fr", number="+33322000020", moved_from="support", proposed=True),
        ),
        pending=(
            PendingNote("lab", "support-fr", 2, ("+33322000017",)),
            PendingNote("lab", "hotline", 1, ("+33322000019",), "unresolved", 42),
        ),
        unmanaged=(
            Unmanaged("lab", "+15550000001", Decimal("1.15")),
            Unmanaged("lab", "+15550000002"),
        ),
        warnings=("app support-ivr has no voice URL",),
        misplaced=(Misplaced("lab", "support-fr", "+33322000021", "type"),),
        fingerprints={"lab": "abc123"},
        state_digest="def456",
        config_digest="0123abcd",
        config_path="/repo/numbers.yaml",
        targets=("support-fr",),
        created_at="2024-05-01T12:00:00Z",
    )


def write(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "plan.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def test_save_then_load_gives_back_the_same_plan(tmp_path):
    plan = full_plan()
    path = tmp_path / "plan.json"
    planfile.save(plan, path)
    loaded = planfile.load(path)
    assert loaded == plan
    assert loaded.fingerprints == plan.fingerprints
    assert loaded.state_fingerprint == plan.state_fingerprint != ""
    price = loaded.actions[0].price
    assert price.monthly == Decimal("0.80") and str(price.monthly) == "0.80"
    assert loaded.cost() == plan.cost()


def test_saved_plan_validates_against_the_schema_file():
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(
        planfile.plan_to_dict(full_plan()), schema, cls=jsonschema.Draft202012Validator
    )


def test_plan_file_holds_only_documented_fields_and_a_correct_summary():
    data = planfile.plan_to_dict(full_plan())
    assert set(data) == {
        "format_version",
        "created_at",
        "config_path",
        "config_digest",
        "fingerprints",
        "state_fingerprint",
        "targets",
        "replaced",
        "accepted",
        "ambiguous_moves",
        "unmovable",
        "actions",
        "pending",
        "unmanaged",
        "warnings",
        "missing",
        "misplaced",
        "quarantined",
        "guards",
        "summary",
    }
    assert data["summary"]["actions"] == {
        "purchase": 2,
        "adopt": 1,
        "bind": 1,
        "labels": 1,
        "release": 2,
        "forget": 1,
        "settle": 1,
        "move": 1,
        "quarantine": 0,
        "restore": 0,
    }
    assert data["summary"]["numbers_to_purchase"] == 3
    assert data["summary"]["cost"] == {
        "setup": {"EUR": "2.00"},
        "monthly": {"EUR": "1.60", "USD": "-0.50"},
        "unpriced": 2,
    }


def test_save_replaces_atomically_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text("old")
    planfile.save(full_plan(), path)
    assert os.listdir(tmp_path) == ["plan.json"]
    assert json.loads(path.read_text())["format_version"] == 1


def test_save_into_a_missing_directory_is_a_plan_file_error(tmp_path):
    with pytest.raises(PlanFileError, match="cannot write plan file"):
        planfile.save(full_plan(), tmp_path / "nope" / "plan.json")


def valid_data() -> dict:
    return planfile.plan_to_dict(full_plan())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"is not JSON: .* line 1, column 2"),
        (b"\xff\xfe\x00", "is not JSON"),
        ("[1, 2]", "is not a numbers-iac plan"),
        (json.dumps({"actions": []}), "is not a numbers-iac plan"),
        (json.dumps({**valid_data(), "format_version": 0}), "unsupported format_version 0"),
        (json.dumps({**valid_data(), "format_version": 2}), "written by a newer numbers-iac"),
        (json.dumps({**valid_data(), "format_version": "1"}), "unreadable format_version"),
        (json.dumps({**valid_data(), "actions": "x"}), "field actions: 'x' is not of type"),
        (
            json.dumps({**valid_data(), "actions": [{"kind": "explode"}]}),
            r"field actions\[0\].kind: 'explode' is not one of",
        ),
        (
            json.dumps(
                {**valid_data(), "actions": [{**valid_data()["actions"][0], "count": "two"}]}
            ),
            r"field actions\[0\].count: 'two' is not of type 'integer'",
        ),
        (
            json.dumps(
                {
                    **valid_data(),
                    "actions": [{**valid_data()["actions"][5], "monthly": "fifty cents"}],
                }
            ),
            r"field actions\[0\].monthly",
        ),
        (
            json.dumps({**valid_data(), "provider_settings": {}}),
            "'provider_settings' was unexpected",
        ),
        (
            json.dumps({k: v for k, v in valid_data().items() if k != "config_digest"}),
            "field config_digest is missing",
        ),
        (
            json.dumps({**valid_data(), "actions": [{"kind": "release", "provider": "lab"}]}),
            r"field actions\[0\].declaration is missing",
        ),
    ],
)
def test_bad_plan_files_give_a_one_line_plan_file_error(tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(PlanFileError, match=message) as caught:
        planfile.load(path)
    assert "\n" not in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_plan_file_says_so(tmp_path):
    with pytest.raises(PlanFileError, match="does not exist"):
        planfile.load(tmp_path / "missing.json")


# --------------------------------------------------------------------------- any plan

numbers = st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True)
names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
labels = st.dictionaries(names, names, max_size=3)
money = st.decimals(min_value=0, max_value=1000, places=4, allow_nan=False, allow_infinity=False)
prices = st.builds(Price, money, money, st.sampled_from(["USD", "EUR", "GBP"]))
wheres = st.builds(
    Where,
    st.sampled_from(["US", "FR"]),
    st.sampled_from(["local", "mobile", "tollfree"]),
    st.none() | names,
    st.none() | st.from_regex(r"[0-9]{1,4}", fullmatch=True),
    st.lists(st.sampled_from(["voice", "sms", "mms"]), unique=True).map(tuple),
)
common = {"provider": names, "declaration": names}
actions = st.one_of(
    st.builds(
        Purchase,
        **common,
        count=st.integers(1, 50),
        where=st.none() | wheres,
        pinned=st.lists(numbers, max_size=3).map(tuple),
        app=st.none() | names,
        labels=labels,
        protect=st.booleans(),
        price=st.none() | prices,
    ),
    st.builds(Adopt, **common, number=numbers, reason=names, protect=st.booleans()),
    st.builds(Bind, **common, number=numbers, app_before=st.none() | names, app=st.none() | names),
    st.builds(
        SetLabels, **common, number=numbers, before=labels, after=labels, tag=st.none() | names
    ),
    st.builds(
        Release, **common, number=numbers, monthly=st.none() | money, currency=st.just("EUR")
    ),
    st.builds(Forget, **common, number=numbers),
)
plans = st.builds(
    Plan,
    actions=st.lists(actions, max_size=8).map(tuple),
    pending=st.lists(st.builds(PendingNote, names, names, st.integers(0, 5)), max_size=2).map(
        tuple
    ),
    unmanaged=st.lists(st.builds(Unmanaged, names, numbers, st.none() | money), max_size=2).map(
        tuple
    ),
    warnings=st.lists(names, max_size=2).map(tuple),
    fingerprints=st.dictionaries(names, names, max_size=2),
    targets=st.lists(names, max_size=2).map(tuple),
)


@settings(max_examples=60, deadline=None)
@given(plans)
def test_any_plan_survives_a_round_trip_through_the_file(tmp_path_factory, plan):
    path = tmp_path_factory.mktemp("plans") / "plan.json"
    planfile.save(plan, path)
    assert planfile.load(path) == plan


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("0.80000", "0.80"),
        ("0.8", "0.80"),
        ("1", "1.00"),
        ("0.00450", "0.0045"),
        ("0.0000001", "0.0000001"),
    ],
)
def test_amounts_are_written_in_cents_whatever_precision_the_provider_gave(written, shown):
    """Plivo writes "0.80000", others "0.8": a pipeline reading the plan sees one form."""
    from numbers_iac.model import amount_text

    assert amount_text(Decimal(written)) == shown
    assert Decimal(shown) == Decimal(written)


def test_a_stale_plan_says_which_part_of_a_listing_or_state_moved():
    """The refusal of a stale saved plan names what changed (counts, then per-number parts
    only while the same numbers are held); a plan file from before fingerprints had parts
    gets the refusal without the detail."""
    from numbers_iac.engine import _what_changed
    from numbers_iac.model import Account, App, ManagedNumber, OwnedNumber, Recorded

    one = OwnedNumber(number="+33322000001", provider_id="1", country="FR", app_id="a")
    two = OwnedNumber(number="+33322000002", provider_id="2", country="FR", app_id="a")
    ivr = (App("a", "ivr"),)
    then = Account("lab", (one, two), ivr).fingerprint()

    def now(*numbers: OwnedNumber, apps: tuple[App, ...] = ivr) -> str:
        return _what_changed(then, Account("lab", numbers, apps).fingerprint())

    assert now(one, two) == ""
    assert now(one) == " (numbers: 2 then, 1 now)"
    three = OwnedNumber(number="+33322000003", provider_id="3", country="FR", app_id="b")
    assert now(one, three) == " (other numbers, as many (2))"
    relabelled = OwnedNumber(
        number="+33322000002", provider_id="2", country="FR", app_id="a", labels={"t": "x"}
    )
    assert now(one, relabelled) == " (the labels of some numbers)"
    assert now(one, two, apps=(App("a", "bot"),)) == " (apps renamed or replaced)"
    assert _what_changed("d662b3860822d81f", Account("lab", (one,)).fingerprint()) == ""

    managed = ManagedNumber(
        provider="lab", number="+33322000001", declaration="support", provider_id="1"
    )
    state_then = Recorded({("lab", managed.number): managed}).fingerprint()
    assert (
        _what_changed(state_then, Recorded().fingerprint()) == " (managed numbers: 1 then, 0 now)"
    )
    moved = replace(managed, declaration="support-v2")
    state_now = Recorded({("lab", managed.number): moved}).fingerprint()
    assert _what_changed(state_then, state_now) == " (the declaration of some numbers (moved))"
