"""The planner: (desired, observed, recorded) -> Plan. A pure function: no I/O, no clock.

How a number is claimed by a declaration, in order of precedence:
1. it is pinned in the declaration (`numbers:`), whatever the state says;
2. the state store recorded it under a declaration (the normal case after an apply);
3. the provider's ownership tag (e.g. Plivo `alias`) holds a declaration's name, which lets
   ownership survive a lost state file.
Anything else on the account is unmanaged: reported, never touched.

Safety rules that live here rather than in the executor, so every plan shows them:
releases are chosen newest-first and only from a declaration's own numbers; protected numbers
are never released; a managed number missing from the listing is never silently replaced.
With a cooling-off period (`release_after`), a number no longer wanted is quarantined
(unbound, kept, still paid for) instead of released, released by a plan made on or after its
date, and taken back instead of buying when it is wanted again. The date comes in as `today`:
the planner never reads the clock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import phonenumbers

from numbers_iac.errors import ConfigError, Problem
from numbers_iac.journal import as_instant
from numbers_iac.model import (
    APP_CAUGHT_UP,
    PENDING,
    QUANTITY,
    Account,
    Action,
    Adopt,
    App,
    Attempt,
    Bind,
    Declaration,
    Desired,
    Digests,
    Forget,
    ManagedNumber,
    Misplaced,
    Missing,
    Move,
    OwnedNumber,
    PendingNote,
    PendingOrder,
    Plan,
    Purchase,
    Quarantine,
    QuarantineNote,
    Recorded,
    Release,
    Restore,
    SetLabels,
    Settle,
    Settlement,
    Unmanaged,
)
from numbers_iac.phones import calling_code_and_national, country_of
from numbers_iac.providers.base import Capabilities, fits_prefix, may_come_from
from numbers_iac.words import plural

_KIND_ORDER = {
    "move": 0,
    "adopt": 0,
    "settle": 1,
    "forget": 2,
    "restore": 2,
    "quarantine": 2,
    "purchase": 3,
    "bind": 4,
    "labels": 5,
    "release": 6,
}


@dataclass(slots=True)  # one per managed number: 100,000 at a time
class _Member:
    """A number claimed by a declaration, with what we know of it."""

    number: str
    owned: OwnedNumber | None  # None: recorded but missing from the listing
    record: ManagedNumber | None
    adopt_reason: str | None = None
    #: the old declaration a rename moves it from; `proposed` when no moved_from says so
    moved_from: str | None = None
    proposed: bool = False
    #: claimed only by the ownership tag on the provider: never recorded here, nor bought by
    #: an apply of ours (another configuration on the same account may use the same name)
    by_tag: bool = False


@dataclass
class _ProviderPlan:
    actions: list[Action] = field(default_factory=list)
    pending: list[PendingNote] = field(default_factory=list)
    unmanaged: list[Unmanaged] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)
    misplaced: list[Misplaced] = field(default_factory=list)
    ambiguous_moves: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unmovable: dict[str, str] = field(default_factory=dict)
    quarantined: list[QuarantineNote] = field(default_factory=list)


@dataclass(frozen=True)
class _Cooling:
    """What cooling-off needs: today's date, and each declaration's period in days (0:
    released at once; a removed declaration gets `safety.release_after`)."""

    today: date | None
    days: Mapping[str, int]
    default_days: int = 0

    def days_of(self, declaration: str) -> int:
        return self.days.get(declaration, self.default_days) if self.today else 0

    def until(self, declaration: str) -> str:
        assert self.today is not None
        return (self.today + timedelta(days=self.days_of(declaration))).isoformat()

    def due(self, until: str) -> bool:
        """Whether a quarantine ending on `until` is over (the day itself counts)."""
        return self.today is not None and self.today.isoformat() >= until


def plan(
    desired: Desired,
    accounts: Mapping[str, Account],
    recorded: Recorded,
    capabilities: Mapping[str, Capabilities],
    *,
    targets: Iterable[str] = (),
    accept_missing: Iterable[str] = (),
    settlements: Mapping[str, Sequence[Settlement]] | None = None,
    replace: Iterable[str] = (),
    today: date | None = None,
) -> Plan:
    """Compute the changes that make the accounts match the declarations.

    `today` dates cooling-off: a number no longer wanted by a declaration with a
    `release_after` period (or `safety.release_after`) is quarantined until today plus that
    period, and released by a plan made on or after that date. Without `today` nothing is
    quarantined and numbers already in quarantine stay there.

    `settlements` (per provider) are the journal's purchase attempts of unknown outcome as
    the engine found them: what each produced, and whether its settle time has passed.

    `accounts` and `capabilities` are keyed by provider name and must cover every provider
    with a targeted declaration. `targets` limits the plan to those declaration names (removed
    declarations can be targeted by their old name). `accept_missing` names declarations whose
    vanished numbers the user confirms are gone, so they are forgotten and replaced.
    `replace` names removed declarations whose numbers the user chose to release (and buy
    anew) rather than move into a new declaration that fits them.
    Raises `ConfigError` for problems only the observed account reveals (an unknown app);
    its `plan` attribute holds the plan computed despite them.
    """
    target_set = frozenset(targets)
    accepted = frozenset(accept_missing)
    replaced = frozenset(replace)
    result = _ProviderPlan()
    renames = _Renames(
        frozenset(desired.declarations),
        {old: d for d in desired.declarations.values() for old in d.moved_from},
    )
    cooling = _Cooling(
        today,
        {name: desired.release_after(name) for name in desired.declarations},
        desired.release_after(""),
    )
    held = {m.declaration for m in recorded.numbers.values()}
    for old, new in sorted(renames.moved_into.items()):
        if old not in held:
            result.warnings.append(
                f"{new.name} has moved_from: [{old}], and the state holds no numbers of {old}: "
                "nothing moves. If its move is applied, remove the line; if not, check the name"
            )
    for provider in sorted(accounts):
        part = _plan_provider(
            provider,
            [d for d in desired.declarations.values() if d.provider == provider],
            accounts[provider],
            {k: v for k, v in recorded.numbers.items() if k[0] == provider},
            {n: entry for (p, n), entry in recorded.releasing.items() if p == provider},
            tuple((settlements or {}).get(provider, ())),
            [o for o in recorded.orders if o.provider == provider],
            capabilities[provider],
            target_set,
            accepted,
            replaced,
            renames,
            cooling,
        )
        for name in (
            "actions",
            "pending",
            "unmanaged",
            "warnings",
            "problems",
            "missing",
            "misplaced",
            "quarantined",
        ):
            getattr(result, name).extend(getattr(part, name))
        result.ambiguous_moves.update(part.ambiguous_moves)
        result.unmovable.update(part.unmovable)
    orphaned = sorted({m.provider for m in recorded.numbers.values()} - set(desired.providers))
    for provider in orphaned:
        count = sum(1 for m in recorded.numbers.values() if m.provider == provider)
        result.warnings.append(
            f"the state holds {plural(count, 'number')} of provider {provider}, which is no longer "
            "configured; they are left alone"
        )
    actions = sorted(result.actions, key=_action_sort_key)
    the_plan = Plan(
        actions=tuple(actions),
        pending=tuple(result.pending),
        unmanaged=tuple(result.unmanaged),
        warnings=tuple(result.warnings),
        missing=tuple(result.missing),
        misplaced=_once_each(result.misplaced),
        replaced=tuple(sorted(replaced)),
        accepted=tuple(sorted(accepted)),
        ambiguous_moves=dict(sorted(result.ambiguous_moves.items())),
        unmovable=dict(sorted(result.unmovable.items())),
        fingerprints=Digests({p: a.fingerprint for p, a in accounts.items()}),
        state_digest=recorded.fingerprint,
        config_digest=desired.config_digest,
        config_path=desired.config_path,
        targets=tuple(sorted(target_set)),
        quarantined=tuple(result.quarantined),
    )
    if result.problems:
        error = ConfigError(result.problems)
        # The plan as far as it goes rides along, so the engine can still price it and
        # report the problems only the providers reveal (a region, a prefix) in the same run.
        error.plan = the_plan  # type: ignore[attr-defined]
        raise error
    return the_plan


def _action_sort_key(action: Action) -> tuple:
    return (
        action.provider,
        action.declaration,
        _KIND_ORDER[action.kind],
        getattr(action, "number", ""),
    )


def _plan_provider(
    provider: str,
    declarations: list[Declaration],
    account: Account,
    recorded: Mapping[tuple[str, str], ManagedNumber],
    releasing: Mapping[str, int],
    settlements: tuple[Settlement, ...],
    orders: list[PendingOrder],
    caps: Capabilities,
    targets: frozenset[str],
    accepted: frozenset[str],
    replaced: frozenset[str] = frozenset(),
    renames: _Renames | None = None,
    cooling: _Cooling | None = None,
) -> _ProviderPlan:
    out = _ProviderPlan()
    cooling = cooling or _Cooling(None, {})
    renames = renames or _Renames(frozenset(d.name for d in declarations), {})
    by_name = {d.name: d for d in declarations}
    pinned_by = {n: d.name for d in declarations for n in d.pinned}
    tags_moved = {
        old: new.name for old, new in renames.moved_into.items() if new.provider == provider
    }
    owned = {n.number: n for n in account.numbers}
    members: dict[str, list[_Member]] = defaultdict(list)
    attempted, held, doubtful_pins = _settle_attempts(
        provider, settlements, owned, recorded, pinned_by, by_name, caps, targets, out
    )

    for number, owned_number in owned.items():
        record = recorded.get((provider, number))
        owner, reason = _claim(number, owned_number, record, pinned_by, by_name, caps, tags_moved)
        # found by the tag alone: ours after a lost state (adopted, wherever it is, as the
        # state would have kept it: never bought again), or another configuration's that
        # uses the same name (so never released by the plan that finds it, see _beyond_room)
        by_tag = owner is not None and record is None and number not in pinned_by
        by_tag = by_tag and number not in attempted
        if owner is None and number in attempted:
            owner, reason, by_tag = attempted[number], "bought by an interrupted apply", False
        if owner is None:
            out.unmanaged.append(
                Unmanaged(provider, number, owned_number.monthly, owned_number.currency)
            )
            continue
        members[owner].append(_Member(number, owned_number, record, reason, by_tag=by_tag))
        if owned_number.status == PENDING:
            out.pending.append(PendingNote(provider, owner, 1, (number,)))

    for (_, number), record in recorded.items():
        if number in owned:
            continue
        if record.status == PENDING and record.declaration not in accepted:
            out.pending.append(PendingNote(provider, record.declaration, 1, (number,)))
            members[record.declaration].append(_Member(number, None, record))
            continue
        if not _in_scope(record.declaration, targets):
            continue
        if number in releasing:
            out.actions.append(Forget(provider, record.declaration, number=number))
            out.warnings.append(
                f"{number} ({provider} / {record.declaration}) was being released by an apply "
                "that was interrupted or lost the answer, and the provider no longer lists it: "
                "it is forgotten"
            )
            continue
        if record.declaration in accepted:
            out.actions.append(Forget(provider, record.declaration, number=number))
            continue
        out.warnings.append(
            f"{number} ({provider} / {record.declaration}) is recorded as managed but missing "
            "from the provider's listing; it is not replaced. If it was released outside "
            f"numbers-iac, plan again with --accept-missing {record.declaration}"
        )
        out.missing.append(Missing(provider, record.declaration, number))
        members[record.declaration].append(_Member(number, None, record))

    _settle_releases(provider, releasing, owned, recorded, targets, out)

    pending_orders: dict[str, int] = defaultdict(int, held)
    for order in orders:
        waiting = order.quantity - sum(1 for n in order.numbers if n in owned)
        if waiting > 0:
            pending_orders[order.declaration] += waiting
            out.pending.append(PendingNote(provider, order.declaration, waiting, order.numbers))

    _move_renamed(provider, declarations, members, pending_orders, replaced, renames, targets, out)

    for declaration in declarations:
        if not _in_scope(declaration.name, targets):
            continue
        _plan_declaration(
            declaration,
            members.get(declaration.name, []),
            pending_orders.get(declaration.name, 0),
            account.apps,
            caps,
            out,
            doubtful_pins,
            cooling,
        )

    _warn_unmanaged_that_fit(provider, owned, out)

    for name, claimed in sorted(members.items()):
        if name in by_name or not _in_scope(name, targets):
            continue
        # a name declared on another provider now: its numbers here do not follow it
        elsewhere = name in renames.declared
        reason = "declaration moved to another provider" if elsewhere else "declaration removed"
        _release_all(provider, name, claimed, out, cooling, account.apps, caps, reason)
    if targets:
        out.unmanaged.clear()
    return out


#: how many unmanaged numbers one plan compares with its purchases at most: a warning, not
#: worth seconds when a thousand declarations buy beside 100,000 unmanaged numbers
_FIT_BUDGET = 200_000
#: the fitting numbers a warning names
_FIT_SHOWN = 3


def _warn_unmanaged_that_fit(
    provider: str, owned: Mapping[str, OwnedNumber], out: _ProviderPlan
) -> None:
    """A declaration written by hand for numbers the account already holds would buy as
    many again: say so where untagged unmanaged numbers surely fit a purchase (their
    country, type and, when declared, region listed and equal; the prefix not ruled out),
    with how to take them in. A tagged one is another configuration's, or was handed away."""
    buying = [
        a for a in out.actions if isinstance(a, Purchase) and a.where is not None and not a.pinned
    ]
    if not buying or not out.unmanaged:
        return
    spare: dict[tuple[str, str], list[OwnedNumber]] = defaultdict(list)
    for unmanaged in out.unmanaged:
        n = owned.get(unmanaged.number)
        usable = n is not None and not n.tag and n.status != PENDING
        if usable and n.country and n.number_type:
            spare[(n.country, n.number_type)].append(n)
    budget = _FIT_BUDGET
    for purchase in buying:
        where = purchase.where
        assert where is not None
        fitting: list[str] = []
        for n in spare.get((where.country, where.number_type), ()):
            budget -= 1
            if budget < 0 or len(fitting) > _FIT_SHOWN:
                break
            if where.region and not n.region:
                continue  # a region the listing does not say is not surely the one declared
            if may_come_from(n, where):
                fitting.append(n.number)
        if budget < 0:
            return
        if fitting:
            more = ", ..." if len(fitting) > _FIT_SHOWN else ""
            out.warnings.append(
                f"{provider} / {purchase.declaration} buys {plural(purchase.count, 'number')} "
                f"while unmanaged numbers on the account fit it "
                f"({', '.join(sorted(fitting)[:_FIT_SHOWN])}{more}): to take them in instead "
                "of buying, list them under its numbers:"
            )


