"""The executor: carries out a Plan against providers and records every outcome in the state.

The only module that mutates the world. Order per provider: state-only changes (adopt, forget),
purchases (each followed by the binds of what it bought, where the buy itself cannot bind),
binds, label changes, and releases last, so a failure never leaves a declaration
with fewer numbers than before. Each provider call is journaled (intent before, outcome after);
each bought number is recorded the moment the provider confirms it, so a killed apply cannot
lead the next plan to buy it again. Independent actions continue after one fails; the report
tells what was done, what failed and why.
"""

from __future__ import annotations

import functools
import json
import signal
import sys
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from numbers_iac import guards
from numbers_iac.errors import GuardError, ProviderError
from numbers_iac.journal import BUY_ATTEMPT, UNKNOWN, age_seconds, as_instant
from numbers_iac.model import (
    Account,
    Action,
    Adopt,
    Attempt,
    Bind,
    Desired,
    Forget,
    ManagedNumber,
    Move,
    OwnedNumber,
    Plan,
    Purchase,
    Quarantine,
    Recorded,
    Release,
    Restore,
    Safety,
    SetLabels,
    Settle,
)
from numbers_iac.providers.base import BatchOutcome, Offer, Provider, PurchaseRequest
from numbers_iac.purchase import PurchaseRun
from numbers_iac.state.base import StateStore
from numbers_iac.words import first_of, plural

DONE, FAILED, SKIPPED = "done", "failed", "skipped"
__all__ = ["BUY_ATTEMPT", "DONE", "FAILED", "SKIPPED", "ApplyReport", "Executor", "check_guards"]


@dataclass(frozen=True)
class ActionResult:
    """What became of one planned action."""

    action: Action
    status: str
    detail: str = ""
    #: numbers the action produced (purchases: the numbers bought, even when it fell short)
    numbers: tuple[str, ...] = ()


@dataclass
class ApplyReport:
    """Everything an apply did, for the summary and the exit code."""

    apply_id: str
    results: list[ActionResult] = field(default_factory=list)
    #: an interrupt stopped it before the end (actions not started are SKIPPED)
    interrupted: bool = False

    def of_status(self, status: str) -> list[ActionResult]:
        return [r for r in self.results if r.status == status]

    @property
    def ok(self) -> bool:
        return not self.of_status(FAILED) and not self.interrupted


def check_guards(
    plan: Plan,
    desired: Desired | None,
    recorded: Mapping,
    allow_release: bool,
    *,
    today: date | None = None,
) -> None:
    """Refuse, before anything changes, a plan whose releases were not explicitly allowed,
    that would release a protected number or one still cooling off before `today` (the
    planner never plans those; this is the backstop), or that goes over a `safety:` limit
    (`desired.safety`, with the run's overrides; the defaults without a configuration).
    """
    _check_moves(plan)
    releases = plan.releases
    protected = [r.number for r in releases if _is_protected(r, desired, recorded)]
    if protected:
        raise GuardError(
            f"refusing to apply: the plan would release protected "
            f"{'number' if len(protected) == 1 else 'numbers'} {first_of(protected)}"
        )
    cooling = [
        f"{r.number} (until {record.quarantine_until})"
        for r in releases
        if (record := recorded.get((r.provider, r.number))) is not None
        and record.quarantine_until
        and (today is None or today.isoformat() < record.quarantine_until)
    ]
    if cooling:
        raise GuardError(
            f"refusing to apply: the plan would release {first_of(cooling)} before the end "
            "of its quarantine; run plan again. Nothing was changed."
        )
    safety = desired.safety if desired is not None else Safety()
    refused = guards.refusal(guards.evaluate(plan, safety, recorded))
    if refused:
        raise GuardError("\n".join(refused))
    if releases and not allow_release:
        numbers = first_of([r.number for r in releases])
        them = "it" if len(releases) == 1 else "them"
        raise GuardError(
            f"refusing to apply: the plan releases {plural(len(releases), 'number')} ({numbers}), "
            f"which is IRREVERSIBLE. Re-run with --allow-release to release {them}, or leave "
            f"{them} out with --target on plan (or on an apply without a plan file). Nothing "
            "was changed."
        )


