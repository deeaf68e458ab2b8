"""The engine: wires config, providers, state, planner and executor for one command.

Everything with I/O around the pure planner lives here: listing accounts, pricing purchases,
checking that a saved plan still matches the world, and running the executor under the lock.
The CLI only parses flags, calls these functions and renders.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime

import phonenumbers

from numbers_iac import guards, journal, planner
from numbers_iac.drift import DriftReport, drift_report
from numbers_iac.errors import (
    ConfigError,
    DeclarationOptionError,
    NumbersIacError,
    NumberUnavailableError,
    OutOfStockError,
    Problem,
    ProviderError,
    StalePlanError,
    StateError,
    UnknownAppError,
    UnknownRegionError,
)
from numbers_iac.executor import ApplyReport, Executor, check_guards
from numbers_iac.model import (
    QUANTITY,
    Account,
    Action,
    Adopt,
    Attempt,
    Desired,
    ManagedNumber,
    Plan,
    Price,
    ProviderConfig,
    Purchase,
    Recorded,
    Settle,
    Settlement,
    Where,
    digest_parts,
)
from numbers_iac.providers import open_provider
from numbers_iac.providers.base import Progress, Provider, no_progress
from numbers_iac.state import tables as state_tables
from numbers_iac.state.base import StateStore

ProviderFactory = Callable[[ProviderConfig], Provider]
ProgressFactory = Callable[[str], Progress]


def _no_progress_factory(label: str) -> Progress:
    return no_progress


class Providers:
    """Opens provider adapters on first use and closes them all at the end."""

    def __init__(self, desired: Desired, factory: ProviderFactory | None = None):
        self._desired = desired
        self._factory = factory or open_provider
        self._open: dict[str, Provider] = {}
        #: the latest listing of each account, so apply acts on numbers as listed
        self.accounts: dict[str, Account] = {}

    def __getitem__(self, name: str) -> Provider:
        if name not in self._open:
            self.require([name])
            self._open[name] = self._factory(self._desired.providers[name])
        return self._open[name]

    def require(self, names: Iterable[str]) -> None:
        """Raise `ConfigError` naming every unset variable the settings of these providers
        read (see `Desired.unresolved`), all at once, before any of them is opened."""
        problems = [p for name in names for p in self._desired.unresolved.get(name, ())]
        if problems:
            raise ConfigError(sorted(problems, key=lambda p: (p.line or 0, p.column or 0)))

    def close(self) -> None:
        for provider in self._open.values():
            provider.close()
        self._open.clear()

    def __enter__(self) -> Providers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def providers_in_scope(desired: Desired, recorded: Recorded, targets: Iterable[str]) -> list[str]:
    """Providers a plan must list: all configured ones, or those of the targeted declarations."""
    target_set = set(targets)
    if not target_set:
        return sorted(desired.providers)
    names = {d.provider for d in desired.declarations.values() if d.name in target_set}
    names |= {
        m.provider
        for m in recorded.numbers.values()
        if m.declaration in target_set and m.provider in desired.providers
    }
    return sorted(names)


def observe(
    providers: Providers, names: Iterable[str], progress: ProgressFactory = _no_progress_factory
) -> dict[str, Account]:
    """List every named provider account (numbers and apps). Each is opened first, so
    every account whose settings cannot work (a key file that does not read, a missing
    credential) is named in one run, not one per run."""
    names = list(names)
    providers.require(names)
    unopened: list[ProviderError | ConfigError] = []
    for name in names:
        try:
            providers[name]
        except (ProviderError, ConfigError) as exc:
            unopened.append(exc)
    if len(unopened) == 1:
        raise unopened[0]
    if unopened and all(isinstance(exc, ConfigError) for exc in unopened):
        raise ConfigError([p for exc in unopened for p in exc.problems])
    if unopened:
        raise NumbersIacError("\n".join(str(exc) for exc in unopened))
    accounts = {name: providers[name].account(progress(f"listing {name}")) for name in names}
    providers.accounts.update(accounts)
    return accounts


def settle(
    providers: Providers,
    recorded: Recorded,
    accounts: Mapping[str, Account],
    now: datetime | None = None,
) -> dict[str, tuple[Settlement, ...]]:
    """Ask each provider what its open purchase attempts produced, and which of them have
    waited past its settle time (the planner counts those as not bought)."""
    now = now or datetime.now(UTC)
    settlements: dict[str, tuple[Settlement, ...]] = {}
    for name, account in accounts.items():
        attempts = [a for a in recorded.attempts if a.provider == name]
        if not attempts:
            continue
        provider = providers[name]
        settlements[name] = tuple(
            Settlement(
                attempt=r.attempt,
                produced=r.produced,
                age_seconds=journal.age_seconds(r.attempt.started_at, now),
                expired=journal.has_lapsed(r.attempt, now, provider.settle_seconds),
                settled=r.settled,
                uncertain=r.uncertain,
            )
            for r in provider.recover(attempts, account)
        )
    return settlements


def make_plan(
    desired: Desired,
    providers: Providers,
    store: StateStore,
    *,
    targets: Iterable[str] = (),
    accept_missing: Iterable[str] = (),
    replace_names: Iterable[str] = (),
    progress: ProgressFactory = _no_progress_factory,
    now: datetime | None = None,
) -> Plan:
    """List, plan, then price the purchases the plan contains and hold it to the `safety:`
    limits (`desired.safety`, with the run's overrides). `now` is the calendar (default: the
    system's clock): cooling-off dates are counted from it. Purchases in flight are always
    timed on the system clock: a rehearsal calendar (`NUMBERS_IAC_NOW`) must never make an
    order that may still land look lapsed, or it would be bought again."""
    now = now or datetime.now(UTC)
    targets = tuple(targets)
    accept_missing = tuple(accept_missing)
    recorded, accounts = _load_and_observe(
        desired, providers, store, targets, replace_names, progress, accept_missing
    )
    capabilities = {name: providers[name].capabilities for name in accounts}
    problems: list[Problem] = []
    try:
        plan = planner.plan(
            desired,
            accounts,
            recorded,
            capabilities,
            targets=targets,
            accept_missing=accept_missing,
            settlements=settle(providers, recorded, accounts, datetime.now(UTC)),
            replace=replace_names,
            today=now.date(),
        )
    except ConfigError as exc:
        if not hasattr(exc, "plan"):
            raise
        plan, problems = exc.plan, exc.problems  # priced anyway: one run, every problem
    plan = price(plan, providers, desired, problems)
    return replace(
        plan,
        created_at=now.isoformat(timespec="seconds"),
        guards=guards.evaluate(plan, desired.safety, recorded.numbers)
        + guards.overridden_trips(plan, desired, recorded.numbers),
    )


def _load_and_observe(
    desired: Desired,
    providers: Providers,
    store: StateStore,
    targets: tuple[str, ...],
    replace_names: Iterable[str],
    progress: ProgressFactory,
    accept_missing: tuple[str, ...] = (),
) -> tuple[Recorded, dict[str, Account]]:
    """The state (read once: at 100,000 numbers every read is a full table scan) and the
    listings. A plan of every provider reads the state while they list, so its second or
    so of reading rows hides behind the network, and a state that cannot be read stops the
    listing at its next page instead of after it (a Plivo walk of 100,000 numbers takes 84
    s); `-target`, `--accept-missing` and `--replace` are checked against the state first,
    before anything is listed."""
    replace_names = tuple(replace_names)
    if targets or replace_names or accept_missing:
        recorded = store.load()
        _check_targets(desired, recorded, targets)
        _check_targets(desired, recorded, accept_missing, "--accept-missing")
        _check_replace(desired, recorded, replace_names)
        names = providers_in_scope(desired, recorded, targets)
        return recorded, observe(providers, names, progress)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="state") as pool:
        loading = pool.submit(store.load)

        def watched(label: str) -> Progress:
            report = progress(label)

            def each(done: int, total: int | None) -> None:
                if loading.done():
                    loading.result()  # raises what stopped the state's read
                report(done, total)

            return each

        accounts = observe(providers, providers_in_scope(desired, Recorded(), ()), watched)
        return loading.result(), accounts


def _check_targets(
    desired: Desired, recorded: Recorded, targets: tuple[str, ...], flag: str = "--target"
) -> None:
    """Names given on the command line are declarations, configured or in the state: a typo
    is an error, never a flag that quietly does nothing."""
    if not targets:
        return
    known = set(desired.declarations) | {m.declaration for m in recorded.numbers.values()}
    unknown = [t for t in targets if t not in known]
    if unknown:
        raise NumbersIacError(
            f"{flag} names no declaration in the configuration or the state: {', '.join(unknown)}"
        )


def forget(desired: Desired, store: StateStore, items: Iterable[str]) -> list[tuple[str, str, str]]:
    """Drop state records (by removed declaration name, or by number) without any provider
    call; returns (provider, number, declaration) forgotten. A number whose declaration is
    still configured is refused (`_still_wanted`). Purchase
    attempts and releases still open for what is forgotten are closed first, so the next
    plan cannot take the numbers back through them."""
    recorded = store.load()
    chosen: list[ManagedNumber] = []
    entries: set[int] = set()
    for item in items:
        number = _as_e164(item)
        matches = [
            m for m in recorded.numbers.values() if item == m.declaration or number == m.number
        ]
        attempts = [a for a in recorded.attempts if a.declaration == item or number in a.numbers]
        if not matches and not attempts:
            raise NumbersIacError(
                f"state forget {item}: the state holds no declaration or number {item}"
            )
        refusal = _still_wanted(desired, matches, attempts)
        if refusal:
            raise NumbersIacError(f"state forget {item}: {refusal}. Nothing was changed.")
        chosen += [m for m in matches if m not in chosen]
        entries |= {a.entry_id for a in attempts}
    # an open release is closed only when none of its numbers stays managed: a batch that
    # released others with it is still settled by the next plan's listing
    forgotten = {(m.provider, m.number) for m in chosen}
    releases: dict[int, set[tuple[str, str]]] = {}
    for key, entry in recorded.releasing.items():
        releases.setdefault(entry, set()).add(key)
    entries |= {
        entry
        for entry, numbers in releases.items()
        if numbers & forgotten and all(k in forgotten or k not in recorded.numbers for k in numbers)
    }
    store.journal_end_many(sorted(entries), "forgotten")
    for provider in sorted({m.provider for m in chosen}):
        store.forget_numbers(provider, [m.number for m in chosen if m.provider == provider])
    return [(m.provider, m.number, m.declaration) for m in chosen]


def _still_wanted(
    desired: Desired, matches: list[ManagedNumber], attempts: list[Attempt]
) -> str | None:
    """Why these records cannot be forgotten, or None. A declaration configured on the same
    provider still wants its numbers: the next plan would buy replacements, or take a number
    back by its ownership tag (or an open purchase's settlement), so even a surplus number
    is refused; one a declaration renamed into names in `moved_from` is still wanted too. A
    declaration of that name on another provider does not keep them (they would be released
    as moved)."""
    live = {(d.provider, d.name) for d in desired.declarations.values()}
    moving = {
        (d.provider, old): d.name for d in desired.declarations.values() for old in d.moved_from
    }
    keys = {(m.provider, m.declaration) for m in matches} | {
        (a.provider, a.declaration) for a in attempts
    }
    declared = sorted(name for provider, name in keys if (provider, name) in live)
    if declared:
        return (
            f"{', '.join(declared)} is still declared, so the next plan would buy replacements "
            "or take the numbers back by their tag; state forget keeps the numbers of removed "
            "declarations only"
        )
    renamed = sorted(f"{name} (now {moving[(p, name)]})" for p, name in keys if (p, name) in moving)
    if renamed:
        return (
            f"{', '.join(renamed)} moves into a declaration still configured (moved_from), "
            "which takes its numbers"
        )
    return None


def _as_e164(item: str) -> str:
    """A number given on the command line, written as the configuration may write it
    ("+33 3 22 00 00 01", "+1 (415) 555-0100"), in E.164; anything else as given."""
    try:
        parsed = phonenumbers.parse(item, None)
    except phonenumbers.NumberParseException:
        return item
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _check_replace(desired: Desired, recorded: Recorded, names: tuple[str, ...]) -> None:
    """`--replace` names a removed declaration that still holds numbers."""
    held = {m.declaration for m in recorded.numbers.values()}
    for name in names:
        if name in desired.declarations:
            raise NumbersIacError(
                f"--replace {name}: {name} is still declared; --replace names a removed "
                "declaration whose numbers should be released instead of moved"
            )
        if name not in held:
            raise NumbersIacError(f"--replace {name}: the state holds no numbers of {name}")


def price(
    plan: Plan,
    providers: Providers,
    desired: Desired | None = None,
    problems: Iterable[Problem] = (),
) -> Plan:
    """Attach provider prices to purchases, and warn once per location where the purchases
    drawing on it want more in total than is for sale there.

    Every problem a provider reveals (an unknown region or prefix, a pinned number not for
    sale) is collected, located at its declaration's field in `desired`, and raised with the
    planner's `problems` as one `ConfigError`, so one run shows every mistake.
    """
    found = list(problems)
    purchases = [a for a in plan.actions if isinstance(a, Purchase)]
    prices: dict[tuple[str, str, bool], Price] = {}  # (provider, declaration, pinned)
    warnings = list(plan.warnings)
    for (provider, _), group in _by_location(purchases, desired).items():
        where = group[0].where
        assert where is not None
        wanted = sum(a.count for a in group)
        try:
            quote = providers[provider].quote(where, wanted)
        except _DECLARATION_PROBLEMS as exc:
            found.extend(
                _problem(desired, plan, a.declaration, _where_field(where), exc) for a in group
            )
            continue
        prices.update({(provider, a.declaration, False): quote.price for a in group})
        adapter = providers[provider]
        for action in group:
            if not any(key in action.options for key in adapter.priced_options):
                continue
            try:
                priced = adapter.quote_options(where, action.count, action.options)
            except _DECLARATION_PROBLEMS as exc:
                found.append(_problem(desired, plan, action.declaration, _where_field(where), exc))
                continue
            prices[(provider, action.declaration, False)] = priced.price
        if quote.available is not None and quote.available < wanted:
            warnings.append(_short_stock(provider, group, where, wanted, quote.available))
    for action in purchases:
        if action.pinned:
            pinned_price = _quote_pinned(providers[action.provider], action, desired, plan, found)
            if pinned_price is not None:
                prices[(action.provider, action.declaration, True)] = pinned_price
    checked: set[tuple[str, str]] = set()
    for action in purchases:
        if (action.provider, action.declaration) in checked:
            continue
        checked.add((action.provider, action.declaration))
        try:
            providers[action.provider].check_purchase(action.where, action.options)
        except DeclarationOptionError as exc:
            found.append(_problem(desired, plan, action.declaration, exc.field, exc))
    for provider in sorted({a.provider for a in purchases}):
        warnings.extend(w for w in providers[provider].plan_warnings() if w not in warnings)
    for provider in sorted({a.provider for a in plan.releases}):
        warnings.extend(w for w in providers[provider].release_warnings() if w not in warnings)
    for provider in sorted(providers.accounts):
        warnings.extend(w for w in providers[provider].listing_warnings() if w not in warnings)
    if found:
        raise ConfigError(sorted(found, key=_problem_order))
    actions = tuple(
        replace(a, price=prices.get((a.provider, a.declaration, bool(a.pinned)), a.price))
        if isinstance(a, Purchase)
        else a
        for a in plan.actions
    )
    return replace(plan, actions=actions, warnings=tuple(warnings))


#: what a quote can say about a declaration itself (not about the provider being reachable)
_DECLARATION_PROBLEMS = (
    UnknownRegionError,
    NumberUnavailableError,
    OutOfStockError,
    UnknownAppError,
)


def _by_location(
    purchases: Iterable[Purchase], desired: Desired | None
) -> dict[tuple[str, tuple], list[Purchase]]:
    """Purchases that draw on the same stock: same provider and the same place, spelled
    alike (region names compare without case, prefixes by their digits), each in the order
    the configuration declares them."""
    written = {name: i for i, name in enumerate(desired.declarations if desired else ())}
    groups: dict[tuple[str, tuple], list[Purchase]] = {}
    for action in sorted(purchases, key=lambda a: written.get(a.declaration, len(written))):
        where = action.where
        if action.pinned or where is None:
            continue
        key = (
            where.country.upper(),
            where.number_type,
            where.region.strip().casefold() if where.region else None,
            "".join(ch for ch in where.prefix if ch.isdigit()) if where.prefix else None,
            tuple(sorted(where.capabilities)),
        )
        groups.setdefault((action.provider, key), []).append(action)
    return groups


def _short_stock(
    provider: str, group: list[Purchase], where: Where, wanted: int, available: int
) -> str:
    place = where.describe()
    then = "apply will buy what it can and the next plan will ask for the rest"
    if len(group) == 1:
        return (
            f"{provider} / {group[0].declaration}: {wanted:,} wanted but only {available:,} "
            f"for sale at {place}; {then}"
        )
    wants = [f"{a.declaration} {a.count:,}" for a in group]
    wants[0] = f"{group[0].declaration} wants {group[0].count:,}"
    who = f"{', '.join(wants[:-1])} and {wants[-1]}"
    return f"{provider}: {who} at {place}: {wanted:,} wanted, {available:,} for sale; {then}"


def _quote_pinned(
    provider: Provider,
    action: Purchase,
    desired: Desired | None,
    plan: Plan,
    found: list[Problem],
) -> Price | None:
    """The price of a pinned purchase. When some of its numbers are not for sale, ask about
    each one, so every number that cannot be bought is named, at its place in the list."""
    try:
        return provider.quote_numbers(action.pinned).price
    except _DECLARATION_PROBLEMS as exc:
        refused = exc
    pinned = _pinned_of(desired, action)
    named = len(found)
    for number in action.pinned:
        try:
            provider.quote_numbers([number])
        except _DECLARATION_PROBLEMS as exc:
            field = f"numbers[{pinned.index(number)}]" if number in pinned else "numbers"
            found.append(_problem(desired, plan, action.declaration, field, exc))
    if len(found) == named:  # each number alone is for sale: report the batch's answer
        found.append(_problem(desired, plan, action.declaration, "numbers", refused))
    return None


def _pinned_of(desired: Desired | None, action: Purchase) -> tuple[str, ...]:
    declaration = desired.declarations.get(action.declaration) if desired else None
    return declaration.pinned if declaration else ()


def _where_field(where: Where) -> str:
    """The field a 'nothing for sale there' answer points at: the one that narrows the
    search, or the declaration as a whole when region and prefix both do."""
    if where.region and where.prefix:
        return ""
    if where.region:
        return "region"
    if where.prefix:
        return "prefix"
    return "capabilities" if where.capabilities else "type"


def _problem(
    desired: Desired | None, plan: Plan, name: str, field: str, exc: ProviderError
) -> Problem:
    declaration = desired.declarations.get(name) if desired else None
    source = None
    if declaration is not None:  # `numbers[2]` falls back to `numbers`, then the declaration
        source = declaration.field_sources.get(field) or declaration.located(field.split("[")[0])
    path = f"numbers.{name}.{field}" if field else f"numbers.{name}"
    return Problem(
        source.file if source else (plan.config_path or "<config>"),
        source.line if source else None,
        source.column if source else None,
        path,
        f"provider {exc.provider}: {exc.detail}",
    )


def _problem_order(problem: Problem) -> tuple:
    return (problem.file, problem.line or 0, problem.column or 0)


def check_fresh(
    plan: Plan,
    desired: Desired,
    providers: Providers,
    store: StateStore,
    now: datetime | None = None,
) -> None:
    """Refuse a saved plan when the config, the state or a provider's account changed since,
    or when its actions are not the ones those inputs give (a plan file is plain JSON: an edited
    one must not release a number the configuration never asked to release).
    """
    now = now or datetime.now(UTC)
    if plan.config_digest != desired.config_digest:
        elsewhere = plan.config_path and plan.config_path != desired.config_path
        if elsewhere and os.path.exists(plan.config_path):
            raise StalePlanError(
                f"this plan was made from {plan.config_path}, not {desired.config_path}; "
                f"apply it with -c {plan.config_path}, or plan again. Nothing was changed."
            )
        if elsewhere:  # its file is gone (another checkout): this one is not the same text
            raise StalePlanError(
                f"this plan was made from {plan.config_path}, which is gone, and "
                f"{desired.config_path} is not the same configuration; run plan again. "
                "Nothing was changed."
            )
        raise StalePlanError(
            f"the configuration {desired.config_path} changed since this plan was made; "
            "run plan again. Nothing was changed."
        )
    if digest_parts(plan.state_fingerprint) is None:
        raise StalePlanError(
            "this plan was saved by an earlier numbers-iac, whose fingerprints of the state "
            "and accounts this one does not read; run plan again. Nothing was changed."
        )
    recorded = store.load()
    state_now = recorded.fingerprint()
    if plan.state_fingerprint != state_now:
        raise StalePlanError(
            "the state changed since this plan was made"
            f"{_what_changed(plan.state_fingerprint, state_now)}, by another apply or a "
            "state command; run plan again. Nothing was changed."
        )
    gone = sorted(set(plan.fingerprints) - set(desired.providers))
    if gone:
        raise StalePlanError(f"provider {', '.join(gone)} is no longer configured; run plan again")
    accounts = observe(providers, plan.fingerprints)
    for name, fingerprint in plan.fingerprints.items():
        now_listed = accounts[name].fingerprint()
        if now_listed != fingerprint:
            raise StalePlanError(
                f"the numbers or apps on provider {name} changed since this plan was made"
                f"{_what_changed(fingerprint, now_listed)}; run plan again. "
                "Nothing was changed."
            )
    unknown = {a.provider for a in plan.actions} - set(accounts)
    if unknown:
        raise StalePlanError(
            f"the plan acts on provider{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(sorted(unknown))} it never listed; "
            "it was not made by numbers-iac plan. Nothing was changed."
        )
    settlements = settle(providers, recorded, accounts, datetime.now(UTC))

    def replanned(today: date) -> Plan:
        return planner.plan(
            desired,
            accounts,
            recorded,
            {name: providers[name].capabilities for name in accounts},
            targets=plan.targets,
            accept_missing=plan.accepted,
            replace=plan.replaced,
            settlements=settlements,
            today=today,
        )

    expected = replanned(now.date())
    if (expected.ambiguous_moves, expected.unmovable) != (
        plan.ambiguous_moves,
        plan.unmovable,
    ):
        raise StalePlanError(
            "the plan file's refusals of unconfirmed renames differ from what its "
            "configuration, state and accounts give (was the file edited?); run plan again. "
            "Nothing was changed."
        )
    if _comparable(expected.actions) != _comparable(plan.actions):
        settles = {a.entry_id for a in expected.actions if isinstance(a, Settle)}
        if settles != {a.entry_id for a in plan.actions if isinstance(a, Settle)}:
            raise StalePlanError(
                "the calls whose outcome the listing must settle are not those of this plan "
                "(an order's numbers appeared or its settle time passed, or an apply since "
                "left a purchase or release in doubt): run plan again. Nothing was changed."
            )
        made_on = _date_of(plan.created_at)
        if made_on not in (None, now.date()) and _comparable(replanned(made_on).actions) == (
            _comparable(plan.actions)
        ):
            raise StalePlanError(
                f"the plan was made on {made_on} and its dates have moved on (a quarantine "
                "ended, or a number entered one); run plan again. Nothing was changed."
            )
        raise StalePlanError(
            "the plan file's actions differ from what its configuration, state and accounts "
            "give (was the file edited?); run plan again. Nothing was changed."
        )


#: the words for a count that moved, and for a part that changed under the same count
_COUNTED = {
    "numbers": ("numbers", "other numbers, as many ({:,})"),
    "apps": ("apps", "apps renamed or replaced"),
    "managed": ("managed numbers", "other managed numbers, as many ({:,})"),
    "orders": ("orders waiting", "other orders waiting"),
    "attempts": ("calls in doubt", "other calls in doubt"),
}
#: the part each count counts, when it is not the count's own name
_COUNTS_PART = {"numbers": "held", "managed": "held"}
#: per-number parts, compared only while the same numbers are held
_PER_NUMBER = {
    "bound": "the app of some numbers",
    "tagged": "the ownership tag of some numbers",
    "labelled": "the labels of some numbers",
    "status": "the status of some numbers (pending or active)",
    "declared": "the declaration of some numbers (moved)",
    "applied": "what was last applied to some numbers",
}


def _what_changed(then: str, now: str) -> str:
    """What differs between two fingerprints (`model.parted_digest`), as ` (numbers: 1,000
    then, 1,002 now; the app of some numbers)`, so the user knows whether someone bought,
    rebound or relabelled since; empty for a plan file whose fingerprints have no parts."""
    before, after = digest_parts(then), digest_parts(now)
    if before is None or after is None or set(before.digests) != set(after.digests):
        return ""
    said: list[str] = []
    for name, (counted, swapped) in _COUNTED.items():
        if name not in before.counts or name not in after.counts:
            continue
        part = _COUNTS_PART.get(name, name)
        if before.counts[name] != after.counts[name]:
            said.append(f"{counted}: {before.counts[name]:,} then, {after.counts[name]:,} now")
        elif before.digests.get(part) != after.digests.get(part):
            said.append(swapped.format(after.counts[name]))
        elif part == "held":  # the same numbers: what each one has compares
            said += [
                words
                for each, words in _PER_NUMBER.items()
                if each in before.digests and before.digests[each] != after.digests[each]
            ]
    return f" ({'; '.join(said)})" if said else ""


def _date_of(created_at: str | None) -> date | None:
    try:
        return datetime.fromisoformat(created_at).date() if created_at else None
    except ValueError:
        return None


def _comparable(actions: Iterable[Action]) -> list[Action]:
    """Actions without what may move between plan and apply and changes nothing: prices
    quoted at plan time, the age of an attempt being settled."""
    return [
        replace(a, price=None)
        if isinstance(a, Purchase)
        else (replace(a, age_seconds=0) if isinstance(a, Settle) else a)
        for a in actions
    ]


def apply_plan(
    plan: Plan,
    desired: Desired,
    providers: Providers,
    store: StateStore,
    *,
    allow_release: bool,
    progress: Progress = no_progress,
    now: datetime | None = None,
) -> ApplyReport:
    """Run the guards, then the executor. The caller holds the state lock."""
    recorded = store.load()
    today = (now or datetime.now(UTC)).date()
    check_guards(plan, desired, recorded.numbers, allow_release, today=today)
    _recheck_lapsed_orders(plan, providers, recorded)
    needed: Mapping[str, Provider] = {a.provider: providers[a.provider] for a in plan.actions}
    executor = Executor(needed, store, progress=progress, accounts=providers.accounts)
    return executor.apply(plan, recorded)


def _recheck_lapsed_orders(plan: Plan, providers: Providers, recorded: Recorded) -> None:
    """Just before buying again for an order settled as not bought, look once more: the
    plan may have waited at the `yes` prompt while the order's numbers landed. If they did,
    buying again would buy twice: refuse, and let the next plan adopt them."""
    lapsed = [
        a
        for a in plan.actions
        if isinstance(a, Settle) and a.operation == "purchase" and a.not_bought
    ]
    if not lapsed:
        return
    attempts = {a.entry_id: a for a in recorded.attempts}
    #: numbers the plan already knew of: a number not among them appeared since it was made
    known = (
        set(recorded.numbers)
        | {(u.provider, u.number) for u in plan.unmanaged}
        | {(a.provider, a.number) for a in plan.actions if isinstance(a, Adopt)}
    )
    for name in sorted({s.provider for s in lapsed}):
        settles = {s.entry_id: s for s in lapsed if s.provider == name and s.entry_id in attempts}
        if not settles:
            continue
        provider = providers[name]
        todo = [attempts[entry] for entry in settles]
        for recovery in provider.recover(todo, provider.account()):
            settle = settles[recovery.attempt.entry_id]
            produced = recovery.produced
            if recovery.attempt.mode == QUANTITY:  # only what may be the order's, and new
                produced = tuple(
                    n
                    for n in produced
                    if n.tag == settle.declaration or (not n.tag and (name, n.number) not in known)
                )
            if {n.number for n in produced} - set(settle.adopted):
                raise StalePlanError(
                    f"numbers of the unresolved order for {name} / {settle.declaration} "
                    "appeared since this plan was made; buying again now would buy twice. "
                    "Run plan again: it adopts them. Nothing was changed."
                )


def check_drift(
    desired: Desired,
    providers: Providers,
    store: StateStore,
    *,
    progress: ProgressFactory = _no_progress_factory,
    now: datetime | None = None,
) -> DriftReport:
    """The plan of every configured provider, read as drift (see `numbers_iac.drift`).
    Takes no lock: it changes nothing."""
    the_plan = make_plan(desired, providers, store, progress=progress, now=now)
    accounts = providers.accounts
    return drift_report(
        the_plan,
        store.load(),
        {name: accounts[name] for name in the_plan.fingerprints},
        {name: providers[name].capabilities for name in the_plan.fingerprints},
    )


def copy_state(source: StateStore, target: StateStore) -> dict[str, int]:
    """Copy every row of `source` into the empty `target`, then read both back and compare:
    returns the rows copied per table. Raises `StateError` if anything differs."""
    rows = source.export_rows()
    target.import_rows(rows)
    if _comparable_rows(target.export_rows()) != _comparable_rows(rows):
        raise StateError(
            f"the copy in {target.where} differs from {source.where} after writing it; "
            f"{source.where} is untouched and still the state"
        )
    return state_tables.row_counts(rows)


def _comparable_rows(rows: state_tables.StateRows) -> dict[str, list[tuple]]:
    return {
        table.name: [
            tuple(row.get(column) for column in table.column_names)
            for row in rows.get(table.name, ())
        ]
        for table in state_tables.TABLES
    }