def _settle_attempts(
    provider: str,
    settlements: tuple[Settlement, ...],
    owned: dict[str, OwnedNumber],
    recorded: Mapping[tuple[str, str], ManagedNumber],
    pinned_by: Mapping[str, str],
    declarations: Mapping[str, Declaration],
    caps: Capabilities,
    targets: frozenset[str],
    out: _ProviderPlan,
) -> tuple[dict[str, str], dict[str, int], set[str]]:
    """Read the open purchase attempts: the numbers they produced (number -> declaration,
    to adopt unless something else claims them), per declaration how many numbers
    attempts still in doubt hold back, and the pinned numbers in doubt (their own
    purchase waits too). Settled attempts are closed by a Settle action.

    A produced number the listing does not show yet (read back while still pending) joins
    `owned`, so it is adopted as pending instead of being bought again."""
    attempted: dict[str, str] = {}
    held: dict[str, int] = defaultdict(int)
    doubtful_pins: set[str] = set()
    for settlement in settlements:
        attempt = settlement.attempt
        produced = list(settlement.produced)
        if attempt.mode == QUANTITY:  # any unclaimed number at its place, up to its count
            free = [
                n
                for n in produced
                if n.number not in attempted
                and _free_for(
                    provider, n, attempt.declaration, recorded, pinned_by, declarations, caps
                )
            ]
            produced = _blind_order_numbers(provider, attempt, free, out)
        for number in produced:
            owned.setdefault(number.number, number)
            attempted.setdefault(number.number, attempt.declaration)
        doubt = attempt.count - len(produced)
        if not _in_scope(attempt.declaration, targets):
            continue
        lapsed = settlement.expired and not settlement.uncertain
        if doubt > 0 and not (lapsed or settlement.settled):
            # A pinned number in doubt holds back its own purchase, not the quantity's.
            pins = {n for n in attempt.numbers if n in pinned_by} - _numbers_of(produced)
            doubtful_pins |= pins
            held[attempt.declaration] += max(doubt - len(pins), 0)
            out.pending.append(
                PendingNote(
                    provider,
                    attempt.declaration,
                    doubt,
                    tuple(n for n in attempt.numbers if n not in _numbers_of(produced)),
                    reason="unresolved",
                    age_seconds=settlement.age_seconds,
                )
            )
            continue
        out.actions.append(
            Settle(
                provider,
                attempt.declaration,
                entry_id=attempt.entry_id,
                adopted=tuple(n.number for n in produced),
                not_bought=max(doubt, 0),
                age_seconds=settlement.age_seconds,
            )
        )
    return attempted, dict(held), doubtful_pins