def _check_moves(plan: Plan) -> None:
    """A rename the planner only suspects is never applied either way: not as a move (the
    user has not said so) and not as release + purchase (customers' numbers would go)."""
    proposed: dict[tuple[str, str], int] = {}
    for action in plan.actions:
        if isinstance(action, Move) and action.proposed:
            key = (action.moved_from, action.declaration)
            proposed[key] = proposed.get(key, 0) + 1
    lines = [
        f"{new} looks like {old} renamed (same provider and place): add `moved_from: [{old}]` "
        f"to {new} to keep its {plural(count, 'number')}, or plan with --replace {old} to "
        "release them and buy new ones"
        for (old, new), count in sorted(proposed.items())
    ]
    lines += [
        f"the numbers of removed declaration {old} fit {' and '.join(news)}: add "
        f"`moved_from: [{old}]` to the one that keeps them, or plan with --replace {old}"
        for old, news in sorted(plan.ambiguous_moves.items())
    ]
    lines += [reason for _, reason in sorted(plan.unmovable.items())]
    if lines:
        raise GuardError("refusing to apply: " + "; ".join(lines) + ". Nothing was changed.")


def _is_protected(release: Release, desired: Desired | None, recorded: Mapping) -> bool:
    """A declaration still configured decides by its own `protect`; for a removed one the
    state's record of its last `protect` value does (the config can no longer say)."""
    record = recorded.get((release.provider, release.number))
    if desired is not None:
        owners = {release.declaration, record.declaration if record else release.declaration}
        owners |= {d.name for d in desired.declarations.values() if release.number in d.pinned}
        configured = [desired.declarations[o] for o in owners if o in desired.declarations]
        if any(d.protect for d in configured):
            return True
        if configured and (record is None or record.declaration in desired.declarations):
            return False
    return bool(record and record.protect)


