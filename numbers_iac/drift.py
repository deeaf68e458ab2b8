"""Drift: how far the accounts are from the declarations, as a nightly job reports it.

A view, not a second planner. What differs from the declarations is read off the plan the
pure planner made (its purchases, binds and label changes, its missing numbers); what was
changed outside numbers-iac since the last apply compares the listing with what the state
recorded when apply last touched each number (its app, its provider-side labels, its
ownership tag). Pure: plan, state and listings in, a `DriftReport` out.

Unmanaged numbers are listed with what they cost, but are not drift on their own: `state
forget` leaves numbers there on purpose, and a job that failed every night for them would be
muted. `import` or release them by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from numbers_iac.model import (
    PENDING,
    Account,
    Bind,
    ManagedNumber,
    Missing,
    Plan,
    Purchase,
    Recorded,
    SetLabels,
    Unmanaged,
)
from numbers_iac.providers.base import Capabilities


@dataclass(frozen=True)
class FieldChange:
    """One field of one number, key by key for labels (`field` "labels.team")."""

    field: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class NumberDrift:
    """A number and its fields that differ: from the declaration (`before` is the account,
    `after` the declaration), or since the last apply (`before` the state, `after` the
    account)."""

    provider: str
    declaration: str
    number: str
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True)
class Shortfall:
    """Declared numbers the account does not hold (a purchase the plan would make)."""

    provider: str
    declaration: str
    count: int
    pinned: tuple[str, ...] = ()
    where: str | None = None


@dataclass(frozen=True)
class ProviderDrift:
    provider: str
    missing: tuple[Shortfall, ...] = ()
    differing: tuple[NumberDrift, ...] = ()
    changed_outside: tuple[NumberDrift, ...] = ()
    #: managed numbers the provider no longer lists (released outside numbers-iac?)
    vanished: tuple[Missing, ...] = ()
    unmanaged: tuple[Unmanaged, ...] = ()
    #: what else the plan would do, by kind ("release" -> 2): releases, adoptions, moves
    other_changes: Mapping[str, int] = field(default_factory=dict)

    @property
    def drifted(self) -> bool:
        return bool(
            self.missing
            or self.differing
            or self.changed_outside
            or self.vanished
            or self.other_changes
        )

    def unmanaged_monthly(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for number in self.unmanaged:
            if number.monthly is not None:
                totals[number.currency] = totals.get(number.currency, Decimal(0)) + number.monthly
        return totals


@dataclass(frozen=True)
class DriftReport:
    providers: tuple[ProviderDrift, ...]
    warnings: tuple[str, ...] = ()

    @property
    def drifted(self) -> bool:
        return any(p.drifted for p in self.providers)


def drift_report(
    plan: Plan,
    recorded: Recorded,
    accounts: Mapping[str, Account],
    capabilities: Mapping[str, Capabilities],
) -> DriftReport:
    """The drift of every listed provider, from the plan made of these same inputs."""
    return DriftReport(
        tuple(
            _provider_drift(
                name, plan, recorded.numbers, accounts[name], capabilities.get(name, Capabilities())
            )
            for name in sorted(accounts)
        ),
        plan.warnings,
    )


def _provider_drift(
    name: str,
    plan: Plan,
    records: Mapping[tuple[str, str], ManagedNumber],
    account: Account,
    caps: Capabilities,
) -> ProviderDrift:
    actions = [a for a in plan.changes if a.provider == name]  # a recognised tag is no drift
    missing = tuple(
        Shortfall(
            name,
            a.declaration,
            a.count,
            a.pinned,
            a.where.describe() if a.where and not a.pinned else None,
        )
        for a in actions
        if isinstance(a, Purchase)
    )
    differing = _differing(actions)
    other: dict[str, int] = {}
    for action in actions:
        if not isinstance(action, Purchase | Bind | SetLabels):
            other[action.kind] = other.get(action.kind, 0) + 1
    return ProviderDrift(
        name,
        missing=missing,
        differing=differing,
        changed_outside=_changed_outside(
            name,
            records,
            account,
            caps,
            {a.number for a in plan.recognised if a.provider == name},  # type: ignore[attr-defined]
        ),
        vanished=tuple(m for m in plan.missing if m.provider == name),
        unmanaged=tuple(u for u in plan.unmanaged if u.provider == name),
        other_changes=dict(sorted(other.items())),
    )


def _differing(actions: Iterable) -> tuple[NumberDrift, ...]:
    """Binds and label changes of the plan, merged per number."""
    changes: dict[tuple[str, str, str], list[FieldChange]] = {}
    for action in actions:
        key = (action.provider, action.declaration, getattr(action, "number", ""))
        if isinstance(action, Bind):
            changes.setdefault(key, []).append(FieldChange("app", action.app_before, action.app))
        elif isinstance(action, SetLabels):
            found = changes.setdefault(key, [])
            found += label_changes(action.before, action.after)
            if action.tag is not None and action.tag_before != action.tag:
                found.append(FieldChange("ownership tag", action.tag_before, action.tag))
    return tuple(
        NumberDrift(provider, declaration, number, tuple(found))
        for (provider, declaration, number), found in sorted(changes.items())
        if found
    )


def label_changes(before: Mapping[str, str], after: Mapping[str, str]) -> list[FieldChange]:
    """Key by key: added, removed and changed labels, in key order."""
    return [
        FieldChange(f"labels.{key}", before.get(key), after.get(key))
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]


def _changed_outside(
    name: str,
    records: Mapping[tuple[str, str], ManagedNumber],
    account: Account,
    caps: Capabilities,
    caught_up: set[str],
) -> tuple[NumberDrift, ...]:
    """Managed numbers whose app, provider-side labels or ownership tag are no longer what
    the last apply left (the state recorded it). Not those the plan recognises: already as
    declared on the provider, only the state lags (an interrupted apply's bind)."""
    # every name an app answers to: Voximplant lists each under its short and full name
    app_names: dict[str, list[str]] = {}
    for app in account.apps:
        app_names.setdefault(app.app_id, []).append(app.name)
    found: list[NumberDrift] = []
    for owned in sorted(account.numbers, key=lambda n: n.number):
        record = records.get((name, owned.number))
        if record is None or owned.status == PENDING or owned.number in caught_up:
            continue  # a pending number is not set up yet
        changes: list[FieldChange] = []
        if caps.apps:
            now = app_names.get(owned.app_id, [owned.app_id]) if owned.app_id else [None]
            if record.app not in now:
                changes.append(FieldChange("app", record.app, now[0]))
        if caps.native_labels and owned.labels is not None:
            changes += label_changes(record.labels, owned.labels)
        if caps.ownership_tag and owned.tag and owned.tag != record.declaration:
            changes.append(FieldChange("ownership tag", record.declaration, owned.tag))
        if changes:
            found.append(NumberDrift(name, record.declaration, owned.number, tuple(changes)))
    return tuple(found)