def _blind_order_numbers(
    provider: str, attempt: Attempt, free: list[OwnedNumber], out: _ProviderPlan
) -> list[OwnedNumber]:
    """Which unclaimed numbers at its place a blind order produced, up to its count. Sure
    ones carry its declaration's tag or were acquired after it started (by the clock);
    numbers dated only by day are taken when they are the only explanation, never picked
    among more candidates than the order could have bought (they may be bought by hand)."""
    sure = [
        n
        for n in free
        if n.tag == attempt.declaration or _acquired_after(n.acquired_on, attempt.started_at)
    ]
    produced = sorted(sure, key=lambda n: n.number)[: attempt.count]
    unsure = [n for n in free if n not in sure]
    room = attempt.count - len(produced)
    if unsure and room > 0:
        if len(unsure) <= room:
            produced += unsure
        else:
            shown = ", ".join(n.number for n in unsure[:5])
            out.warnings.append(
                f"{provider} / {attempt.declaration}: an order for {plural(attempt.count, 'number')} "
                f"placed {attempt.started_at} has no clear outcome, and {len(unsure)} untagged "
                f"numbers at its place appeared since that day ({shown}); numbers-iac cannot "
                "tell which are the order's and adopts none. Pin the ones to keep."
            )
    return produced


def _acquired_after(acquired: str | None, started: str) -> bool:
    """Whether a provider's acquisition time (not just a date) is after `started`."""
    if not acquired or len(acquired) <= 10:
        return False
    try:
        return datetime.fromisoformat(acquired) >= datetime.fromisoformat(started)
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class _Renames:
    """What every provider's planning must know of the whole configuration."""

    declared: frozenset[str]
    #: old name -> the declaration whose moved_from names it (any provider)
    moved_into: Mapping[str, Declaration]