class Executor:
    """Applies one plan. Create one per apply."""

    def __init__(
        self,
        providers: Mapping[str, Provider],
        store: StateStore,
        *,
        progress: Callable[[int, int | None], None] | None = None,
        accounts: Mapping[str, Account] | None = None,
    ):
        self.providers = providers
        self.store = store
        #: numbers as the plan's listing showed them: mutations carry them as listed
        self._listed = {
            (name, n.number): n
            for name, account in (accounts or {}).items()
            for n in account.numbers
        }
        self.apply_id = uuid.uuid4().hex[:12]
        self.report = ApplyReport(self.apply_id)
        #: progress counts numbers, not actions: a purchase of 3,000 advances as each is bought
        self._progress = progress or (lambda done, total: None)
        self._done = 0
        self._total = 0
        #: numbers already reported as done for an action still running (its purchases)
        self._reported: dict[int, int] = {}
        self._records: dict[tuple[str, str], ManagedNumber] = {}
        #: open purchase attempts by journal entry, as the apply found them
        self._attempts: dict[int, Attempt] = {}
        #: (provider, declaration) whose purchase fell short: their releases must wait
        self._short: set[tuple[str, str]] = set()
        self._stop_requested = False

    def apply(self, plan: Plan, recorded: Recorded | None = None) -> ApplyReport:
        """Apply `plan`; `recorded` is the state as the caller just read it (else read here)."""
        recorded = recorded or self.store.load()
        self._records = dict(recorded.numbers)
        self._attempts = {a.entry_id: a for a in recorded.attempts}
        by_provider: dict[str, list[Action]] = defaultdict(list)
        for action in plan.actions:
            by_provider[action.provider].append(action)
        self._total = sum(_numbers_in(action) for action in plan.actions)
        with self._graceful_interrupts():
            for provider_name, actions in by_provider.items():
                if self._stop_requested:
                    break
                self._apply_provider(self.providers[provider_name], actions)
        reported = {id(r.action) for r in self.report.results}
        for action in plan.actions:
            if id(action) not in reported:
                self._result(action, SKIPPED, "not started: the apply was interrupted")
        self.report.interrupted = self._stop_requested
        return self.report

    @contextmanager
    def _graceful_interrupts(self) -> Iterator[None]:
        """First Ctrl-C (or SIGTERM): finish the provider call in flight and record it, then
        stop before the next one. A second Ctrl-C aborts at once. Killing the process mid-call
        is the journal's job."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: object) -> None:
            if self._stop_requested:
                raise KeyboardInterrupt
            self._stop_requested = True
            sys.stderr.write(
                "\nInterrupted: finishing the provider call in progress and recording it, then "
                "stopping. Press Ctrl-C again to abort at once.\n"
            )

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    # ----------------------------------------------------------------- per provider
    def _apply_provider(self, provider: Provider, actions: list[Action]) -> None:
        held, reason = self._give_back_reservations(
            provider, [a for a in actions if isinstance(a, Settle)]
        )
        if held:
            actions = self._hold_back(actions, held, reason)
        self._record_only(
            [
                a
                for a in actions
                if isinstance(a, Adopt | Move | Forget | Settle | Quarantine | Restore)
            ]
        )
        # Pinned purchases first: a quantity purchase in the same region could otherwise be
        # handed a number another declaration pins.
        purchases = [a for a in actions if isinstance(a, Purchase)]
        steps: list[Callable[[], None]] = [
            functools.partial(self._purchase, provider, p)
            for p in sorted(purchases, key=lambda a: not a.pinned)
        ]
        binds: dict[tuple[str | None, str], list[Bind]] = defaultdict(list)
        for bind in (a for a in actions if isinstance(a, Bind)):
            binds[(bind.app_id, json.dumps(dict(bind.options), sort_keys=True))].append(bind)
        steps += [
            functools.partial(self._bind, provider, app_id, g) for (app_id, _), g in binds.items()
        ]
        labels = [a for a in actions if isinstance(a, SetLabels)]
        if labels:
            steps.append(functools.partial(self._set_labels, provider, labels))
        releases = [a for a in actions if isinstance(a, Release)]
        if releases:
            steps.append(functools.partial(self._release, provider, releases))
        for step in steps:
            if self._stop_requested:
                return
            step()

    def _give_back_reservations(
        self, provider: Provider, settles: Sequence[Settle]
    ) -> tuple[set[int], str]:
        """Cancel the reservations of attempts settled as not bought (an apply killed
        between its reserve and its buy) before anything is bought again, so one shortfall
        never holds two orders; before the attempt closes, so a kill in between leaves it
        open. Only a cancel that worked proves the reservation can no longer be bought (a
        buy sent before may still land): those that failed are returned with the reason,
        their attempts stay open and their declarations buy nothing in this apply."""
        failed: set[int] = set()
        reason = ""
        for settle in settles:
            attempt = self._attempts.get(settle.entry_id)
            if attempt is None or not attempt.handle or not settle.not_bought:
                continue
            if attempt.expires_at and age_seconds(attempt.expires_at, datetime.now(UTC)) > 0:
                continue  # lapsed: nothing can buy it any more
            request = PurchaseRequest(attempt.declaration, attempt.count, attempt.where)
            offer = Offer(
                request,
                attempt.mode,
                attempt.count,
                handle=attempt.handle,
                expires_at=attempt.expires_at,
            )
            try:
                provider.abort(offer)
            except ProviderError as exc:
                failed.add(settle.entry_id)
                reason = str(exc)
        return failed, reason

    def _hold_back(self, actions: list[Action], held: set[int], reason: str) -> list[Action]:
        """Leave the settles of reservations that could not be cancelled open, and skip
        the purchases of their declarations: the next plan looks again."""
        waiting = {a.declaration for a in actions if isinstance(a, Settle) and a.entry_id in held}
        kept: list[Action] = []
        for action in actions:
            if isinstance(action, Settle) and action.entry_id in held:
                self._result(action, SKIPPED, f"the reservation could not be cancelled: {reason}")
            elif isinstance(action, Purchase) and action.declaration in waiting:
                self._result(
                    action,
                    FAILED,
                    "not bought: an earlier reservation for it could not be cancelled and may "
                    "still be bought; run plan again",
                )
                self._short.add((action.provider, action.declaration))
            else:
                kept.append(action)
        return kept

    def _record_only(
        self, actions: Sequence[Adopt | Move | Forget | Settle | Quarantine | Restore]
    ) -> None:
        if not actions:
            return
        settles = [a for a in actions if isinstance(a, Settle)]
        cooling = [a for a in actions if isinstance(a, Quarantine | Restore)]
        actions = [a for a in actions if not isinstance(a, Settle | Quarantine | Restore)]
        forgets = [a for a in actions if isinstance(a, Forget)]
        for provider in {a.provider for a in forgets}:
            self.store.forget_numbers(
                provider, [a.number for a in forgets if a.provider == provider]
            )
        for action in forgets:
            self._records.pop((action.provider, action.number), None)
            self._result(action, DONE, "forgotten")
        saves: list[ManagedNumber] = []
        for action in actions:
            if isinstance(action, Forget):
                continue
            existing = self._records.get((action.provider, action.number))
            same = existing is not None and (
                existing.declaration == action.declaration or isinstance(action, Move)
            )
            record = ManagedNumber(
                provider=action.provider,
                number=action.number,
                declaration=action.declaration,
                provider_id=action.provider_id,
                app=action.app,
                labels=dict(existing.labels) if same else {},
                protect=action.protect,
                status=action.status,
                created_at=existing.created_at if existing else _acquired(action),
                # a move leaves quarantine: the new declaration decides afresh
                quarantine_until=(
                    existing.quarantine_until if same and not isinstance(action, Move) else None
                ),
            )
            saves.append(record)
            self._records[(action.provider, action.number)] = record
        # The adoptions and the attempts they settle in one transaction: a kill between
        # them would leave an attempt open whose numbers no longer look like its own.
        closed = {a.entry_id: ("settled", _settle_detail(a)) for a in settles}
        if saves or closed:
            self.store.record_bought(saves, closed)
        for action in actions:
            if isinstance(action, Adopt):
                self._result(action, DONE, action.reason)
            elif isinstance(action, Move):
                self._result(action, DONE, f"moved from {action.moved_from}")
        for action in settles:
            self._result(action, DONE, closed[action.entry_id][1])
        self._cool(cooling)

    def _cool(self, actions: Sequence[Quarantine | Restore]) -> None:
        """Mark numbers as quarantined until their date, or take them back (state only:
        the unbinding and binding are Binds beside them)."""
        saves = []
        for action in actions:
            key = (action.provider, action.number)
            record = self._records.get(key) or ManagedNumber(
                provider=action.provider,
                number=action.number,
                declaration=action.declaration,
                provider_id=action.provider_id,
            )
            until = action.until if isinstance(action, Quarantine) else None
            record = replace(record, declaration=action.declaration, quarantine_until=until)
            self._records[key] = record
            saves.append(record)
        if saves:
            self.store.save_numbers(saves)
        for action in actions:
            detail = (
                f"quarantined until {action.until}"
                if isinstance(action, Quarantine)
                else "taken back from quarantine"
            )
            self._result(action, DONE, detail)

    def _purchase(self, provider: Provider, action: Purchase) -> None:
        """One purchase through the core's protocol (offer, journal, commit, record)."""
        entry = self.store.journal_begin(
            self.apply_id, "purchase", action.provider, action.declaration, action.to_dict()
        )
        run = PurchaseRun(
            provider,
            self.store,
            self.apply_id,
            action,
            lambda: self._stop_requested,
            on_bought=functools.partial(self._bought, action),
        )
        outcome = run.run()
        for record in outcome.bought:
            self._records[(record.provider, record.number)] = record
        unbound = self._bind_bought(provider, action, outcome.owned)
        bought = tuple(r.number for r in outcome.bought)
        summary = f"bought {len(bought)} of {action.count}: {', '.join(bought) or 'none'}"
        if unbound:
            summary = f"{summary}; {unbound}"
        if outcome.error is None and not unbound:
            self.store.journal_end(entry, "ok", summary)
            self._result(action, DONE, summary, bought)
            return
        # Bought but not bound counts as failed like a shortfall: the apply exits 1 and this
        # declaration's releases wait, so a replacement never goes live before it routes.
        why = outcome.error.detail if outcome.error else None
        if why is not None:  # the summary already counts what was bought
            why = why.removeprefix(f"bought {len(bought)} of {action.count}: ")
        detail = f"{summary}; {why}" if why else summary
        self.store.journal_end(entry, "partial" if bought else "failed", detail)
        self._result(action, FAILED, detail, bought)
        self._short.add((action.provider, action.declaration))

    def _bind_bought(
        self, provider: Provider, action: Purchase, owned: Sequence[OwnedNumber]
    ) -> str:
        """Bind what a purchase bought to its declaration's app where the buy itself cannot
        (`binds_on_purchase` False): right after it, in the provider's bind batches and
        concurrency, each batch journaled like any bind. Bought stays bought whatever
        happens here; returns what was left unbound, for the purchase's detail ("" if none):
        the next plan shows those as Binds (a kill before this point leaves the same)."""
        caps = provider.capabilities
        if caps.binds_on_purchase or action.app_id is None:
            return ""
        options = {k: v for k, v in action.options.items() if k in caps.bind_options}
        binds = []
        for number in owned:
            if number.app_id == action.app_id:
                continue
            self._listed[(provider.name, number.number)] = number
            binds.append(
                Bind(
                    action.provider,
                    action.declaration,
                    number=number.number,
                    provider_id=number.provider_id,
                    app=action.app,
                    app_id=action.app_id,
                    options=options,
                )
            )
        if not binds:
            return ""
        done, failed = self._bind(provider, action.app_id, binds, report=False)
        missed = [b.number for b in binds if b.number not in done]
        return self._unbound_note(action, missed, failed) if missed else ""

    def _unbound_note(self, action: Purchase, missed: list[str], failed: Mapping) -> str:
        reasons = sorted({failed[n] for n in missed if n in failed})
        if not reasons:
            reasons = ["interrupted" if self._stop_requested else "the provider did not confirm it"]
        more = f" and {len(reasons) - 2} other reasons" if len(reasons) > 2 else ""
        return (
            f"not bound to app {action.app or action.app_id}: {first_of(missed)} "
            f"({'; '.join(reasons[:2])}{more}); the next plan binds "
            + ("it" if len(missed) == 1 else "them")
        )

    def _bind(
        self,
        provider: Provider,
        app_id: str | None,
        actions: list[Bind],
        *,
        report: bool = True,
    ) -> tuple[set[str], dict[str, str]]:
        return self._batch(
            provider,
            "bind",
            actions,
            lambda owned: provider.bind_with(owned, app_id, dict(actions[0].options)),
            {
                "app_id": app_id,
                **({"options": dict(actions[0].options)} if actions[0].options else {}),
            },
            lambda done: self._update_records(
                done, lambda record, action: replace(record, app=action.app)
            ),
            report=report,
        )

    def _set_labels(self, provider: Provider, actions: list[SetLabels]) -> None:
        """Labels go to the provider where it stores them, the tag where it changes; a
        label change the provider cannot hold is a state write only (no call)."""
        caps = provider.capabilities
        calls = [
            a
            for a in actions
            if caps.native_labels or (caps.ownership_tag and a.tag_before != a.tag)
        ]
        local = [a for a in actions if a not in calls]

        def record(done: Sequence[SetLabels]) -> None:
            self._update_records(
                done, lambda record, action: replace(record, labels=dict(action.after))
            )

        record(local)
        for action in local:
            self._result(action, DONE, "recorded in the state")
        if calls:
            if caps.native_labels:
                # The provider holds the truth and the planner reads labels from it, so the
                # record follows the intent: a kill after the provider wrote them cannot
                # leave stale labels in the state, and a write that never happened is
                # planned again from the listing.
                record(calls)
            changes = {a.number: (a.tag, dict(a.after)) for a in calls}

            def call(owned: list[OwnedNumber]) -> BatchOutcome:
                return provider.set_labels([(o, *changes[o.number]) for o in owned])

            self._batch(provider, "labels", calls, call, {}, record)

    def _release(self, provider: Provider, actions: list[Release]) -> None:
        waiting = [a for a in actions if (a.provider, a.declaration) in self._short]
        for action in waiting:
            self._result(
                action,
                SKIPPED,
                "not released: this declaration's purchase fell short, and releasing now "
                "would leave it with fewer numbers than before",
            )
        actions = [a for a in actions if a not in waiting]
        if not actions:
            return

        def forget(done: Sequence[Release]) -> None:
            if done:
                self.store.forget_numbers(provider.name, [a.number for a in done])
            for action in done:
                self._records.pop((provider.name, action.number), None)

        self._batch(provider, "release", actions, provider.release, {}, forget)

    # ----------------------------------------------------------------- helpers
    def _batch(
        self,
        provider: Provider,
        operation: str,
        actions: Sequence[Bind | SetLabels | Release],
        call: Callable[[list[OwnedNumber]], BatchOutcome],
        payload: dict,
        record: Callable[[list], None],
        *,
        report: bool = True,
    ) -> tuple[set[str], dict[str, str]]:
        """Provider calls of at most the provider's batch size, up to its concurrency at
        once, each journaled before it starts; per-number results reported (unless
        `report` is False: a purchase's own binds are part of the purchase), and `record`
        called with the actions done as each call ends, committed with the next call's
        journal entry (a second Ctrl-C or a failed write before that commit leaves the
        entries of the calls that ended open: the next plan settles them from the
        listing). An interrupt lets the calls in flight finish and starts no more.
        Returns the numbers done and the ones that failed, why."""
        caps = provider.capabilities
        size = {"bind": caps.bind_batch_size, "release": caps.release_batch_size}.get(
            operation, caps.bind_batch_size
        )
        size = max(1, size)
        chunks = [list(actions[i : i + size]) for i in range(0, len(actions), size)]
        done: set[str] = set()
        failed: dict[str, str] = {}

        def send(chunk: list) -> BatchOutcome:
            try:
                return call([self._as_listed(a) for a in chunk])
            except ProviderError as exc:
                return BatchOutcome(failed={a.number: str(exc) for a in chunk})
            except Exception as exc:  # noqa: BLE001 - a worker must not lose it: it may have acted
                return _InDoubt(failed={a.number: _unexpected(exc) for a in chunk})

        def end(chunk: list, entry: int, outcome: BatchOutcome) -> None:
            if operation == "release" and outcome.failed:
                # a failed release may have happened all the same (the answer lost after
                # the provider acted, a 5xx after it did): adapters report failures as words,
                # so the entry stays open and the next plan settles it from the listing,
                # instead of a record of a number released by us read as missing
                outcome = _InDoubt(outcome.done, outcome.failed)
            self._end_chunk(chunk, entry, outcome, done, failed, record, report)

        self._calls(provider, operation, chunks, payload, send, end)
        return done, failed

    def _calls(
        self,
        provider: Provider,
        operation: str,
        chunks: list[list],
        payload: dict,
        send: Callable[[list], BatchOutcome],
        end: Callable[[list, int, BatchOutcome], None],
    ) -> None:
        """Send each chunk, journaled before it goes, with up to the provider's
        `mutation_concurrency` in flight: a call starts as soon as one ends (waves would
        wait for the slowest of each), and `end(chunk, entry, outcome)` records each call
        in this thread as it ends. What `end` writes for the calls that ended and the
        journal entries of the calls that start next are one state write
        (`StateStore.grouped`), committed before those calls are sent and never held open
        while a call is awaited. An interrupt starts no more."""
        workers = max(1, provider.capabilities.mutation_concurrency)
        waiting = iter(chunks)
        ended: list[tuple[list, int, BatchOutcome]] = []
        running: dict[Future, tuple[list, int]] = {}
        pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 and len(chunks) > 1 else None
        try:
            while True:
                starting: list[tuple[list, int]] = []
                with self.store.grouped():
                    for call in ended:
                        end(*call)
                    while len(running) + len(starting) < workers and not self._stop_requested:
                        chunk = next(waiting, None)
                        if chunk is None:
                            break
                        starting.append(
                            (chunk, self._journal_chunk(provider, operation, chunk, payload))
                        )
                self.store.check_committed()
                if pool is None:  # one call at a time, sent from this thread
                    ended = [(chunk, entry, send(chunk)) for chunk, entry in starting]
                else:
                    for chunk, entry in starting:
                        running[pool.submit(send, chunk)] = (chunk, entry)
                    ended = _ended(running) if running else []
                if not ended:
                    return
        finally:
            if pool is not None:
                pool.shutdown(wait=True)

    def _journal_chunk(self, provider: Provider, operation: str, chunk: list, payload: dict):
        declarations = ",".join(sorted({a.declaration for a in chunk}))
        return self.store.journal_begin(
            self.apply_id,
            operation,
            provider.name,
            declarations,
            {**payload, "numbers": [a.number for a in chunk]},
        )

    def _end_chunk(
        self,
        chunk: list,
        entry: int,
        outcome: BatchOutcome,
        done: set[str],
        failed: dict,
        record: Callable[[list], None],
        report: bool = True,
    ) -> None:
        """Record what a call did and close its journal entry, in the caller's group of
        writes: an abort before it commits leaves the entry open, which the next plan
        settles from the listing."""
        chunk_failed = {n: why for n, why in outcome.failed.items()}
        chunk_done = set(outcome.done) - set(chunk_failed)
        record([a for a in chunk if a.number in chunk_done])
        if isinstance(outcome, _InDoubt):
            # not the provider's answer: the entry stays open, like a kill, and the next
            # plan reads from the listing what the call did (an open release is settled)
            chunk_outcome = UNKNOWN
        else:
            chunk_outcome = "ok" if not chunk_failed else ("partial" if chunk_done else "failed")
        self.store.journal_end(
            entry,
            chunk_outcome,
            "; ".join(f"{n}: {why}" for n, why in chunk_failed.items()) or None,
        )
        for action in chunk if report else ():
            if action.number in chunk_done:
                self._result(action, DONE)
            else:
                why = chunk_failed.get(action.number, "the provider did not confirm it")
                self._result(action, FAILED, why)
        done |= chunk_done
        failed.update(chunk_failed)

    def _as_listed(self, action: Bind | SetLabels | Release) -> OwnedNumber:
        """The number as the listing showed it (its current app among others); rebuilt
        from the action only when the plan was applied without a listing at hand. A label
        change carries the app the number has by then (binds run first)."""
        listed = self._listed.get((action.provider, action.number)) or OwnedNumber(
            number=action.number, provider_id=action.provider_id
        )
        if isinstance(action, SetLabels):
            return replace(listed, app_id=action.app_id)
        return listed

    def _update_records(
        self,
        actions: Sequence[Bind | SetLabels],
        change: Callable[[ManagedNumber, Bind | SetLabels], ManagedNumber],
    ) -> None:
        """Record what the done actions changed."""
        saves = []
        for action in actions:
            key = (action.provider, action.number)
            record = self._records.get(key)
            if record is None:
                continue
            updated = change(record, action)
            self._records[key] = updated
            saves.append(updated)
        if saves:
            self.store.save_numbers(saves)

    def _result(
        self, action: Action, status: str, detail: str = "", numbers: tuple[str, ...] = ()
    ) -> None:
        self.report.results.append(ActionResult(action, status, detail, numbers))
        reported = self._reported.pop(id(action), 0)
        if status == DONE:  # what failed or never started is not work done: an interrupted
            self._advance(_numbers_in(action) - reported)  # apply ends "172 of 2,940"

    def _bought(self, action: Purchase, count: int) -> None:
        """Progress as a purchase goes: `count` more of its numbers were just bought."""
        reported = self._reported.get(id(action), 0)
        step = min(count, action.count - reported)
        self._reported[id(action)] = reported + step
        self._advance(step)

    def _advance(self, count: int) -> None:
        if count > 0:
            self._done += count
            self._progress(self._done, self._total)


