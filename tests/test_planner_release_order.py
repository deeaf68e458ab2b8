"""Regression (second review): "releases are chosen newest-first" holds only in the plan that adopts.

The first review's fix (planner._release_order) dates a number being adopted *now* by the
provider's `acquired_on`. But once the adoption is applied, executor._record_only writes
`created_at=""` for it (executor.py, `created_at=existing.created_at if existing else ""`)
and SqliteStateStore._save_numbers stores `now` instead; from then on _release_order sorts
by that adoption time and never looks at `acquired_on` again. After a state rebuild (every
tagged number re-adopted in one apply, all with the same created_at), lowering the quantity
releases by phone-number order: here the number held since 2019 goes, and the one bought
last week stays. A release is irreversible.
"""

from __future__ import annotations

from decimal import Decimal

from numbers_iac import planner
from numbers_iac.model import Account, ManagedNumber, OwnedNumber, Recorded, Release
from numbers_iac.providers.base import Capabilities
from tests.test_planner import APPS, decl, desired

CAPS = Capabilities(ownership_tag=True)
OLD, NEW = "+33322000009", "+33322000001"  # OLD sorts after NEW as a string
ADOPTED_AT = "2026-11-27T10:00:00+00:00"  # what the apply that re-adopted both wrote


def listed(number: str, acquired: str) -> OwnedNumber:
    return OwnedNumber(
        number=number,
        provider_id=number[1:],
        country="FR",
        number_type="local",
        tag="support",
        monthly=Decimal("0.80"),
        acquired_on=acquired,
    )


def test_after_readoption_the_long_held_number_is_released_first():
    numbers = (listed(OLD, "2019-03-01"), listed(NEW, "2026-11-20"))
    records = {
        ("lab", n): ManagedNumber("lab", n, "support", n[1:], created_at=ADOPTED_AT)
        for n in (OLD, NEW)
    }
    d = desired(decl(quantity=1))
    p = planner.plan(d, {"lab": Account("lab", numbers, APPS)}, Recorded(records), {"lab": CAPS})
    released = [a.number for a in p.actions if isinstance(a, Release)]
    assert released == [NEW], (
        f"releases {released}: {OLD} is held since 2019 ({NEW} since last week); "
        "release order ignores acquired_on once a record exists"
    )