def _move_renamed(
    provider: str,
    declarations: list[Declaration],
    members: dict[str, list[_Member]],
    pending_orders: Mapping[str, int],
    replaced: frozenset[str],
    renames: _Renames,
    targets: frozenset[str],
    out: _ProviderPlan,
) -> None:
    """Renaming is not releasing. A declaration's `moved_from` takes the old name's
    numbers (on the same provider: numbers cannot move between providers, so apply refuses
    until `--replace` or `state forget` says what becomes of them). Without it, a removed
    declaration whose numbers all fit exactly one new declaration that needs numbers (same
    place), and no other removed one fits it, is proposed as a move (apply refuses until it
    is confirmed); where several fit, nothing is guessed and apply refuses until
    `moved_from` or `--replace` says which."""
    for old, new in renames.moved_into.items():
        if old not in members or old in renames.declared:
            continue
        if new.provider == provider:
            members[new.name].extend(_moved(m, old, False) for m in members.pop(old))
        elif old not in replaced:
            count = len(members.pop(old))
            out.unmovable[old] = (
                f"{new.name} (on {new.provider}) has moved_from: [{old}], but {old}'s "
                f"{plural_numbers(count)} are on {provider}: numbers cannot move between "
                f"providers; plan with --replace {old} to release them, or run "
                f"`numbers-iac state forget {old}` to keep them unmanaged"
            )
    fits: dict[str, list[str]] = {}
    for old, claimed in members.items():
        listed = [m.owned for m in claimed if m.owned is not None]
        if old in renames.declared or old in replaced or not listed:
            continue
        fits[old] = sorted(
            d.name
            for d in declarations
            if (where := d.where()) is not None
            and _needs_numbers(d, members.get(d.name, []), pending_orders)
            and all(may_come_from(n, where) for n in listed)
        )
    claimants: dict[str, list[str]] = defaultdict(list)
    for old, news in fits.items():
        for new_name in news:
            claimants[new_name].append(old)
    for old, news in sorted(fits.items()):
        if len(news) == 1 and claimants[news[0]] == [old]:
            members[news[0]].extend(_moved(m, old, True) for m in members.pop(old))
        elif news and any(_in_scope(name, targets) for name in (old, *news)):
            others = sorted({o for n in news for o in claimants[n]} - {old})
            out.ambiguous_moves[old] = tuple(news)
            out.warnings.append(
                f"{provider} / {old} was removed and its numbers fit "
                f"{' and '.join(news)}"
                + (f" (as do those of {', '.join(others)})" if others else "")
                + f": numbers-iac does not guess. Add `moved_from: [{old}]` to the "
                f"declaration that should keep them, or plan with --replace {old} to "
                "release them and buy new ones"
            )


def plural_numbers(count: int) -> str:
    return f"{count} number{'' if count == 1 else 's'}"


def _moved(member: _Member, old: str, proposed: bool) -> _Member:
    return _Member(
        member.number, member.owned, member.record, None, moved_from=old, proposed=proposed
    )


def _needs_numbers(
    declaration: Declaration, members: list[_Member], pending_orders: Mapping[str, int]
) -> bool:
    floating = [m for m in members if m.number not in declaration.pinned]
    wanted = declaration.quantity - len(declaration.pinned)
    return wanted - len(floating) - pending_orders.get(declaration.name, 0) > 0


def _settle_releases(
    provider: str,
    releasing: Mapping[str, int],
    owned: Mapping[str, OwnedNumber],
    recorded: Mapping[tuple[str, str], ManagedNumber],
    targets: frozenset[str],
    out: _ProviderPlan,
) -> None:
    """Close every interrupted release now that the listing tells: numbers still listed
    were not released (they stay managed, so a later disappearance is drift, never a
    silent replacement); the others are forgotten beside it."""
    entries: dict[int, list[str]] = defaultdict(list)
    for number, entry in releasing.items():
        entries[entry].append(number)
    for entry, numbers in sorted(entries.items()):
        records = [recorded.get((provider, n)) for n in numbers]
        declarations = sorted({r.declaration for r in records if r is not None})
        if not all(_in_scope(d, targets) for d in declarations):
            continue
        out.actions.append(
            Settle(
                provider,
                ",".join(declarations),
                entry_id=entry,
                operation="release",
                kept=tuple(sorted(n for n in numbers if n in owned)),
            )
        )


def _numbers_of(numbers: list[OwnedNumber]) -> set[str]:
    return {n.number for n in numbers}


def _free_for(
    provider: str,
    number: OwnedNumber,
    declaration: str,
    recorded: Mapping[tuple[str, str], ManagedNumber],
    pinned_by: Mapping[str, str],
    declarations: Mapping[str, Declaration],
    caps: Capabilities,
) -> bool:
    """Whether a listed number belongs to no one else, so a blind order for `declaration`
    may have bought it (an order that tags atomically tagged it with `declaration`)."""
    if number.number in pinned_by or (provider, number.number) in recorded:
        return False
    tag = number.tag if caps.ownership_tag else None
    return not tag or tag == declaration or tag not in declarations


def _in_scope(name: str, targets: frozenset[str]) -> bool:
    return not targets or name in targets