@dataclass(frozen=True)
class _InDoubt(BatchOutcome):
    """A provider call that broke with something other than the provider's answer (a bug,
    a body the adapter could not read): it may have done part of its work, or all of it."""


def _unexpected(exc: Exception) -> str:
    text = str(exc)
    text = text if len(text) <= 200 else text[:200] + "..."
    return (
        f"unexpected {type(exc).__name__} ({text}): whether it was done is unknown; the next "
        "plan reads it from the listing"
    )


def _ended(running: dict[Future, tuple[list, int]]) -> list[tuple[list, int, BatchOutcome]]:
    """Wait for at least one call in flight to end; each ended one, out of `running`."""
    ended, _ = wait(running, return_when=FIRST_COMPLETED)
    return [(*running.pop(future), future.result()) for future in ended]


def _numbers_in(action: Action) -> int:
    """How many numbers an action accounts for in the progress: a purchase its count, any
    other action the one number (or journal entry) it touches."""
    return action.count if isinstance(action, Purchase) else 1


def _acquired(action: Adopt | Move) -> str:
    """An adopted number's age as the provider tells it ("" lets the store stamp now)."""
    acquired = getattr(action, "acquired_on", None)
    return as_instant(acquired) if acquired else ""


def _settle_detail(action: Settle) -> str:
    if action.operation == "release":
        kept = ", ".join(action.kept)
        return f"release interrupted; still listed, not released: {kept}" if kept else "released"
    parts = []
    if action.adopted:
        parts.append(f"adopted {', '.join(action.adopted)}")
    if action.not_bought:
        parts.append(f"{action.not_bought} not bought (absent after {action.age_seconds} s)")
    return "; ".join(parts) or "settled"
