"""The engine: wires config, providers, state, planner and executor for one command.

Everything with I/O around the pure planner lives here: listing accounts, pricing purchases,
checking that a saved plan still matches the world, and running the executor under the lock.
The CLI only parses flags, calls these functions and renders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime

from numbers_iac import journal, planner
from numbers_iac.errors import NumbersIacError, StalePlanError
from numbers_iac.executor import ApplyReport, Executor, check_guards
from numbers_iac.model import (
    Account,
    Action,
    Desired,
    Forget,
    Plan,
    ProviderConfig,
    Purchase,
    Recorded,
    Settle,
    Settlement,
)
from numbers_iac.providers import open_provider
from numbers_iac.providers.base import Progress, Provider, no_progress
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
            self._open[name] = self._factory(self._desired.providers[name])
        return self._open[name]

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
    """List every named provider account (numbers and apps)."""
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
    progress: ProgressFactory = _no_progress_factory,
) -> Plan:
    """List, plan, then price the purchases the plan contains."""
    targets = tuple(targets)
    recorded = store.load()  # once: at 100,000 numbers every read is a full table scan
    _check_targets(desired, recorded, targets)
    names = providers_in_scope(desired, recorded, targets)
    accounts = observe(providers, names, progress)
    capabilities = {name: providers[name].capabilities for name in names}
    plan = planner.plan(
        desired,
        accounts,
        recorded,
        capabilities,
        targets=targets,
        accept_missing=accept_missing,
        settlements=settle(providers, recorded, accounts),
    )
    plan = price(plan, providers)
    return replace(plan, created_at=datetime.now(UTC).isoformat(timespec="seconds"))


def _check_targets(desired: Desired, recorded: Recorded, targets: tuple[str, ...]) -> None:
    if not targets:
        return
    known = set(desired.declarations) | {m.declaration for m in recorded.numbers.values()}
    unknown = [t for t in targets if t not in known]
    if unknown:
        raise NumbersIacError(
            f"--target names no declaration in the configuration or the state: {', '.join(unknown)}"
        )


def price(plan: Plan, providers: Providers) -> Plan:
    """Attach provider prices to purchases; warn where stock is short. Unknown regions raise."""
    actions = []
    warnings = list(plan.warnings)
    for action in plan.actions:
        if isinstance(action, Purchase):
            provider = providers[action.provider]
            if action.pinned:
                quote = provider.quote_numbers(action.pinned)
            elif action.where is not None:
                quote = provider.quote(action.where, action.count)
            else:
                quote = None
            if quote is not None:
                action = replace(action, price=quote.price)
                if quote.available is not None and quote.available < action.count:
                    warnings.append(
                        f"{action.provider} / {action.declaration}: {action.count} wanted but only "
                        f"{quote.available} for sale at {action.where.describe() if action.where else 'that location'}; "
                        "apply will buy what it can and the next plan will ask for the rest"
                    )
        actions.append(action)
    return replace(plan, actions=tuple(actions), warnings=tuple(warnings))


def check_fresh(plan: Plan, desired: Desired, providers: Providers, store: StateStore) -> None:
    """Refuse a saved plan when the config, the state or a provider's account changed since,
    or when its actions are not the ones those inputs give (a plan file is plain JSON: an edited
    one must not release a number the configuration never asked to release).
    """
    if plan.config_digest != desired.config_digest:
        raise StalePlanError(
            f"the configuration {desired.config_path} changed since this plan was made; "
            "run plan again. Nothing was changed."
        )
    recorded = store.load()
    if plan.state_fingerprint != recorded.fingerprint():
        raise StalePlanError(
            "the state changed since this plan was made (another apply ran?); run plan again. "
            "Nothing was changed."
        )
    gone = sorted(set(plan.fingerprints) - set(desired.providers))
    if gone:
        raise StalePlanError(f"provider {', '.join(gone)} is no longer configured; run plan again")
    accounts = observe(providers, plan.fingerprints)
    for name, fingerprint in plan.fingerprints.items():
        if accounts[name].fingerprint() != fingerprint:
            raise StalePlanError(
                f"the numbers or apps on provider {name} changed since this plan was made; "
                "run plan again. Nothing was changed."
            )
    unknown = {a.provider for a in plan.actions} - set(accounts)
    if unknown:
        raise StalePlanError(
            f"the plan acts on provider(s) {', '.join(sorted(unknown))} it never listed; "
            "it was not made by numbers-iac plan. Nothing was changed."
        )
    expected = planner.plan(
        desired,
        accounts,
        recorded,
        {name: providers[name].capabilities for name in accounts},
        targets=plan.targets,
        accept_missing={a.declaration for a in plan.actions if isinstance(a, Forget)},
        settlements=settle(providers, recorded, accounts),
    )
    if _comparable(expected.actions) != _comparable(plan.actions):
        settles = {a.entry_id for a in expected.actions if isinstance(a, Settle)}
        if settles != {a.entry_id for a in plan.actions if isinstance(a, Settle)}:
            raise StalePlanError(
                "an unresolved order was settled since this plan was made (its numbers "
                "appeared, or its settle time passed): run plan again. Nothing was changed."
            )
        raise StalePlanError(
            "the plan file's actions differ from what its configuration, state and accounts "
            "give (was the file edited?); run plan again. Nothing was changed."
        )


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
) -> ApplyReport:
    """Run the guards, then the executor. The caller holds the state lock."""
    recorded = store.load()
    check_guards(plan, desired, recorded.numbers, allow_release)
    needed: Mapping[str, Provider] = {a.provider: providers[a.provider] for a in plan.actions}
    executor = Executor(needed, store, progress=progress, accounts=providers.accounts)
    return executor.apply(plan, recorded)