def _claim(
    number: str,
    owned: OwnedNumber,
    record: ManagedNumber | None,
    pinned_by: Mapping[str, str],
    declarations: Mapping[str, Declaration],
    caps: Capabilities,
    tags_moved: Mapping[str, str] | None = None,
) -> tuple[str | None, str | None]:
    """Which declaration claims an owned number, and why it must be adopted (None: known)."""
    pinned_owner = pinned_by.get(number)
    if pinned_owner is not None:
        if record is None:
            return pinned_owner, "pinned in the configuration"
        if record.declaration != pinned_owner:
            return pinned_owner, f"pinned here, moved from {record.declaration}"
        return pinned_owner, None
    if record is not None:
        return record.declaration, None
    if caps.ownership_tag and owned.tag and owned.tag in declarations:
        return owned.tag, f"tagged {owned.tag!r} on the provider"
    if caps.ownership_tag and owned.tag and owned.tag in (tags_moved or {}):
        new = (tags_moved or {})[owned.tag]
        return new, f"tagged {owned.tag!r} on the provider, which moved to {new}"
    return None, None


def _plan_declaration(
    declaration: Declaration,
    members: list[_Member],
    pending_orders: int,
    apps: tuple[App, ...],
    caps: Capabilities,
    out: _ProviderPlan,
    doubtful_pins: set[str] = frozenset(),
    cooling: _Cooling | None = None,
) -> None:
    cooling = cooling or _Cooling(None, {})
    app_id = _resolve_app(declaration, apps, caps, out)
    member_numbers = {m.number for m in members} | set(doubtful_pins)
    pinned = set(declaration.pinned)

    missing_pins = tuple(n for n in declaration.pinned if n not in member_numbers)
    if missing_pins:
        out.actions.append(_purchase(declaration, len(missing_pins), missing_pins, app_id))
        _warn_unfit_pins(declaration, missing_pins, out)

    # A pinned number is wanted whatever its past: out of quarantine it comes.
    for member in members:
        if member.number in pinned and _quarantined(member):
            out.actions.append(_restore(member, declaration))
    floating = [m for m in members if m.number not in pinned and not _quarantined(m)]
    resting = [m for m in members if m.number not in pinned and _quarantined(m)]
    wanted = declaration.quantity - len(declaration.pinned)
    left = _beyond_room(floating, wanted - pending_orders, app_id)
    if left:  # found by their tag alone, and more than wanted: not ours to release
        floating = [m for m in floating if m not in left]
        members = [m for m in members if m not in left]
        out.unmanaged.extend(
            Unmanaged(declaration.provider, m.number, m.owned.monthly, m.owned.currency)
            for m in left
            if m.owned is not None
        )
        tags = ", ".join(repr(t) for t in sorted({m.owned.tag or "" for m in left if m.owned}))
        out.warnings.append(
            f"{plural(len(left), 'more number')} on {declaration.provider} tagged "
            f"{tags} than {declaration.name} wants "
            f"({', '.join(m.number for m in left[:3])}{', ...' if len(left) > 3 else ''}): "
            "left unmanaged, never released by the plan that finds them (another "
            "configuration on this account may use the same name); raise the quantity or "
            "pin them to take them in"
        )
    shortfall = wanted - len(floating) - pending_orders
    if shortfall > 0 and resting:
        back = _take_back(declaration, resting, shortfall, out)
        floating += back
        resting = [m for m in resting if m not in back]
        shortfall -= len(back)
    if shortfall > 0:
        out.actions.append(_purchase(declaration, shortfall, (), app_id))

    released: set[str] = set()
    # Only numbers the provider lists can be surplus: a recorded number missing from the
    # listing still counts against the shortfall (never re-bought silently), but releasing a
    # listed number to make up for one that vanished would leave the declaration short.
    listed = [m for m in floating if m.owned is not None]
    surplus = len(listed) - wanted
    if surplus > 0:
        # A rename never releases: while numbers move in, none of the declaration's is
        # released or quarantined (its own included: the surplus is the merge's); a later
        # plan, once the move is recorded, releases it newest-first.
        moving_in = any(m.moved_from is not None for m in listed)
        releasable = [] if moving_in else listed
        if len(releasable) < surplus:
            out.warnings.append(
                f"{declaration.provider} / {declaration.name} takes in more numbers than its "
                f"quantity ({len(listed)} for {wanted}); none that moves in is released in "
                "the plan that moves it: lower the old declaration first, or release the "
                "surplus in a later plan"
            )
        surplus = min(surplus, len(releasable))
        if surplus > 0:
            released = _release_surplus(
                declaration, releasable, surplus, wanted, out, cooling, apps, caps
            )

    for member in resting:
        _keep_or_release(
            member,
            declaration.provider,
            declaration.name,
            cooling,
            apps,
            caps,
            out,
            protect=declaration.protect,
        )
    resting_numbers = {m.number for m in resting}
    for member in members:
        if member.number in released or member.number in resting_numbers:
            continue
        _converge_member(declaration, member, app_id, apps, caps, out)
    _warn_misplaced(
        declaration,
        [m for m in members if m.number not in released and m.number not in resting_numbers],
        out,
    )


def _once_each(misplaced: list[Misplaced]) -> tuple[Misplaced, ...]:
    """Each number once, as found first (a protected surplus that also left its
    declaration's country is one number, not two)."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for m in misplaced:
        if (m.provider, m.number) not in seen:
            seen.add((m.provider, m.number))
            kept.append(m)
    return tuple(kept)


def _warn_misplaced(declaration: Declaration, members: list[_Member], out: _ProviderPlan) -> None:
    """Numbers are never swapped for others: say so when a declaration's country, type or
    prefix changed and the numbers it holds no longer fit it, instead of a plan that reads
    "no changes"."""
    unfit: dict[str, list[str]] = defaultdict(list)
    for member in members:
        fields = _unfit_fields(member.owned, declaration) if member.owned is not None else []
        for field_name in fields:
            unfit[field_name].append(member.number)
        if fields:
            out.misplaced.append(
                Misplaced(declaration.provider, declaration.name, member.number, fields[0])
            )
    for field_name in ("country", "type", "prefix"):
        if unfit[field_name]:
            where = "outside it" if field_name == "prefix" else f"of another {field_name}"
            _warn_unfit(declaration, field_name, where, sorted(unfit[field_name]), out)


def _beyond_room(floating: list[_Member], room: int, app_id: str | None) -> list[_Member]:
    """The numbers claimed by their tag alone that the declaration has no room for (after
    the numbers it already holds): those are left unmanaged. Kept first: numbers bound to
    the declaration's app (the live ones), then the longest held (customers know them)."""
    tagged = sorted(
        (m for m in floating if m.by_tag and m.owned is not None),
        key=lambda m: (
            m.owned.app_id != app_id,
            m.owned.acquired_on is None,
            as_instant(m.owned.acquired_on or ""),
            m.number,
        ),
    )
    room = max(room - (len(floating) - len(tagged)), 0)
    return tagged[room:]


def _unfit_fields(owned: OwnedNumber, declaration: Declaration) -> list[str]:
    """Which of a declaration's country, type and prefix a listed number does not fit.
    Regions are not compared: providers name a region differently in their listings and in
    their searches (Plivo's documented answers: "United States" in a search, "Florida,
    UNITED STATES" in the listing), so a difference there proves nothing. A type left to its
    default is not compared either: `import` writes pinned lists, and pools the provider
    would refuse to buy more of as typed, without one."""
    unfit = []
    country = declaration.country
    if country and owned.country not in (None, country) and not _toll_free_of(owned, country):
        unfit.append("country")
    typed = "number_type" in declaration.field_sources
    if typed and _other_type(owned, declaration.number_type):
        unfit.append("type")
    if declaration.prefix and not fits_prefix(owned.number, declaration.prefix):
        unfit.append("prefix")
    return unfit


def _other_type(owned: OwnedNumber, declared: str) -> bool:
    """Whether a number is of another type than declared: the listed type, or when the
    listing gives none (Plivo's `fixed` may be local or national), its digits where they are
    sure: a fixed line or toll-free number is no mobile; any number whose digits say what it
    is (North America's fixed line or mobile included) other than toll-free is no toll-free.
    Digits are read only for a declared mobile or toll-free type, where the listing left it
    open."""
    if owned.number_type is not None:
        return owned.number_type != declared
    if declared not in _BY_DIGITS.values():
        return False
    kind = _digits_type(owned.number)
    if declared == "tollfree":
        return kind not in (None, *_UNSURE, phonenumbers.PhoneNumberType.TOLL_FREE)
    by_digits = _BY_DIGITS.get(kind)
    return by_digits is not None and by_digits != declared


#: what a number's digits tell for certain (FIXED_LINE_OR_MOBILE, North America's, tells
#: only that it is not toll-free)
_BY_DIGITS = {
    phonenumbers.PhoneNumberType.FIXED_LINE: "fixed line",
    phonenumbers.PhoneNumberType.MOBILE: "mobile",
    phonenumbers.PhoneNumberType.TOLL_FREE: "tollfree",
}
#: digits phonenumbers cannot place, or that may be anything
_UNSURE = (phonenumbers.PhoneNumberType.UNKNOWN,)


def _digits_type(number: str) -> int | None:
    try:
        return phonenumbers.number_type(phonenumbers.parse(number))
    except phonenumbers.NumberParseException:
        return None


def _toll_free_of(owned: OwnedNumber, country: str) -> bool:
    """A toll-free number of the country's calling code: its digits cannot tell which of the
    regions sharing the code it is for (+1 833 is as Canadian as it is American)."""
    if owned.number_type not in ("tollfree", None):
        return False
    if owned.number_type is None and not _is_toll_free(owned.number):
        return False
    split = calling_code_and_national(owned.number)
    code = phonenumbers.country_code_for_region(country.upper())
    return split is not None and split[0] == str(code)


def _is_toll_free(number: str) -> bool:
    return _digits_type(number) == phonenumbers.PhoneNumberType.TOLL_FREE


def _warn_unfit_pins(declaration: Declaration, pins: tuple[str, ...], out: _ProviderPlan) -> None:
    """Pinned numbers about to be bought that do not fit the declaration by their digits (a
    landline pinned under `type: mobile`): said before paying for them, not by every plan
    after (as `_warn_misplaced` would)."""
    unfit: dict[str, list[str]] = defaultdict(list)
    for number in pins:
        as_listed = OwnedNumber(number=number, provider_id="", country=country_of(number))
        for field_name in _unfit_fields(as_listed, declaration):
            unfit[field_name].append(number)
    for field_name, numbers in unfit.items():
        one = len(numbers) == 1
        out.warnings.append(
            f"{_declares(declaration, field_name)} but pins "
            f"{plural(len(numbers), 'number')} of another {field_name} by "
            f"{'its' if one else 'their'} digits ({_first_three(numbers)}): apply would buy "
            f"{'it' if one else 'them'} all the same; check the "
            f"{'number' if one else 'numbers'} or the declaration's {field_name}"
        )


def _warn_unfit(
    declaration: Declaration, field_name: str, unfit: str, numbers: list[str], out: _ProviderPlan
) -> None:
    one = len(numbers) == 1
    if set(numbers) <= set(declaration.pinned):  # the user asked for these very numbers
        it = "it" if one else "them"
        advice = (
            f"{'it is' if one else 'they are'} pinned: write the {field_name} "
            f"{'it has' if one else 'they have'}, or take {it} out of `numbers:` to let {it} go"
        )
    elif declaration.protect:  # lowering the quantity releases nothing here
        advice = (
            "numbers-iac never swaps numbers on its own, and this declaration is protected: "
            "pin the ones to keep, or take protect off and lower the quantity to release them"
        )
    else:
        advice = (
            "numbers-iac never swaps numbers on its own: pin the ones to keep, or lower the "
            "quantity to release them"
        )
    out.warnings.append(
        f"{_declares(declaration, field_name)} but holds {plural(len(numbers), 'number')} "
        f"{unfit} ({_first_three(numbers)}); {advice}"
    )


def _declares(declaration: Declaration, field_name: str) -> str:
    """`lab / support declares type mobile`: how the unfit warnings start."""
    declared = {
        "country": declaration.country,
        "type": declaration.number_type,
        "prefix": declaration.prefix,
    }[field_name]
    return f"{declaration.provider} / {declaration.name} declares {field_name} {declared}"


def _first_three(numbers: Sequence[str]) -> str:
    return ", ".join(numbers[:3]) + (", ..." if len(numbers) > 3 else "")


def _resolve_app(
    declaration: Declaration, apps: tuple[App, ...], caps: Capabilities, out: _ProviderPlan
) -> str | None:
    if declaration.app is None or not caps.apps:
        return None
    matches = [a.app_id for a in apps if a.name == declaration.app]
    if len(matches) == 1:
        return matches[0]
    src = declaration.located("app")
    if matches:
        message = (
            f"provider {declaration.provider} has {len(matches)} apps named "
            f"{declaration.app!r} (ids {', '.join(sorted(matches))}); rename all but one"
        )
    else:
        known = ", ".join(sorted({a.name for a in apps})) or "none"
        message = (
            f"app {declaration.app!r} does not exist on provider {declaration.provider} "
            f"(apps there: {known})"
        )
    out.problems.append(
        Problem(
            src.file if src else "<config>",
            src.line if src else None,
            src.column if src else None,
            f"numbers.{declaration.name}.app",
            message,
        )
    )
    return None


def _purchase(
    declaration: Declaration, count: int, pinned: tuple[str, ...], app_id: str | None
) -> Purchase:
    return Purchase(
        declaration.provider,
        declaration.name,
        count=count,
        # A pinned purchase buys exactly those numbers: no location to fall back on, so a
        # pinned number taken by someone else can never turn into a random purchase.
        where=None if pinned else declaration.where(),
        pinned=pinned,
        app=declaration.app,
        app_id=app_id,
        labels=dict(declaration.labels),
        protect=declaration.protect,
        options=dict(declaration.options),
    )


def _release_order(member: _Member) -> tuple:
    """Newest first: long-held numbers are the ones customers know. A number is as old as
    the earliest of its record and the provider's acquisition date; one with neither (being
    adopted now, undated) counts as the newest of all."""
    moments = []
    if member.record is not None and member.record.created_at:
        moments.append(as_instant(member.record.created_at))
    if member.owned is not None and member.owned.acquired_on:
        moments.append(as_instant(member.owned.acquired_on))
    # the earliest known: a record written when a lost state was rebuilt is younger
    # than the number itself
    return (min(moments) if moments else "9999", member.number)


def _release_surplus(
    declaration: Declaration,
    floating: list[_Member],
    surplus: int,
    wanted: int,
    out: _ProviderPlan,
    cooling: _Cooling | None = None,
    apps: tuple[App, ...] = (),
    caps: Capabilities | None = None,
) -> set[str]:
    """Release the newest surplus numbers, or quarantine them where a cooling-off period
    applies; returns the numbers chosen (they need no other action)."""
    cooling = cooling or _Cooling(None, {})
    listed = [m for m in floating if m.owned is not None and m.owned.status != PENDING]
    chosen = sorted(listed, key=_release_order, reverse=True)[:surplus]
    if declaration.protect:
        out.warnings.append(
            f"{declaration.provider} / {declaration.name} holds {plural(surplus, 'number')} more than "
            f"its quantity ({wanted} unpinned wanted) but is protected: nothing is released"
        )
        out.misplaced += [  # so that the plan does not read "your numbers match"
            Misplaced(declaration.provider, declaration.name, m.number, "quantity") for m in chosen
        ]
        return set()
    have = len(floating)
    reason = f"surplus: want {wanted}, have {have}"
    for member in chosen:
        if cooling.days_of(declaration.name) > 0:
            _quarantine(
                member, declaration.provider, declaration.name, reason, cooling, apps, caps, out
            )
        else:
            out.actions.append(_release(member, declaration.provider, declaration.name, reason))
    return {m.number for m in chosen}


def _protected_of(count: int) -> str:
    return f"{count:,} of its numbers {'is' if count == 1 else 'are'} protected"


def _release_all(
    provider: str,
    name: str,
    claimed: list[_Member],
    out: _ProviderPlan,
    cooling: _Cooling | None = None,
    apps: tuple[App, ...] = (),
    caps: Capabilities | None = None,
    reason: str = "declaration removed",
) -> None:
    """Release the numbers of a declaration that is no longer in the configuration (or no
    longer on this provider: numbers never move between accounts), or quarantine them where
    `safety.release_after` sets a cooling-off period."""
    cooling = cooling or _Cooling(None, {})
    protected = [m.number for m in claimed if m.record and m.record.protect]
    if protected:
        out.warnings.append(
            f"declaration {name} was removed but {_protected_of(len(protected))} "
            f"({', '.join(sorted(protected)[:5])}); they are kept and left alone"
        )
    for member in claimed:
        if member.number in protected or member.owned is None:
            continue
        if member.owned.status == PENDING:
            continue
        if _quarantined(member):
            _keep_or_release(member, provider, name, cooling, apps, caps, out)
        elif cooling.days_of(name) > 0:
            _quarantine(member, provider, name, reason, cooling, apps, caps, out)
        else:
            out.actions.append(_release(member, provider, name, reason))


def _quarantined(member: _Member) -> bool:
    """In quarantine, and staying with its declaration: a number moving into a renamed
    declaration leaves quarantine (the move records it afresh; a surplus cools off anew)."""
    return (
        member.record is not None
        and bool(member.record.quarantine_until)
        and member.moved_from is None
    )


def _quarantine(
    member: _Member,
    provider: str,
    declaration: str,
    reason: str,
    cooling: _Cooling,
    apps: tuple[App, ...],
    caps: Capabilities | None,
    out: _ProviderPlan,
) -> None:
    """Cooling-off instead of a release: mark the number until its date, and unbind it so
    calls stop reaching the app while it can still be taken back."""
    owned = member.owned
    assert owned is not None
    out.actions.append(
        Quarantine(
            provider,
            declaration,
            number=member.number,
            provider_id=owned.provider_id,
            until=cooling.until(declaration),
            reason=reason,
            monthly=owned.monthly,
            currency=owned.currency,
        )
    )
    _unbind(member, provider, declaration, apps, caps, out)


def _unbind(
    member: _Member,
    provider: str,
    declaration: str,
    apps: tuple[App, ...],
    caps: Capabilities | None,
    out: _ProviderPlan,
) -> None:
    owned = member.owned
    if owned is None or owned.app_id is None or caps is None or not caps.apps:
        return
    out.actions.append(
        Bind(
            provider,
            declaration,
            number=member.number,
            provider_id=owned.provider_id,
            app_before=_app_name(owned.app_id, apps),
            app=None,
            app_id=None,
        )
    )


def _keep_or_release(
    member: _Member,
    provider: str,
    declaration: str,
    cooling: _Cooling,
    apps: tuple[App, ...],
    caps: Capabilities | None,
    out: _ProviderPlan,
    protect: bool = False,
) -> None:
    """A number already in quarantine and still not wanted: released once its date has
    come (never when protected), else kept (and kept unbound) and shown with its date and
    what it costs."""
    record, owned = member.record, member.owned
    assert record is not None and record.quarantine_until
    if owned is None or owned.status == PENDING:
        return  # drift or a pending number: reported elsewhere, never released
    if cooling.due(record.quarantine_until) and not (protect or record.protect):
        reason = f"quarantine ended {record.quarantine_until}"
        out.actions.append(_release(member, provider, declaration, reason))
        return
    out.quarantined.append(
        QuarantineNote(
            provider,
            declaration,
            member.number,
            record.quarantine_until,
            owned.monthly,
            owned.currency,
        )
    )
    _unbind(member, provider, declaration, apps, caps, out)


def _take_back(
    declaration: Declaration, resting: list[_Member], shortfall: int, out: _ProviderPlan
) -> list[_Member]:
    """Numbers in quarantine wanted again before their release: the numbers customers
    knew come back instead of buying others, the longest-held first (as releases take the
    newest first)."""
    back = sorted(
        (m for m in resting if m.owned is not None and m.owned.status != PENDING),
        key=_release_order,
    )[:shortfall]
    out.actions.extend(_restore(member, declaration) for member in back)
    return back


def _restore(member: _Member, declaration: Declaration) -> Restore:
    record = member.record
    assert record is not None and record.quarantine_until
    return Restore(
        declaration.provider,
        declaration.name,
        number=member.number,
        provider_id=member.owned.provider_id if member.owned else record.provider_id,
        until=record.quarantine_until,
    )


def _release(member: _Member, provider: str, declaration: str, reason: str) -> Release:
    owned = member.owned
    assert owned is not None
    return Release(
        provider,
        declaration,
        number=member.number,
        provider_id=owned.provider_id,
        reason=reason,
        monthly=owned.monthly,
        currency=owned.currency,
    )


def _converge_member(
    declaration: Declaration,
    member: _Member,
    app_id: str | None,
    apps: tuple[App, ...],
    caps: Capabilities,
    out: _ProviderPlan,
) -> None:
    """Adopt, rebind and relabel one claimed number so it matches its declaration."""
    provider, name = declaration.provider, declaration.name
    record, owned = member.record, member.owned
    delivered = record and owned and record.status == PENDING and owned.status != PENDING
    # bound as declared on the provider, but the state says otherwise: a bind that landed
    # while its apply was killed before recording it; the account needs nothing, the state
    # catches up at the next apply (like a tag recognised after a lost state)
    wanted_app = declaration.app if caps.apps and app_id is not None else None
    bound_as_declared = (
        record is not None
        and owned is not None
        and caps.apps
        and owned.status != PENDING
        and owned.app_id == app_id
        and not (declaration.app and app_id is None)
    )
    stale_app = bound_as_declared and record is not None and record.app != wanted_app
    if member.moved_from is not None:
        if record is not None and record.protect and not declaration.protect:
            out.warnings.append(
                f"{member.number} was protected under {member.moved_from}; {name} does not "
                "set protect: true, so it will no longer be protected once moved"
            )
        out.actions.append(
            Move(
                provider,
                name,
                number=member.number,
                provider_id=owned.provider_id if owned else record.provider_id,
                moved_from=member.moved_from,
                proposed=member.proposed,
                protect=declaration.protect,
                status=owned.status if owned else record.status,
                app=_app_name(owned.app_id, apps) if owned else record.app,
            )
        )
    elif (
        member.adopt_reason
        or delivered
        or (record and record.protect != declaration.protect)
        or stale_app
    ):
        if member.adopt_reason:
            reason = member.adopt_reason
        elif delivered:
            reason = "delivered by the provider (was pending)"
        elif record and record.protect != declaration.protect:
            reason = "protect: true recorded" if declaration.protect else "protect removed"
        else:
            reason = APP_CAUGHT_UP
        out.actions.append(
            Adopt(
                provider,
                name,
                number=member.number,
                provider_id=owned.provider_id if owned else record.provider_id,
                reason=reason,
                protect=declaration.protect,
                status=owned.status if owned else record.status,
                app=(
                    wanted_app
                    if bound_as_declared
                    else (_app_name(owned.app_id, apps) if owned else record.app)
                ),
                acquired_on=owned.acquired_on if owned and record is None else None,
                recognised=(
                    record is None
                    and owned is not None
                    and caps.ownership_tag
                    and owned.tag == name
                    and reason == f"tagged {name!r} on the provider"
                )
                or reason == APP_CAUGHT_UP,
            )
        )
    if owned is None or owned.status == PENDING:
        return
    if caps.apps and owned.app_id != app_id and not (declaration.app and app_id is None):
        out.actions.append(
            Bind(
                provider,
                name,
                number=member.number,
                provider_id=owned.provider_id,
                app_before=_app_name(owned.app_id, apps),
                app=declaration.app,
                app_id=app_id,
                options={k: v for k, v in declaration.options.items() if k in caps.bind_options},
            )
        )
    current = (
        dict(owned.labels or {})
        if caps.native_labels
        else (
            dict(record.labels)
            if record and (record.declaration == name or member.moved_from is not None)
            else {}
        )
    )
    desired = dict(declaration.labels)
    tag_wrong = caps.ownership_tag and owned.tag != name
    if current != desired or tag_wrong:
        out.actions.append(
            SetLabels(
                provider,
                name,
                number=member.number,
                provider_id=owned.provider_id,
                before=current,
                after=desired,
                tag_before=owned.tag if caps.ownership_tag else None,
                tag=name if caps.ownership_tag else None,
                app_id=app_id if caps.apps else None,
            )
        )


def _app_name(app_id: str | None, apps: tuple[App, ...]) -> str | None:
    if app_id is None:
        return None
    for app in apps:
        if app.app_id == app_id:
            return app.name
    return app_id
